"""Uploaded and fetched content: read within the limits, recognise, hash.

The request body as a whole is capped by ``max_upload_bytes`` (middleware); a file is further
capped by ``max_file_bytes`` and decoded within the media limits, as the CLI does. A caller that
only needs some signal types (matching needs none whose index is empty) names them with ``only``.
Content to look up goes through ``match_upload`` (a video is screened with a sparse hash first,
``tessera.services.matching.match_content``); ``hash_upload`` and ``hash_bytes`` hash to store
or show (videos densely).
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from fastapi import UploadFile

from tessera.errors import MediaError, MediaLimitExceeded
from tessera.media.content import Content
from tessera.services.hashing import HashResult, hash_content
from tessera.services.matching import ContentMatch, Matcher, match_content
from tessera.settings import Settings
from tessera.store.records import Bank

TypeFilter = Callable[[str], bool]
"""Whether a signal type (by name) is wanted."""


def read_bytes(data: bytes, name: str, settings: Settings) -> Content:
    """Content held in memory, recognised within the media limits; MediaError when it is not
    readable as what it is."""
    return Content.from_bytes(data, name=name, limits=settings.media_limits())


def read_upload(upload: UploadFile, settings: Settings) -> Content:
    """An uploaded file read within ``max_file_bytes`` and recognised (not hashed)."""
    limit = settings.max_file_bytes
    data = upload.file.read(limit + 1)
    if len(data) > limit:
        raise MediaLimitExceeded(f"file is over the limit of {limit} bytes (max_file_bytes)")
    return read_bytes(data, upload.filename or "upload", settings)


def hash_bytes(
    data: bytes,
    name: str,
    settings: Settings,
    *,
    keep_content: bool,
    only: TypeFilter | None = None,
) -> HashResult:
    """Hash content held in memory (to store or show it: videos densely); MediaError when it
    cannot be hashed as what it is."""
    content = read_bytes(data, name, settings)
    signals, error = hash_content(content, only)
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
    content = read_upload(upload, settings)
    signals, error = hash_content(content, only)
    if error is not None:
        raise MediaError(f"{content.name}: {error}")
    return HashResult(
        content.name, content.kind, tuple(signals), None, content if keep_content else None
    )


def match_upload(
    upload: UploadFile,
    settings: Settings,
    matcher: Matcher,
    *,
    banks: Collection[str] | None = None,
    visible: Callable[[Bank], bool] | None = None,
    transformed: bool = False,
    keep_content: bool = False,
    only: TypeFilter | None = None,
) -> ContentMatch:
    """Read an uploaded file and look it up (``matching.match_content``: a video is screened
    sparsely first); MediaError when it cannot be hashed as what it is."""
    content = read_upload(upload, settings)
    looked = match_content(
        matcher,
        content,
        content.name,
        banks=banks,
        visible=visible,
        transformed=transformed,
        min_quality=settings.min_quality,
        keep_content=keep_content,
        only=only,
    )
    if looked.result.error is not None:
        raise MediaError(f"{content.name}: {looked.result.error}")
    return looked
