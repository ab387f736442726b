"""`tessera submit`, `tessera case ...` and `tessera policy ...`: review from the command line.

The CLI acts for this node's organisation (setting ``node_org``), on the store directly: it is
the operator's tool and the quickest way to try the review flow. Organisations using a node
through its API submit and decide there (``/v1/content``, ``/v1/cases``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from tessera.cli.context import STATE, DbOption, fail, out, reports_errors
from tessera.review import cases, policies
from tessera.review.preview import make_preview
from tessera.review.records import ActionKind, Case, CaseState, Decision, Exemption, MatchMode
from tessera.services import review
from tessera.services.matching import Matcher, match_path

case_app = typer.Typer(help="Review cases of this node's organisation.", no_args_is_help=True)
policy_app = typer.Typer(help="What a match in each bank does.", no_args_is_help=True)


def case_json(case: Case) -> dict[str, object]:
    """A case as `--json` prints it."""
    return {
        "uuid": case.uuid,
        "content_ref": case.content_ref,
        "media_kind": case.media_kind,
        "state": case.state.value,
        "source": case.source,
        "assignee": case.assignee,
        "deadline": case.deadline.isoformat() if case.deadline else None,
        "decision": case.decision.value if case.decision else None,
        "exemption": case.exemption.value if case.exemption else None,
        "decided_by": case.decided_by,
        "automated_detection": case.automated_detection,
        "automated_decision": case.automated_decision,
        "matches": [
            {
                "bank": m.bank_name,
                "entry": m.entry_uuid,
                "signal_type": m.signal_type,
                "distance": m.distance,
                "threshold": m.threshold,
                "labels": list(m.labels),
                "policy": m.policy.value,
            }
            for m in case.matches
        ],
        "notes": [{"author": n.author, "text": n.text} for n in case.notes],
    }


def _print_case(case: Case) -> None:
    deadline = case.deadline.isoformat(timespec="seconds") if case.deadline else "-"
    decision = case.decision.value if case.decision else "-"
    if case.exemption:
        decision += f" ({case.exemption.value})"
    out.print(
        f"case {case.uuid}  [bold]{case.state.value}[/]  content {case.content_ref}  "
        f"deadline {deadline}  decision {decision}"
    )
    for m in case.matches:
        out.print(
            f"  {m.bank_name} / {m.entry_uuid}  {m.signal_type} {m.distance}/{m.threshold}  "
            f"{', '.join(m.labels)}  [{m.policy.value}]",
            markup=False,
        )
    for n in case.notes:
        out.print(f"  note by {n.author}: {n.text}", markup=False)


def submit(
    path: Annotated[Path, typer.Argument(help="The content to match and route.")],
    content_ref: Annotated[
        str | None,
        typer.Option("--content-ref", help="Your id of the content (default: the path)."),
    ] = None,
    keep_preview: Annotated[
        bool, typer.Option(help="Keep a preview for the reviewer (deleted after retention).")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the outcome as JSON.")] = False,
    db_url: DbOption = None,
) -> None:
    """Hash a file, match it, and route the matches by this organisation's policies."""
    settings = STATE.settings(db_url)
    store = STATE.store(db_url)
    matcher = Matcher(store)
    matcher.load()
    looked = match_path(
        matcher,
        path,
        settings.media_limits(),
        min_quality=settings.min_quality,
        keep_content=keep_preview,
    )
    result, found = looked.result, looked.matches
    if not result.ok:
        raise fail(f"{path}: {result.error}")
    preview = make_preview(result.content, settings) if result.content and found else None
    routed = review.route(
        store,
        settings,
        org=settings.node_org,
        content_ref=content_ref or str(path),
        media_kind=result.media_kind.value if result.media_kind else "file",
        signals=result.signals,
        matches=found,
        preview=preview,
    )
    if as_json:
        payload = {
            "matches": [m.as_json() for m in found],
            "case": case_json(routed.case) if routed.case else None,
            "actions": routed.actions,
            "suppressed": routed.suppressed,
            "logged": routed.logged,
        }
        out.print(json.dumps(payload), markup=False, highlight=False)
    elif routed.case is not None:
        _print_case(routed.case)
    elif routed.suppressed:
        out.print("matched an allow-list bank: no case")
    else:
        out.print(f"{len(found)} match(es), {routed.logged} logged only: no case")


submit_command = reports_errors(submit)


@case_app.command("list")
@reports_errors
def list_command(
    state: Annotated[
        list[CaseState] | None, typer.Option("--state", help="Only these states (repeatable).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per case.")] = False,
    db_url: DbOption = None,
) -> None:
    """Cases of this node's organisation, soonest deadline first."""
    store = STATE.store(db_url)
    org = STATE.settings(db_url).node_org
    found = cases.list_cases(store.db, org, states=state, limit=limit)
    if as_json:
        for case in found:
            out.print(json.dumps(case_json(case)), markup=False, highlight=False)
        return
    table = Table(title_justify="left")
    for column in ("case", "state", "content", "deadline", "matches", "decision", "assignee"):
        table.add_column(column)
    for c in found:
        table.add_row(
            c.uuid,
            c.state.value,
            c.content_ref,
            c.deadline.isoformat(timespec="seconds") if c.deadline else "",
            str(len(c.matches)),
            c.decision.value if c.decision else "",
            c.assignee or "",
        )
    out.print(table)


