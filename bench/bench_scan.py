"""Back-scan and retro-hunt: throughput, retro-hunt latency, and resume after a kill.

Flow (media drawn offline with ``tessera.cli.demo.draw_scene``; SQLite stores in bench/.cache):

1. throughput on 2 cores: ``IMAGES`` 640x480 JPEGs (``TESSERA_BENCH_SCAN_IMAGES``) scanned by
   ``tessera scan``'s Scanner (hash every signal type, match against a small bank, journal each
   batch) on the local backend (2 worker processes) and on a local Ray instance (2 actors), each
   after a warm-up; against a plain loop over python-threatexchange's ``PdqSignal.hash_from_file``
   (PDQ only, one process) in the same run. Then video minutes/s on clips of
   ../shared/data/videos (local and Ray) when present;
2. retro-hunt latency: ``RETRO_SIGNALS`` random kept PDQ signals (``TESSERA_BENCH_RETRO_SIGNALS``)
   plus one scanned image's; a RetroHunter follows the change log (0.2 s and the default
   interval); time from a new bank entry's commit to its case, repeated;
3. resume: a ``tessera scan`` subprocess SIGKILLed at random points ``KILLS`` times, then run to
   the end; the journal is checked against the source (no gaps, no repeats).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from bench.common import CACHE_DIR, ROOT, SHARED_DATA, Timing, console, md_table, repeat
from tessera.cli.demo import draw_scene
from tessera.review import cases
from tessera.scan.checkpoint import key_hash
from tessera.scan.local import LocalBackend
from tessera.scan.retro import INTERVAL_S, RetroHunter
from tessera.scan.runner import Scanner
from tessera.scan.source import open_source
from tessera.scan.work import Backend
from tessera.services.hashing import hash_path
from tessera.settings import Settings
from tessera.signals.base import Signal
from tessera.store import Database, Store
from tessera.store.db import utcnow
from tessera.store.records import NewEntry
from tessera.store.scan_tables import kept_signals, scan_items
from tessera.store.tables import value_key

IMAGES = int(os.environ.get("TESSERA_BENCH_SCAN_IMAGES", "120"))
RETRO_SIGNALS = int(os.environ.get("TESSERA_BENCH_RETRO_SIGNALS", "200000"))
REPEATS = 3
RESUME_IMAGES = 60
KILLS = 3
WORKERS = 2
VIDEO_CLIPS = ("doorknob-hd-no-bar", "pattern-sd-grey-bar", "pattern-hd-no-bar")
WORK = CACHE_DIR / "scan"
# `tessera scan` as a subprocess, whether or not the main app registers it yet.
CLI = (
    "import typer; from tessera.cli import main, scan; from tessera.cli.context import STATE\n"
    "app = main.app\n"
    "if not any(c.name == 'scan' for c in app.registered_commands):\n"
    "    app = typer.Typer(pretty_exceptions_enable=False)\n"
    "    app.callback()(lambda: STATE.reset(None))\n"
    "    app.command('scan')(scan.scan)\n"
    "app()\n"
)


def _store(name: str) -> Store:
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / f"{name}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    db = Database(f"sqlite:///{path}")
    db.migrate()
    return Store(db, node_org="bench")


def _images(folder: Path, n: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        path = folder / f"img{i:05d}.jpg"
        if not path.exists():
            draw_scene(1000 + i).save(path, quality=90)
    return folder


def _scan(
    store: Store, settings: Settings, backend: Backend, folder: Path, batch_size: int = 4
) -> float:
    scanner = Scanner(store, settings, backend, org="bench", batch_size=batch_size)
    t0 = time.perf_counter()
    scanner.run(open_source(folder), restart=True)
    return time.perf_counter() - t0


def _throughput(settings: Settings, folder: Path, warm: Path, videos: Path | None) -> str:
    store = _store("throughput")
    store.create_bank("known")
    limits = settings.media_limits()
    known = [folder / "img00003.jpg", folder / "img00017.jpg"]
    store.add_entries("known", [NewEntry(signals=hash_path(p, limits).signals) for p in known])
    rows: list[list[str]] = []
    measured: dict[str, Timing] = {}
    video_rows: list[list[str]] = []
    minutes = 0.0
    if videos is not None:
        minutes = sum(_duration(p) for p in videos.iterdir()) / 60

    console.print(f"scan: local backend, {WORKERS} processes, {IMAGES} images")
    local = LocalBackend(store, settings, org="bench", workers=WORKERS)
    try:
        _scan(store, settings, local, warm, batch_size=1)  # starts every worker
        measured["local"] = repeat(lambda: _scan(store, settings, local, folder), REPEATS)
        if videos is not None:
            console.print("scan: videos, local backend")
            t = _scan(store, settings, local, videos, batch_size=1)
            video_rows.append(["Tessera scan, local (2 processes)", f"{minutes / t:.3f}"])
    finally:
        local.close()

    console.print(f"scan: Ray local, {WORKERS} actors")
    import ray

    from tessera.scan.ray_backend import RayBackend

    t0 = time.perf_counter()
    ray.init(num_cpus=WORKERS, include_dashboard=False, log_to_driver=False)
    ray_start = time.perf_counter() - t0
    try:
        remote = RayBackend(store, settings, org="bench", address="local", workers=WORKERS)
        try:
            _scan(store, settings, remote, warm, batch_size=1)
            measured["ray"] = repeat(lambda: _scan(store, settings, remote, folder), REPEATS)
            if videos is not None:
                console.print("scan: videos, Ray local")
                t = _scan(store, settings, remote, videos, batch_size=1)
                video_rows.append(["Tessera scan, Ray local (2 actors)", f"{minutes / t:.3f}"])
        finally:
            remote.close()
    finally:
        ray.shutdown()

    console.print("peer: python-threatexchange PdqSignal loop")
    from threatexchange.signal_type.pdq.signal import PdqSignal

    paths = sorted(folder.iterdir())
    measured["pytx"] = repeat(lambda: [PdqSignal.hash_from_file(p) for p in paths], REPEATS)
    labels = {
        "local": "Tessera scan, local backend (2 processes; all signal types, match, journal)",
        "ray": "Tessera scan, Ray local (2 actors; same work)",
        "pytx": "python-threatexchange `PdqSignal.hash_from_file` loop (1 process, PDQ only)",
    }
    for key, label in labels.items():
        m = measured[key]
        rate = f"{IMAGES / m.median:.1f} ({IMAGES / m.high:.1f}–{IMAGES / m.low:.1f})"
        rows.append([label, rate, m.fmt()])
    text = (
        f"### Throughput, {WORKERS} cores\n\n{IMAGES} JPEGs of 640x480 (drawn scenes), a bank of "
        f"2 entries, batches of 4; the median of {REPEATS} passes each, after a warm-up scan; "
        f"Ray's start ({ray_start:.1f} s) is not counted. Each worker holds the index and hashes "
        "every signal type (PDQ; the ORB keypoints of `pdq_orb`, which cost most; MD5; SHA-256) "
        "and matches; the driver journals each batch. The peer computes PDQ only, on one "
        "core.\n\n"
        f"**Ratios** (median over median): local / pytx loop "
        f"{measured['pytx'].median / measured['local'].median:.2f}x, Ray local / local "
        f"{measured['local'].median / measured['ray'].median:.2f}x.\n\n"
        + md_table(["scanner", "images/s, median (min–max)", "seconds a pass"], rows)
        + "\n"
    )
    if video_rows:
        text += (
            f"\nVideo: {len(VIDEO_CLIPS)} clips of ../shared/data/videos, {minutes * 60:.0f} s of "
            "media, hashed at the default 30 frames/s (vPDQ), with digests. Video hashing itself "
            "is compared with Meta's `vpdq` in the video benchmark (`python -m bench video`).\n\n"
            + md_table(["scanner", "video minutes/s"], video_rows)
            + "\n"
        )
    return text


def _duration(path: Path) -> float:
    import av

    with av.open(str(path)) as container:
        return float(container.duration or 0) / 1e6


def _retro(settings: Settings, folder: Path) -> str:
    store = _store("retro")
    console.print(f"retro-hunt: keeping {RETRO_SIGNALS} random PDQ signals")
    rng = np.random.default_rng(7)
    now = utcnow()
    with store.db.write() as conn:
        for start in range(0, RETRO_SIGNALS, 50_000):
            words = rng.integers(0, 2**63, size=(min(50_000, RETRO_SIGNALS - start), 4))
            rows = []
            for i, row in enumerate(words):
                value = "".join(f"{int(w):016x}" for w in row)
                ref = f"archive/{start + i}"
                rows.append(
                    {
                        "org": "bench",
                        "content_ref": ref,
                        "content_key": key_hash(ref),
                        "media_kind": "image",
                        "signal_type": "pdq",
                        "value": value,
                        "value_key": value_key(value),
                        "quality": 100,
                        "matched_through": 0,
                        "created_at": now,
                    }
                )
            conn.execute(kept_signals.insert(), rows)
    targets = sorted(folder.iterdir())[:10]
    limits = settings.media_limits()
    with store.db.write() as conn:
        for p in targets:
            pdq = next(s for s in hash_path(p, limits).signals if s.type == "pdq")
            conn.execute(
                kept_signals.insert(),
                {
                    "org": "bench",
                    "content_ref": p.name,
                    "content_key": key_hash(p.name),
                    "media_kind": "image",
                    "signal_type": "pdq",
                    "value": pdq.value,
                    "value_key": value_key(pdq.value),
                    "quality": pdq.quality,
                    "matched_through": 0,
                    "created_at": now,
                },
            )
    store.create_bank("incident")
    table: list[list[str]] = []
    load_s = 0.0
    index_bytes = 0
    db_bytes = (WORK / "retro.db").stat().st_size + _size(WORK / "retro.db-wal")
    for interval in (0.2, INTERVAL_S):
        hunter = RetroHunter(store, settings, name=f"bench-{interval}", interval_s=interval)
        rss0 = _rss()
        t0 = time.perf_counter()
        hunter.run_once()
        load_s = time.perf_counter() - t0
        index_bytes = max(index_bytes, _rss() - rss0)
        hunter.start()
        latencies = []
        try:
            for p in targets[:5] if interval < 1 else targets[5:]:
                pdq = next(s for s in hash_path(p, limits).signals if s.type == "pdq")
                flipped = f"{int(pdq.value[0], 16) ^ 1:x}{pdq.value[1:]}"  # a near copy
                store.add_entries("incident", [NewEntry(signals=(Signal("pdq", flipped, 100),))])
                t0 = time.perf_counter()
                while not _has_case(store, p.name):
                    time.sleep(0.005)
                latencies.append(time.perf_counter() - t0)
        finally:
            hunter.stop()
        table.append(
            [
                f"{interval:g} s",
                f"{statistics.median(latencies) * 1e3:.0f}",
                f"{max(latencies) * 1e3:.0f}",
                str(len(latencies)),
            ]
        )
    n = RETRO_SIGNALS + len(targets)
    rate = n / load_s
    return (
        f"### Retro-hunt latency, {n:,} kept signals\n\n"
        "Time from a new bank entry's commit to its retro-hunt case (the hunter follows the "
        "change log in the background; an entry added just after a pass waits a whole "
        f"interval). Loading the kept index took {load_s:.1f} s ({rate:,.0f} signals/s) and "
        f"about {index_bytes / n:.0f} bytes of memory a signal; the store holds about "
        f"{db_bytes / n:.0f} bytes a kept signal. "
        + (
            "10M kept signals (`TESSERA_BENCH_RETRO_SIGNALS=10000000`) would at these rates "
            f"load in about {10_000_000 / rate / 60:.0f} min, take about "
            f"{index_bytes / n * 10_000_000 / 2**30:.1f} GiB of memory and "
            f"{db_bytes / n * 10_000_000 / 2**30:.1f} GiB of store. "
            if n < 10_000_000
            else ""
        )
        + "A change costs one Hamming range query per entry signal, so the latency is the poll "
        "interval plus the review transaction, whatever the number of kept signals.\n\n"
        + md_table(["poll interval", "median ms", "max ms", "entries"], table)
        + "\n"
    )


def _rss() -> int:
    """This process's resident memory now, in bytes (Linux)."""
    try:
        fields = Path("/proc/self/statm").read_text().split()
    except OSError:
        return 0
    return int(fields[1]) * os.sysconf("SC_PAGE_SIZE")


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _has_case(store: Store, content_ref: str) -> bool:
    with store.db.read() as conn:
        return cases.latest_for_content(conn, "bench", content_ref) is not None


