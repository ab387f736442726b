"""`tessera order ...`, `tessera complaint ...`, `tessera incident ...`: takedown coordination.

``order record`` records an authority's removal order addressed to ``--org`` (its deadline is
``removal_order_deadline_s`` after ``--received-at``, default now); ``order list`` shows the
seconds left; ``order act`` takes the content down through the organisation's webhook;
``order not-actioned`` records why an order is not executed; ``order informed`` records that the
uploader was told. ``complaint file`` reopens a decided case for ``complaint_deadline_days``;
``complaint uphold`` restores the content and reports the matches as false positives;
``complaint reject`` keeps the decision. ``incident declare`` (a coordinator organisation) makes
peers pull the bank every ``incident_sync_interval_s`` until ``incident end``.

The CLI is the node operator's: it acts as the organisation named by ``--org``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from tessera.cli.context import STATE, DbOption, out, reports_errors
from tessera.errors import InputError
from tessera.review import complaints, incidents, orders
from tessera.review.orders import NotActionedReason, Order, OrderState
from tessera.review.records import ActionKind, ComplaintState
from tessera.services.access import TIER_SCOPES, Principal
from tessera.store.orgs import OrgStore

order_app = typer.Typer(help="Removal orders from authorities (one-hour deadline).")
complaint_app = typer.Typer(help="Uploaders' complaints about decisions (two-week deadline).")
incident_app = typer.Typer(help="Incident surges: a bank synced fast while an incident lasts.")

OrgOption = Annotated[str, typer.Option("--org", help="The organisation acting.")]
JsonOption = Annotated[bool, typer.Option("--json", help="One JSON object per line.")]
ACTOR = "cli"


def _when(value: str | None, name: str) -> datetime | None:
    """An ISO 8601 time (naive means UTC), or None."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(f"{name} must be an ISO 8601 time, got {value!r}") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _left(seconds: float) -> str:
    sign = "-" if seconds < 0 else ""
    s = int(abs(seconds))
    return f"{sign}{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _print_orders(found: list[Order], as_json: bool) -> None:
    if as_json:
        for o in found:
            out.print(json.dumps(o.as_json()), markup=False, highlight=False)
        return
    table = Table(title_justify="left")
    for column in ("id", "authority", "content", "state", "deadline", "left", "action", "informed"):
        table.add_column(column)
    for o in found:
        left = _left(o.remaining_s()) if o.state is OrderState.OPEN else ""
        state = "OVERDUE" if o.overdue() else o.state.value
        if o.not_actioned_reason is not None:
            state = f"not actioned ({o.not_actioned_reason.value})"
        table.add_row(
            o.uuid,
            o.authority,
            o.content_ref,
            state,
            o.deadline.isoformat(timespec="seconds"),
            left,
            o.action or "",
            "yes" if o.uploader_informed else "no",
        )
    out.print(table)


# -- orders --------------------------------------------------------------------------------------


@order_app.command("record")
@reports_errors
def record(
    org: OrgOption,
    authority: Annotated[str, typer.Option("--authority", help="Who issued the order.")],
    legal_reference: Annotated[str, typer.Option("--legal-reference", help="Its reference.")],
    content_ref: Annotated[str, typer.Option("--content-ref", help="The content it names.")],
    received_at: Annotated[
        str | None, typer.Option("--received-at", help="ISO 8601 (default now; naive is UTC).")
    ] = None,
    note: Annotated[str, typer.Option("--note")] = "",
    as_json: JsonOption = False,
    db_url: DbOption = None,
) -> None:
    """Record a removal order addressed to the organisation; its case opens with the deadline."""
    order = orders.record_order(
        STATE.store(db_url),
        STATE.settings(db_url),
        org=org,
        authority=authority,
        legal_reference=legal_reference,
        content_ref=content_ref,
        received_at=_when(received_at, "--received-at"),
        note=note,
        actor=ACTOR,
    )
    if as_json:
        out.print(json.dumps(order.as_json()), markup=False, highlight=False)
        return
    by = order.deadline.isoformat(timespec="seconds")
    out.print(
        f"removal order {order.uuid} recorded: act by {by} ({_left(order.remaining_s())} left);"
        f" case {order.case_uuid}",
        markup=False,
    )


@order_app.command("list")
@reports_errors
def list_orders(
    org: OrgOption,
    state: Annotated[
        OrderState | None, typer.Option("--state", help="open, actioned or not_actioned.")
    ] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only overdue orders.")] = False,
    as_json: JsonOption = False,
    db_url: DbOption = None,
) -> None:
    """The organisation's orders, open ones soonest deadline first, with the time left."""
    found = orders.list_orders(
        STATE.store(db_url).db, org, state=OrderState.OPEN if overdue else state
    )
    _print_orders([o for o in found if o.overdue()] if overdue else found, as_json)


