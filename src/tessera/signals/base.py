"""The signal type contract.

A signal type is one hashing algorithm. Its ``name`` is a storage key (lower_snake, never renamed).
It knows:

1. which media kinds it hashes, and how (``hash_content``);
2. how to validate and normalise a signal string (``validate``);
3. how far apart two signals are (``distance``), its default match threshold, and the largest
   threshold a bank may choose;
4. which index serves it (``new_index``).

Built-in types register through the ``tessera.signals`` entry point exactly as a plug-in would.
``tessera.testing.SignalTypeContract`` is the conformance test every type must pass.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from tessera.media.kinds import MediaKind

if TYPE_CHECKING:
    from tessera.index.base import SignalIndex
    from tessera.media.content import Content


@dataclass(frozen=True, slots=True)
class Signal:
    """One value of one signal type, normalised; ``quality`` (0–100) where the type has one."""

    type: str
    value: str
    quality: int | None = None


class SignalType(ABC):
    """One hashing algorithm. Subclasses are used as classes, never instantiated."""

    name: ClassVar[str]
    media_kinds: ClassVar[frozenset[MediaKind]]
    default_threshold: ClassVar[int] = 0
    max_threshold: ClassVar[int] = 0
    verifies: ClassVar[frozenset[str]] = frozenset()
    """Other signal types whose matches this type can check (``contradiction``)."""

    @classmethod
    @abstractmethod
    def validate(cls, value: str) -> str:
        """Return the normalised form of ``value``, or raise InvalidSignal saying why."""

    @classmethod
    @abstractmethod
    def distance(cls, a: str, b: str) -> int:
        """The distance between two normalised signals (0 is identical)."""

    @classmethod
    @abstractmethod
    def hash_content(cls, content: Content) -> Signal | None:
        """Hash content of one of ``media_kinds``; None when the type does not apply to it.

        Raises MediaError when the content claims to be of the kind but cannot be decoded.
        """

    @classmethod
    @abstractmethod
    def new_index(cls) -> SignalIndex:
        """An empty index that serves this signal type."""

    @classmethod
    def transformed(cls, content: Content) -> list[tuple[str, Signal]]:
        """Signals of transformed copies (e.g. rotations and flips), each with its transform's name.

        Matching that should survive those transforms queries these too. None by default.
        """
        del content
        return []

    @classmethod
    def contradiction(cls, query: str, entry: str) -> Mapping[str, Any] | None:
        """Evidence that two values of this type show different content, or None when they agree
        or cannot tell. The matcher demotes a match of a ``verifies`` type that this contradicts.
        """
        del query, entry
        return None

    @classmethod
    def matches(cls, a: str, b: str, threshold: int | None = None) -> bool:
        """Whether two normalised signals are within the threshold (default: the type's)."""
        limit = cls.default_threshold if threshold is None else threshold
        return cls.distance(a, b) <= limit