def _journal(store: Store) -> list[str]:
    with store.db.read() as conn:
        return list(conn.execute(sa.select(scan_items.c.item_key)).scalars())


def _resume(folder: Path) -> str:
    source = WORK / "resume-media"
    shutil.rmtree(source, ignore_errors=True)
    source.mkdir(parents=True)
    count = min(RESUME_IMAGES, IMAGES)
    for p in sorted(folder.iterdir())[:count]:
        os.link(p, source / p.name)
    store = _store("resume")
    env = os.environ | {
        "TESSERA_DATABASE_URL": f"sqlite:///{WORK / 'resume.db'}",
        "TESSERA_DATA_DIR": str(WORK),
    }
    args = [sys.executable, "-c", CLI, "scan", str(source), "--workers", str(WORKERS)]
    args += ["--batch-size", "2"]
    rng = random.Random()
    kills = []
    t0 = time.perf_counter()
    for _ in range(KILLS):
        before = len(_journal(store))
        target = rng.randint(before + 1, before + count // (KILLS + 1))
        proc = subprocess.Popen(
            args,
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        while len(_journal(store)) < target and proc.poll() is None:
            time.sleep(0.01)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        kills.append(len(_journal(store)))
    subprocess.run(args, cwd=ROOT, env=env, capture_output=True, check=True)
    resumed_s = time.perf_counter() - t0
    keys = _journal(store)
    expected = {p.name for p in source.iterdir()}
    gaps = len(expected - set(keys))
    repeats = len(keys) - len(set(keys))
    return (
        "### Resume after a kill\n\n"
        f"`tessera scan` of {count} images ({WORKERS} workers, batches of 2) SIGKILLed "
        f"{KILLS} times at random points (journal held {', '.join(map(str, kills))} items at the "
        f"kills), then run to the end: {len(keys)} items journalled, **{gaps} gaps, {repeats} "
        f"repeats**; {resumed_s:.1f} s in all, worker start-ups included.\n"
    )


def run() -> str:
    """The Markdown section for bench/RESULTS.md."""
    settings = Settings(data_dir=WORK)
    folder = _images(CACHE_DIR / "scan-images" / str(IMAGES), IMAGES)
    warm = WORK / "warm"
    shutil.rmtree(warm, ignore_errors=True)
    warm.mkdir(parents=True)
    for p in sorted(folder.iterdir())[:4]:
        os.link(p, warm / p.name)
    videos: Path | None = None
    clips = [SHARED_DATA / "videos" / f"{c}.mp4" for c in VIDEO_CLIPS]
    if all(c.is_file() for c in clips):
        videos = WORK / "videos"
        shutil.rmtree(videos, ignore_errors=True)
        videos.mkdir(parents=True)
        for c in clips:
            os.symlink(c, videos / c.name)
    parts = [
        "## Back-scan and retro-hunt\n",
        _throughput(settings, folder, warm, videos),
        _retro(settings, folder),
        _resume(folder),
    ]
    return "\n".join(parts)
