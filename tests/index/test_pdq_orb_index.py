"""PdqOrbIndex: the index contract (its answers equal brute force over ``PdqOrbSignal.distance``),
and the template guard end to end through the matcher."""

from __future__ import annotations

from functools import cache

import numpy as np
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from tessera.index.base import SignalIndex
from tessera.index.pdq_orb import PdqOrbIndex
from tessera.services.matching import Matcher, Query
from tessera.signals import local_features as lf
from tessera.signals.base import Signal
from tessera.signals.pdq import PdqSignal
from tessera.signals.pdq_orb import CONTRADICTION_INLIERS, Parsed, PdqOrbSignal, format_value, parse
from tessera.store.records import NewEntry
from tessera.store.repository import Store
from tessera.testing import IndexContract
from tests.signals.pdq_orb_media import card, content, crop, framed, letterbox, photo


@cache
def _pool() -> tuple[str, ...]:
    """Real values: two photos with edited copies, template cards, and a flat image."""
    images = []
    for seed in (1, 2):
        ref = photo(seed)
        images += [ref, crop(ref, 0.06), letterbox(ref), framed(ref)]
    images += [card(seed, picture_side=48) for seed in (1, 2, 3)]
    values = [PdqOrbSignal.hash_content(content(im)) for im in images]
    flat = "1.320x240." + "0" * 64 + "."
    return (*(v.value for v in values if v is not None), flat)


class TestPdqOrbIndex(IndexContract):
    max_examples = 15

    def new_index(self) -> SignalIndex:
        return PdqOrbIndex()

    def values(self) -> SearchStrategy[str]:
        return st.sampled_from(_pool())

    def thresholds(self) -> SearchStrategy[int]:
        return st.sampled_from([0, 20, 55, 70, 100])

    def distance(self, a: str, b: str) -> int:
        return PdqOrbSignal.distance(a, b)


def test_hits_carry_the_evidence() -> None:
    index = PdqOrbIndex()
    ref = photo(1)
    index.add([(7, PdqOrbSignal.hash_content(content(ref)).value)])  # type: ignore[union-attr]
    query = PdqOrbSignal.hash_content(content(framed(ref)))
    assert query is not None
    (hit,) = index.query(query.value, PdqOrbSignal.default_threshold)
    assert hit.id == 7 and hit.detail is not None
    assert hit.detail["decided_by"] == "features" and hit.detail["inliers"] >= 16
    index.remove([7])
    assert len(index) == 0 and index.query(query.value, 100) == []


def test_edited_copies_are_found_and_a_template_sibling_is_not() -> None:
    """Through the index (key-point candidates, then verification), as a bank would answer."""
    index = PdqOrbIndex()
    ref = photo(1)
    stored = [ref, photo(2), card(1, picture_side=48), card(2, picture_side=48)]
    index.add((i, PdqOrbSignal.hash_content(content(im)).value) for i, im in enumerate(stored))  # type: ignore[union-attr]
    threshold = PdqOrbSignal.default_threshold
    for copy in (crop(ref, 0.1), letterbox(ref), framed(ref)):
        query = PdqOrbSignal.hash_content(content(copy))
        assert query is not None
        assert [h.id for h in index.query(query.value, threshold)] == [0]
    sibling = PdqOrbSignal.hash_content(content(card(3, picture_side=48)))
    assert sibling is not None
    assert index.query(sibling.value, threshold) == []


def _signals(im: object) -> list[Signal]:
    c = content(im)  # type: ignore[arg-type]
    return [s for s in (PdqSignal.hash_content(c), PdqOrbSignal.hash_content(c)) if s]


def test_pdq_collision_on_a_template_is_demoted_with_evidence(store: Store) -> None:
    store.create_bank("cards")
    store.add_entries("cards", [NewEntry(signals=tuple(_signals(card(1, picture_side=48))))])
    matcher = Matcher(store)
    matcher.load()
    sibling = matcher.match([Query(s) for s in _signals(card(2, picture_side=48))])
    assert [m.signal_type for m in sibling] == ["pdq"]  # pdq_orb does not match at all
    (pdq,) = sibling
    assert pdq.demoted and pdq.as_json()["demoted"] is True
    assert pdq.detail is not None and pdq.detail["demoted_by"]["signal_type"] == "pdq_orb"
    same = matcher.match([Query(s) for s in _signals(card(1, picture_side=48))])
    assert {m.signal_type for m in same} == {"pdq", "pdq_orb"}
    assert not any(m.demoted for m in same)


def test_a_pdq_match_with_too_little_feature_evidence_against_it_is_found() -> None:
    """A small or blurred copy: PDQ within its threshold, a few corners, most in wrong places."""
    ref = parse(PdqOrbSignal.hash_content(content(photo(1))).value)  # type: ignore[union-attr]
    f = ref.features
    agreeing, moved = 24, 40
    points = f.points[: agreeing + moved].copy()
    wrong = np.arange(agreeing, agreeing + moved)
    points[wrong] = f.points[np.roll(wrong, moved // 2)]
    features = lf.Features(f.width, f.height, points, f.descriptors[: agreeing + moved].copy())
    weak = Parsed(f"{int(ref.pdq, 16) ^ (2**20 - 1):064x}", features)
    index = PdqOrbIndex()
    index.add([(3, format_value(ref))])
    (hit,) = index.query(format_value(weak), PdqOrbSignal.default_threshold)
    assert hit.id == 3 and hit.detail is not None
    assert hit.detail["decided_by"] == "pdq" and hit.detail["pdq_bits"] == 20
    assert hit.detail["inliers"] < CONTRADICTION_INLIERS
