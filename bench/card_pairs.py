"""Template-card pairs for the image benchmark's false-positive bound, spread over processes.

A rate bound of 1e-6 needs about 3M non-matching pairs with none false (the one-sided 95% bound
with zero seen is about 3/N): every pair among 2,450 cards. Every card pair shares the layout, so
pdq_orb verifies each one (descriptor matching and RANSAC); the pairs are decided here with the
real decision rule, ``pdq_orb.compare``, nothing cheaper standing in for it.

Flow:

1. ``hash_cards``: cards the benchmark did not already hash are rendered and hashed (PDQ, pHash,
   pdq_orb) in a pool of ``WORKERS`` processes;
2. ``orb_false_pairs``: each worker parses every card's ``pdq_orb`` value once (its initializer),
   then takes rows ``i`` and counts the cards ``k > i`` within the threshold;
3. PDQ and pHash pairs are plain Hamming distances: ``hamming_false_pairs`` counts them with
   numpy in this process.

Workers are spawned, not forked: the parent has run OpenCV, whose thread pool does not survive a
fork. ``TESSERA_BENCH_WORKERS`` sets the pool size (default: every core, at most 2).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

import cv2
import imagehash
import numpy as np
from rich.progress import track

from bench.common import console
from bench.image_set import encode, template_card
from tessera.media.content import Content
from tessera.signals.pdq import PdqSignal
from tessera.signals.pdq_orb import Parsed, PdqOrbSignal, compare, parse

WORKERS = int(os.environ.get("TESSERA_BENCH_WORKERS", str(min(2, os.cpu_count() or 1))))
# Rows per task: enough to keep the queue cheap, few enough that the last tasks balance.
ROWS_PER_TASK = 8

# One worker's parsed cards and threshold, set by ``_load``.
_cards: list[Parsed] = []
_threshold: list[int] = []


def hash_card(i: int) -> tuple[str, str, int]:
    """Card ``i``'s PDQ value, ``pdq_orb`` value and 64-bit pHash."""
    im = template_card(i)
    content = Content.from_bytes(encode(im))
    pdq, orb = PdqSignal.hash_content(content), PdqOrbSignal.hash_content(content)
    assert pdq is not None and orb is not None
    return pdq.value, orb.value, int(str(imagehash.phash(im)), 16)


def hash_cards(indices: range) -> list[tuple[str, str, int]]:
    """``hash_card`` of every index, in order, over the pool."""
    if not indices:
        return []
    with _pool() as pool:
        results = pool.map(hash_card, indices, chunksize=ROWS_PER_TASK)
        return list(track(results, "hashing paired cards", total=len(indices), console=console))


def orb_false_pairs(values: list[str], threshold: int) -> int:
    """How many pairs of ``pdq_orb`` values are within ``threshold`` of each other."""
    tasks = [
        range(i, min(i + ROWS_PER_TASK, len(values))) for i in range(0, len(values), ROWS_PER_TASK)
    ]
    with _pool(_load, (values, threshold)) as pool:
        counts = pool.map(_rows_false_pairs, tasks)
        return sum(track(counts, "card pairs", total=len(tasks), console=console))


def hamming_false_pairs(words: list[int], bits: int) -> int:
    """How many pairs of hashes (Python ints of up to 256 bits) are within ``bits``."""
    width = max(1, -(-max(words, default=0).bit_length() // 64))
    as_words = np.array(
        [[(w >> (64 * j)) & (2**64 - 1) for j in range(width)] for w in words], dtype=np.uint64
    )
    false = 0
    for i in range(len(words) - 1):
        later = np.bitwise_count(as_words[i + 1 :] ^ as_words[i]).sum(axis=1)
        false += int((later <= bits).sum())
    return false


def _pool(
    initializer: Callable[..., None] | None = None, initargs: tuple[object, ...] = ()
) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(
        WORKERS,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=initializer,
        initargs=initargs,
    )


def _load(values: list[str], threshold: int) -> None:
    """Worker start: one OpenCV thread (the pool is the parallelism), every card parsed once."""
    cv2.setNumThreads(1)
    _cards[:] = [parse(v) for v in values]
    _threshold[:] = [threshold]


def _rows_false_pairs(rows: range) -> int:
    return sum(_row_false_pairs(i) for i in rows)


def _row_false_pairs(i: int) -> int:
    threshold = _threshold[0]
    return sum(compare(_cards[i], b).distance <= threshold for b in _cards[i + 1 :])
