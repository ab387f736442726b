"""Sync between nodes: the change feed a peer pulls, and opinions a peer carries back.

- ``GET /v1/changes?after=SEQ&limit=N`` (scope ``sync``): the change log after ``SEQ``, filtered
  to what the caller's organisation may see (``services.feed``), at most ``changes_page_max``;
- ``POST /v1/opinions`` (scope ``sync``): opinions given on another node's copy of this node's
  entries. Each is recorded under the caller's organisation (``caller/org`` when it names another
  organisation of the calling node), only on entries of banks the caller may see.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from tessera.api.deps import NodeDep, SyncOrg
from tessera.api.errors import ERROR_RESPONSES
from tessera.errors import InputError, NotFound
from tessera.exchange.protocol import ChangesPage, OpinionsPush, OpinionsPushed
from tessera.services.access import may_give_opinion
from tessera.services.feed import changes_page
from tessera.store.records import Verdict

router = APIRouter(prefix="/v1", tags=["sync"], responses=ERROR_RESPONSES)

UUID_PATTERN = r"^[0-9a-fA-F-]{8,36}$"


@router.get("/changes", response_model=ChangesPage)
def get_changes(
    node: NodeDep,
    who: SyncOrg,
    after: Annotated[int, Query(ge=0, le=2**62, description="Cursor: the last seq applied.")] = 0,
    limit: Annotated[
        int, Query(ge=1, le=100_000, description="Most changes (capped by changes_page_max).")
    ] = 1000,
    exclude_origin: Annotated[
        str | None,
        Query(pattern=UUID_PATTERN, description="The pulling node's uuid: its data is left out."),
    ] = None,
    bank: Annotated[
        str | None, Query(pattern=UUID_PATTERN, description="Only this bank's changes (a replay).")
    ] = None,
    until: Annotated[
        int | None, Query(ge=0, le=2**62, description="With bank: up to this seq.")
    ] = None,
) -> Response:
    """The caller's view of the change log after ``after``, with the next cursor."""
    if until is not None and bank is None:
        raise InputError("until is only for a replay of one bank (give bank)")
    body = changes_page(
        node.store,
        who,
        after,
        min(limit, node.settings.changes_page_max),
        exclude_origin=exclude_origin,
        bank=bank,
        until=until,
    )
    return Response(content=body, media_type="application/json")


@router.post("/opinions")
def push_opinions(node: NodeDep, who: SyncOrg, body: OpinionsPush) -> OpinionsPushed:
    """Record opinions carried back from the caller's node (all checked before any is applied)."""
    plan = []
    for n, item in enumerate(body.opinions):
        try:
            bank = node.store.entry_bank(item.entry)
        except NotFound:
            bank = None
        if bank is None or not may_give_opinion(who, bank):
            raise NotFound(f"opinions[{n}]: no such entry")
        verdict = Verdict(item.verdict)
        if verdict is Verdict.DISPUTED and not item.reason.strip():
            raise InputError(f"opinions[{n}]: a dispute needs a reason")
        org = who.org if item.org == who.org else f"{who.org}/{item.org}"
        if len(org) > 200:
            raise InputError(f"organisation name {org!r} is over 200 characters")
        plan.append((bank, item, org, verdict))
    applied = unchanged = 0
    for bank, item, org, verdict in plan:
        if item.origin_node == node.store.node_id:
            unchanged += 1  # this node's own opinion, come back: it is already here
            continue
        current = {o.org: o for o in node.store.get_opinions(bank.name, item.entry)}.get(org)
        if current is not None and (current.verdict, current.reason) == (verdict, item.reason):
            unchanged += 1
            continue
        node.store.set_opinion(
            bank.name, item.entry, org, verdict, item.reason, origin_node=item.origin_node
        )
        applied += 1
    return OpinionsPushed(applied=applied, unchanged=unchanged)
