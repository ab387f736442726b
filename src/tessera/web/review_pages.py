"""The review pages: the queue, the case page with its preview and decision, notes.

All of them need the ``review`` scope and show the signed-in organisation's own cases only: a
case of another organisation, and its preview, answer 404 exactly like a case that does not
exist (``review.cases`` takes the organisation on every read).

The case page shows, for each match, the bank and entry it hit with their provenance (who
created the entry, its origin organisation, the inclusion criterion), its labels, the distance
within the bank's threshold, and the opinions on the entry the organisation may see (all of them
for the bank's owner and coordinators, else its own and the rolled-up counts). A bank the
organisation can no longer see (its distribution narrowed since the match) is named, without
its entry's details.

The case page also assigns the case to a reviewer (``/web/cases/{uuid}/assign``; an empty name
or the unassign button clears it), and lists the case's complaints with the forms of
``complaint_pages`` (file one on a decided case; uphold or reject an open one).

The preview (``/web/cases/{uuid}/preview``) is served with ``Cache-Control: no-store``; the
page shows it blurred and greyscale until the reviewer reveals it (button or ``r``). Content kept
past ``review_retention_days`` is deleted by ``services.review.purge_expired_media`` and the page
says so; audio has no preview.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from tessera.api.deps import Node, NodeDep
from tessera.errors import InputError, NotFound
from tessera.review import actions, cases, complaints
from tessera.review.complaints import COMPLAINABLE
from tessera.review.records import (
    OPEN_STATES,
    ActionKind,
    Case,
    CaseMatch,
    CaseState,
    ComplaintState,
    Decision,
    Exemption,
)
from tessera.services import review
from tessera.services.access import may_give_opinion, may_see, may_see_all_opinions
from tessera.store.db import utcnow
from tessera.store.records import Bank, Entry, Opinion
from tessera.web.render import WebRoute, render, see_other
from tessera.web.session import ReviewViewer, Viewer

router = APIRouter(route_class=WebRoute, include_in_schema=False)

PAGE = 50
MAX_ASSIGNEE_CHARS = 200
EXEMPTIONS = [(e.value, e.value.replace("_", " ")) for e in Exemption]


@dataclass(frozen=True, slots=True)
class MatchView:
    """An entry a case matched, as the page shows it: the signals that matched (best first),
    and the bank, entry and opinions when the organisation may still see them."""

    signals: list[CaseMatch]
    bank: Bank | None
    entry: Entry | None
    opinions: list[Opinion]
    problem: str = ""

    @property
    def first(self) -> CaseMatch:
        """The closest of the matched signals."""
        return self.signals[0]


def visible_opinions(viewer: Viewer, bank: Bank, opinions: list[Opinion]) -> list[Opinion]:
    """The opinions ``viewer`` may see: every one for the owner and coordinators, else its own."""
    if may_see_all_opinions(viewer.who, bank):
        return opinions
    return [o for o in opinions if o.org == viewer.org]


def _match_view(node: Node, viewer: Viewer, signals: list[CaseMatch]) -> MatchView:
    first = signals[0]
    try:
        bank = node.store.get_bank(first.bank_name)
    except NotFound:
        return MatchView(signals, None, None, [], "the bank has been deleted")
    if bank.uuid != first.bank_uuid or not may_see(viewer.who, bank):
        return MatchView(signals, None, None, [], "the bank is no longer visible to you")
    try:
        entry = node.store.get_entry(bank.name, first.entry_uuid)
    except NotFound:
        return MatchView(signals, bank, None, [], "the entry has been deleted")
    opinions = node.store.get_opinions(bank.name, entry.uuid)
    return MatchView(signals, bank, entry, visible_opinions(viewer, bank, opinions))


def match_views(node: Node, viewer: Viewer, case: Case) -> list[MatchView]:
    """The case's matches grouped by entry (the closest entry first)."""
    by_entry: dict[tuple[str, str], list[CaseMatch]] = {}
    for m in case.matches:
        by_entry.setdefault((m.bank_uuid, m.entry_uuid), []).append(m)
    return [_match_view(node, viewer, signals) for signals in by_entry.values()]


def _states(state: str | None) -> tuple[list[CaseState], str]:
    if state in (None, "", "queue"):
        return list(OPEN_STATES), "queue"
    if state == "all":
        return [], "all"
    try:
        return [CaseState(state)], str(state)
    except ValueError:
        names = ", ".join(["queue", "all", *(s.value for s in CaseState)])
        raise InputError(f"unknown case state {state!r}: use {names}") from None


