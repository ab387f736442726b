"""Audio matching: Tessera's ``tessera_audio`` and Chromaprint side by side, speed and scale.

Flow (all audio generated here with fixed seeds; nothing is downloaded):

1. references: synthetic music in three styles and speech-like babble (``tests/media/
   audio_synth.py``), and real music and speech from Debian packages (``bench/audio_real.py``:
   the frozen-bubble soundtracks, English read by espeak-ng in three voices), ``REF_SECONDS``
   each; unrelated audio: more synthetic pieces from other seeds (same instruments, same kind of
   voice), other paragraphs read by the same voices, and the sound tracks of
   ``../shared/data/videos`` when present; recall is reported for the synthetic and the real
   references apart;
2. queries: 10-second excerpts of each reference at random offsets under every transform of
   ``audio_synth.TRANSFORMS`` (codecs by a real PyAV encode and decode, noise, telephone band,
   volume, speed, tempo and pitch by FFmpeg filters); unrelated 10-second clips under a few of
   the same transforms give the false-positive set;
3. Tessera: references fingerprinted from a WAV file through ``TesseraAudioSignal.hash_content``
   into an ``AudioIndex``; a query is a hit when its own reference comes back within the default
   threshold and the reported offset is within 1 s of the truth, or where the reference repeats
   the same 10 s (its own fingerprints there within BER 0.25: the real soundtracks loop);
4. Chromaprint (libchromaprint through pyacoustid's ``chromaprint`` module, default algorithm):
   the usual excerpt match, sliding the query's fingerprint over each reference's and taking the
   best bit error rate over the overlap (at least 3/4 of the query); its threshold is set just
   below the best BER any unrelated clip reaches (zero false positives on this very set, which
   flatters Chromaprint);
5. speed: fingerprinting throughput on one core (decoded PCM in; and from an MP3 file, decode
   included), for both;
6. scale: an ``AudioIndex`` of ``SCALE_HOURS`` of references (random sub-fingerprints with the
   real references inside), bulk-loaded; query latency p50/p99 for 10-second excerpts, memory.

Environment: ``TESSERA_BENCH_AUDIO_REFS`` (references, default 16), ``TESSERA_BENCH_AUDIO_HOURS``
(scale test size, default 10000; 0 skips it).
"""

from __future__ import annotations

import gc
import io
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import av
import chromaprint
import numpy as np
import numpy.typing as npt

from bench import audio_real
from bench.common import ROOT, SHARED_DATA, console, md_table, progress
from tessera.index.audio import AudioIndex
from tessera.media.content import Content
from tessera.signals._audio_features import (
    FRAMES_PER_SECOND,
    MAX_SHIFT,
    SAMPLE_RATE,
    fingerprint_words,
)
from tessera.signals.tessera_audio import TesseraAudioSignal, decode_value

sys.path.insert(0, str(ROOT / "tests" / "media"))
import audio_synth as synth  # noqa: E402

Samples = npt.NDArray[np.float32]
REFS = int(os.environ.get("TESSERA_BENCH_AUDIO_REFS", "16"))
SCALE_HOURS = float(os.environ.get("TESSERA_BENCH_AUDIO_HOURS", "10000"))
REF_SECONDS = 90.0
QUERY_SECONDS = 10.0
EXCERPTS = 2  # per reference and transform
UNRELATED = 40
UNRELATED_TRANSFORMS = ("identity", "mp3_64k", "noise_10db", "speed_+5%", "pitch_-1")
PITCH_SPEED = ("speed_+5%", "speed_-5%", "tempo_+5%", "tempo_-5%", "pitch_+1", "pitch_-1")
CP_RATE = 11025  # Chromaprint resamples to this itself; feeding it directly saves its resampler
CP_MIN_OVERLAP = 0.75
SCALE_QUERIES = 40


