"""Small helpers shared by the benchmarks: repeated timing with median and spread, and output."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
CACHE_DIR = BENCH_DIR / ".cache"
console = Console(stderr=True)


@dataclass(frozen=True)
class Timing:
    """Seconds per repetition: the median and the spread (min..max) over repeats."""

    median: float
    low: float
    high: float
    repeats: int

    def fmt(self, unit: str = "s", scale: float = 1.0, digits: int = 3) -> str:
        return (
            f"{self.median * scale:.{digits}g} {unit} "
            f"({self.low * scale:.{digits}g}–{self.high * scale:.{digits}g}, n={self.repeats})"
        )


def repeat(fn: Callable[[], object], repeats: int = 5) -> Timing:
    """Run ``fn`` ``repeats`` times; report the median and the spread of wall-clock seconds."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return Timing(statistics.median(times), min(times), max(times), repeats)


def md_table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def progress(*, transient: bool = False) -> Progress:
    """The benchmarks' progress bar: description, bar, done/total and elapsed time."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=transient,
    )
