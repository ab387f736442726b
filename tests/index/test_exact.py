"""The exact (digest) index passes the index contract: equal to brute force, always."""

from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from tessera.index.base import SignalIndex
from tessera.index.exact import ExactIndex
from tessera.testing.index_contract import IndexContract


class TestExactIndex(IndexContract):
    def new_index(self) -> SignalIndex:
        return ExactIndex()

    def values(self) -> SearchStrategy[str]:
        # Few distinct digests, so several ids share a value and queries hit.
        return st.sampled_from([f"{n:032x}" for n in range(6)])

    def thresholds(self) -> SearchStrategy[int]:
        return st.just(0)

    def distance(self, a: str, b: str) -> int:
        return 0 if a == b else 1
