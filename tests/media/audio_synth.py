"""Test audio made here: synthetic music and speech-like sound, encoders and transforms.

Used by the audio tests and by ``bench/bench_audio.py``. Everything is generated from a seed, so
no audio file is shipped or downloaded:

- ``music``: a melody of harmonic notes over chords, with kick, snare and hi-hat, in a random key
  and tempo;
- ``babble``: speech-like sound: a glottal pulse train with a wandering pitch through moving
  vowel formants, in syllables separated by pauses and consonant noise;
- ``speech``: real synthetic speech from Debian's ``espeak-ng`` when it is installed;
- ``encode`` writes samples with a PyAV encoder (WAV, FLAC, MP3, AAC, Opus);
- ``TRANSFORMS`` are the benchmark's degradations, each samples -> samples (codecs by a real
  encode and decode round trip, speed and pitch with FFmpeg's ``asetrate``/``atempo``).
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt

Samples = npt.NDArray[np.float32]
RATE = 22050


def _note(freq: float, seconds: float, rate: int, rng: np.random.Generator) -> Samples:
    n = int(seconds * rate)
    t = np.arange(n) / rate
    wave = np.zeros(n)
    for h in range(1, 7):
        if freq * h < rate / 2:
            wave += rng.uniform(0.2, 1.0) / h * np.sin(2 * np.pi * freq * h * t + rng.uniform(0, 6))
    attack = min(n, int(0.01 * rate))
    env = np.exp(-t * rng.uniform(1.0, 4.0))
    env[:attack] *= np.linspace(0, 1, attack)
    return (wave * env).astype(np.float32)


STYLES = ("band", "ambient", "beat")


def music(seconds: float, seed: int, rate: int = RATE, style: str = "band") -> Samples:
    """A synthetic piece in a random key and tempo, by ``style``: ``band`` (melody, chords and
    drums), ``ambient`` (slow melody over chords, no drums) or ``beat`` (drums and a bass line).
    """
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    out = np.zeros(n + rate, dtype=np.float32)
    beat = 60.0 / rng.uniform(80, 150)
    root = 110.0 * 2 ** (rng.integers(0, 12) / 12)
    scale = np.array([0, 2, 4, 5, 7, 9, 11, 12, 14, 16])
    lengths = [2.0, 4.0] if style == "ambient" else [0.5, 1.0, 1.0, 2.0]
    octave = -12 if style == "beat" else 12
    t = 0.0
    while t < seconds:
        start = int(t * rate)
        length = beat * rng.choice(lengths)
        semis = scale[rng.integers(0, len(scale))] + octave
        note = _note(root * 2 ** (semis / 12), length * 1.5, rate, rng)
        out[start : start + len(note)] += 0.3 * note[: len(out) - start]
        t += length
    bar = 0.0 if style != "beat" else seconds
    while bar < seconds:
        degree = rng.choice([0, 3, 4, 5])
        for interval in (0, 4, 7):
            semis = scale[degree] + interval
            chord = _note(root * 2 ** (semis / 12), 4 * beat, rate, rng)
            start = int(bar * rate)
            out[start : start + len(chord)] += 0.12 * chord[: len(out) - start]
        bar += 4 * beat
    k = 0 if style != "ambient" else int(2 * seconds / beat) + 1
    while k * beat / 2 < seconds:
        start = int(k * beat / 2 * rate)
        hit = int(0.15 * rate)
        tt = np.arange(hit) / rate
        if k % 4 == 0:
            drum = np.sin(2 * np.pi * (60 + 80 * np.exp(-tt * 30)) * tt) * np.exp(-tt * 20)
        elif k % 4 == 2:
            drum = rng.standard_normal(hit) * np.exp(-tt * 25) * 0.5
        else:
            drum = rng.standard_normal(hit) * np.exp(-tt * 80) * 0.15
        out[start : start + hit] += 0.4 * drum[: len(out) - start].astype(np.float32)
        k += 1
    out = out[:n]
    return (0.7 * out / max(1e-9, float(np.max(np.abs(out))))).astype(np.float32)


def babble(seconds: float, seed: int, rate: int = RATE) -> Samples:
    """Speech-like sound: voiced syllables with moving formants, pauses and noise consonants."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    out = np.zeros(n, dtype=np.float32)
    base_f0 = rng.uniform(90, 220)
    vowels = np.array([[730, 1090, 2440], [270, 2290, 3010], [300, 870, 2240], [530, 1840, 2480]])
    pos = 0
    while pos < n:
        syll = int(rng.uniform(0.12, 0.3) * rate)
        tt = np.arange(syll) / rate
        f0 = base_f0 * (1 + 0.15 * np.sin(2 * np.pi * rng.uniform(1, 3) * tt + rng.uniform(0, 6)))
        phase = np.cumsum(f0 / rate)
        pulses = (np.diff(np.floor(phase), prepend=0) > 0).astype(np.float64)
        spectrum = np.fft.rfft(pulses)
        freqs = np.fft.rfftfreq(syll, 1 / rate)
        shape = np.zeros_like(freqs)
        for formant, gain in zip(vowels[rng.integers(0, 4)], (1.0, 0.6, 0.3), strict=True):
            shape += gain / (1 + ((freqs - formant * rng.uniform(0.9, 1.1)) / 90.0) ** 2)
        voiced = np.fft.irfft(spectrum * shape, syll) * np.hanning(syll)
        cons = int(0.04 * rate)
        noise = rng.standard_normal(cons) * 0.05 * np.hanning(cons)
        chunk = np.concatenate([noise, voiced]).astype(np.float32)
        out[pos : pos + len(chunk)] += chunk[: n - pos]
        pos += len(chunk) + int(rng.choice([0.02, 0.05, 0.3]) * rate)
    return (0.7 * out / max(1e-9, float(np.max(np.abs(out))))).astype(np.float32)


