"""The sync protocol's wire format: one page of the change feed, and opinions carried back.

A page (``GET /v1/changes?after=SEQ&limit=N``) is the serving node's change log after ``SEQ``,
filtered to what the caller's organisation may see, with full payloads:

- ``bank_created`` / ``bank_updated`` carry the bank; ``bank_granted`` says the caller just gained
  access to a bank (its distribution widened): the puller replays that bank's history up to this
  change (``?bank=UUID&until=SEQ``), because the changes before it were hidden from it;
- ``bank_deleted`` and ``bank_revoked`` (the distribution narrowed so the caller lost access) are
  tombstones: the puller drops its copy;
- ``entry_added`` / ``entry_updated`` carry the entry (signals, labels, criterion, provenance,
  status, rolled-up opinion counts); a retired entry is an update with status ``retired``;
  ``entry_removed`` is a tombstone;
- ``opinion_set`` carries one organisation's opinion (only to callers that may see it).

``banks`` holds the current state of every bank the page's entry changes refer to, so a puller can
create a mirror for entries of a bank it has not seen yet. ``next_after`` is the cursor for the
next page (past changes the caller may not see, too); ``more`` is false at the end of the log.

Every model refuses unknown fields and wrong types: the puller validates a page before applying
any of it (``services.sync``). A signal of a known type is also checked and normalised by its
signal type while the page is read (pass the types as ``context={"signal_types": ...}`` to read
many pages without looking them up per signal); a signal of a type this node does not know is
kept as it came.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from tessera.errors import InputError, TesseraError
from tessera.signals.registry import all_signal_types

Uuid = Annotated[str, Field(pattern=r"^[0-9a-fA-F-]{8,36}$", max_length=36)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Text = Annotated[str, Field(max_length=100_000)]
Label = Annotated[str, Field(max_length=200)]
Seq = Annotated[int, Field(ge=0, le=2**62)]


class Wire(BaseModel):
    """Strict: unknown fields and wrong types are refused."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class SignalWire(Wire):
    """One signal of an entry."""

    type: Annotated[str, Field(min_length=1, max_length=64)]
    value: Annotated[str, Field(min_length=1, max_length=16 * 1024 * 1024)]
    quality: Annotated[int, Field(ge=0, le=100)] | None = None

    @model_validator(mode="after")
    def _normalise(self, info: ValidationInfo) -> SignalWire:
        context = info.context if isinstance(info.context, dict) else {}
        types = context.get("signal_types") or all_signal_types()
        signal_type = types.get(self.type)
        if signal_type is None:
            return self
        try:
            value = signal_type.validate(self.value)
        except InputError as e:
            raise ValueError(f"bad {self.type} signal: {e}") from None
        return self if value == self.value else self.model_copy(update={"value": value})


class BankWire(Wire):
    """A bank as it travels."""

    uuid: Uuid
    name: Name
    description: Text = ""
    owner_org: Name
    labels: list[Label] = []
    inclusion_criterion: Text = ""
    distribution: Name
    thresholds: dict[Annotated[str, Field(max_length=64)], Annotated[int, Field(ge=0, le=2**20)]]
    enabled: bool
    origin_node: Uuid


class EntryWire(Wire):
    """An entry as it travels: its signals, labels, provenance, status and opinion counts."""

    uuid: Uuid
    labels: list[Label] = []
    inclusion_criterion: Text = ""
    status: Literal["active", "disputed", "retired"]
    created_by: Name
    created_at: datetime
    updated_at: datetime
    source: Text = ""
    note: Text = ""
    signals: Annotated[list[SignalWire], Field(max_length=10_000)]
    origin_node: Uuid
    origin_org: Name
    origin_uuid: Uuid
    opinions: dict[Literal["confirmed", "false_positive", "disputed"], Annotated[int, Field(ge=0)]]


class OpinionWire(Wire):
    """One organisation's current opinion of an entry."""

    entry: Uuid
    org: Name
    verdict: Literal["confirmed", "false_positive", "disputed"]
    reason: Annotated[str, Field(max_length=4000)] = ""
    origin_node: Uuid
    created_at: datetime
    updated_at: datetime


ChangeKindWire = Literal[
    "bank_created",
    "bank_updated",
    "bank_granted",
    "bank_deleted",
    "bank_revoked",
    "entry_added",
    "entry_updated",
    "entry_removed",
    "opinion_set",
]


class ChangeWire(Wire):
    """One change of the feed."""

    seq: Seq
    kind: ChangeKindWire
    bank_uuid: Uuid
    entry_uuid: Uuid | None = None
    bank: BankWire | None = None
    entry: EntryWire | None = None
    opinion: OpinionWire | None = None


class ChangesPage(Wire):
    """One page of the change feed."""

    node: Uuid = Field(description="The serving node's uuid.")
    changes: list[ChangeWire]
    banks: dict[Uuid, BankWire] = Field(
        default_factory=dict, description="Current state of the banks the entry changes refer to."
    )
    next_after: Seq = Field(description="Pass as `after` for the next page.")
    latest_seq: Seq = Field(description="The newest change of the serving node's log.")
    more: bool = Field(description="Whether the log may have changes after `next_after`.")


class OpinionPush(Wire):
    """An opinion given on another node, carried to the node that owns the entry."""

    entry: Uuid
    org: Name
    verdict: Literal["confirmed", "false_positive", "disputed"]
    reason: Annotated[str, Field(max_length=4000)] = ""
    origin_node: Uuid


class OpinionsPush(Wire):
    """A batch of opinions carried back (``POST /v1/opinions``)."""

    opinions: Annotated[list[OpinionPush], Field(max_length=1000)]


class OpinionsPushed(Wire):
    """What a batch of carried opinions did."""

    applied: int
    unchanged: int


class PeerError(TesseraError):
    """A peer answered with something this node cannot use (bad JSON, wrong types, too big, too
    slow, inconsistent); nothing of that answer is applied and the message says what was wrong."""