@order_app.command("show")
@reports_errors
def show(
    org: OrgOption,
    uuid: Annotated[str, typer.Argument(help="The order's id.")],
    db_url: DbOption = None,
) -> None:
    """One order, as JSON."""
    order = orders.get(STATE.store(db_url).db, org, uuid)
    out.print(json.dumps(order.as_json(), indent=2), markup=False, highlight=False)


@order_app.command("act")
@reports_errors
def act(
    org: OrgOption,
    uuid: Annotated[str, typer.Argument(help="The order's id.")],
    restrict: Annotated[
        bool, typer.Option("--restrict", help="Disable access instead of removing.")
    ] = False,
    note: Annotated[str, typer.Option("--note")] = "",
    db_url: DbOption = None,
) -> None:
    """Execute the order: queue remove (or restrict) for the webhook; the case is actioned."""
    kind = ActionKind.RESTRICT if restrict else ActionKind.REMOVE
    order = orders.act_on_order(
        STATE.store(db_url), org=org, order_uuid=uuid, actor=ACTOR, action=kind, note=note
    )
    late = "within" if order.actioned_at and order.actioned_at <= order.deadline else "AFTER"
    out.print(
        f"removal order {order.uuid} actioned ({order.action}) {late} its deadline", markup=False
    )


@order_app.command("not-actioned")
@reports_errors
def not_actioned(
    org: OrgOption,
    uuid: Annotated[str, typer.Argument(help="The order's id.")],
    reason: Annotated[
        NotActionedReason,
        typer.Option(
            "--reason",
            help="force_majeure, de_facto_impossibility, manifest_error or "
            "insufficient_information (TCO Art. 3(7)/(8)).",
        ),
    ],
    explanation: Annotated[str, typer.Option("--explanation")] = "",
    db_url: DbOption = None,
) -> None:
    """Record that the order is not executed, and why."""
    order = orders.not_actioned(
        STATE.store(db_url),
        org=org,
        order_uuid=uuid,
        reason=reason,
        explanation=explanation,
        actor=ACTOR,
    )
    out.print(f"removal order {order.uuid} not actioned: {reason.value}", markup=False)


@order_app.command("informed")
@reports_errors
def informed(
    org: OrgOption,
    uuid: Annotated[str, typer.Argument(help="The order's id.")],
    at: Annotated[str | None, typer.Option("--at", help="ISO 8601 (default now).")] = None,
    db_url: DbOption = None,
) -> None:
    """Record that the uploader was informed of the removal (a flag and a time only)."""
    order = orders.inform_uploader(
        STATE.store(db_url), org=org, order_uuid=uuid, actor=ACTOR, informed_at=_when(at, "--at")
    )
    when = order.informed_at.isoformat(timespec="seconds") if order.informed_at else ""
    out.print(f"uploader of {order.content_ref} informed at {when}", markup=False)


# -- complaints ----------------------------------------------------------------------------------


@complaint_app.command("file")
@reports_errors
def file_complaint(
    org: OrgOption,
    case: Annotated[str, typer.Option("--case", help="The decided case's id.")],
    reason: Annotated[str, typer.Option("--reason", help="What the complaint says.")],
    received_at: Annotated[str | None, typer.Option("--received-at", help="ISO 8601.")] = None,
    db_url: DbOption = None,
) -> None:
    """File an uploader's complaint: the case reopens with the complaint deadline."""
    found = complaints.file_complaint(
        STATE.store(db_url),
        STATE.settings(db_url),
        org=org,
        case_uuid=case,
        reason=reason,
        actor=ACTOR,
        received_at=_when(received_at, "--received-at"),
    )
    when = found.deadline.isoformat(timespec="seconds")
    out.print(f"complaint {found.uuid} filed; case {case} reopened until {when}", markup=False)


@complaint_app.command("list")
@reports_errors
def list_complaints(
    org: OrgOption,
    state: Annotated[ComplaintState | None, typer.Option("--state")] = None,
    as_json: JsonOption = False,
    db_url: DbOption = None,
) -> None:
    """The organisation's complaints, open ones soonest deadline first."""
    found = complaints.list_complaints(STATE.store(db_url).db, org, state=state)
    if as_json:
        for c in found:
            out.print(json.dumps(c.as_json()), markup=False, highlight=False)
        return
    table = Table(title_justify="left")
    for column in ("id", "case", "state", "deadline", "reason", "outcome"):
        table.add_column(column)
    for c in found:
        deadline = c.deadline.isoformat(timespec="seconds")
        table.add_row(c.uuid, c.case_uuid, c.state.value, deadline, c.reason, c.outcome_note)
    out.print(table)