def _piece(i: int, seconds: float) -> tuple[str, Samples]:
    """Reference or unrelated piece ``i``: music in three styles and speech-like babble."""
    kind = i % 4
    if kind == 3:
        return "speech", synth.babble(seconds, seed=1000 + i)
    style = synth.STYLES[kind]
    return f"music/{style}", synth.music(seconds, seed=1000 + i, style=style)


def _video_sound() -> list[tuple[str, Samples]]:
    """10-second clips of the sample videos' sound tracks, when the shared data is present."""
    out = []
    folder = SHARED_DATA / "videos"
    for path in sorted(folder.glob("*.mp4")) if folder.is_dir() else []:
        try:
            samples = synth.decode(path.read_bytes())
        except (av.FFmpegError, ValueError, IndexError):
            continue  # no sound track
        if len(samples) >= QUERY_SECONDS * synth.RATE and np.abs(samples).max() > 1e-3:
            out.append((f"video/{path.stem}", samples[: int(QUERY_SECONDS * synth.RATE)]))
    return out


def _resample(samples: Samples, rate: int) -> Samples:
    return synth.decode(synth.encode(samples, synth.RATE, "pcm_s16le"), rate)


def _pcm16(samples: Samples) -> bytes:
    return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()


def chromaprint_words(samples: Samples, rate: int = CP_RATE) -> npt.NDArray[np.uint32]:
    """Chromaprint's raw sub-fingerprints of mono samples at ``rate``."""
    fp = chromaprint.Fingerprinter()
    fp.start(rate, 1)
    fp.feed(_pcm16(samples))
    raw, _ = chromaprint.decode_fingerprint(fp.finish())
    return np.asarray(raw, dtype=np.int64).astype(np.uint32)


def chromaprint_ber(query: npt.NDArray[np.uint32], ref: npt.NDArray[np.uint32]) -> float:
    """Best bit error rate of ``query`` slid over ``ref`` (overlap at least 3/4 of the query)."""
    n = len(query)
    need = max(1, int(np.ceil(CP_MIN_OVERLAP * n)))
    shifts = np.arange(-(n - need), len(ref) - need + 1)
    at = shifts[:, None] + np.arange(n)[None, :]
    valid = (at >= 0) & (at < len(ref))
    errors = np.where(valid, np.bitwise_count(ref[np.clip(at, 0, len(ref) - 1)] ^ query), 0)
    overlap = valid.sum(axis=1)
    ber = np.where(overlap >= need, errors.sum(axis=1) / np.maximum(32 * overlap, 1), 1.0)
    return float(ber.min()) if len(ber) else 1.0


def _wav_content(samples: Samples, rate: int = synth.RATE) -> Content:
    return Content.from_bytes(synth.encode(samples, rate, "pcm_s16le"))


def _tessera_value(samples: Samples) -> str:
    signal = TesseraAudioSignal.hash_content(_wav_content(samples))
    assert signal is not None
    return signal.value


def run() -> str:
    """Measure quality, speed and scale; returns the Markdown section."""
    sections = ["## Audio matching: tessera_audio and Chromaprint (bench/bench_audio.py)"]
    quality, refs = _quality()
    sections += quality
    sections += _speed(refs)
    if SCALE_HOURS > 0:
        sections += _scale(refs)
    sections.append(
        "Measured on a shared 2-core machine under load from other jobs: absolute times are "
        "pessimistic; ratios between Tessera and Chromaprint in the same run compare like "
        "with like."
    )
    return "\n\n".join(sections)


