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
