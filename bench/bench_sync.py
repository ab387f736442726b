"""Sync between two nodes on loopback: a full sync of a large bank, then small deltas.

1. The hub: a SQLite store with one bank of ``entries`` entries, each a PDQ and an MD5 signal
   (``2 * entries`` signals; 1M entries is the issue's 2M-signal bank), built once and cached in
   bench/.cache. It is served by a real `tessera serve` process on loopback.
2. Full sync: a fresh edge store adds the hub as a peer and runs one sync (pages of
   ``sync_page_size`` changes: fetch, validate, apply and move the cursor in one transaction).
   Goal: 2M signals in ≤ 60 s. Repeated ``runs`` times, each into a new edge store (this VM's
   speed drifts by a fifth from one minute to the next): median with spread.
3. Delta: 1,000 new entries are added to the hub, and the edge syncs again; repeated, median
   with spread. Goal: ≤ 1 s. The peer measured in the same run is the hub's own local add of
   those entries (``Store.add_entries``): the ratio says what the exchange costs over writing the
   same entries once, whatever the machine's load.

The machine is shared and loaded while this runs: absolute times are pessimistic. The CPU
seconds each side used are reported too (the edge process, and the hub process from Linux's
/proc), so a run on a loaded machine still shows what the sync itself costs.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np

from bench.common import CACHE_DIR, console, md_table, progress
from tessera.services.orgs import create_org, issue_token
from tessera.services.sync import Syncer
from tessera.settings import Settings
from tessera.signals.base import Signal
from tessera.store import Database, Store
from tessera.store.orgs import OrgStore
from tessera.store.peers import PeerStore
from tessera.store.records import NewEntry

CHUNK = 20_000


def _entries(n: int, rng: np.random.Generator) -> Iterator[NewEntry]:
    raw = rng.integers(0, 2**63, size=(n, 4), dtype=np.int64)
    for row in raw:
        pdq = "".join(f"{int(w):016x}" for w in row)
        md5 = f"{int(row[0]):016x}{int(row[1]):016x}"
        yield NewEntry(signals=(Signal("pdq", pdq, 100), Signal("md5", md5)), created_by="hub")


def _unlink(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _hub(entries: int) -> tuple[Path, str]:
    """The cached hub database with a bank of ``entries`` entries, and a sync token for it."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    path = CACHE_DIR / f"sync-hub-{entries}.db"
    token_file = CACHE_DIR / f"sync-hub-{entries}.token"
    if path.exists() and token_file.exists():
        store = Store(Database(f"sqlite:///{path}"), node_org="hub")
        try:
            store.db.migrate()
            # Drop the deltas of earlier runs so every run starts from the same bank.
            extra = [b.name for b, _ in store.list_banks() if b.name != "bank"]
            for name in extra:
                store.delete_bank(name)
            if store.latest_seq() > 0:
                return path, token_file.read_text().strip()
        finally:
            store.db.dispose()
    _unlink(path)
    db = Database(f"sqlite:///{path}")
    db.migrate()
    store = Store(db, node_org="hub")
    orgs = OrgStore(db)
    create_org(orgs, "hub", "coordinator")
    create_org(orgs, "edge", "member")
    token = issue_token(orgs, "edge", ["sync"]).secret
    store.create_bank("bank", distribution="members", owner_org="hub")
    rng = np.random.default_rng(2026)
    with progress(transient=True) as bars:
        task = bars.add_task(f"building the hub's bank ({entries:,} entries)", total=entries)
        done = 0
        while done < entries:
            n = min(CHUNK, entries - done)
            store.add_entries("bank", _entries(n, rng))
            done += n
            bars.update(task, completed=done)
    db.dispose()
    token_file.write_text(token)
    return path, token


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far (Linux; 0 where /proc is missing)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(db: Path, page_size: int) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = dict(
        os.environ,
        TESSERA_DATABASE_URL=f"sqlite:///{db}",
        TESSERA_DATA_DIR=str(CACHE_DIR),
        TESSERA_SYNC_INTERVAL_S="0",
        TESSERA_NODE_ORG="hub",
        # The hub serves pages as large as the edge asks for (its own cap would cut them).
        TESSERA_CHANGES_PAGE_MAX=str(max(page_size, 5000)),
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "tessera", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    while True:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the hub node did not start")
        time.sleep(0.2)


def _edge(path: Path) -> tuple[Database, Store]:
    """A new, empty edge node's store."""
    _unlink(path)
    db = Database(f"sqlite:///{path}")
    db.migrate()
    return db, Store(db, node_org="edge")


def run(
    entries: int = 1_000_000, deltas: int = 3, page_size: int | None = None, runs: int = 3
) -> str:
    """``runs`` full syncs of ``2 * entries`` signals, each into a new edge store, then
    ``deltas`` syncs of 1,000 new entries into the last one, in pages of ``page_size`` changes
    (default: the node's ``sync_page_size``)."""
    entries = int(os.environ.get("TESSERA_BENCH_SYNC_ENTRIES", entries))
    runs = int(os.environ.get("TESSERA_BENCH_SYNC_RUNS", runs))
    default_page = page_size or Settings().sync_page_size
    page_size = int(os.environ.get("TESSERA_BENCH_SYNC_PAGE_SIZE", default_page))
    hub_db, token = _hub(entries)
    edge_path = CACHE_DIR / "sync-edge.db"
    settings = Settings(data_dir=CACHE_DIR, sync_page_size=page_size)
    proc, url = _serve(hub_db, page_size)
    hub = Store(Database(f"sqlite:///{hub_db}"), node_org="hub")
    rng = np.random.default_rng(int(time.time()))
    fulls: list[tuple[float, float, float]] = []  # (wall s, edge CPU s, hub CPU s)
    edge_db: Database | None = None
    try:
        for n in range(runs):
            if edge_db is not None:
                edge_db.dispose()
            edge_db, edge = _edge(edge_path)
            PeerStore(edge_db).add("hub", url, token)
            syncer = Syncer(edge, settings)
            console.print(f"full sync {n + 1}/{runs} of {2 * entries:,} signals ...")
            hub_cpu, edge_cpu = _cpu_s(proc.pid), time.process_time()
            t0 = time.perf_counter()
            full = syncer.pull("hub")
            full_s = time.perf_counter() - t0
            hub_cpu, edge_cpu = _cpu_s(proc.pid) - hub_cpu, time.process_time() - edge_cpu
            console.print(
                f"full sync: {full_s:.1f} s (CPU: edge {edge_cpu:.1f}, hub {hub_cpu:.1f})"
            )
            assert full.applied.entries == entries, full
            fulls.append((full_s, edge_cpu, hub_cpu))
            if n < runs - 1:
                syncer.close()
        delta_times, local_times = [], []
        for i in range(deltas):
            hub.create_bank(f"delta-{i}", distribution="members", owner_org="hub")
            t0 = time.perf_counter()
            hub.add_entries(f"delta-{i}", _entries(1000, rng))
            local_times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            result = syncer.sync("hub")
            delta_times.append(time.perf_counter() - t0)
            console.print(f"delta {i + 1}: {delta_times[-1]:.2f} s")
            assert result.applied.entries == 1000, result
        syncer.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        hub.db.dispose()
        if edge_db is not None:
            edge_db.dispose()
    fulls.sort()
    full_s, edge_cpu, hub_cpu = fulls[len(fulls) // 2]
    spread = f"{fulls[0][0]:.1f}–{fulls[-1][0]:.1f}, n={len(fulls)}"
    signals = 2 * entries
    median = sorted(delta_times)[len(delta_times) // 2]
    local = sorted(local_times)[len(local_times) // 2]
    rows = [
        [
            f"full sync, {signals:,} signals ({entries:,} entries)",
            f"{full_s:.1f} s ({spread}; the median run's CPU: edge {edge_cpu:.1f} s, "
            f"hub {hub_cpu:.1f} s)",
            f"{signals / full_s:,.0f} signals/s",
            "≤ 60 s",
            f"{60 / full_s * signals / 2_000_000:.2f}× of goal"
            if signals == 2_000_000
            else f"{full_s * 2_000_000 / signals:.0f} s projected for 2M",
        ],
        [
            "delta sync, 1,000 entries (2,000 signals)",
            f"{median:.2f} s ({min(delta_times):.2f}–{max(delta_times):.2f}, n={deltas})",
            f"{2000 / median:,.0f} signals/s",
            "≤ 1 s",
            f"{1 / median:.2f}× of goal",
        ],
        [
            "peer: the hub adding the same 1,000 entries locally (`Store.add_entries`)",
            f"{local:.2f} s ({min(local_times):.2f}–{max(local_times):.2f}, n={deltas})",
            f"{2000 / local:,.0f} signals/s",
            "",
            f"sync takes {median / local:.1f}× a local add",
        ],
    ]
    return (
        "## Sync between nodes\n\n"
        f"Two nodes on loopback: the hub is a `tessera serve` process on SQLite; the edge pulls "
        f"with `Syncer` (pages of {page_size:,} changes, each validated; consecutive pages "
        f"applied with the cursor in one SQLite transaction, up to 200,000 changes or 10 s; the "
        f"mirrored entries written to the edge's own change log; the next page fetched and read "
        f"while one is applied). The full sync runs {len(fulls)} times, each into a new edge "
        f"store: median (min–max), and the CPU seconds each process used in the median run: on "
        f"a loaded machine the wall time includes waiting for a core, the CPU seconds do not. "
        f"Measured on a shared 2-core machine whose speed drifts by a fifth; absolute times are "
        f"pessimistic. Command: `python -m bench sync` "
        f"(`TESSERA_BENCH_SYNC_ENTRIES=N` for a smaller bank, `TESSERA_BENCH_SYNC_PAGE_SIZE=N` "
        f"for other pages, `TESSERA_BENCH_SYNC_RUNS=N` for more or fewer full syncs).\n\n"
        + md_table(["what", "time", "rate", "goal", "vs goal"], rows)
    )
