"""Hashing: an uploaded file, or (when enabled) the content of a URL, into signals."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, UploadFile

from tessera.api.deps import MatchOrg, NodeDep
from tessera.api.errors import ERROR_RESPONSES
from tessera.api.schemas import HashOut, HashUrlIn, SignalOut
from tessera.api.uploads import hash_bytes, hash_upload
from tessera.services.fetch import fetch_url
from tessera.services.hashing import HashResult

router = APIRouter(prefix="/v1", tags=["hashing"], responses=ERROR_RESPONSES)


def _out(result: HashResult, url: str | None = None) -> HashOut:
    return HashOut(
        name=result.path,
        media_kind=result.media_kind.value if result.media_kind else "file",
        signals=[SignalOut.of(s) for s in result.signals],
        url=url,
    )


@router.post("/hash")
def hash_file(
    node: NodeDep, who: MatchOrg, file: Annotated[UploadFile, File(description="The media.")]
) -> HashOut:
    """Hash an uploaded file: every signal type that applies to its media kind."""
    del who
    return _out(hash_upload(file, node.settings))


@router.post("/hash/url")
def hash_url(node: NodeDep, who: MatchOrg, body: HashUrlIn) -> HashOut:
    """Fetch a URL and hash its content (needs fetch_urls_enabled; internal addresses refused)."""
    del who
    fetched = fetch_url(body.url, node.settings)
    result = hash_bytes(fetched.content, fetched.url, node.settings, keep_content=False)
    return _out(result, fetched.url)
