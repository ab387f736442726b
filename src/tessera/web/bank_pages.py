"""The bank browser: the banks the organisation may see, their entries, and each entry's page.

The same access rules as the API (``services.access``): a bank the organisation may not see is
absent from the list and answers 404 like a missing one; an entry's page shows its signals,
labels, provenance (who created it, its origin node and organisation, the inclusion criterion,
its source) and the history of the opinions the organisation may see (every organisation's for
the bank's owner and coordinators, else its own). Any organisation that may see a bank may
dispute an entry with a reason, with a token carrying the ``review`` scope, as the API's
opinion route requires; the dispute rolls up into the entry's status everywhere it travels.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from tessera.api.deps import Node, NodeDep
from tessera.errors import Forbidden, NotFound
from tessera.services.access import may_give_opinion, may_see
from tessera.services.matching import shown_value
from tessera.store.opinions import MAX_REASON_CHARS
from tessera.store.records import Bank, Scope, Verdict
from tessera.web.render import WebRoute, render, see_other
from tessera.web.review_pages import visible_opinions
from tessera.web.session import CurrentViewer, ReviewViewer, Viewer

router = APIRouter(route_class=WebRoute, include_in_schema=False)

PAGE = 100


def visible_bank(node: Node, viewer: Viewer, name: str) -> Bank:
    """The bank if the viewer may see it; NotFound alike when absent or hidden."""
    try:
        bank = node.store.get_bank(name)
    except NotFound:
        bank = None
    if bank is None or not may_see(viewer.who, bank):
        raise NotFound(f"no bank named {name!r}")
    return bank


@router.get("/web/banks")
def banks(node: NodeDep, viewer: CurrentViewer) -> Response:
    """The banks the organisation may see, with entry counts by status."""
    shown = [(b, counts) for b, counts in node.store.list_banks() if may_see(viewer.who, b)]
    return render(viewer, "banks.html", banks=shown)


@router.get("/web/banks/{bank}")
def bank_page(
    node: NodeDep,
    viewer: CurrentViewer,
    bank: str,
    after: Annotated[int, Query(ge=0, le=2**62)] = 0,
) -> Response:
    """One bank and a page of its entries, oldest first."""
    found = visible_bank(node, viewer, bank)
    counts = next((c for b, c in node.store.list_banks() if b.uuid == found.uuid), {})
    page = node.store.entries_page(found.name, after, PAGE)
    return render(
        viewer,
        "bank.html",
        bank=found,
        counts=counts,
        entries=page,
        next_after=page[-1].id if len(page) == PAGE else None,
        after=after,
    )


@router.get("/web/banks/{bank}/entries/{entry}")
def entry_page(node: NodeDep, viewer: CurrentViewer, bank: str, entry: str) -> Response:
    """One entry: signals, labels, provenance, status, opinion history, and the dispute form."""
    found = visible_bank(node, viewer, bank)
    item = node.store.get_entry(found.name, entry)
    history = node.store.get_opinions(found.name, item.uuid, include_history=True)
    current = node.store.get_opinions(found.name, item.uuid)
    return render(
        viewer,
        "entry.html",
        bank=found,
        entry=item,
        signals=[(s.type, shown_value(s.value), s.quality) for s in item.signals],
        history=visible_opinions(viewer, found, history),
        current=visible_opinions(viewer, found, current),
        may_dispute=viewer.may(Scope.REVIEW) and may_give_opinion(viewer.who, found),
        max_reason=MAX_REASON_CHARS,
    )


@router.post("/web/banks/{bank}/entries/{entry}/dispute")
def dispute(
    node: NodeDep,
    viewer: ReviewViewer,
    request: Request,
    bank: str,
    entry: str,
    csrf: Annotated[str, Form(max_length=100)],
    reason: Annotated[str, Form(max_length=MAX_REASON_CHARS)],
) -> Response:
    """Dispute an entry with a reason (the organisation's opinion becomes ``disputed``)."""
    viewer.check_csrf(request, csrf)
    found = visible_bank(node, viewer, bank)
    if not may_give_opinion(viewer.who, found):
        raise Forbidden(f"organisation {viewer.org!r} may not give opinions on bank {bank!r}")
    _opinion, stored = node.store.set_opinion(
        found.name, entry, viewer.org, Verdict.DISPUTED, reason
    )
    return see_other(f"/web/banks/{found.name}/entries/{stored.uuid}#opinions")
