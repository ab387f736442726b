"""Plain records the store returns and takes; services never see SQL rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from tessera.signals.base import Signal


class EntryStatus(StrEnum):
    """An entry's state; only active and disputed entries match."""

    ACTIVE = "active"
    DISPUTED = "disputed"
    RETIRED = "retired"


class ChangeKind(StrEnum):
    """What a change-log record says happened; the values are storage keys."""

    BANK_CREATED = "bank_created"
    BANK_UPDATED = "bank_updated"
    BANK_DELETED = "bank_deleted"
    ENTRY_ADDED = "entry_added"
    ENTRY_UPDATED = "entry_updated"
    ENTRY_REMOVED = "entry_removed"
    OPINION_SET = "opinion_set"


class Tier(StrEnum):
    """An organisation's tier: what it may do in the exchange (see services.access)."""

    COORDINATOR = "coordinator"
    MEMBER = "member"
    OBSERVER = "observer"
    PARTNER = "partner"


class Scope(StrEnum):
    """What a token may be used for; an organisation's tier caps the scopes of its tokens."""

    MATCH = "match"
    CONTRIBUTE = "contribute"
    REVIEW = "review"
    SYNC = "sync"
    ADMIN = "admin"


class Verdict(StrEnum):
    """An organisation's opinion of an entry."""

    CONFIRMED = "confirmed"
    FALSE_POSITIVE = "false_positive"
    DISPUTED = "disputed"


@dataclass(frozen=True, slots=True)
class Bank:
    """A named collection of entries owned by one organisation."""

    id: int
    uuid: str
    name: str
    description: str
    owner_org: str
    labels: tuple[str, ...]
    inclusion_criterion: str
    distribution: str
    thresholds: dict[str, int]
    enabled: bool
    created_at: datetime
    updated_at: datetime
    origin_node: str = ""

    def threshold_for(self, signal_type: str, default: int) -> int:
        """This bank's match threshold for a signal type (its override, else the type's)."""
        return self.thresholds.get(signal_type, default)

    def snapshot(self) -> dict[str, Any]:
        """The bank as the change log and exports carry it."""
        return {
            "uuid": self.uuid,
            "name": self.name,
            "description": self.description,
            "owner_org": self.owner_org,
            "labels": list(self.labels),
            "inclusion_criterion": self.inclusion_criterion,
            "distribution": self.distribution,
            "thresholds": dict(self.thresholds),
            "enabled": self.enabled,
            "origin_node": self.origin_node,
        }


@dataclass(frozen=True, slots=True)
class StoredSignal:
    """A signal as stored: with its row id, which indexes use as the match id."""

    id: int
    type: str
    value: str
    quality: int | None

    def as_signal(self) -> Signal:
        """The signal without its storage id."""
        return Signal(self.type, self.value, self.quality)


@dataclass(frozen=True, slots=True)
class Entry:
    """One known item in a bank, with its provenance."""

    id: int
    uuid: str
    bank_name: str
    labels: tuple[str, ...]
    inclusion_criterion: str
    status: EntryStatus
    created_by: str
    created_at: datetime
    updated_at: datetime
    source: str
    note: str
    signals: tuple[StoredSignal, ...]
    origin_node: str = ""
    origin_org: str = ""
    origin_uuid: str = ""
    opinions: tuple[tuple[str, int], ...] = ()  # (verdict, how many current opinions), sorted

    def feed_snapshot(self) -> dict[str, Any]:
        """The entry as the change log carries it: the snapshot, provenance and opinion counts."""
        return self.snapshot() | {
            "origin_node": self.origin_node,
            "origin_org": self.origin_org,
            "origin_uuid": self.origin_uuid,
            "opinions": dict(self.opinions),
        }

    def snapshot(self) -> dict[str, Any]:
        """The entry as the change log and exports carry it."""
        return {
            "uuid": self.uuid,
            "bank": self.bank_name,
            "labels": list(self.labels),
            "inclusion_criterion": self.inclusion_criterion,
            "status": self.status.value,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "source": self.source,
            "note": self.note,
            "signals": [
                {"id": s.id, "type": s.type, "value": s.value, "quality": s.quality}
                for s in self.signals
            ],
        }


@dataclass(frozen=True, slots=True)
class NewEntry:
    """An entry to add. Provenance left as None is filled in by the store (now, this node)."""

    signals: tuple[Signal, ...]
    labels: tuple[str, ...] = ()
    inclusion_criterion: str = ""
    source: str = ""
    note: str = ""
    uuid: str | None = None
    created_by: str | None = None
    created_at: datetime | None = None
    status: EntryStatus = EntryStatus.ACTIVE
    origin_node: str | None = None
    origin_org: str | None = None
    origin_uuid: str | None = None


@dataclass(frozen=True, slots=True)
class Change:
    """One record of the change log."""

    seq: int
    created_at: datetime
    kind: ChangeKind
    bank_uuid: str
    entry_uuid: str | None
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SignalOwner:
    """Who holds a stored signal: the entry and bank, resolved for a match."""

    signal: StoredSignal
    entry_uuid: str
    entry_labels: tuple[str, ...]
    entry_status: EntryStatus
    created_by: str
    bank: Bank


@dataclass(frozen=True, slots=True)
class Org:
    """An organisation known to this node, with its tier."""

    id: int
    name: str
    tier: Tier
    created_at: datetime


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A token as stored: never its secret, only the public prefix that names it."""

    id: int
    org: str
    prefix: str
    scopes: tuple[Scope, ...]
    note: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


@dataclass(frozen=True, slots=True)
class Opinion:
    """One organisation's current verdict on an entry."""

    entry_uuid: str
    org: str
    verdict: Verdict
    reason: str
    origin_node: str
    created_at: datetime
    updated_at: datetime

    def snapshot(self) -> dict[str, Any]:
        """The opinion as the change log and the API carry it."""
        return {
            "entry": self.entry_uuid,
            "org": self.org,
            "verdict": self.verdict.value,
            "reason": self.reason,
            "origin_node": self.origin_node,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }
