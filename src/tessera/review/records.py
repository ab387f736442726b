"""Plain records and vocabularies of review; the values of the enums are storage keys."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class MatchMode(StrEnum):
    """What a match in a bank does, as the consuming organisation chose for that bank."""

    REVIEW = "review"
    AUTO_ACTION = "auto_action"
    LOG_ONLY = "log_only"
    ALLOW_LIST = "allow_list"


class CaseState(StrEnum):
    """Where a case is: open → decided → actioned; reopened by a complaint; restored."""

    OPEN = "open"
    DECIDED = "decided"
    ACTIONED = "actioned"
    REOPENED = "reopened"
    RESTORED = "restored"


class Decision(StrEnum):
    """A reviewer's decision on a case."""

    VIOLATING = "violating"
    NOT_VIOLATING = "not_violating"
    ESCALATE = "escalate"
    EXEMPT = "exempt"


class Exemption(StrEnum):
    """Why content that matched is kept up (TCO Art. 1(3)): its purpose, not its matter."""

    DOCUMENTATION = "documentation"
    NEWS_REPORTING = "news_reporting"
    COUNTER_SPEECH = "counter_speech"
    RESEARCH = "research"


class ActionKind(StrEnum):
    """What a webhook asks the organisation's platform to do with a piece of content."""

    REMOVE = "remove"
    RESTRICT = "restrict"
    RESTORE = "restore"
    PRESERVE = "preserve"


class ActionState(StrEnum):
    """A webhook delivery's state; ``shadow`` records what auto_action in shadow would have done."""

    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"
    SHADOW = "shadow"


class ComplaintState(StrEnum):
    """Where a complaint is."""

    OPEN = "open"
    UPHELD = "upheld"
    REJECTED = "rejected"


OPEN_STATES = (CaseState.OPEN, CaseState.REOPENED)
"""States in which a case waits for a reviewer (the review queue)."""


@dataclass(frozen=True, slots=True)
class Policy:
    """One organisation's match policy for one bank."""

    org: str
    bank_uuid: str
    mode: MatchMode
    rollout: float = 1.0
    shadow: bool = False
    action: ActionKind = ActionKind.REMOVE
    updated_by: str = ""
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class CaseMatch:
    """A match recorded on a case, with the bank and entry it points at."""

    bank_uuid: str
    bank_name: str
    entry_uuid: str
    signal_type: str
    distance: int
    threshold: int
    labels: tuple[str, ...]
    policy: MatchMode
    created_at: datetime
    detail: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class CaseNote:
    """A reviewer's note on a case."""

    author: str
    text: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Case:
    """One piece of an organisation's content under review."""

    id: int
    uuid: str
    org: str
    content_ref: str
    media_kind: str
    signals: tuple[dict[str, str], ...]
    state: CaseState
    source: str
    assignee: str | None
    deadline: datetime | None
    decision: Decision | None
    exemption: Exemption | None
    decided_by: str | None
    decided_at: datetime | None
    withhold_feedback: bool
    automated_detection: bool
    automated_decision: bool
    created_at: datetime
    updated_at: datetime
    matches: tuple[CaseMatch, ...] = field(default=())
    notes: tuple[CaseNote, ...] = field(default=())
    has_media: bool = False
