"""Uploaded and fetched content: read within the limits, recognise, hash.

The request body as a whole is capped by ``max_upload_bytes`` (middleware); a file is further
capped by ``max_file_bytes`` and decoded within the media limits, as the CLI does. A caller that
only needs some signal types (matching needs none whose index is empty) names them with ``only``.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import UploadFile

from tessera.errors import MediaError, MediaLimitExceeded
from tessera.media.content import Content
from tessera.services.hashing import HashResult, hash_content
from tessera.settings import Settings
from tessera.signals.base import Signal
from tessera.signals.registry import all_signal_types

TypeFilter = Callable[[str], bool]
"""Whether a signal type (by name) is wanted."""


def _hash_some(content: Content, only: TypeFilter) -> tuple[list[Signal], str | None]:
    """``hash_content`` for the wanted signal types only."""
    found: list[Signal] = []
    error: str | None = None
    for name, signal_type in all_signal_types().items():
        if content.kind not in signal_type.media_kinds or not only(name):
            continue
        try:
            signal = signal_type.hash_content(content)
        except MediaError as e:
            error = error or f"{content.kind.value}: {e}"
            continue
        if signal is not None:
            found.append(signal)
    return found, error


def hash_bytes(
    data: bytes,
    name: str,
    settings: Settings,
    *,
    keep_content: bool,
    only: TypeFilter | None = None,
) -> HashResult:
    """Hash content held in memory; MediaError when it cannot be hashed as what it is."""
    content = Content.from_bytes(data, name=name, limits=settings.media_limits())
    signals, error = hash_content(content) if only is None else _hash_some(content, only)
    if error is not None:
        raise MediaError(f"{name}: {error}")
    return HashResult(name, content.kind, tuple(signals), None, content if keep_content else None)


def hash_upload(
    upload: UploadFile,
    settings: Settings,
    *,
    keep_content: bool = False,
    only: TypeFilter | None = None,
) -> HashResult:
    """Read an uploaded file within ``max_file_bytes`` and hash it (``only`` those types)."""
    limit = settings.max_file_bytes
    data = upload.file.read(limit + 1)
    if len(data) > limit:
        raise MediaLimitExceeded(f"file is over the limit of {limit} bytes (max_file_bytes)")
    return hash_bytes(
        data, upload.filename or "upload", settings, keep_content=keep_content, only=only
    )