@complaint_app.command("uphold")
@reports_errors
def uphold(
    org: OrgOption,
    uuid: Annotated[str, typer.Argument(help="The complaint's id.")],
    note: Annotated[str, typer.Option("--note")] = "",
    withhold_feedback: Annotated[
        bool, typer.Option("--withhold-feedback", help="Send no false_positive opinion.")
    ] = False,
    db_url: DbOption = None,
) -> None:
    """Uphold: restore the content if it is down; report the matches as false positives."""
    done = complaints.uphold(
        STATE.store(db_url),
        org=org,
        complaint_uuid=uuid,
        actor=ACTOR,
        note=note,
        withhold_feedback=withhold_feedback,
    )
    restored = "restore queued" if done.actions else "content was up"
    out.print(
        f"complaint {uuid} upheld ({restored}); case {done.case.uuid} is {done.case.state.value};"
        f" {len(done.feedback)} false_positive opinion(s) given",
        markup=False,
    )
    for problem in done.feedback_errors:
        out.print(f"feedback not given: {problem}", markup=False)


@complaint_app.command("reject")
@reports_errors
def reject(
    org: OrgOption,
    uuid: Annotated[str, typer.Argument(help="The complaint's id.")],
    reason: Annotated[str, typer.Option("--reason", help="Why the decision stands.")],
    db_url: DbOption = None,
) -> None:
    """Reject: the case returns to its decision, with the reason noted."""
    _found, case = complaints.reject(
        STATE.store(db_url), org=org, complaint_uuid=uuid, reason=reason, actor=ACTOR
    )
    out.print(f"complaint {uuid} rejected; case {case.uuid} is {case.state.value}", markup=False)


# -- incidents -----------------------------------------------------------------------------------


def _principal(org: str, db_url: str | None) -> Principal:
    store = OrgStore(STATE.store(db_url).db)
    tier = store.get_org(org).tier
    return Principal(org, tier, TIER_SCOPES[tier], store.groups_of(org))


@incident_app.command("declare")
@reports_errors
def declare(
    org: Annotated[str, typer.Option("--org", help="The coordinator organisation declaring.")],
    bank: Annotated[str, typer.Option("--bank", help="The bank the incident surges.")],
    name: Annotated[str, typer.Option("--name", help="What is happening.")],
    note: Annotated[str, typer.Option("--note")] = "",
    db_url: DbOption = None,
) -> None:
    """Declare an incident: peers pull the bank often, endpoints are notified."""
    found = incidents.declare(
        STATE.store(db_url),
        STATE.settings(db_url),
        _principal(org, db_url),
        name=name,
        bank=bank,
        note=note,
        actor=ACTOR,
    )
    out.print(
        f"incident {found.uuid} declared on bank {bank}; peers pull every "
        f"{found.sync_interval_s:g} s while it lasts",
        markup=False,
    )


@incident_app.command("list")
@reports_errors
def list_incidents(
    org: OrgOption,
    include_ended: Annotated[bool, typer.Option("--all", help="Also ended incidents.")] = False,
    as_json: JsonOption = False,
    db_url: DbOption = None,
) -> None:
    """The incidents the organisation may see (active ones unless --all)."""
    found = incidents.list_incidents(
        STATE.store(db_url), _principal(org, db_url), include_ended=include_ended
    )
    if as_json:
        for i in found:
            out.print(json.dumps(i.as_json()), markup=False, highlight=False)
        return
    table = Table(title_justify="left")
    for column in ("id", "name", "bank", "state", "declared", "by"):
        table.add_column(column)
    for i in found:
        declared = i.declared_at.isoformat(timespec="seconds")
        table.add_row(i.uuid, i.name, i.bank_name or "", i.state.value, declared, i.declared_by)
    out.print(table)


@incident_app.command("end")
@reports_errors
def end(
    org: Annotated[str, typer.Option("--org", help="The coordinator organisation ending it.")],
    uuid: Annotated[str, typer.Argument(help="The incident's id.")],
    note: Annotated[str, typer.Option("--note")] = "",
    db_url: DbOption = None,
) -> None:
    """End an incident: peers return to the normal interval, endpoints are notified."""
    found = incidents.end(
        STATE.store(db_url), _principal(org, db_url), uuid, note=note, actor=ACTOR
    )
    out.print(f"incident {found.uuid} ended", markup=False)


@incident_app.command("timeline")
@reports_errors
def timeline(
    org: Annotated[str, typer.Option("--org", help="A coordinator organisation.")],
    uuid: Annotated[str, typer.Argument(help="The incident's id.")],
    db_url: DbOption = None,
) -> None:
    """The incident's audit records and its bank's during it, one JSON object per line."""
    for r in incidents.timeline(STATE.store(db_url), _principal(org, db_url), uuid):
        out.print(json.dumps(r.as_json()), markup=False, highlight=False)
