"""Matching: an upload, one signal, or a batch of signals against the banks the caller may see.

The node's Matcher follows the change log; results are filtered through the access policy, and
naming a bank the caller may not see is answered like naming one that does not exist (404).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, File, Query, UploadFile

from tessera.api.deps import MatchOrg, Node, NodeDep
from tessera.api.errors import ERROR_RESPONSES
from tessera.api.schemas import (
    BatchMatchOut,
    MatchesOut,
    MatchOut,
    MatchSignalsIn,
    SignalIn,
    SignalOut,
)
from tessera.api.uploads import hash_upload
from tessera.errors import InputError
from tessera.services import matching
from tessera.services.access import Principal, may_see
from tessera.store.records import Bank

router = APIRouter(prefix="/v1/match", tags=["matching"], responses=ERROR_RESPONSES)

BankFilter = Annotated[
    list[str] | None, Query(max_length=100, description="Only these banks (repeatable).")
]


def _wanted(node: Node, who: Principal, banks: list[str] | None) -> set[str] | None:
    return {node.visible_bank(who, name, cached=True).name for name in banks} if banks else None


def _run(
    node: Node, who: Principal, queries: Sequence[matching.Query], wanted: set[str] | None
) -> list[MatchOut]:
    def visible(bank: Bank) -> bool:
        return may_see(who, bank)

    found = node.matcher.match(queries, wanted, visible=visible)
    return [MatchOut.model_validate(m.as_json()) for m in found]


@router.post("")
def match_file(
    node: NodeDep,
    who: MatchOrg,
    file: Annotated[UploadFile, File(description="The content to match.")],
    bank: BankFilter = None,
    dihedral: Annotated[bool, Query(description="Also match rotated or flipped images.")] = False,
) -> MatchesOut:
    """Hash an uploaded file and match it against the banks the caller may see."""
    result = hash_upload(file, node.settings, keep_content=dihedral)
    queries = matching.queries_for(result, dihedral, node.settings.min_quality)
    return MatchesOut(name=result.path, matches=_run(node, who, queries, _wanted(node, who, bank)))


@router.get("/signal")
def match_signal(
    node: NodeDep,
    who: MatchOrg,
    type: Annotated[str, Query(min_length=1, max_length=50, description="Signal type.")],
    value: Annotated[str, Query(min_length=1, max_length=8000, description="Signal value.")],
    bank: BankFilter = None,
) -> MatchesOut:
    """Match one signal given by type and value."""
    signal = SignalIn(type=type, value=value).validated()
    matches = _run(node, who, [matching.Query(signal)], _wanted(node, who, bank))
    return MatchesOut(signal=SignalOut.of(signal), matches=matches)


@router.post("/signals")
def match_signals(node: NodeDep, who: MatchOrg, body: MatchSignalsIn) -> BatchMatchOut:
    """Match a batch of signals; one result per signal, in order."""
    limit = node.settings.max_batch_signals
    if len(body.signals) > limit:
        raise InputError(f"at most {limit} signals per batch (max_batch_signals)")
    signals = [s.validated() for s in body.signals]
    wanted = _wanted(node, who, body.banks)
    results = []
    for signal in signals:
        matches = _run(node, who, [matching.Query(signal)], wanted)
        results.append(MatchesOut(signal=SignalOut.of(signal), matches=matches))
    return BatchMatchOut(results=results)
