"""Hashing: turn files into signals of every registered signal type that applies to them.

Flow for one file:
1. read it within the byte limit and recognise its media kind from its content (never its name);
2. every signal type whose media kinds include that kind hashes it (digests hash any file);
3. a file that claims a media kind but cannot be decoded gives an error naming the reason; the
   digests computed so far are still reported, but the file counts as failed.

This is hashing to store or show (``tessera hash``, ``bank add``): videos are hashed densely.
Content hashed to be looked up goes through ``tessera.services.matching.match_content``, which
screens a video with a sparse hash first and hashes it densely only when the screen flags it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tessera.errors import MediaError
from tessera.media.content import Content, MediaLimits
from tessera.media.kinds import MediaKind
from tessera.signals.base import Signal
from tessera.signals.registry import all_signal_types


@dataclass(frozen=True, slots=True)
class HashResult:
    """The signals of one file, or why it could not be hashed."""

    path: str
    media_kind: MediaKind | None
    signals: tuple[Signal, ...] = ()
    error: str | None = None
    content: Content | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        """Whether every applicable signal type hashed the file."""
        return self.error is None

    def as_json(self) -> dict[str, Any]:
        """The result as `tessera hash` prints it."""
        out: dict[str, Any] = {"path": self.path}
        if self.media_kind is not None:
            out["media_kind"] = self.media_kind.value
        out["signals"] = [
            {"type": s.type, "value": s.value}
            | ({"quality": s.quality} if s.quality is not None else {})
            for s in self.signals
        ]
        if self.error is not None:
            out["error"] = self.error
        return out


def split_by_quality(
    signals: Iterable[Signal], min_quality: int
) -> tuple[tuple[Signal, ...], tuple[Signal, ...]]:
    """(usable, too weak): signals whose quality is below ``min_quality`` are too weak to use."""
    usable: list[Signal] = []
    weak: list[Signal] = []
    for s in signals:
        (weak if s.quality is not None and s.quality < min_quality else usable).append(s)
    return tuple(usable), tuple(weak)


def hash_content(
    content: Content, only: Callable[[str], bool] | None = None
) -> tuple[list[Signal], str | None]:
    """Signals of every applicable type (``only`` those it accepts, by name), and the first
    decoding error (None when all worked)."""
    found: list[Signal] = []
    error: str | None = None
    for name, signal_type in all_signal_types().items():
        if content.kind not in signal_type.media_kinds or (only is not None and not only(name)):
            continue
        try:
            signal = signal_type.hash_content(content)
        except MediaError as e:
            error = error or f"{content.kind.value}: {e}"
            continue
        if signal is not None:
            found.append(signal)
    return found, error


def hash_path(path: Path, limits: MediaLimits, *, keep_content: bool = False) -> HashResult:
    """Hash one file; errors are returned in the result, never raised."""
    try:
        content = Content.from_path(path, limits)
    except MediaError as e:
        return HashResult(str(path), None, error=str(e))
    signals, error = hash_content(content)
    return HashResult(
        str(path),
        content.kind,
        tuple(signals),
        error,
        content if keep_content and error is None else None,
    )


def expand_paths(paths: Iterable[Path]) -> Iterator[Path]:
    """Files named directly, and every file under named folders (sorted, symlinks not followed)."""
    for path in paths:
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs.sort()
                for name in sorted(files):
                    yield Path(root) / name
        else:
            yield path
