"""Indexes: find every stored signal within a distance of a query, per signal type."""

from tessera.index.base import IndexHit, SignalIndex

__all__ = ["IndexHit", "SignalIndex"]
