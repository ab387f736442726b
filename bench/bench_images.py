"""Image matching quality: PDQ, pHash and pdq_orb side by side on edited copies and templates.

Flow (media from ``bench.image_set``, all offline, fixed seeds):

1. hash every reference photo, every edited copy (17 transforms) and ``CARDS`` template cards
   with all three methods: PDQ (with its 8 dihedral variants, as ``tessera match --dihedral``),
   pHash (imagehash's 64-bit DCT hash, threshold 10 bits, also over 8 orientations), and
   ``pdq_orb`` (with its mirror variant) through ``PdqOrbIndex``;
2. recall per transform: the share of copies whose own reference is within the threshold;
3. pair false-positive rate over all non-matching pairs (copies against other references, and
   every pair of template cards), with the 95% upper bound by Clopper-Pearson;
4. match-path cost per image (decode + hash + index query) for PDQ and pdq_orb, on one core.

Set ``TESSERA_BENCH_CARDS`` to change the card count (default 2500: 3.1M card pairs, enough for
a 95% bound below 1e-6 when none collide).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import imagehash
from PIL import Image
from scipy.stats import beta

from bench.common import console, md_table
from bench.image_set import PDQ_WORKS, TRANSFORMS, encode, references, template_card
from tessera.index.hamming import HammingIndex
from tessera.index.pdq_orb import PdqOrbIndex
from tessera.media.content import Content
from tessera.signals.pdq import PdqSignal, pdq_dihedral_hashes
from tessera.signals.pdq_orb import PdqOrbSignal

CARDS = int(os.environ.get("TESSERA_BENCH_CARDS", "2500"))
PHASH_BITS = 10


def _upper(fp: int, n: int) -> float:
    """Clopper-Pearson 95% one-sided upper bound of a rate seen fp times in n."""
    return 1.0 if n == 0 else float(beta.ppf(0.95, fp + 1, n - fp))


def _phashes(im: Image.Image) -> list[imagehash.ImageHash]:
    turns = [im.rotate(a, expand=True) for a in (0, 90, 180, 270)]
    return [imagehash.phash(t) for t in turns + [t.transpose(0) for t in turns]]


def _orb_queries(c: Content) -> list[str]:
    signal = PdqOrbSignal.hash_content(c)
    assert signal is not None
    return [signal.value] + [s.value for _, s in PdqOrbSignal.transformed(c)]


def _time_per_image(fn: Callable[[Content], object], items: list[Content]) -> float:
    t0 = time.perf_counter()
    for c in items:
        fn(c)
    return (time.perf_counter() - t0) / len(items)


def run() -> str:
    """Hash, match and report; returns the Markdown section."""
    refs = list(references())
    cards = [template_card(i) for i in range(CARDS)]
    console.print(f"{len(refs)} references, {len(cards)} cards, {len(TRANSFORMS)} transforms")
    ref_content = [Content.from_bytes(encode(im)) for _, im in refs]
    card_content = [Content.from_bytes(encode(im)) for im in cards]
    stored = ref_content + card_content
    pdq_index, orb_index = HammingIndex(), PdqOrbIndex()
    pdq_index.add((i, PdqSignal.hash_content(c).value) for i, c in enumerate(stored))  # type: ignore[union-attr]
    orb_index.add((i, PdqOrbSignal.hash_content(c).value) for i, c in enumerate(stored))  # type: ignore[union-attr]
    phash = [imagehash.phash(im) for _, im in refs] + [imagehash.phash(im) for im in cards]

    def pdq_hits(c: Content) -> set[int]:
        values = list(pdq_dihedral_hashes(c).values())
        return {h.id for hits in pdq_index.query_many(values, 31) for h in hits}

    def orb_hits(c: Content) -> set[int]:
        threshold = PdqOrbSignal.default_threshold
        return {h.id for q in _orb_queries(c) for h in orb_index.query(q, threshold)}

    def phash_hits(im: Image.Image) -> set[int]:
        variants = _phashes(im)
        return {i for i, h in enumerate(phash) if min(v - h for v in variants) <= PHASH_BITS}

    rows, fp, pairs = [], {"pdq": 0, "phash": 0, "ours": 0}, 0
    for name, transform in TRANSFORMS.items():
        found = {"pdq": 0, "phash": 0, "ours": 0}
        for i, (_, im) in enumerate(refs):
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
        n = len(refs)
        mark = " (PDQ works)" if name in PDQ_WORKS else ""
        rows.append([f"{name}{mark}"] + [f"{found[m] / n:.0%}" for m in ("pdq", "phash", "ours")])
    card_fp = {"pdq": 0, "phash": 0, "ours": 0}
    card_pairs = len(cards) * (len(cards) - 1) // 2
    for j, c in enumerate(card_content):
        i = len(refs) + j
        card_fp["pdq"] += len({h for h in pdq_hits(c) if h > i})
        card_fp["ours"] += len({h for h in orb_hits(c) if h > i})
        card_fp["phash"] += sum(
            1 for k in range(i + 1, len(phash)) if phash[i] - phash[k] <= PHASH_BITS
        )
    sample = ref_content[:20]
    pdq_cost = _time_per_image(pdq_hits, sample)
    orb_cost = _time_per_image(orb_hits, sample)
    fp_rows = [
        [
            m,
            f"{fp[m]} / {pairs}",
            f"{_upper(fp[m], pairs):.2e}",
            f"{card_fp[m]} / {card_pairs}",
            f"{_upper(card_fp[m], card_pairs):.2e}",
        ]
        for m in ("pdq", "phash", "ours")
    ]
    return "\n\n".join(
        [
            "## Image matching: PDQ, pHash and pdq_orb (bench/bench_images.py)",
            f"{len(refs)} reference photos (scikit-image data, ../shared/data/pdq-reference), "
            f"{len(cards)} template cards; thresholds: PDQ 31 bits (8 orientations), pHash "
            f"{PHASH_BITS} of 64 bits (8 orientations), pdq_orb its default "
            f"{PdqOrbSignal.default_threshold} (with its mirror variant).",
            md_table(["transform", "PDQ recall", "pHash recall", "pdq_orb recall"], rows),
            md_table(
                [
                    "method",
                    "false pairs (copies x others)",
                    "95% upper",
                    "false pairs (cards)",
                    "95% upper",
                ],
                fp_rows,
            ),
            f"Match-path cost per image (decode, hash, query; {len(sample)} photos): PDQ "
            f"{pdq_cost * 1e3:.1f} ms, pdq_orb {orb_cost * 1e3:.1f} ms "
            f"({orb_cost / pdq_cost:.1f}x).",
        ]
    )