@case_app.command("show")
@reports_errors
def show_command(
    case: Annotated[str, typer.Argument(help="The case's uuid.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the case as JSON.")] = False,
    db_url: DbOption = None,
) -> None:
    """One case with its matches and notes."""
    found = cases.get(STATE.store(db_url).db, STATE.settings(db_url).node_org, case)
    if as_json:
        out.print(json.dumps(case_json(found)), markup=False, highlight=False)
    else:
        _print_case(found)


@case_app.command("decide")
@reports_errors
def decide_command(
    case: Annotated[str, typer.Argument(help="The case's uuid.")],
    decision: Annotated[Decision, typer.Argument(help="The decision.")],
    exemption: Annotated[
        Exemption | None, typer.Option("--exemption", help="Why exempt content stays up.")
    ] = None,
    note: Annotated[str, typer.Option("--note", help="A note on the decision.")] = "",
    withhold_feedback: Annotated[
        bool,
        typer.Option("--withhold-feedback", help="Send no opinion to the banks' owners."),
    ] = False,
    action: Annotated[
        ActionKind, typer.Option("--action", help="remove or restrict violating content.")
    ] = ActionKind.REMOVE,
    reviewer: Annotated[
        str | None, typer.Option("--reviewer", help="Who decided (for the audit log).")
    ] = None,
    db_url: DbOption = None,
) -> None:
    """Decide an open case: queue its action and send the opinion to the banks' owners."""
    settings = STATE.settings(db_url)
    done = review.decide(
        STATE.store(db_url),
        settings,
        org=settings.node_org,
        case_uuid=case,
        decision=decision,
        exemption=exemption,
        note=note,
        withhold_feedback=withhold_feedback,
        action=action,
        actor=reviewer or settings.node_org,
    )
    _print_case(done.case)
    for key in done.actions:
        out.print(f"  action queued: {key}")
    for entry, verdict in done.feedback:
        out.print(f"  opinion sent: {verdict} on {entry}")
    for problem in done.feedback_errors:
        out.print(f"  [yellow]opinion not sent:[/] {problem}")


@case_app.command("assign")
@reports_errors
def assign_command(
    case: Annotated[str, typer.Argument(help="The case's uuid.")],
    assignee: Annotated[str | None, typer.Argument(help="The reviewer (omit to unassign).")] = None,
    db_url: DbOption = None,
) -> None:
    """Assign a case to a reviewer."""
    settings = STATE.settings(db_url)
    found = review.assign(
        STATE.store(db_url),
        org=settings.node_org,
        case_uuid=case,
        assignee=assignee,
        actor=settings.node_org,
    )
    out.print(f"case {found.uuid} assigned to {found.assignee or 'nobody'}")


@case_app.command("note")
@reports_errors
def note_command(
    case: Annotated[str, typer.Argument(help="The case's uuid.")],
    text: Annotated[str, typer.Argument(help="The note.")],
    db_url: DbOption = None,
) -> None:
    """Add a note to a case."""
    settings = STATE.settings(db_url)
    review.add_note(
        STATE.store(db_url),
        org=settings.node_org,
        case_uuid=case,
        text=text,
        actor=settings.node_org,
    )
    out.print(f"note added to case {case}")


@case_app.command("purge-media")
@reports_errors
def purge_command(db_url: DbOption = None) -> None:
    """Delete content kept for review past its retention (`tessera serve` does this hourly)."""
    out.print(f"deleted {review.purge_expired_media(STATE.store(db_url))} preview(s)")


@policy_app.command("set")
@reports_errors
def policy_set(
    bank: Annotated[str, typer.Argument(help="The bank.")],
    mode: Annotated[MatchMode, typer.Argument(help="What a match in it does.")],
    rollout: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="auto_action: share of content acted on.")
    ] = 1.0,
    shadow: Annotated[
        bool, typer.Option("--shadow", help="auto_action: record what it would do, do nothing.")
    ] = False,
    action: Annotated[
        ActionKind, typer.Option("--action", help="auto_action: remove, restrict or preserve.")
    ] = ActionKind.REMOVE,
    db_url: DbOption = None,
) -> None:
    """Choose what a match in a bank does for this node's organisation."""
    store = STATE.store(db_url)
    org = STATE.settings(db_url).node_org
    found = store.get_bank(bank)
    stored = policies.set_policy(
        store.db,
        org=org,
        bank_uuid=found.uuid,
        bank_name=found.name,
        mode=mode,
        rollout=rollout,
        shadow=shadow,
        action=action,
        actor=org,
    )
    extra = (
        f" (rollout {stored.rollout:g}{', shadow' if stored.shadow else ''}, {stored.action})"
        if stored.mode is MatchMode.AUTO_ACTION
        else ""
    )
    out.print(f"{bank}: {stored.mode.value}{extra}")


@policy_app.command("list")
@reports_errors
def policy_list(db_url: DbOption = None) -> None:
    """The policies this node's organisation set (every other bank is on review)."""
    store = STATE.store(db_url)
    chosen = policies.list_policies(store.db, STATE.settings(db_url).node_org)
    names = {
        uuid: bank.name for uuid, bank in store.banks_by_uuid(p.bank_uuid for p in chosen).items()
    }
    table = Table(title_justify="left")
    for column in ("bank", "mode", "rollout", "shadow", "action", "set by", "when"):
        table.add_column(column)
    for p in chosen:
        table.add_row(
            names.get(p.bank_uuid, p.bank_uuid),
            p.mode.value,
            f"{p.rollout:g}",
            "yes" if p.shadow else "",
            p.action.value,
            p.updated_by,
            p.updated_at.isoformat(timespec="seconds") if p.updated_at else "",
        )
    out.print(table)