def _quality() -> tuple[list[str], list[tuple[str, Samples]]]:
    refs = [_piece(i, REF_SECONDS) for i in range(REFS)]
    real_music, music_note = audio_real.music(REF_SECONDS)
    real_speech, real_unrelated, speech_note = audio_real.speech(REF_SECONDS, QUERY_SECONDS)
    refs += real_music + real_speech
    unrelated = [_piece(REFS + 100 + i, QUERY_SECONDS) for i in range(UNRELATED)]
    unrelated += real_unrelated + _video_sound()
    kinds = sorted({k for k, _ in refs})
    notes = [n for n in (music_note, speech_note) if n]
    console.print(
        f"{len(refs)} references of {REF_SECONDS:g} s ({', '.join(kinds)}), "
        f"{len(unrelated)} unrelated clips{'; ' if notes else ''}{'; '.join(notes)}"
    )
    index = AudioIndex()
    cp_refs = []
    ref_words = []
    with progress() as bar:
        task = bar.add_task("fingerprint references", total=len(refs))
        for i, (_, samples) in enumerate(refs):
            value = _tessera_value(samples)
            index.add([(i, value)])
            ref_words.append(decode_value(value)[:, MAX_SHIFT])
            cp_refs.append(chromaprint_words(_resample(samples, CP_RATE)))
            bar.advance(task)
    threshold = TesseraAudioSignal.default_threshold
    rng = np.random.default_rng(5)
    q = int(QUERY_SECONDS * synth.RATE)
    # (transform, ref, true offset s, tessera hits, chromaprint BER per reference)
    results: list[tuple[str, int, float, list[tuple[int, int, float]], list[float]]] = []
    fp_tessera: list[tuple[str, int]] = []
    fp_cp: list[float] = []  # best BER of each unrelated query against any reference
    n_queries = len(synth.TRANSFORMS) * len(refs) * EXCERPTS
    n_unrelated = len(UNRELATED_TRANSFORMS) * len(unrelated)
    with progress() as bar:
        task = bar.add_task("queries", total=n_queries)
        for name, transform in synth.TRANSFORMS.items():
            for i, (_, samples) in enumerate(refs):
                for _ in range(EXCERPTS):
                    start = int(rng.integers(0, len(samples) - q))
                    excerpt = transform(samples[start : start + q])
                    hits = [
                        (h.id, h.distance, float(h.detail["offset_s"]) if h.detail else -1.0)
                        for h in index.query(_tessera_value(excerpt), 100)
                    ]
                    truth = start / synth.RATE
                    hits = [
                        (h, d, truth if h == i and _repeats(ref_words[i], truth, o) else o)
                        for h, d, o in hits
                    ]
                    cq = chromaprint_words(_resample(excerpt, CP_RATE))
                    bers = [chromaprint_ber(cq, r) for r in cp_refs]
                    results.append((name, i, start / synth.RATE, hits, bers))
                    bar.advance(task)
        task = bar.add_task("unrelated queries", total=n_unrelated)
        for name in UNRELATED_TRANSFORMS:
            for label, samples in unrelated:
                excerpt = synth.TRANSFORMS[name](samples[:q])
                value = _tessera_value(excerpt)
                fp_tessera += [(f"{label} {name}", h.distance) for h in index.query(value, 100)]
                cq = chromaprint_words(_resample(excerpt, CP_RATE))
                fp_cp.append(min(chromaprint_ber(cq, r) for r in cp_refs))
                bar.advance(task)
    cp_threshold = min(fp_cp) - 1e-9
    tessera_fp = sum(1 for _, d in fp_tessera if d <= threshold)
    # As for Chromaprint: the loosest threshold with no false positive on this set.
    fitted = min((d for _, d in fp_tessera), default=101) - 1
    real = {i for i, (kind, _) in enumerate(refs) if kind.startswith("real ")}
    rows = []
    summary: dict[str, tuple[float, float]] = {}
    for name in synth.TRANSFORMS:
        mine = [r for r in results if r[0] == name and r[1] not in real]
        found = sum(1 for r in mine if _found(r, threshold))
        found_fitted = sum(1 for r in mine if _found(r, fitted))
        cp_found = sum(1 for _, i, _, _, bers in mine if bers[i] <= cp_threshold)
        dists = [min((d for h, d, _ in hits if h == i), default=100) for _, i, _, hits, _ in mine]
        cp_bers = [bers[i] for _, i, _, _, bers in mine]
        summary[name] = (found / len(mine), cp_found / len(mine))
        row = [
            name,
            f"{found / len(mine):.0%}",
            f"{found_fitted / len(mine):.0%}",
            f"{statistics.median(dists):.0f} (max {max(dists)})",
            f"{cp_found / len(mine):.0%}",
            f"{statistics.median(cp_bers):.3f} (max {max(cp_bers):.3f})",
        ]
        mine = [r for r in results if r[0] == name and r[1] in real]
        if mine:
            found = sum(1 for r in mine if _found(r, threshold))
            cp_found = sum(1 for _, i, _, _, bers in mine if bers[i] <= cp_threshold)
            dists = [
                min((d for h, d, _ in hits if h == i), default=100) for _, i, _, hits, _ in mine
            ]
            row += [
                f"{found / len(mine):.0%}",
                f"{statistics.median(dists):.0f} (max {max(dists)})",
                f"{cp_found / len(mine):.0%}",
            ]
            summary[name] = (
                min(summary[name][0], found / len(mine)),
                max(summary[name][1], cp_found / len(mine)),
            )
        rows.append(row)
    by_kind = []
    for kind in kinds:
        mine = [r for r in results if refs[r[1]][0] == kind]
        found = sum(1 for r in mine if _found(r, threshold))
        cp_found = sum(1 for _, i, _, _, bers in mine if bers[i] <= cp_threshold)
        by_kind.append([kind, f"{found / len(mine):.1%}", f"{cp_found / len(mine):.1%}"])
    wrong_hits = [
        f"{name} {refs[i][0]} → {refs[h][0]} ({d})"
        for name, i, _, hits, _ in results
        for h, d, _ in hits
        if h != i and d <= threshold
    ]
    wrong = len(wrong_hits)
    closest = min((d for _, d in fp_tessera), default=100)
    beats = all(summary[n][0] > summary[n][1] or summary[n][0] == 1.0 for n in PITCH_SPEED)
    overall = sum(s[0] for s in summary.values()) / len(summary)
    real_columns = ["real: Tessera recall", "real: Tessera distance", "real: Chromaprint recall"]
    lines = [
        f"{len(refs)} references of {REF_SECONDS:g} s ({', '.join(kinds)}): synthetic ones "
        "from `tests/media/audio_synth.py`; real ones (`bench/audio_real.py`) are the "
        "frozen-bubble soundtracks (Debian frozen-bubble-data) and English paragraphs read by "
        "espeak-ng in three voices (about a minute each)"
        f"{' (' + '; '.join(notes) + ')' if notes else ''}. "
        f"{EXCERPTS} excerpts of {QUERY_SECONDS:g} s per reference and transform at random "
        f"offsets ({len(results)} queries); {len(unrelated)} unrelated clips (other seeds, other "
        f"paragraphs in the same voices, and the sample videos' sound) under "
        f"{', '.join(UNRELATED_TRANSFORMS)} ({n_unrelated} queries).",
        "Tessera: a hit is its own reference within the default threshold "
        f"({threshold}) at the right offset (±1 s); the second recall column uses {fitted}, the "
        "loosest threshold with no false positive on this set (as for Chromaprint). "
        "Chromaprint: best BER of the query "
        f"slid over each reference (overlap ≥ {CP_MIN_OVERLAP:.0%}), threshold {cp_threshold:.3f}"
        " = just below the best BER of any unrelated query (zero false positives on this set "
        "by construction).",
        md_table(
            [
                "transform",
                f"Tessera recall ({threshold})",
                f"Tessera recall ({fitted})",
                "Tessera distance median",
                "Chromaprint recall",
                "Chromaprint BER median",
                *(real_columns if real else []),
            ],
            rows,
        ),
        md_table(["kind", "Tessera recall", "Chromaprint recall"], by_kind),
        f"False positives: Tessera {tessera_fp} of {n_unrelated} unrelated queries within "
        f"{threshold} (closest unrelated distance {closest}); {wrong} hits on a wrong reference "
        f"among the {len(results)} true queries{': ' if wrong_hits else ''}"
        f"{'; '.join(wrong_hits)}. Chromaprint: 0 by construction (its closest "
        f"unrelated BER {min(fp_cp):.3f}). Tessera mean recall over transforms (synthetic, and "
        f"the worse of the two sets where real ones are present) {overall:.1%}; beats Chromaprint "
        f"on every pitch/speed/tempo transform, on both sets: {'yes' if beats else 'no'}.",
    ]
    return lines, refs


