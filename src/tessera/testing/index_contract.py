"""Conformance tests every ``SignalIndex`` must pass: its answers equal brute force, always.

Subclass ``IndexContract`` in a test module as ``Test...`` and provide the four hooks; pytest then
runs the whole contract against the index, with Hypothesis choosing the data:

    class TestHammingIndex(IndexContract):
        def new_index(self) -> SignalIndex:
            return HammingIndex()
        def values(self) -> SearchStrategy[str]:
            return pdq_hashes()            # should produce near-duplicates, so queries hit
        def thresholds(self) -> SearchStrategy[int]:
            return st.integers(0, 256)
        def distance(self, a: str, b: str) -> int:
            return hamming(a, b)

Each property:

1. builds a model (a dict id -> value) next to the index and applies the same changes to both;
2. answers every query on the model by brute force with ``distance``;
3. checks the index answers exactly that (same ids, same distances; order ignored), and that
   ``len`` agrees.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.strategies import DataObject, SearchStrategy

from tessera.index.base import IndexHit, SignalIndex

# A small id space makes re-adds and removes of present ids frequent.
_IDS = st.integers(min_value=0, max_value=40)


def pairs(hits: list[IndexHit]) -> list[tuple[int, int]]:
    """(id, distance) of hits, sorted: what exactness is judged on (``detail`` is extra)."""
    return sorted((h.id, h.distance) for h in hits)


class IndexContract(ABC):
    """The contract; subclasses provide the index factory, values, thresholds and distance."""

    max_examples: ClassVar[int] = 40
    """Hypothesis examples per property; raise it for a slow, thorough run."""

    @abstractmethod
    def new_index(self) -> SignalIndex:
        """A new, empty index of the kind under test."""

    @abstractmethod
    def values(self) -> SearchStrategy[str]:
        """Normalised signal values, with near-duplicates among them so queries find hits."""

    @abstractmethod
    def thresholds(self) -> SearchStrategy[int]:
        """Thresholds the index must answer exactly."""

    @abstractmethod
    def distance(self, a: str, b: str) -> int:
        """The signal type's distance, used for the brute-force answers."""

    # ---- helpers ------------------------------------------------------------------------------

    def _settings(self) -> settings:
        return settings(
            max_examples=self.max_examples,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )

    def brute_force(
        self, model: dict[int, str], value: str, threshold: int
    ) -> list[tuple[int, int]]:
        """(id, distance) of every model entry within ``threshold`` of ``value``, sorted by id."""
        hits = [(i, self.distance(value, v)) for i, v in model.items()]
        return sorted(h for h in hits if h[1] <= threshold)

    def assert_answers(
        self, index: SignalIndex, model: dict[int, str], queries: list[str], threshold: int
    ) -> None:
        """The index answers each query exactly as brute force over ``model`` does."""
        assert len(index) == len(model)
        for value in queries:
            assert pairs(index.query(value, threshold)) == self.brute_force(
                model, value, threshold
            ), f"query {value!r} at threshold {threshold}"

    def _queries(self, data: DataObject, model: dict[int, str]) -> list[str]:
        """Fresh values plus, when there are any, some stored ones (which must match at 0)."""
        queries = data.draw(st.lists(self.values(), min_size=1, max_size=3), label="queries")
        if model:
            stored = st.sampled_from(sorted(model.values()))
            queries += data.draw(st.lists(stored, max_size=2), label="stored queries")
        return queries

    # ---- properties ---------------------------------------------------------------------------

    def test_empty_index_matches_nothing(self) -> None:
        @self._settings()
        @given(value=self.values(), threshold=self.thresholds())
        def check(value: str, threshold: int) -> None:
            index = self.new_index()
            assert len(index) == 0
            assert index.query(value, threshold) == []
            index.remove([1, 2, 3])  # absent ids are ignored
            assert len(index) == 0

        check()

    def test_query_equals_brute_force(self) -> None:
        @self._settings()
        @given(data=st.data())
        def check(data: DataObject) -> None:
            items = data.draw(st.lists(st.tuples(_IDS, self.values()), max_size=40), label="items")
            threshold = data.draw(self.thresholds(), label="threshold")
            index = self.new_index()
            index.add(items)
            model = dict(items)  # a repeated id keeps its last value, as ``add`` must
            self.assert_answers(index, model, self._queries(data, model), threshold)

        check()

    def test_interleaved_changes_equal_brute_force(self) -> None:
        @self._settings()
        @given(data=st.data())
        def check(data: DataObject) -> None:
            threshold = data.draw(self.thresholds(), label="threshold")
            index = self.new_index()
            model: dict[int, str] = {}
            steps = data.draw(st.integers(min_value=1, max_value=12), label="steps")
            for _ in range(steps):
                if data.draw(st.booleans(), label="add?"):
                    batch = st.lists(st.tuples(_IDS, self.values()), max_size=8)
                    items = data.draw(batch, label="add")
                    index.add(items)
                    model.update(items)
                else:
                    ids = data.draw(st.lists(_IDS, max_size=6), label="remove")
                    index.remove(ids)
                    for i in ids:
                        model.pop(i, None)
                self.assert_answers(index, model, self._queries(data, model), threshold)

        check()

    def test_query_many_equals_query(self) -> None:
        @self._settings()
        @given(data=st.data())
        def check(data: DataObject) -> None:
            items = data.draw(st.lists(st.tuples(_IDS, self.values()), max_size=30), label="items")
            threshold = data.draw(self.thresholds(), label="threshold")
            index = self.new_index()
            index.add(items)
            queries = self._queries(data, dict(items))
            many = index.query_many(queries, threshold)
            assert [pairs(hits) for hits in many] == [
                pairs(index.query(q, threshold)) for q in queries
            ]
            assert index.query_many([], threshold) == []

        check()
