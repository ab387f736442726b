"""Request and response bodies of the review API: content submission, cases and match policies."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from tessera.api.schemas import MatchOut, SignalIn, SignalOut, Strict
from tessera.review.records import Case, Policy

ContentRef = Field(
    min_length=1,
    max_length=2000,
    description="The organisation's own id of the content (a URL or storage key; never a person).",
)
DecisionName = Literal["violating", "not_violating", "escalate", "exempt"]
ExemptionName = Literal["documentation", "news_reporting", "counter_speech", "research"]
ModeName = Literal["review", "auto_action", "log_only", "allow_list"]
ActionName = Literal["remove", "restrict", "preserve"]


class SubmitSignalsIn(Strict):
    """Content hashed on the organisation's side: only its signals reach the node."""

    content_ref: str = ContentRef
    media_kind: Literal["image", "video", "audio", "file"] = "image"
    signals: list[SignalIn] = Field(min_length=1, max_length=50)


class CaseMatchOut(BaseModel):
    """A match recorded on a case."""

    bank: str
    bank_uuid: str
    entry: str
    signal_type: str
    distance: int
    threshold: int
    labels: list[str]
    policy: str
    created_at: datetime
    detail: dict[str, Any] | None = None


class CaseNoteOut(BaseModel):
    """A reviewer's note."""

    author: str
    text: str
    created_at: datetime


class CaseOut(BaseModel):
    """A case: one piece of the organisation's content under review."""

    uuid: str
    content_ref: str
    media_kind: str
    state: str
    source: str
    assignee: str | None
    deadline: datetime | None
    decision: str | None
    exemption: str | None
    decided_by: str | None
    decided_at: datetime | None
    withhold_feedback: bool
    automated_detection: bool
    automated_decision: bool
    created_at: datetime
    updated_at: datetime
    has_preview: bool
    signals: list[SignalOut]
    matches: list[CaseMatchOut]
    notes: list[CaseNoteOut]

    @classmethod
    def of(cls, case: Case) -> CaseOut:
        """From a case record."""
        return cls(
            uuid=case.uuid,
            content_ref=case.content_ref,
            media_kind=case.media_kind,
            state=case.state.value,
            source=case.source,
            assignee=case.assignee,
            deadline=case.deadline,
            decision=case.decision.value if case.decision else None,
            exemption=case.exemption.value if case.exemption else None,
            decided_by=case.decided_by,
            decided_at=case.decided_at,
            withhold_feedback=case.withhold_feedback,
            automated_detection=case.automated_detection,
            automated_decision=case.automated_decision,
            created_at=case.created_at,
            updated_at=case.updated_at,
            has_preview=case.has_media,
            signals=[SignalOut(type=s["type"], value=s["value"]) for s in case.signals],
            matches=[
                CaseMatchOut(
                    bank=m.bank_name,
                    bank_uuid=m.bank_uuid,
                    entry=m.entry_uuid,
                    signal_type=m.signal_type,
                    distance=m.distance,
                    threshold=m.threshold,
                    labels=list(m.labels),
                    policy=m.policy.value,
                    created_at=m.created_at,
                    detail=m.detail,
                )
                for m in case.matches
            ],
            notes=[
                CaseNoteOut(author=n.author, text=n.text, created_at=n.created_at)
                for n in case.notes
            ],
        )


class SubmittedOut(BaseModel):
    """What submitting content did: its matches, and the case and actions they led to."""

    content_ref: str
    media_kind: str
    signals: list[SignalOut]
    matches: list[MatchOut]
    case: CaseOut | None
    actions: list[str]
    suppressed: bool = Field(description="An allow-list bank matched: no case, no action.")
    logged: int = Field(description="Matches of log_only banks, written to the audit log only.")


class CasesOut(BaseModel):
    """A page of cases and the organisation's counts by state."""

    cases: list[CaseOut]
    counts: dict[str, int]


class DecisionIn(Strict):
    """A reviewer's decision on an open case."""

    decision: DecisionName
    exemption: ExemptionName | None = None
    note: str = Field(default="", max_length=10_000)
    withhold_feedback: bool = Field(
        default=False, description="Do not send the decision's opinion to the banks' owners."
    )
    action: Literal["remove", "restrict"] = Field(
        default="remove", description="What to do with violating content."
    )
    reviewer: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="The reviewer's handle within the organisation (default: the token's).",
    )


class DecidedOut(BaseModel):
    """The case after the decision, the actions queued and the feedback given."""

    case: CaseOut
    actions: list[str]
    feedback: list[dict[str, str]]
    feedback_errors: list[str]


class AssignIn(Strict):
    """Assign a case to a reviewer (null: unassign)."""

    assignee: str | None = Field(default=None, min_length=1, max_length=200)


class NoteIn(Strict):
    """A note on a case."""

    text: str = Field(min_length=1, max_length=10_000)


class PolicyIn(Strict):
    """The caller's match policy for one bank."""

    mode: ModeName
    rollout: float = Field(default=1.0, ge=0.0, le=1.0)
    shadow: bool = False
    action: ActionName = "remove"


class PolicyOut(BaseModel):
    """A match policy."""

    bank: str
    bank_uuid: str
    mode: str
    rollout: float
    shadow: bool
    action: str
    updated_by: str
    updated_at: datetime | None

    @classmethod
    def of(cls, bank: str, policy: Policy) -> PolicyOut:
        """From a policy record and its bank's name."""
        return cls(
            bank=bank,
            bank_uuid=policy.bank_uuid,
            mode=policy.mode.value,
            rollout=policy.rollout,
            shadow=policy.shadow,
            action=policy.action.value,
            updated_by=policy.updated_by,
            updated_at=policy.updated_at,
        )
