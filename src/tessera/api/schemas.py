"""Request and response bodies of the HTTP API (pydantic models; they make the OpenAPI schema)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tessera.services.access import Principal, may_see_all_opinions
from tessera.signals.base import Signal
from tessera.signals.registry import get_signal_type
from tessera.store.records import Bank, Entry, Opinion, Org, TokenInfo

Name = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
Text = Field(default="", max_length=4000)
Labels: list[str] = Field(default_factory=list, max_length=100)
Distribution = Field(default="owner", min_length=1, max_length=210)
LabelStr = Annotated[str, Field(min_length=1, max_length=200)]


class Strict(BaseModel):
    """Request bodies refuse unknown fields."""

    model_config = ConfigDict(extra="forbid")


class SignalIn(Strict):
    """A signal given by value."""

    type: str = Field(min_length=1, max_length=50, examples=["pdq"])
    value: str = Field(min_length=1, max_length=4_000_000)
    quality: int | None = Field(default=None, ge=0, le=100)

    def validated(self) -> Signal:
        """The signal, normalised by its type (InvalidSignal / UnknownSignalType otherwise)."""
        signal_type = get_signal_type(self.type)
        return Signal(signal_type.name, signal_type.validate(self.value), self.quality)


class SignalOut(BaseModel):
    """A signal as the API shows it."""

    type: str
    value: str
    quality: int | None = None

    @classmethod
    def of(cls, s: Signal) -> SignalOut:
        """From a signal."""
        return cls(type=s.type, value=s.value, quality=s.quality)


class HashOut(BaseModel):
    """The signals of one uploaded or fetched file."""

    name: str
    media_kind: str
    signals: list[SignalOut]
    url: str | None = None


class HashUrlIn(Strict):
    """A URL whose content the node fetches and hashes (off unless fetch_urls_enabled)."""

    url: str = Field(min_length=1, max_length=2000)


class MatchOut(BaseModel):
    """One match: a bank entry within threshold of a query signal."""

    bank: str
    entry: str
    signal_type: str
    distance: int
    threshold: int
    query: str
    matched: str
    labels: list[str]
    entry_status: str
    created_by: str
    transform: str | None = None
    detail: dict[str, Any] | None = None


class MatchesOut(BaseModel):
    """The matches of one piece of content or one signal."""

    matches: list[MatchOut]
    name: str | None = None
    signal: SignalOut | None = None


class MatchSignalsIn(Strict):
    """A batch of signals to match, optionally only against some banks."""

    signals: list[SignalIn] = Field(min_length=1)
    banks: list[str] | None = Field(default=None, max_length=100)


class BatchMatchOut(BaseModel):
    """One result per signal, in the order given."""

    results: list[MatchesOut]


class BankIn(Strict):
    """A bank to create."""

    name: str = Name
    description: str = Text
    labels: list[LabelStr] = Labels
    inclusion_criterion: str = Text
    distribution: str = Distribution
    thresholds: dict[str, int] = Field(default_factory=dict, max_length=20)


class BankPatch(Strict):
    """Bank settings to change (fields left out stay as they are)."""

    description: str | None = Field(default=None, max_length=4000)
    labels: list[LabelStr] | None = Field(default=None, max_length=100)
    inclusion_criterion: str | None = Field(default=None, max_length=4000)
    distribution: str | None = Field(default=None, min_length=1, max_length=210)
    thresholds: dict[str, int] | None = Field(default=None, max_length=20)
    enabled: bool | None = None


class BankOut(BaseModel):
    """A bank with its settings and entry counts by status."""

    uuid: str
    name: str
    description: str
    owner_org: str
    labels: list[str]
    inclusion_criterion: str
    distribution: str
    thresholds: dict[str, int]
    enabled: bool
    origin_node: str
    created_at: datetime
    updated_at: datetime
    counts: dict[str, int] | None = None

    @classmethod
    def of(cls, bank: Bank, counts: dict[str, int] | None = None) -> BankOut:
        """From a stored bank."""
        return cls(
            **{k: v for k, v in bank.snapshot().items() if k != "labels"},
            labels=list(bank.labels),
            created_at=bank.created_at,
            updated_at=bank.updated_at,
            counts=counts,
        )


class EntryIn(Strict):
    """An entry to add from signals, with its labels and provenance."""

    signals: list[SignalIn] = Field(min_length=1)
    labels: list[LabelStr] = Labels
    inclusion_criterion: str = Text
    source: str = Text
    note: str = Text


class EntryPatch(Strict):
    """Entry fields to change (fields left out stay as they are)."""

    labels: list[LabelStr] | None = Field(default=None, max_length=100)
    inclusion_criterion: str | None = Field(default=None, max_length=4000)
    note: str | None = Field(default=None, max_length=4000)


class OpinionIn(Strict):
    """An organisation's verdict on an entry; a dispute needs a reason."""

    verdict: Literal["confirmed", "false_positive", "disputed"]
    reason: str = Text


