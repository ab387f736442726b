"""`python -m bench` (`make bench`): run every benchmark and write bench/RESULTS.md.

Each benchmark module exposes ``run() -> str`` returning a Markdown section; peers
(python-threatexchange) are measured in the same run so ratios compare like with like.
Pass names to run a subset: `python -m bench hashing index`.
"""

from __future__ import annotations

import importlib
import platform
import sys
import time
from datetime import UTC, datetime

from bench.common import BENCH_DIR, console

BENCHMARKS = {
    "hashing": "bench.bench_hashing",
    "index": "bench.bench_index",
    "freshness": "bench.bench_freshness",
    "images": "bench.bench_images",
}


def main(argv: list[str]) -> int:
    chosen = argv or list(BENCHMARKS)
    unknown = [n for n in chosen if n not in BENCHMARKS]
    if unknown:
        console.print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
        return 2
    sections = []
    for name in chosen:
        console.rule(f"benchmark: {name}")
        t0 = time.perf_counter()
        module = importlib.import_module(BENCHMARKS[name])
        sections.append(module.run())
        console.print(f"{name} done in {time.perf_counter() - t0:.0f} s")
    header = (
        "# Benchmark results\n\n"
        f"Written by `make bench` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; "
        f"{platform.machine()}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}. Medians with (min–max) over repeats; "
        "peers are measured in the same run.\n"
    )
    path = BENCH_DIR / "RESULTS.md"
    if set(chosen) != set(BENCHMARKS) and path.exists():
        path = BENCH_DIR / "RESULTS.partial.md"
    path.write_text(header + "\n" + "\n\n".join(sections) + "\n")
    console.print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
