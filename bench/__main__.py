"""`python -m bench` (`make bench`): run every benchmark and write bench/RESULTS.md.

Each benchmark module exposes ``run() -> str`` returning a Markdown section; peers
(python-threatexchange) are measured in the same run so ratios compare like with like.
Pass names to run a subset: `python -m bench hashing index`. Each section sits between
``<!-- bench:NAME -->`` markers in RESULTS.md, so a subset run replaces its own sections and keeps
the others (with the date each was measured).
"""

from __future__ import annotations

import importlib
import platform
import re
import sys
import time
from datetime import UTC, datetime

from bench.common import BENCH_DIR, console

BENCHMARKS = {
    "hashing": "bench.bench_hashing",
    "index": "bench.bench_index",
    "freshness": "bench.bench_freshness",
    "images": "bench.bench_images",
    "audio": "bench.bench_audio",
    "video": "bench.bench_video",
    "node": "bench.bench_node",
    "sync": "bench.bench_sync",
    "scan": "bench.bench_scan",
}


def main(argv: list[str]) -> int:
    chosen = argv or list(BENCHMARKS)
    unknown = [n for n in chosen if n not in BENCHMARKS]
    if unknown:
        console.print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
        return 2
    path = BENCH_DIR / "RESULTS.md"
    measured: dict[str, str] = {}
    for name in chosen:
        console.rule(f"benchmark: {name}")
        t0 = time.perf_counter()
        module = importlib.import_module(BENCHMARKS[name])
        body = module.run().strip()
        stamp = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
        measured[name] = f"{body}\n\n_Measured {stamp}; {time.perf_counter() - t0:.0f} s._"
        console.print(f"{name} done in {time.perf_counter() - t0:.0f} s")
    header = (
        "# Benchmark results\n\n"
        f"Written by `make bench` (`python -m bench [NAME...]`); "
        f"{platform.machine()}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}. Medians with (min–max) over repeats; "
        "peers are measured in the same run. Each section says when it was measured.\n"
    )
    # Read the file only now: another run may have written its sections while this one ran.
    sections = read_sections(path.read_text() if path.exists() else "") | measured
    ordered = [n for n in BENCHMARKS if n in sections] + [
        n for n in sections if n not in BENCHMARKS
    ]
    parts = [f"<!-- bench:{n} -->\n{sections[n]}\n<!-- /bench:{n} -->" for n in ordered]
    path.write_text(header + "\n" + "\n\n".join(parts) + "\n")
    console.print(f"wrote {path}")
    return 0


_SECTION = re.compile(
    r"<!-- bench:(?P<name>[\w-]+) -->\n(?P<body>.*?)\n<!-- /bench:(?P=name) -->", re.S
)


def read_sections(text: str) -> dict[str, str]:
    """The sections of an existing RESULTS.md, by benchmark name."""
    return {m["name"]: m["body"] for m in _SECTION.finditer(text)}


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
