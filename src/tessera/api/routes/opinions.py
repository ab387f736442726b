"""Opinions: an organisation confirms, rejects (false positive) or disputes an entry.

Any organisation that may see a bank may give its opinion on the bank's entries (scope
``review``); a dispute rolls up into the entry's status (``disputed``) wherever it travels.
The bank's owner and coordinators see every opinion; others see their own.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from tessera.api.deps import CurrentOrg, NodeDep, ReviewOrg
from tessera.api.errors import ERROR_RESPONSES
from tessera.api.routes.entries import entry_out
from tessera.api.schemas import EntryOut, OpinionIn, OpinionOut, opinions_visible
from tessera.errors import Forbidden
from tessera.services.access import may_give_opinion
from tessera.store.records import Verdict

router = APIRouter(
    prefix="/v1/banks/{bank}/entries/{entry}", tags=["opinions"], responses=ERROR_RESPONSES
)


class OpinionSetOut(BaseModel):
    """The opinion as stored and the entry it is on (with its rolled-up status)."""

    opinion: OpinionOut
    entry: EntryOut


@router.put("/opinion")
def set_opinion(
    node: NodeDep, who: ReviewOrg, bank: str, entry: str, body: OpinionIn
) -> OpinionSetOut:
    """Set the caller's organisation's opinion of an entry (replacing its previous one)."""
    found = node.visible_bank(who, bank)
    if not may_give_opinion(who, found):
        raise Forbidden(f"organisation {who.org!r} may not give opinions on bank {bank!r}")
    opinion, stored = node.store.set_opinion(
        bank, entry, who.org, Verdict(body.verdict), body.reason
    )
    return OpinionSetOut(
        opinion=OpinionOut.of(opinion), entry=entry_out(node, who, bank, stored.uuid)
    )


@router.get("/opinions")
def list_opinions(
    node: NodeDep,
    who: CurrentOrg,
    bank: str,
    entry: str,
    history: Annotated[bool, Query(description="Every verdict ever given, oldest first.")] = False,
) -> list[OpinionOut]:
    """The opinions on an entry the caller may see."""
    found = node.visible_bank(who, bank)
    opinions = node.store.get_opinions(bank, entry, include_history=history)
    return [OpinionOut.of(o) for o in opinions_visible(who, found, opinions)]
