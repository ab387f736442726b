"""Exact signal types: cryptographic digests of a file's bytes, for any media kind."""

from __future__ import annotations

import hashlib
import string
from typing import TYPE_CHECKING, ClassVar

from tessera.errors import InvalidSignal
from tessera.index.exact import ExactIndex
from tessera.media.kinds import MediaKind
from tessera.signals.base import Signal, SignalType

if TYPE_CHECKING:
    from tessera.index.base import SignalIndex
    from tessera.media.content import Content

_HEX = frozenset(string.hexdigits)


class _DigestSignal(SignalType):
    """A hex digest of the whole file; distance is 0 (same) or 1 (different)."""

    hex_length: ClassVar[int]
    media_kinds = frozenset(MediaKind)
    default_threshold = 0
    max_threshold = 0

    @classmethod
    def _digest(cls, data: bytes) -> str:
        return hashlib.new(cls.name, data).hexdigest()

    @classmethod
    def validate(cls, value: str) -> str:
        v = value.strip().lower()
        if len(v) != cls.hex_length:
            raise InvalidSignal(f"{cls.name} must be {cls.hex_length} hex characters, got {len(v)}")
        if not _HEX.issuperset(v):
            raise InvalidSignal(f"{cls.name} must be hexadecimal")
        return v

    @classmethod
    def distance(cls, a: str, b: str) -> int:
        return 0 if a == b else 1

    @classmethod
    def hash_content(cls, content: Content) -> Signal | None:
        return Signal(cls.name, cls._digest(content.data))

    @classmethod
    def new_index(cls) -> SignalIndex:
        return ExactIndex()


class Md5Signal(_DigestSignal):
    """MD5 of the file's bytes (what GIFCT, TCAP and HMA's ``video_md5`` share)."""

    name = "md5"
    hex_length = 32


class Sha256Signal(_DigestSignal):
    """SHA-256 of the file's bytes."""

    name = "sha256"
    hex_length = 64
