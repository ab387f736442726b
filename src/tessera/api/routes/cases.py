"""Review over HTTP: submit content, work the case queue, decide, and set match policies.

1. ``POST /v1/content`` (an upload) or ``POST /v1/content/signals`` (signals hashed on the
   organisation's side, so the content never leaves it) matches the content against the banks
   the caller may see and routes the matches by the caller's policies: a case, an action, or
   nothing (allow-list, log_only);
2. ``/v1/cases`` lists and shows the caller's own cases (another organisation's case is answered
   as absent), takes decisions, assignments and notes, and serves the kept preview;
3. ``/v1/policies`` sets what a match in each bank does for the caller.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import Response

from tessera.api.deps import Node, NodeDep, ReviewOrg
from tessera.api.errors import ERROR_RESPONSES
from tessera.api.schemas import MatchOut, SignalOut
from tessera.api.schemas_review import (
    AssignIn,
    CaseOut,
    CasesOut,
    DecidedOut,
    DecisionIn,
    NoteIn,
    PolicyIn,
    PolicyOut,
    SubmitSignalsIn,
    SubmittedOut,
)
from tessera.api.uploads import match_upload
from tessera.review import cases, policies
from tessera.review.preview import make_preview
from tessera.review.records import ActionKind, CaseState, Decision, Exemption, MatchMode
from tessera.services import matching, review
from tessera.services.access import Principal, may_give_opinion, may_see
from tessera.signals.base import Signal
from tessera.store.records import Bank

router = APIRouter(tags=["review"], responses=ERROR_RESPONSES)


def actor_of(who: Principal, reviewer: str | None = None) -> str:
    """Who acted, as the audit log records it: the reviewer's handle, else the token used."""
    return reviewer or (f"token:{who.token_prefix}" if who.token_prefix else who.org)


def _submit(
    node: Node,
    who: Principal,
    content_ref: str,
    media_kind: str,
    signals: Sequence[Signal],
    found: list[matching.Match],
    preview: tuple[str, bytes] | None,
) -> SubmittedOut:
    routed = review.route(
        node.store,
        node.settings,
        org=who.org,
        content_ref=content_ref,
        media_kind=media_kind,
        signals=signals,
        matches=found,
        preview=preview if found else None,
        actor=actor_of(who),
    )
    return SubmittedOut(
        content_ref=content_ref,
        media_kind=media_kind,
        signals=[SignalOut.of(s) for s in signals],
        matches=[MatchOut.model_validate(m.as_json()) for m in found],
        case=CaseOut.of(routed.case) if routed.case else None,
        actions=routed.actions,
        suppressed=routed.suppressed,
        logged=routed.logged,
    )


@router.post("/v1/content")
def submit_content(
    node: NodeDep,
    who: ReviewOrg,
    file: Annotated[UploadFile, File(description="The content to match and route.")],
    content_ref: Annotated[
        str, Form(min_length=1, max_length=2000, description="The organisation's id of it.")
    ],
    keep_preview: Annotated[
        bool, Form(description="Keep a preview for the reviewer (deleted after retention).")
    ] = True,
) -> SubmittedOut:
    """Hash uploaded content, match it, and route the matches by the caller's policies."""
    # A video is screened with a sparse hash, and hashed densely only when the screen flags it;
    # what a case records is always the dense hash.
    looked = match_upload(
        file, node.settings, node.matcher, visible=partial(may_see, who), keep_content=keep_preview
    )
    result = looked.result
    preview = make_preview(result.content, node.settings) if result.content is not None else None
    kind = result.media_kind.value if result.media_kind is not None else "file"
    return _submit(node, who, content_ref, kind, result.signals, looked.matches, preview)


@router.post("/v1/content/signals")
def submit_signals(node: NodeDep, who: ReviewOrg, body: SubmitSignalsIn) -> SubmittedOut:
    """Match content hashed on the caller's side and route the matches by its policies."""
    signals = [s.validated() for s in body.signals]
    queries = [matching.Query(s) for s in signals]
    found = node.matcher.match(queries, None, visible=partial(may_see, who))
    return _submit(node, who, body.content_ref, body.media_kind, signals, found, None)


StateFilter = Annotated[
    list[CaseState] | None, Query(max_length=5, description="Only cases in these states.")
]


