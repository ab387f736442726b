"""Removal orders, complaints and incidents: coordinating takedowns within legal deadlines.

- ``/v1/removal-orders`` (scope ``review``): record an authority's order (addressed to the caller,
  or, by a coordinator, to another organisation of this node), list and show the caller's orders
  with their deadline and the seconds remaining (the pages count down), act on one, record that
  one is not actioned and why, record that the uploader was informed;
- ``/v1/cases/{case}/complaints`` and ``/v1/complaints`` (scope ``review``): file a complaint on
  the caller's case (it reopens), list, show, uphold (restore and ``false_positive`` feedback) or
  reject it;
- ``/v1/incidents``: any organisation lists the active incidents of banks it may see (peers'
  sync loops ask this); a coordinator (scope ``contribute``) declares, updates and ends one, and
  reads its timeline.

Another organisation's order or complaint answers 404 like a missing one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, Field

from tessera.api.deps import ContributeOrg, CurrentOrg, NodeDep, ReviewOrg
from tessera.api.errors import ERROR_RESPONSES
from tessera.api.schemas import Strict
from tessera.review import complaints, incidents, orders
from tessera.review.complaints import Complaint
from tessera.review.incidents import Incident
from tessera.review.orders import NotActionedReason, Order, OrderState
from tessera.review.records import ActionKind, ComplaintState
from tessera.services.access import Principal, may_give_opinion
from tessera.store.db import utcnow

router = APIRouter(prefix="/v1", tags=["takedowns"], responses=ERROR_RESPONSES)

TEXT = Field(min_length=1, max_length=orders.MAX_TEXT)


def _actor(who: Principal) -> str:
    return f"token:{who.token_prefix}" if who.token_prefix else who.org


# -- removal orders ------------------------------------------------------------------------------


class OrderIn(Strict):
    """An authority's removal order as received."""

    authority: str = Field(min_length=1, max_length=200, examples=["Europol IRU"])
    legal_reference: str = TEXT
    content_ref: str = Field(min_length=1, max_length=2000, examples=["https://host/v/123"])
    received_at: datetime | None = Field(
        default=None, description="When the order arrived (default: now); sets the deadline."
    )
    org: str | None = Field(
        default=None,
        max_length=200,
        description="The addressee (default: the caller; another org only for a coordinator).",
    )
    media_kind: Literal["image", "video", "audio", "file"] = "file"
    note: str = Field(default="", max_length=orders.MAX_NOTE)


class OrderOut(BaseModel):
    """An order, its deadline and the seconds remaining, and what was done."""

    id: str
    org: str
    authority: str
    legal_reference: str
    content_ref: str
    received_at: datetime
    deadline: datetime
    remaining_s: float
    overdue: bool
    case: str | None
    state: OrderState
    action: str | None
    actioned_at: datetime | None
    not_actioned_reason: NotActionedReason | None
    not_actioned_explanation: str
    uploader_informed: bool
    informed_at: datetime | None
    note: str
    created_at: datetime

    @classmethod
    def of(cls, o: Order) -> OrderOut:
        """From an order, counted down to now."""
        now = utcnow()
        return cls(
            id=o.uuid,
            org=o.org,
            authority=o.authority,
            legal_reference=o.legal_reference,
            content_ref=o.content_ref,
            received_at=o.received_at,
            deadline=o.deadline,
            remaining_s=round(o.remaining_s(now), 3),
            overdue=o.overdue(now),
            case=o.case_uuid,
            state=o.state,
            action=o.action,
            actioned_at=o.actioned_at,
            not_actioned_reason=o.not_actioned_reason,
            not_actioned_explanation=o.not_actioned_explanation,
            uploader_informed=o.uploader_informed,
            informed_at=o.informed_at,
            note=o.note,
            created_at=o.created_at,
        )


class ActIn(Strict):
    """How the order is executed: remove, or restrict (disable access)."""

    action: Literal["remove", "restrict"] = "remove"
    note: str = Field(default="", max_length=orders.MAX_NOTE)