def _repeats(words: npt.NDArray[np.uint32], truth: float, found: float) -> bool:
    """Whether the reference holds the same 10 s at ``found`` as at ``truth`` (a loop in real
    music: the soundtracks repeat whole sections), judged by its own fingerprint."""
    a, b = round(truth * FRAMES_PER_SECOND), round(found * FRAMES_PER_SECOND)
    n = int(QUERY_SECONDS * FRAMES_PER_SECOND) - 10  # the rows a 10 s excerpt has
    if min(a, b) < 1 or max(a, b) + n + 1 > len(words):
        return False
    # A loop seldom lasts a whole number of frames: allow a frame either way. Repeats measure
    # BER 0.18 here; other places of the same piece 0.45 and more.
    errors = min(
        int(np.bitwise_count(words[a + k : a + k + n] ^ words[b : b + n]).sum()) for k in (-1, 0, 1)
    )
    return errors <= 0.25 * 32 * n


def _found(
    result: tuple[str, int, float, list[tuple[int, int, float]], list[float]], threshold: int
) -> bool:
    """Whether a query found its own reference within ``threshold`` at the right offset."""
    _, i, offset, hits, _ = result
    return any(h == i and d <= threshold and abs(o - offset) <= 1.0 for h, d, o in hits)


def _cpu(fn: Callable[[], object], repeats: int = 3) -> list[float]:
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return times


