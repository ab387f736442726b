"""The index contract: exact range search over the signals of one signal type.

Ids are the store's signal ids (int64). An index is kept current incrementally: ``add`` and
``remove`` take effect for the next query, without a rebuild. ``tessera.testing.IndexContract``
checks any index against brute force.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar, NamedTuple


class IndexHit(NamedTuple):
    """One stored signal within the threshold of a query.

    ``detail`` carries what a distance alone cannot say, as JSON-ready values: for a video, the
    matched segment and the share of frames that matched; for audio, the offset in the reference.
    """

    id: int
    distance: int
    detail: Mapping[str, Any] | None = None


class SignalIndex(ABC):
    """Exact range search over normalised signal strings of one signal type."""

    lock_free_queries: ClassVar[bool] = False
    """Whether queries may run while another thread writes (the matcher then searches without
    holding its lock); an index that says so must make each query see a consistent state."""

    @abstractmethod
    def add(self, items: Iterable[tuple[int, str]]) -> None:
        """Add (id, normalised value) pairs; adding an id that is present replaces it."""

    @abstractmethod
    def remove(self, ids: Iterable[int]) -> None:
        """Remove ids; ids that are absent are ignored."""

    @abstractmethod
    def query(self, value: str, threshold: int) -> list[IndexHit]:
        """Every stored signal within ``threshold`` of ``value`` (exact, no misses)."""

    def query_many(self, values: Sequence[str], threshold: int) -> list[list[IndexHit]]:
        """``query`` for each value; indexes override this to answer a batch faster."""
        return [self.query(v, threshold) for v in values]

    @abstractmethod
    def __len__(self) -> int:
        """How many signals the index holds."""