def espeak_available() -> bool:
    """Whether Debian's ``espeak-ng`` is installed."""
    return shutil.which("espeak-ng") is not None


def speech(text: str, voice: str = "en", speed: int = 160, rate: int = RATE) -> Samples:
    """Synthetic speech from ``espeak-ng`` (which must be installed), resampled to ``rate``."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "speech.wav"
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(path), text],
            check=True,
            capture_output=True,
        )
        return decode(path.read_bytes(), rate)


def decode(data: bytes, rate: int = RATE) -> Samples:
    """Decode any audio to mono float32 at ``rate`` (a test helper, without Tessera's limits)."""
    chunks = []
    with av.open(io.BytesIO(data)) as container:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        for frame in container.decode(audio=0):
            chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
        chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(chunks).astype(np.float32)


_CONTAINERS = {
    "pcm_s16le": ("wav", "s16"),
    "flac": ("flac", "s16"),
    "libmp3lame": ("mp3", "fltp"),
    "aac": ("ipod", "fltp"),
    "libopus": ("ogg", "flt"),
}


def encode(
    samples: Samples, rate: int = RATE, codec: str = "pcm_s16le", bitrate: int | None = None
) -> bytes:
    """Encode mono samples with a PyAV encoder into its usual container; returns the file bytes."""
    fmt, sample_fmt = _CONTAINERS[codec]
    out_rate = 48000 if codec == "libopus" else rate
    buf = io.BytesIO()
    with av.open(buf, mode="w", format=fmt) as container:
        stream = container.add_stream(codec, rate=out_rate)
        stream.layout = "mono"
        if bitrate:
            stream.bit_rate = bitrate
        resampler = av.AudioResampler(format=sample_fmt, layout="mono", rate=out_rate)
        frame_size = 960 * 4
        pcm = np.clip(samples, -1, 1).astype(np.float32)
        pts = 0
        for start in range(0, len(pcm), frame_size):
            block = pcm[start : start + frame_size].reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(block, format="flt", layout="mono")
            frame.sample_rate = rate
            frame.pts = pts
            frame.time_base = Fraction(1, rate)
            pts += block.shape[1]
            for f in resampler.resample(frame):
                for packet in stream.encode(f):
                    container.mux(packet)
        for f in resampler.resample(None):
            for packet in stream.encode(f):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buf.getvalue()


def ffmpeg_filter(samples: Samples, description: str, rate: int = RATE) -> Samples:
    """Run mono samples through an FFmpeg audio filter chain (e.g. ``atempo=1.05``)."""
    graph = av.filter.Graph()
    src = graph.add_abuffer(
        format="flt", sample_rate=rate, layout="mono", time_base=Fraction(1, rate)
    )
    last = src
    for part in description.split(","):
        name, _, args = part.partition("=")
        node = graph.add(name, args or None)
        last.link_to(node)
        last = node
    fmt = graph.add("aformat", f"sample_fmts=flt:channel_layouts=mono:sample_rates={rate}")
    last.link_to(fmt)
    sink = graph.add("abuffersink")
    fmt.link_to(sink)
    graph.configure()
    out: list[npt.NDArray[np.float32]] = []
    block = 4096
    for i, start in enumerate(range(0, len(samples), block)):
        frame = av.AudioFrame.from_ndarray(
            samples[start : start + block].reshape(1, -1).astype(np.float32),
            format="flt",
            layout="mono",
        )
        frame.sample_rate = rate
        frame.pts = i * block
        frame.time_base = Fraction(1, rate)
        graph.push(frame)
        out += _drain(graph)
    graph.push(None)
    out += _drain(graph)
    return np.concatenate(out).astype(np.float32)


def _drain(graph: av.filter.Graph) -> list[npt.NDArray[np.float32]]:
    got = []
    while True:
        try:
            frame = graph.pull()
        except (av.BlockingIOError, av.EOFError):
            return got
        got.append(frame.to_ndarray().reshape(-1).astype(np.float32))


def codec(name: str, bitrate: int) -> Callable[[Samples], Samples]:
    """A transform: encode with ``name`` at ``bitrate`` and decode back."""
    return lambda s: decode(encode(s, RATE, name, bitrate))


def add_noise(samples: Samples, snr_db: float, seed: int = 7) -> Samples:
    """White noise at ``snr_db`` below the signal's power."""
    rng = np.random.default_rng(seed)
    power = float(np.mean(samples.astype(np.float64) ** 2))
    noise = rng.standard_normal(len(samples)) * np.sqrt(power / 10 ** (snr_db / 10))
    return (samples + noise).astype(np.float32)


def band_limit(samples: Samples, low: float = 300.0, high: float = 3400.0) -> Samples:
    """Keep ``low``..``high`` Hz (the telephone band) with FFmpeg's 4-pole high- and low-pass."""
    chain = f"highpass=f={low:g},highpass=f={low:g},lowpass=f={high:g},lowpass=f={high:g}"
    return ffmpeg_filter(samples, chain)


def pitch(semitones: float) -> Callable[[Samples], Samples]:
    """Shift pitch by ``semitones`` keeping the tempo (resample, then time-stretch back)."""
    factor = 2 ** (semitones / 12)
    chain = f"asetrate={RATE * factor:.3f},aresample={RATE},atempo={1 / factor:.6f}"
    return lambda s: ffmpeg_filter(s, chain)


def speed(factor: float) -> Callable[[Samples], Samples]:
    """Play ``factor`` times faster, pitch and tempo together (as a sped-up tape)."""
    chain = f"asetrate={RATE * factor:.3f},aresample={RATE}"
    return lambda s: ffmpeg_filter(s, chain)


def tempo(factor: float) -> Callable[[Samples], Samples]:
    """Play ``factor`` times faster keeping the pitch (FFmpeg's ``atempo``)."""
    return lambda s: ffmpeg_filter(s, f"atempo={factor:.6f}")


TRANSFORMS: dict[str, Callable[[Samples], Samples]] = {
    "identity": lambda s: s,
    "mp3_64k": codec("libmp3lame", 64_000),
    "aac_64k": codec("aac", 64_000),
    "opus_16k": codec("libopus", 16_000),
    "noise_10db": lambda s: add_noise(s, 10.0),
    "telephone": band_limit,
    "volume_-12db": lambda s: (s * 10 ** (-12 / 20)).astype(np.float32),
    "speed_+5%": speed(1.05),
    "speed_-5%": speed(0.95),
    "tempo_+5%": tempo(1.05),
    "tempo_-5%": tempo(0.95),
    "pitch_+1": pitch(1.0),
    "pitch_-1": pitch(-1.0),
}
