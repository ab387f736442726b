"""Matching: an upload, one signal, or a batch of signals against the banks the caller may see.

The node's Matcher follows the change log; results are filtered through the access policy, and
naming a bank the caller may not see is answered like naming one that does not exist (404).

Where the time goes (a node answers thousands of lookups a second):
1. a lookup by one signal runs in the event loop: the token and the named banks come from memory
   and the index search (``Matcher.find``) is a C kernel, so a signal that hits nothing is
   answered with no worker-thread hop and no store read;
2. hits are resolved from memory when the matcher's owner cache holds them at the store's
   current version (``Matcher.resolve_cached``), else through the store (``Matcher.resolve``) on
   a worker thread; so is the whole lookup when a named bank is not cached or the matcher is busy
   applying changes;
3. uploads (hashing; a video is screened with a sparse hash first, ``matching.match_content``)
   and batches (many searches, then one store read for all their hits) run on a worker thread,
   not to stall the loop;
4. answers are written as JSON directly, field for field as the documented models (kept as each
   route's ``response_model``) would write them, without validating every match again.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, File, Query, Response, UploadFile
from starlette.concurrency import run_in_threadpool

from tessera.api.deps import MatchOrg, Node, NodeDep
from tessera.api.errors import ERROR_RESPONSES
from tessera.api.schemas import BatchMatchOut, MatchesOut, MatchOut, MatchSignalsIn, SignalIn
from tessera.api.uploads import match_upload
from tessera.errors import InputError
from tessera.services import matching
from tessera.services.access import Principal, may_see
from tessera.signals.base import Signal

router = APIRouter(prefix="/v1/match", tags=["matching"], responses=ERROR_RESPONSES)

BankFilter = Annotated[
    list[str] | None, Query(max_length=100, description="Only these banks (repeatable).")
]

_MATCH_FIELDS = tuple(MatchOut.model_fields)


def _json(content: dict[str, Any]) -> Response:
    return Response(
        json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode(),
        media_type="application/json",
    )


def match_json(match: matching.Match) -> dict[str, Any]:
    """A match as ``MatchOut`` writes it: its fields, in order (others in ``as_json`` dropped)."""
    out = match.as_json()
    return {name: out.get(name) for name in _MATCH_FIELDS}


def matches_json(
    matches: list[dict[str, Any]], *, name: str | None = None, signal: Signal | None = None
) -> dict[str, Any]:
    """A ``MatchesOut`` as JSON-ready values."""
    shown = None
    if signal is not None:
        shown = {"type": signal.type, "value": signal.value, "quality": signal.quality}
    return {"matches": matches, "name": name, "signal": shown}


def _wanted(node: Node, who: Principal, banks: list[str] | None) -> set[str] | None:
    return {node.visible_bank(who, name, cached=True).name for name in banks} if banks else None


def _wanted_in_memory(
    node: Node, who: Principal, banks: list[str] | None
) -> tuple[bool, set[str] | None]:
    """(True, ``_wanted``) when every named bank is cached now; (False, None) otherwise."""
    if not banks:
        return True, None
    found = set()
    for name in banks:
        bank = node.cached_visible_bank(who, name)
        if bank is None:
            return False, None
        found.add(bank.name)
    return True, found


def _run(
    node: Node, who: Principal, queries: Sequence[matching.Query], wanted: set[str] | None
) -> list[dict[str, Any]]:
    found = node.matcher.match(queries, wanted, visible=partial(may_see, who))
    return [match_json(m) for m in found]


def _lookup_blocking(
    node: Node, who: Principal, queries: Sequence[matching.Query], banks: list[str] | None
) -> list[dict[str, Any]]:
    return _run(node, who, queries, _wanted(node, who, banks))


async def _lookup(
    node: Node, who: Principal, queries: Sequence[matching.Query], banks: list[str] | None
) -> list[dict[str, Any]]:
    """Step 1 and 2 of the module docstring: in the loop when memory answers, else a thread."""
    in_memory, wanted = _wanted_in_memory(node, who, banks)
    visible = partial(may_see, who)
    hits = node.matcher.find(queries, wanted, visible=visible, wait=False) if in_memory else None
    if hits is None:
        return await run_in_threadpool(_lookup_blocking, node, who, queries, banks)
    if not hits:
        return []
    found = node.matcher.resolve_cached(queries, hits, wanted, visible=visible)
    if found is None:
        found = await run_in_threadpool(
            node.matcher.resolve, queries, hits, wanted, visible=visible
        )
    return [match_json(m) for m in found]


@router.post("", response_model=MatchesOut)
def match_file(
    node: NodeDep,
    who: MatchOrg,
    file: Annotated[UploadFile, File(description="The content to match.")],
    bank: BankFilter = None,
    dihedral: Annotated[bool, Query(description="Also match rotated or flipped images.")] = False,
) -> Response:
    """Hash an uploaded file and match it against the banks the caller may see."""
    wanted = _wanted(node, who, bank)
    # A signal type whose index is empty can neither match nor verify a match: skip its hashing.
    # A video is screened with a sparse hash, and hashed densely only when the screen flags it.
    looked = match_upload(
        file,
        node.settings,
        node.matcher,
        banks=wanted,
        visible=partial(may_see, who),
        transformed=dihedral,
        only=node.matcher.has_signals,
    )
    found = [match_json(m) for m in looked.matches]
    return _json(matches_json(found, name=looked.result.path))


@router.get("/signal", response_model=MatchesOut)
async def match_signal(
    node: NodeDep,
    who: MatchOrg,
    type: Annotated[str, Query(min_length=1, max_length=50, description="Signal type.")],
    value: Annotated[str, Query(min_length=1, max_length=8000, description="Signal value.")],
    bank: BankFilter = None,
) -> Response:
    """Match one signal given by type and value."""
    signal = SignalIn(type=type, value=value).validated()
    matches = await _lookup(node, who, [matching.Query(signal)], bank)
    return _json(matches_json(matches, signal=signal))


@router.post("/signals", response_model=BatchMatchOut)
def match_signals(node: NodeDep, who: MatchOrg, body: MatchSignalsIn) -> Response:
    """Match a batch of signals; one result per signal, in order."""
    limit = node.settings.max_batch_signals
    if len(body.signals) > limit:
        raise InputError(f"at most {limit} signals per batch (max_batch_signals)")
    signals = [s.validated() for s in body.signals]
    wanted = _wanted(node, who, body.banks)
    queries = [matching.Query(s) for s in signals]
    found = node.matcher.match_each(queries, wanted, visible=partial(may_see, who))
    results = [
        matches_json([match_json(m) for m in matches], signal=s)
        for s, matches in zip(signals, found, strict=True)
    ]
    return _json({"results": results})