@router.get("/v1/cases")
def list_cases(
    node: NodeDep,
    who: ReviewOrg,
    state: StateFilter = None,
    assignee: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    content_ref: Annotated[str | None, Query(min_length=1, max_length=2000)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> CasesOut:
    """The caller's cases, soonest deadline first; the queue is ``state=open&state=reopened``."""
    found = cases.list_cases(
        node.store.db,
        who.org,
        states=state,
        assignee=assignee,
        content_ref=content_ref,
        limit=limit,
        offset=offset,
    )
    return CasesOut(
        cases=[CaseOut.of(c) for c in found], counts=cases.counts(node.store.db, who.org)
    )


@router.get("/v1/cases/{case}")
def get_case(node: NodeDep, who: ReviewOrg, case: str) -> CaseOut:
    """One of the caller's cases, with its matches and notes."""
    return CaseOut.of(cases.get(node.store.db, who.org, case))


@router.post("/v1/cases/{case}/decision")
def decide(node: NodeDep, who: ReviewOrg, case: str, body: DecisionIn) -> DecidedOut:
    """Decide an open case: queue its action and send the opinion to the banks' owners."""

    def may_opine(bank: Bank) -> bool:
        return may_see(who, bank) and may_give_opinion(who, bank)

    done = review.decide(
        node.store,
        node.settings,
        org=who.org,
        case_uuid=case,
        decision=Decision(body.decision),
        exemption=Exemption(body.exemption) if body.exemption else None,
        note=body.note,
        withhold_feedback=body.withhold_feedback,
        action=ActionKind(body.action),
        actor=actor_of(who, body.reviewer),
        may_opine=may_opine,
    )
    return DecidedOut(
        case=CaseOut.of(done.case),
        actions=done.actions,
        feedback=[{"entry": e, "verdict": v} for e, v in done.feedback],
        feedback_errors=done.feedback_errors,
    )


@router.post("/v1/cases/{case}/assign")
def assign(node: NodeDep, who: ReviewOrg, case: str, body: AssignIn) -> CaseOut:
    """Assign a case to a reviewer of the organisation (or unassign it)."""
    found = review.assign(
        node.store, org=who.org, case_uuid=case, assignee=body.assignee, actor=actor_of(who)
    )
    return CaseOut.of(found)


@router.post("/v1/cases/{case}/notes")
def add_note(node: NodeDep, who: ReviewOrg, case: str, body: NoteIn) -> CaseOut:
    """Add a note to a case."""
    found = review.add_note(
        node.store, org=who.org, case_uuid=case, text=body.text, actor=actor_of(who)
    )
    return CaseOut.of(found)


@router.get(
    "/v1/cases/{case}/preview",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}, "description": "The kept preview."}},
)
def preview(node: NodeDep, who: ReviewOrg, case: str) -> Response:
    """The content kept for review (only the submitting organisation; gone after retention)."""
    mime, data = cases.get_media(node.store.db, who.org, case)
    return Response(
        data,
        media_type=mime,
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )


@router.get("/v1/policies")
def list_policies(node: NodeDep, who: ReviewOrg) -> list[PolicyOut]:
    """The match policies the caller set (every other bank it sees is on review)."""
    chosen = policies.list_policies(node.store.db, who.org)
    by_uuid = node.store.banks_by_uuid(p.bank_uuid for p in chosen)
    return [
        PolicyOut.of(by_uuid[p.bank_uuid].name, p)
        for p in chosen
        if p.bank_uuid in by_uuid and may_see(who, by_uuid[p.bank_uuid])
    ]


@router.get("/v1/policies/{bank}")
def get_policy(node: NodeDep, who: ReviewOrg, bank: str) -> PolicyOut:
    """The caller's policy for a bank it may see."""
    found = node.visible_bank(who, bank)
    return PolicyOut.of(found.name, policies.get_policy(node.store.db, who.org, found.uuid))


@router.put("/v1/policies/{bank}")
def set_policy(node: NodeDep, who: ReviewOrg, bank: str, body: PolicyIn) -> PolicyOut:
    """Choose what a match in this bank does for the caller's organisation."""
    found = node.visible_bank(who, bank)
    stored = policies.set_policy(
        node.store.db,
        org=who.org,
        bank_uuid=found.uuid,
        bank_name=found.name,
        mode=MatchMode(body.mode),
        rollout=body.rollout,
        shadow=body.shadow,
        action=ActionKind(body.action),
        actor=actor_of(who),
    )
    return PolicyOut.of(found.name, stored)