def _speed(refs: list[tuple[str, Samples]]) -> list[str]:
    audio = np.concatenate([s for _, s in refs[:8]])  # synthetic: the same audio as before
    seconds = len(audio) / synth.RATE
    at_8k = _resample(audio, SAMPLE_RATE)
    at_cp = _resample(audio, CP_RATE)
    mp3 = synth.encode(audio, synth.RATE, "libmp3lame", 128_000)
    content = Content.from_bytes(mp3)

    def cp_from_mp3() -> None:
        with av.open(io.BytesIO(mp3)) as container:
            fp = chromaprint.Fingerprinter()
            fp.start(CP_RATE, 1)
            resampler = av.AudioResampler(format="s16", layout="mono", rate=CP_RATE)
            for frame in container.decode(audio=0):
                for out in resampler.resample(frame):
                    fp.feed(out.to_ndarray().tobytes())
            fp.finish()

    measures = {
        "Tessera, PCM in": _cpu(lambda: fingerprint_words(at_8k)),
        "Chromaprint, PCM in": _cpu(lambda: chromaprint_words(at_cp)),
        "Tessera, MP3 file in (hash_content)": _cpu(
            lambda: TesseraAudioSignal.hash_content(content)
        ),
        "Chromaprint, MP3 file in (PyAV decode)": _cpu(cp_from_mp3),
    }
    rows = []
    for name, times in measures.items():
        med = statistics.median(times)
        rows.append(
            [
                name,
                f"{seconds / med:,.0f}x ({seconds / max(times):,.0f}–{seconds / min(times):,.0f})",
            ]
        )
    ratio = statistics.median(measures["Tessera, PCM in"]) / statistics.median(
        measures["Chromaprint, PCM in"]
    )
    return [
        f"Fingerprinting speed, {seconds / 60:.0f} min of audio, CPU seconds on one core "
        f"(median of 3, min–max):",
        md_table(["method", "realtime factor"], rows),
        f"Tessera takes {ratio:.1f}x Chromaprint's CPU time per second of audio (PCM in).",
    ]


def _rss_gib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 2**20
    return float("nan")