class OpinionOut(BaseModel):
    """One organisation's verdict on an entry."""

    entry: str
    org: str
    verdict: str
    reason: str
    origin_node: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, o: Opinion) -> OpinionOut:
        """From a stored opinion."""
        return cls.model_validate(o.snapshot())


class EntryOut(BaseModel):
    """An entry with its signals, provenance, rolled-up status and opinions."""

    uuid: str
    bank: str
    labels: list[str]
    inclusion_criterion: str
    status: str
    created_by: str
    created_at: datetime
    updated_at: datetime
    source: str
    note: str
    origin_node: str
    origin_org: str
    origin_uuid: str
    signals: list[SignalOut]
    opinion_counts: dict[str, int]
    opinions: list[OpinionOut] | None = None

    @classmethod
    def of(cls, e: Entry, opinions: list[Opinion] | None = None) -> EntryOut:
        """From a stored entry (and the opinions the caller may see)."""
        return cls(
            uuid=e.uuid,
            bank=e.bank_name,
            labels=list(e.labels),
            inclusion_criterion=e.inclusion_criterion,
            status=e.status.value,
            created_by=e.created_by,
            created_at=e.created_at,
            updated_at=e.updated_at,
            source=e.source,
            note=e.note,
            origin_node=e.origin_node,
            origin_org=e.origin_org,
            origin_uuid=e.origin_uuid,
            signals=[SignalOut.of(s.as_signal()) for s in e.signals],
            opinion_counts=dict(e.opinions),
            opinions=[OpinionOut.of(o) for o in opinions] if opinions is not None else None,
        )


class AddedOut(BaseModel):
    """What adding entries did."""

    added: list[EntryOut]
    already_present: list[str]


class EntriesOut(BaseModel):
    """A page of entries; pass ``next_after`` as ``after`` for the next page."""

    entries: list[EntryOut]
    next_after: int | None


class OrgIn(Strict):
    """An organisation to admit."""

    name: str = Name
    tier: Literal["coordinator", "member", "observer", "partner"]


class OrgOut(BaseModel):
    """An organisation and its tier."""

    name: str
    tier: str
    created_at: datetime
    groups: list[str] | None = None

    @classmethod
    def of(cls, org: Org, groups: list[str] | None = None) -> OrgOut:
        """From a stored organisation."""
        return cls(name=org.name, tier=org.tier.value, created_at=org.created_at, groups=groups)


class TokenIn(Strict):
    """A token to issue for an organisation."""

    scopes: list[Literal["match", "contribute", "review", "sync", "admin"]] = Field(
        min_length=1, max_length=5
    )
    note: str = Field(default="", max_length=200)


class TokenOut(BaseModel):
    """A token's public details; ``token`` (the secret) only in the answer that issued it."""

    prefix: str
    org: str
    scopes: list[str]
    note: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None
    token: str | None = None

    @classmethod
    def of(cls, t: TokenInfo, secret: str | None = None) -> TokenOut:
        """From a stored token."""
        return cls(
            prefix=t.prefix,
            org=t.org,
            scopes=[s.value for s in t.scopes],
            note=t.note,
            created_at=t.created_at,
            revoked_at=t.revoked_at,
            last_used_at=t.last_used_at,
            token=secret,
        )


class GroupIn(Strict):
    """A sharing group to create."""

    name: str = Name


class GroupOut(BaseModel):
    """A sharing group and its members."""

    name: str
    members: list[str]


class MeOut(BaseModel):
    """Who the token belongs to."""

    org: str
    tier: str
    scopes: list[str]
    groups: list[str]
    node: str


def opinions_visible(who: Principal, bank: Bank, opinions: list[Opinion]) -> list[Opinion]:
    """The opinions ``who`` may see: all for the owner and coordinators, else its own."""
    if may_see_all_opinions(who, bank):
        return opinions
    return [o for o in opinions if o.org == who.org]
