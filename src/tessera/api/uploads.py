"""Uploaded and fetched content: read within the limits, recognise, hash.

The request body as a whole is capped by ``max_upload_bytes`` (middleware); a file is further
capped by ``max_file_bytes`` and decoded within the media limits, as the CLI does.
"""

from __future__ import annotations

from fastapi import UploadFile

from tessera.errors import MediaError, MediaLimitExceeded
from tessera.media.content import Content
from tessera.services.hashing import HashResult, hash_content
from tessera.settings import Settings


def hash_bytes(data: bytes, name: str, settings: Settings, *, keep_content: bool) -> HashResult:
    """Hash content held in memory; MediaError when it cannot be hashed as what it is."""
    content = Content.from_bytes(data, name=name, limits=settings.media_limits())
    signals, error = hash_content(content)
    if error is not None:
        raise MediaError(f"{name}: {error}")
    return HashResult(name, content.kind, tuple(signals), None, content if keep_content else None)


def hash_upload(
    upload: UploadFile, settings: Settings, *, keep_content: bool = False
) -> HashResult:
    """Read an uploaded file within ``max_file_bytes`` and hash it."""
    limit = settings.max_file_bytes
    data = upload.file.read(limit + 1)
    if len(data) > limit:
        raise MediaLimitExceeded(f"file is over the limit of {limit} bytes (max_file_bytes)")
    return hash_bytes(data, upload.filename or "upload", settings, keep_content=keep_content)