@router.get("/web/queue")
def queue(
    node: NodeDep,
    viewer: ReviewViewer,
    state: Annotated[str | None, Query(max_length=20)] = None,
    page: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> Response:
    """The review queue (open and reopened cases, soonest deadline first), or cases by state."""
    states, shown = _states(state)
    found = cases.list_cases(
        node.store.db, viewer.org, states=states or None, limit=PAGE + 1, offset=page * PAGE
    )
    return render(
        viewer,
        "queue.html",
        cases=found[:PAGE],
        more=len(found) > PAGE,
        page=page,
        shown=shown,
        counts=cases.counts(node.store.db, viewer.org),
        states=[s.value for s in CaseState],
    )


def _preview_state(node: Node, case: Case) -> str:
    """``shown``, ``audio`` (no preview for sound), ``deleted`` (retention) or ``none``."""
    if case.media_kind == "audio":
        return "audio"
    if case.has_media:
        return "shown"
    retention = timedelta(days=node.settings.review_retention_days)
    return "deleted" if case.created_at + retention <= utcnow() else "none"


@router.get("/web/cases/{case_uuid}")
def case_page(node: NodeDep, viewer: ReviewViewer, case_uuid: str) -> Response:
    """One case: its preview, matches with provenance and opinions, notes, and the decision."""
    case = cases.get(node.store.db, viewer.org, case_uuid)
    preview = _preview_state(node, case)
    if preview == "shown":
        try:
            cases.get_media(node.store.db, viewer.org, case.uuid)
        except NotFound:
            preview = "deleted"  # past its retention, waiting for the purge
    filed = complaints.list_complaints(node.store.db, viewer.org, case_uuid=case.uuid, limit=100)
    pending = any(c.state is ComplaintState.OPEN for c in filed)
    return render(
        viewer,
        "case.html",
        case=case,
        complaints=filed,
        may_complain=case.state in COMPLAINABLE and not pending,
        max_text=cases.MAX_NOTE_CHARS,
        preview=preview,
        retention_days=node.settings.review_retention_days,
        matches=match_views(node, viewer, case),
        actions=actions.list_actions(node.store.db, viewer.org, case_uuid=case.uuid, limit=50),
        open=case.state in OPEN_STATES,
        exemptions=EXEMPTIONS,
    )


@router.get("/web/cases/{case_uuid}/preview")
def preview(node: NodeDep, viewer: ReviewViewer, case_uuid: str) -> Response:
    """The content kept for the case (the submitting organisation only; gone after retention)."""
    mime, data = cases.get_media(node.store.db, viewer.org, case_uuid)
    return Response(data, media_type=mime, headers={"Cache-Control": "no-store, private"})


def _decision(value: str) -> Decision:
    try:
        return Decision(value)
    except ValueError:
        names = ", ".join(d.value for d in Decision)
        raise InputError(f"unknown decision {value!r}: use {names}") from None


def _exemption(decision: Decision, value: str) -> Exemption | None:
    if decision is not Decision.EXEMPT:
        return None  # the form always carries the list; only 'exempt' uses it
    if not value:
        raise InputError("choose the exemption that applies, then decide 'exempt'")
    try:
        return Exemption(value)
    except ValueError:
        names = ", ".join(e.value for e in Exemption)
        raise InputError(f"unknown exemption {value!r}: use {names}") from None


@router.post("/web/cases/{case_uuid}/decide")
def decide(
    node: NodeDep,
    viewer: ReviewViewer,
    request: Request,
    case_uuid: str,
    csrf: Annotated[str, Form(max_length=100)],
    decision: Annotated[str, Form(max_length=30)],
    exemption: Annotated[str, Form(max_length=30)] = "",
    action: Annotated[str, Form(max_length=20)] = ActionKind.REMOVE.value,
    withhold: Annotated[str, Form(max_length=5)] = "",
    note: Annotated[str, Form(max_length=cases.MAX_NOTE_CHARS)] = "",
) -> Response:
    """Decide the case (its action is queued and feedback given, as through the API)."""
    viewer.check_csrf(request, csrf)
    chosen = _decision(decision)
    if action not in (ActionKind.REMOVE.value, ActionKind.RESTRICT.value):
        raise InputError("violating content is removed or restricted")

    def may_opine(bank: Bank) -> bool:
        return may_see(viewer.who, bank) and may_give_opinion(viewer.who, bank)

    done = review.decide(
        node.store,
        node.settings,
        org=viewer.org,
        case_uuid=case_uuid,
        decision=chosen,
        exemption=_exemption(chosen, exemption),
        note=note,
        withhold_feedback=bool(withhold),
        action=ActionKind(action),
        actor=viewer.actor,
        may_opine=may_opine,
    )
    return see_other(f"/web/cases/{done.case.uuid}")


@router.post("/web/cases/{case_uuid}/notes")
def add_note(
    node: NodeDep,
    viewer: ReviewViewer,
    request: Request,
    case_uuid: str,
    csrf: Annotated[str, Form(max_length=100)],
    text: Annotated[str, Form(max_length=cases.MAX_NOTE_CHARS)],
) -> Response:
    """Add a note to the case."""
    viewer.check_csrf(request, csrf)
    case = review.add_note(
        node.store, org=viewer.org, case_uuid=case_uuid, text=text, actor=viewer.actor
    )
    return see_other(f"/web/cases/{case.uuid}#notes")


@router.post("/web/cases/{case_uuid}/assign")
def assign(
    node: NodeDep,
    viewer: ReviewViewer,
    request: Request,
    case_uuid: str,
    csrf: Annotated[str, Form(max_length=100)],
    assignee: Annotated[str, Form(max_length=MAX_ASSIGNEE_CHARS)] = "",
    unassign: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    """Assign the case to a reviewer, or unassign it (the button, or an empty name)."""
    viewer.check_csrf(request, csrf)
    name = assignee.strip()
    case = review.assign(
        node.store,
        org=viewer.org,
        case_uuid=case_uuid,
        assignee=None if unassign or not name else name,
        actor=viewer.actor,
    )
    return see_other(f"/web/cases/{case.uuid}")