def _scale(refs: list[tuple[str, Samples]]) -> list[str]:
    frames = int(SCALE_HOURS * 3600 * FRAMES_PER_SECOND)
    per_ref = int(3600 * FRAMES_PER_SECOND)  # one-hour filler references
    real = [decode_value(_tessera_value(s))[:, MAX_SHIFT] for _, s in refs]
    n_fill = max(0, (frames - sum(len(r) for r in real)) // per_ref)
    console.print(f"scale: {n_fill} filler hours + {len(real)} real references")
    before = _rss_gib()
    t0 = time.perf_counter()
    total = n_fill * per_ref + sum(len(r) for r in real)
    words = np.empty(total, dtype=np.uint32)
    rng = np.random.default_rng(11)
    chunk = 1 << 24
    for a in range(0, n_fill * per_ref, chunk):
        b = min(n_fill * per_ref, a + chunk)
        words[a:b] = rng.integers(1, 2**32, b - a, dtype=np.uint32)
    starts = [0] + [per_ref] * n_fill + [len(r) for r in real]
    at = n_fill * per_ref
    for r in real:
        words[at : at + len(r)] = r
        at += len(r)
    index = AudioIndex()
    ids = list(range(100_000, 100_000 + n_fill)) + list(range(len(real)))
    index.load(ids, np.cumsum(starts, dtype=np.int64), words)
    del words
    gc.collect()
    build = time.perf_counter() - t0
    held = _rss_gib() - before
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    rng = np.random.default_rng(12)
    q = int(QUERY_SECONDS * synth.RATE)
    transforms = ["identity", "mp3_64k", "noise_10db", "pitch_+1", "speed_-5%"]
    queries = []
    for k in range(SCALE_QUERIES):
        i = k % len(refs)
        samples = refs[i][1]
        start = int(rng.integers(0, len(samples) - q))
        excerpt = synth.TRANSFORMS[transforms[k % len(transforms)]](samples[start : start + q])
        queries.append((i, _tessera_value(excerpt)))
    others = [_tessera_value(_piece(500 + k, QUERY_SECONDS)[1]) for k in range(SCALE_QUERIES)]
    index.query(queries[0][1], 50)  # warm up
    timed: dict[str, tuple[list[float], list[float]]] = {"known": ([], []), "unrelated": ([], [])}
    found = false = 0
    for kind, items in (("known", queries), ("unrelated", [(-1, v) for v in others])):
        wall, cpu = timed[kind]
        for i, value in items:
            t0, c0 = time.perf_counter(), time.process_time()
            hits = index.query(value, TesseraAudioSignal.default_threshold)
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            found += any(h.id == i for h in hits)
            false += sum(1 for h in hits if h.id != i)
    hours = total / FRAMES_PER_SECOND / 3600

    def pct(xs: list[float]) -> str:
        return f"{np.percentile(xs, 50) * 1e3:.1f} / {np.percentile(xs, 99) * 1e3:.1f} ms"

    rows = [[k, str(len(w)), pct(w), pct(c)] for k, (w, c) in timed.items()]
    both = [x for w, c in timed.values() for x in c]
    p50, p99 = np.percentile(both, 50) * 1e3, np.percentile(both, 99) * 1e3
    return [
        f"Scale: an `AudioIndex` of {hours:,.0f} hours ({total:,} frames: {n_fill:,} one-hour "
        f"references of random sub-fingerprints and the {len(real)} real references), "
        f"bulk-loaded in {build:.0f} s; memory held {held:.2f} GiB "
        f"({held * 2**30 / total:.1f} bytes a frame), peak RSS {peak:.1f} GiB while building. "
        f"Queries of {QUERY_SECONDS:g} s: known (excerpts of the real references under "
        f"{', '.join(transforms)}) and unrelated (other synthetic pieces), one thread:",
        md_table(["queries", "n", "wall p50 / p99", "CPU p50 / p99"], rows),
        f"All queries, CPU time: p50 {p50:.1f} ms, p99 {p99:.1f} ms. {found} of {len(queries)} "
        f"known queries found their reference; {false} false hits.",
    ]
