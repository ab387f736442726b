"""Image matching quality: PDQ, pHash and pdq_orb side by side on edited copies and templates.

Flow (media from ``bench.image_set``, all offline, fixed seeds; references whose PDQ quality is
below the node's ``min_quality`` (50) are left out, as a node would neither bank nor match them):

1. hash every reference photo and ``CARDS`` template cards with all three methods and index
   them: PDQ (queried with its 8 dihedral variants, as ``tessera match --dihedral``), pHash
   (imagehash's 64-bit DCT hash, threshold 10 bits, also over 8 orientations), and ``pdq_orb``
   (queried with its mirror variant) through ``PdqOrbIndex``;
2. recall per transform (17 edits of every reference): the share of copies whose own reference
   is within the threshold;
3. false positives over all non-matching pairs: every copy against every other stored image
   (references and cards, through the indexes), and every pair among ``PAIRED`` template cards
   (the hard negatives: one layout, their own picture and text; the stored cards and, past them,
   more of the same, hashed and decided over processes by ``bench.card_pairs``; pdq_orb's
   distance is computed for each pair, which is what its exact index answers), with the one-sided
   95% upper bound by Clopper-Pearson;
4. match-path cost per image on one core: decode + hash + index query, for PDQ (dihedral) and
   for pdq_orb (hash and mirror from one decode, candidates verified), median of repeats.

``TESSERA_BENCH_CARDS`` sets the stored card count (default 600) and ``TESSERA_BENCH_CARD_PAIRS``
how many cards are paired with each other (default 2,450: 2,999,025 pairs, the count a 1e-6
bound needs with none false). Every card pair shares the layout, so each costs pdq_orb one
verification (descriptor matching and RANSAC, about 0.5 ms of one core): some 13 minutes on 2
quiet cores, plus a minute to make and hash the 1,850 cards past the stored 600.
``TESSERA_BENCH_QUICK=1`` runs 12 references, 120 cards and their 7,140 pairs.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

import imagehash
import numpy as np
from PIL import Image
from rich.progress import track
from scipy.stats import beta

from bench import card_pairs
from bench.common import console, md_table
from bench.image_set import PDQ_WORKS, TRANSFORMS, encode, references, template_card
from tessera.index.hamming import HammingIndex
from tessera.index.pdq_orb import PdqOrbIndex
from tessera.media.content import Content
from tessera.settings import Settings
from tessera.signals.pdq import PdqSignal, pdq_dihedral_hashes
from tessera.signals.pdq_orb import PdqOrbSignal

QUICK = os.environ.get("TESSERA_BENCH_QUICK") == "1"
CARDS = int(os.environ.get("TESSERA_BENCH_CARDS", "120" if QUICK else "600"))
PAIRED = int(os.environ.get("TESSERA_BENCH_CARD_PAIRS", "120" if QUICK else "2450"))
REFERENCES = 12 if QUICK else None
PHASH_BITS = 10
PDQ_BITS = 31
METHODS = ("pdq", "phash", "ours")
GOAL_TRANSFORMS = ("crop_10", "letterbox_20", "screenshot", "text_overlay", "logo_25")


def _upper(fp: int, n: int) -> float:
    """Clopper-Pearson 95% one-sided upper bound of a rate seen fp times in n."""
    return 1.0 if n == 0 else float(beta.ppf(0.95, fp + 1, n - fp))


def _phash_words(im: Image.Image) -> np.ndarray[tuple[int], np.dtype[np.uint64]]:
    """pHash of the 8 orientations, as 64-bit words."""
    turns = [im.rotate(a, expand=True) for a in (0, 90, 180, 270)]
    flips = [t.transpose(Image.Transpose.FLIP_LEFT_RIGHT) for t in turns]
    hashes = [imagehash.phash(t) for t in turns + flips]
    return np.array([int(str(h), 16) for h in hashes], dtype=np.uint64)


def _orb_queries(c: Content) -> list[str]:
    signal = PdqOrbSignal.hash_content(c)
    assert signal is not None
    return [signal.value] + [s.value for _, s in PdqOrbSignal.transformed(c)]


def _median_per_image(
    fn: Callable[[Content], object], items: list[Content], repeats: int
) -> tuple[str, float]:
    """Median (min-max) milliseconds per image over ``repeats`` passes, and the median alone."""
    passes = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for c in items:
            fn(c)
        passes.append((time.perf_counter() - t0) / len(items) * 1e3)
    median = statistics.median(passes)
    return f"{median:.1f} ({min(passes):.1f}-{max(passes):.1f})", median


def run() -> str:
    """Hash, match and report; returns the Markdown section."""
    floor = Settings().min_quality
    refs, too_flat = [], []
    for name, im in list(references())[:REFERENCES]:
        quality = PdqSignal.hash_content(Content.from_bytes(encode(im))).quality  # type: ignore[union-attr]
        (refs if quality >= floor else too_flat).append((name, im))
    cards = [template_card(i) for i in track(range(CARDS), "cards", console=console)]
    console.print(f"{len(refs)} references, {len(cards)} cards, {len(TRANSFORMS)} transforms")
    stored = [Content.from_bytes(encode(im)) for im in [im for _, im in refs] + cards]
    pdq_index, orb_index = HammingIndex(), PdqOrbIndex()
    pdq_values, orb_values = [], []
    for c in track(stored, "hashing stored images", console=console):
        pdq_values.append(PdqSignal.hash_content(c).value)  # type: ignore[union-attr]
        orb_values.append(PdqOrbSignal.hash_content(c).value)  # type: ignore[union-attr]
    pdq_index.add(enumerate(pdq_values))
    orb_index.add(enumerate(orb_values))
    phash = np.array(
        [int(str(imagehash.phash(im)), 16) for im in [im for _, im in refs] + cards], np.uint64
    )

    def pdq_hits(c: Content) -> set[int]:
        values = list(pdq_dihedral_hashes(c).values())
        return {h.id for hits in pdq_index.query_many(values, PDQ_BITS) for h in hits}

    def orb_hits(c: Content) -> set[int]:
        threshold = PdqOrbSignal.default_threshold
        return {h.id for q in _orb_queries(c) for h in orb_index.query(q, threshold)}

    def phash_hits(im: Image.Image) -> set[int]:
        bits = np.bitwise_count(_phash_words(im)[:, None] ^ phash[None, :]).min(axis=0)
        return {int(i) for i in np.flatnonzero(bits <= PHASH_BITS)}

    rows, fp, pairs = [], dict.fromkeys(METHODS, 0), 0
    recall: dict[str, dict[str, float]] = {}
    for name, transform in TRANSFORMS.items():
        found = dict.fromkeys(METHODS, 0)
        for i, (_, im) in enumerate(track(refs, f"{name:>13}", console=console)):
            edited = transform(im, i)
            c = Content.from_bytes(encode(edited))
            for method, hits in (
                ("pdq", pdq_hits(c)),
                ("phash", phash_hits(edited)),
                ("ours", orb_hits(c)),
            ):
                found[method] += i in hits
                fp[method] += len(hits - {i})
            pairs += len(stored) - 1
        recall[name] = {m: found[m] / len(refs) for m in METHODS}
        mark = " (PDQ works)" if name in PDQ_WORKS else ""
        goal = " (goal 90%)" if name in GOAL_TRANSFORMS else ""
        rows.append([f"{name}{mark}{goal}"] + [f"{recall[name][m]:.0%}" for m in METHODS])
    t0 = time.perf_counter()
    paired = range(len(refs), len(refs) + min(PAIRED, len(cards)))
    extra = card_pairs.hash_cards(range(len(cards), PAIRED))
    paired_pdq = [pdq_values[i] for i in paired] + [pdq for pdq, _, _ in extra]
    paired_orb = [orb_values[i] for i in paired] + [orb for _, orb, _ in extra]
    paired_phash = [int(w) for w in phash[paired.start : paired.stop]] + [p for _, _, p in extra]
    card_count = len(paired_orb)
    card_pairs_total = card_count * (card_count - 1) // 2
    card_fp = {
        "pdq": card_pairs.hamming_false_pairs([int(v, 16) for v in paired_pdq], PDQ_BITS),
        "phash": card_pairs.hamming_false_pairs(paired_phash, PHASH_BITS),
        "ours": card_pairs.orb_false_pairs(paired_orb, PdqOrbSignal.default_threshold),
    }
    card_seconds = time.perf_counter() - t0
    sample = stored[: min(20, len(refs))]
    repeats = 2 if QUICK else 3
    pdq_cost, pdq_ms = _median_per_image(pdq_hits, sample, repeats)
    orb_cost, orb_ms = _median_per_image(orb_hits, sample, repeats)
    ratio = orb_ms / pdq_ms
    total_pairs = pairs + card_pairs_total
    fp_rows = [
        [
            m,
            f"{fp[m]} / {pairs:,}",
            f"{_upper(fp[m], pairs):.1e}",
            f"{card_fp[m]} / {card_pairs_total:,}",
            f"{_upper(card_fp[m], card_pairs_total):.1e}",
            f"{fp[m] + card_fp[m]} / {total_pairs:,}",
            f"{_upper(fp[m] + card_fp[m], total_pairs):.1e}",
        ]
        for m in METHODS
    ]
    works = [recall[n]["ours"] for n in PDQ_WORKS]
    goals = [recall[n]["ours"] for n in GOAL_TRANSFORMS]
    return "\n\n".join(
        [
            "## Image matching: PDQ, pHash and pdq_orb (bench/bench_images.py)",
            f"{len(refs)} reference photos (scikit-image data, ../shared/data/pdq-reference), "
            f"{len(TRANSFORMS)} edits of each, {len(cards)} template cards (one layout, their own "
            f"picture and text); {card_count:,} cards of that layout paired with each other. "
            "Thresholds: "
            f"PDQ {PDQ_BITS} bits (8 orientations), pHash "
            f"{PHASH_BITS} of 64 bits (8 orientations), pdq_orb its default "
            f"{PdqOrbSignal.default_threshold} (with its mirror variant)."
            + (" **Quick mode** (TESSERA_BENCH_QUICK=1)." if QUICK else "")
            + (
                f" Left out, PDQ quality below {floor} (a node refuses to bank them): "
                + ", ".join(n for n, _ in too_flat)
                + "."
                if too_flat
                else ""
            ),
            md_table(["transform", "PDQ recall", "pHash recall", "pdq_orb recall"], rows),
            f"pdq_orb: lowest recall where PDQ works {min(works):.0%} (goal 99%); lowest on "
            f"the five hard edits {min(goals):.0%} (goal 90%).",
            md_table(
                [
                    "method",
                    "false pairs: copies x other images",
                    "95% upper",
                    "false pairs: card x card",
                    "95% upper",
                    "all non-matching pairs",
                    "95% upper",
                ],
                fp_rows,
            ),
            f"Card pairs hashed and decided in {card_seconds:.0f} s over {card_pairs.WORKERS} "
            "processes (pdq_orb verifies every pair with its real decision rule: they all share "
            "the layout).",
            f"Match-path cost per image, ms, median (min-max) of {repeats} passes over "
            f"{len(sample)} photos (decode, hash, index query; PDQ with 8 orientations, pdq_orb "
            f"with its mirror): PDQ {pdq_cost}, pdq_orb {orb_cost}: **{ratio:.1f}x** PDQ's. "
            "Measured on a shared, loaded 2-core machine: the ratio is meaningful, absolute "
            "times are pessimistic.",
        ]
    )