class NotActionedIn(Strict):
    """Why the order is not executed (TCO Art. 3(7) and 3(8))."""

    reason: NotActionedReason
    explanation: str = Field(default="", max_length=orders.MAX_NOTE)


class InformedIn(Strict):
    """When the uploader was informed (default: now)."""

    informed_at: datetime | None = None


@router.post("/removal-orders", status_code=status.HTTP_201_CREATED)
def record_order(node: NodeDep, who: ReviewOrg, body: OrderIn) -> OrderOut:
    """Record a removal order; its case opens (or updates) with the order's deadline."""
    order = orders.record_order(
        node.store,
        node.settings,
        org=body.org or who.org,
        authority=body.authority,
        legal_reference=body.legal_reference,
        content_ref=body.content_ref,
        received_at=body.received_at,
        media_kind=body.media_kind,
        note=body.note,
        recorder=who.org,
        actor=_actor(who),
    )
    return OrderOut.of(order)


@router.get("/removal-orders")
def list_orders(
    node: NodeDep,
    who: ReviewOrg,
    state: Annotated[OrderState | None, Query(description="Only orders in this state.")] = None,
    overdue: Annotated[bool, Query(description="Only open orders past their deadline.")] = False,
    case: Annotated[str | None, Query(max_length=36, description="Only this case's.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[OrderOut]:
    """The caller's orders: open ones soonest deadline first, then the newest."""
    if overdue:
        state = OrderState.OPEN
    found = orders.list_orders(node.store.db, who.org, state=state, case_uuid=case, limit=limit)
    out = [OrderOut.of(o) for o in found]
    return [o for o in out if o.overdue] if overdue else out


@router.get("/removal-orders/{order}")
def show_order(node: NodeDep, who: ReviewOrg, order: str) -> OrderOut:
    """One of the caller's orders, with the seconds remaining."""
    return OrderOut.of(orders.get(node.store.db, who.org, order))


@router.post("/removal-orders/{order}/act")
def act_on_order(node: NodeDep, who: ReviewOrg, order: str, body: ActIn) -> OrderOut:
    """Execute the order: queue the action for the platform's webhook, the case is actioned."""
    done = orders.act_on_order(
        node.store,
        org=who.org,
        order_uuid=order,
        actor=_actor(who),
        action=ActionKind(body.action),
        note=body.note,
    )
    return OrderOut.of(done)


@router.post("/removal-orders/{order}/not-actioned")
def order_not_actioned(node: NodeDep, who: ReviewOrg, order: str, body: NotActionedIn) -> OrderOut:
    """Record that the open order is not executed, and why."""
    done = orders.not_actioned(
        node.store,
        org=who.org,
        order_uuid=order,
        reason=body.reason,
        explanation=body.explanation,
        actor=_actor(who),
    )
    return OrderOut.of(done)


@router.post("/removal-orders/{order}/uploader-informed")
def uploader_informed(node: NodeDep, who: ReviewOrg, order: str, body: InformedIn) -> OrderOut:
    """Record that the uploader was informed (a flag and a time only)."""
    done = orders.inform_uploader(
        node.store, org=who.org, order_uuid=order, actor=_actor(who), informed_at=body.informed_at
    )
    return OrderOut.of(done)


# -- complaints ----------------------------------------------------------------------------------


class ComplaintIn(Strict):
    """What the complaint says about the content (never who sent it)."""

    reason: str = Field(min_length=1, max_length=10_000)
    received_at: datetime | None = None


class ComplaintOut(BaseModel):
    """A complaint, its deadline and outcome."""

    id: str
    case: str
    received_at: datetime
    deadline: datetime
    remaining_s: float
    reason: str
    state: ComplaintState
    decided_by: str | None
    decided_at: datetime | None
    outcome_note: str

    @classmethod
    def of(cls, c: Complaint) -> ComplaintOut:
        """From a complaint."""
        return cls(
            id=c.uuid,
            case=c.case_uuid,
            received_at=c.received_at,
            deadline=c.deadline,
            remaining_s=round(c.remaining_s(), 3),
            reason=c.reason,
            state=c.state,
            decided_by=c.decided_by,
            decided_at=c.decided_at,
            outcome_note=c.outcome_note,
        )


class UpholdIn(Strict):
    """Upholding: an optional note, and whether to withhold the false_positive feedback."""

    note: str = Field(default="", max_length=10_000)
    withhold_feedback: bool = False


class RejectIn(Strict):
    """Rejecting: the reason, noted on the complaint and the case."""

    reason: str = Field(min_length=1, max_length=10_000)


class ComplaintDone(BaseModel):
    """A complaint's outcome, the case's state, the actions queued and the feedback given."""

    complaint: ComplaintOut
    case_state: str
    actions: list[str] = Field(default_factory=list)
    feedback: list[dict[str, str]] = Field(default_factory=list)
    feedback_errors: list[str] = Field(default_factory=list)


@router.post("/cases/{case}/complaints", status_code=status.HTTP_201_CREATED)
def file_complaint(node: NodeDep, who: ReviewOrg, case: str, body: ComplaintIn) -> ComplaintOut:
    """File an uploader's complaint on the caller's decided case; the case reopens."""
    found = complaints.file_complaint(
        node.store,
        node.settings,
        org=who.org,
        case_uuid=case,
        reason=body.reason,
        actor=_actor(who),
        received_at=body.received_at,
    )
    return ComplaintOut.of(found)


@router.get("/complaints")
def list_complaints(
    node: NodeDep,
    who: ReviewOrg,
    state: Annotated[ComplaintState | None, Query(description="Only this state.")] = None,
    case: Annotated[str | None, Query(max_length=36, description="Only this case's.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[ComplaintOut]:
    """The caller's complaints: open ones soonest deadline first, then the newest."""
    found = complaints.list_complaints(
        node.store.db, who.org, state=state, case_uuid=case, limit=limit
    )
    return [ComplaintOut.of(c) for c in found]


@router.get("/complaints/{complaint}")
def show_complaint(node: NodeDep, who: ReviewOrg, complaint: str) -> ComplaintOut:
    """One of the caller's complaints."""
    return ComplaintOut.of(complaints.get(node.store.db, who.org, complaint))


@router.post("/complaints/{complaint}/uphold")
def uphold_complaint(
    node: NodeDep, who: ReviewOrg, complaint: str, body: UpholdIn
) -> ComplaintDone:
    """Uphold: restore the content if it is down, and report the matches as false positives."""
    done = complaints.uphold(
        node.store,
        org=who.org,
        complaint_uuid=complaint,
        actor=_actor(who),
        note=body.note,
        withhold_feedback=body.withhold_feedback,
        may_opine=lambda bank: may_give_opinion(who, bank),
    )
    return ComplaintDone(
        complaint=ComplaintOut.of(done.complaint),
        case_state=done.case.state.value,
        actions=done.actions,
        feedback=[{"entry": e, "verdict": v} for e, v in done.feedback],
        feedback_errors=done.feedback_errors,
    )


@router.post("/complaints/{complaint}/reject")
def reject_complaint(
    node: NodeDep, who: ReviewOrg, complaint: str, body: RejectIn
) -> ComplaintDone:
    """Reject: the case returns to its decided or actioned state, the reason noted."""
    found, case = complaints.reject(
        node.store, org=who.org, complaint_uuid=complaint, reason=body.reason, actor=_actor(who)
    )
    return ComplaintDone(complaint=ComplaintOut.of(found), case_state=case.state.value)


# -- incidents -----------------------------------------------------------------------------------


class IncidentIn(Strict):
    """A new incident on a bank of this node."""

    name: str = Field(min_length=1, max_length=incidents.MAX_NAME)
    bank: str = Field(min_length=1, max_length=200)
    note: str = Field(default="", max_length=incidents.MAX_NOTE)


class IncidentPatch(Strict):
    """What to change in an active incident."""

    name: str | None = Field(default=None, min_length=1, max_length=incidents.MAX_NAME)
    note: str | None = Field(default=None, max_length=incidents.MAX_NOTE)


class IncidentEnd(Strict):
    """Ending an incident, with an optional closing note."""

    note: str = Field(default="", max_length=incidents.MAX_NOTE)


class IncidentOut(BaseModel):
    """An incident: its bank, state, and the sync interval peers use while it is active."""

    id: str
    name: str
    declared_by: str
    bank: str | None
    bank_uuid: str | None
    state: str
    sync_interval_s: float
    note: str
    declared_at: datetime
    ended_at: datetime | None

    @classmethod
    def of(cls, i: Incident) -> IncidentOut:
        """From an incident."""
        return cls(
            id=i.uuid,
            name=i.name,
            declared_by=i.declared_by,
            bank=i.bank_name,
            bank_uuid=i.bank_uuid,
            state=i.state.value,
            sync_interval_s=i.sync_interval_s,
            note=i.note,
            declared_at=i.declared_at,
            ended_at=i.ended_at,
        )


class TimelineRow(BaseModel):
    """One audit record of an incident's timeline."""

    seq: int
    created_at: datetime
    org: str
    actor: str
    kind: str
    subject: str
    detail: dict[str, Any]


@router.get("/incidents")
def list_incidents(
    node: NodeDep,
    who: CurrentOrg,
    include_ended: Annotated[bool, Query(description="Also incidents that have ended.")] = False,
) -> list[IncidentOut]:
    """The incidents of banks the caller may see (active ones unless asked), newest first."""
    found = incidents.list_incidents(node.store, who, include_ended=include_ended)
    return [IncidentOut.of(i) for i in found]


@router.post("/incidents", status_code=status.HTTP_201_CREATED)
def declare_incident(node: NodeDep, who: ContributeOrg, body: IncidentIn) -> IncidentOut:
    """Declare an incident on a bank of this node (coordinators); endpoints are notified."""
    found = incidents.declare(
        node.store,
        node.settings,
        who,
        name=body.name,
        bank=body.bank,
        note=body.note,
        actor=_actor(who),
    )
    return IncidentOut.of(found)


@router.get("/incidents/{incident}")
def show_incident(node: NodeDep, who: CurrentOrg, incident: str) -> IncidentOut:
    """One incident the caller may see."""
    return IncidentOut.of(incidents.get(node.store, who, incident))


@router.patch("/incidents/{incident}")
def update_incident(
    node: NodeDep, who: ContributeOrg, incident: str, body: IncidentPatch
) -> IncidentOut:
    """Change an active incident's name or note (coordinators)."""
    found = incidents.update(
        node.store, who, incident, name=body.name, note=body.note, actor=_actor(who)
    )
    return IncidentOut.of(found)


@router.post("/incidents/{incident}/end")
def end_incident(
    node: NodeDep, who: ContributeOrg, incident: str, body: IncidentEnd
) -> IncidentOut:
    """End an active incident (coordinators); endpoints are notified."""
    return IncidentOut.of(
        incidents.end(node.store, who, incident, note=body.note, actor=_actor(who))
    )


@router.get("/incidents/{incident}/timeline")
def incident_timeline(node: NodeDep, who: ContributeOrg, incident: str) -> list[TimelineRow]:
    """The incident's audit rows and its bank's during it, oldest first (coordinators)."""
    rows = incidents.timeline(node.store, who, incident)
    return [
        TimelineRow(
            seq=r.seq,
            created_at=r.created_at,
            org=r.org,
            actor=r.actor,
            kind=r.kind,
            subject=r.subject,
            detail=r.detail,
        )
        for r in rows
    ]
