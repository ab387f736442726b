"""The complaint pages: an uploader contests a decision, and a reviewer answers within two weeks.

All of them need the ``review`` scope and act on the signed-in organisation's own complaints and
cases only: another organisation's complaint or case answers 404 like one that does not exist
(``review.complaints`` takes the organisation on every read and write).

1. On a decided or actioned case's page, the form ``/web/cases/{uuid}/complaints`` files a
   complaint with what it says about the content (never who sent it); the case reopens with the
   complaint's deadline (``complaint_deadline_days``) and its countdown;
2. ``/web/complaints/{uuid}/uphold`` restores the content if it is down and reports the case's
   matches as false positives to the banks' owners (unless withheld), with an optional note;
   ``/web/complaints/{uuid}/reject`` keeps the decision, with the reason noted on the complaint
   and the case. Both return to the case's page;
3. ``/web/complaints`` lists the complaints, open ones soonest deadline first with live
   countdowns (the script ticks them as on the removal orders page), each linking to its case.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from tessera.api.deps import NodeDep
from tessera.errors import InputError
from tessera.review import cases, complaints
from tessera.review.complaints import Complaint
from tessera.review.records import Case, ComplaintState
from tessera.services.access import may_give_opinion, may_see
from tessera.store.db import Database
from tessera.store.records import Bank
from tessera.web.render import WebRoute, render, see_other
from tessera.web.session import ReviewViewer

router = APIRouter(route_class=WebRoute, include_in_schema=False)

PAGE = 200
MAX_TEXT = cases.MAX_NOTE_CHARS


def _state(value: str | None) -> ComplaintState | None:
    """The state to list (``open`` unless asked); None for ``all``."""
    if not value:
        return ComplaintState.OPEN
    if value == "all":
        return None
    try:
        return ComplaintState(value)
    except ValueError:
        names = ", ".join(["all", *(s.value for s in ComplaintState)])
        raise InputError(f"unknown complaint state {value!r}: use {names}") from None


def cases_of(db: Database, org: str, found: list[Complaint]) -> dict[str, Case]:
    """The cases the complaints contest, by uuid (read together, in one snapshot)."""
    with db.read() as conn:
        return {u: cases.fetch(conn, org, u) for u in {c.case_uuid for c in found}}


@router.get("/web/complaints")
def complaints_page(
    node: NodeDep,
    viewer: ReviewViewer,
    state: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    """The organisation's complaints: open ones soonest deadline first, with countdowns."""
    chosen = _state(state)
    found = complaints.list_complaints(node.store.db, viewer.org, state=chosen, limit=PAGE)
    return render(
        viewer,
        "complaints.html",
        complaints=found,
        cases=cases_of(node.store.db, viewer.org, found),
        state=chosen.value if chosen else "all",
        states=[s.value for s in ComplaintState],
        deadline_days=node.settings.complaint_deadline_days,
    )


@router.post("/web/cases/{case_uuid}/complaints")
def file_complaint(
    node: NodeDep,
    viewer: ReviewViewer,
    request: Request,
    case_uuid: str,
    csrf: Annotated[str, Form(max_length=100)],
    reason: Annotated[str, Form(max_length=MAX_TEXT)],
) -> Response:
    """File an uploader's complaint on a decided case; the case reopens with its deadline."""
    viewer.check_csrf(request, csrf)
    complaints.file_complaint(
        node.store,
        node.settings,
        org=viewer.org,
        case_uuid=case_uuid,
        reason=reason,
        actor=viewer.actor,
    )
    return see_other(f"/web/cases/{case_uuid}#complaints")


@router.post("/web/complaints/{complaint_uuid}/uphold")
def uphold(
    node: NodeDep,
    viewer: ReviewViewer,
    request: Request,
    complaint_uuid: str,
    csrf: Annotated[str, Form(max_length=100)],
    note: Annotated[str, Form(max_length=MAX_TEXT)] = "",
    withhold: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    """Uphold the complaint: restore the content and report the matches as false positives."""
    viewer.check_csrf(request, csrf)

    def may_opine(bank: Bank) -> bool:
        return may_see(viewer.who, bank) and may_give_opinion(viewer.who, bank)

    done = complaints.uphold(
        node.store,
        org=viewer.org,
        complaint_uuid=complaint_uuid,
        actor=viewer.actor,
        note=note,
        withhold_feedback=bool(withhold),
        may_opine=may_opine,
    )
    return see_other(f"/web/cases/{done.case.uuid}#complaints")


@router.post("/web/complaints/{complaint_uuid}/reject")
def reject(
    node: NodeDep,
    viewer: ReviewViewer,
    request: Request,
    complaint_uuid: str,
    csrf: Annotated[str, Form(max_length=100)],
    reason: Annotated[str, Form(max_length=MAX_TEXT)],
) -> Response:
    """Reject the complaint: the decision stands, the reason noted on the complaint and case."""
    viewer.check_csrf(request, csrf)
    _complaint, case = complaints.reject(
        node.store, org=viewer.org, complaint_uuid=complaint_uuid, reason=reason, actor=viewer.actor
    )
    return see_other(f"/web/cases/{case.uuid}#complaints")
