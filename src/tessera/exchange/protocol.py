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

Every part refuses unknown fields and wrong types: the puller reads a page with ``read_page``
before applying any of it (``services.sync``). A signal of a known type is also checked and
normalised by its signal type while the page is read; a signal of a type this node does not know
is kept as it came.

A page holds tens of thousands of entries, so its changes, entries and signals are typed dicts
(``ChangeWire``, ``EntryWire``, ``SignalWire``), which pydantic-core validates about 2.5 times
faster than it builds models of the same shape; banks and opinions, a few per page, are models.
``read_page`` fills in the fields a sender may leave out, so a reader indexes every key.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal, NotRequired

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, with_config
from typing_extensions import TypedDict  # pydantic reads typing.TypedDict only from Python 3.12

from tessera.errors import InputError, TesseraError
from tessera.signals.base import SignalType
from tessera.signals.registry import all_signal_types

Uuid = Annotated[str, Field(pattern=r"^[0-9a-fA-F-]{8,36}$", max_length=36)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Text = Annotated[str, Field(max_length=100_000)]
Label = Annotated[str, Field(max_length=200)]
Seq = Annotated[int, Field(ge=0, le=2**62)]


STRICT = ConfigDict(extra="forbid", strict=True)


class Wire(BaseModel):
    """Strict: unknown fields and wrong types are refused."""

    model_config = STRICT | ConfigDict(frozen=True)


@with_config(STRICT)
class SignalWire(TypedDict):
    """One signal of an entry."""

    type: Annotated[str, Field(min_length=1, max_length=64)]
    value: Annotated[str, Field(min_length=1, max_length=16 * 1024 * 1024)]
    quality: NotRequired[Annotated[int, Field(ge=0, le=100)] | None]


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


@with_config(STRICT)
class EntryWire(TypedDict):
    """An entry as it travels: its signals, labels, provenance, status and opinion counts."""

    uuid: Uuid
    labels: NotRequired[list[Label]]
    inclusion_criterion: NotRequired[Text]
    status: Literal["active", "disputed", "retired"]
    created_by: Name
    created_at: datetime
    updated_at: datetime
    source: NotRequired[Text]
    note: NotRequired[Text]
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


@with_config(STRICT)
class ChangeWire(TypedDict):
    """One change of the feed."""

    seq: Seq
    kind: ChangeKindWire
    bank_uuid: Uuid
    entry_uuid: NotRequired[Uuid | None]
    bank: NotRequired[BankWire | None]
    entry: NotRequired[EntryWire | None]
    opinion: NotRequired[OpinionWire | None]


@with_config(STRICT)
class ChangesPage(TypedDict):
    """One page of the change feed."""

    node: Annotated[Uuid, Field(description="The serving node's uuid.")]
    changes: list[ChangeWire]
    banks: NotRequired[
        Annotated[
            dict[Uuid, BankWire],
            Field(description="Current state of the banks the entry changes refer to."),
        ]
    ]
    next_after: Annotated[Seq, Field(description="Pass as `after` for the next page.")]
    latest_seq: Annotated[Seq, Field(description="The newest change of the serving node's log.")]
    more: Annotated[bool, Field(description="Whether the log may have changes after `next_after`.")]


_PAGE: TypeAdapter[ChangesPage] = TypeAdapter(ChangesPage)
_ENTRY_DEFAULTS: dict[str, Any] = {"inclusion_criterion": "", "source": "", "note": ""}


class WireError(InputError):
    """A page that parses but says something its signal types refuse (the message names where)."""


def read_page(
    body: bytes, signal_types: Mapping[str, type[SignalType]] | None = None
) -> ChangesPage:
    """A page read from its JSON and checked whole, the left-out fields filled in, every signal
    of a known type normalised (``pydantic.ValidationError`` for a wrong shape or type,
    ``WireError`` for a signal its type refuses)."""
    page = _PAGE.validate_json(body, strict=True)
    types = signal_types if signal_types is not None else all_signal_types()
    page.setdefault("banks", {})
    for n, change in enumerate(page["changes"]):
        for key in ("entry_uuid", "bank", "entry", "opinion"):
            change.setdefault(key, None)  # type: ignore[misc]
        entry = change["entry"]
        if entry is not None:
            complete_entry(entry, types, f"changes.{n}.entry")
    return page


def complete_entry(entry: EntryWire, types: Mapping[str, type[SignalType]], where: str) -> None:
    """Fill in an entry's left-out fields and normalise its signals, in place."""
    for key, value in _ENTRY_DEFAULTS.items():
        entry.setdefault(key, value)  # type: ignore[misc]
    entry.setdefault("labels", [])
    for m, signal in enumerate(entry["signals"]):
        signal.setdefault("quality", None)
        signal_type = types.get(signal["type"])
        if signal_type is None:
            continue
        try:
            signal["value"] = signal_type.validate(signal["value"])
        except InputError as e:
            raise WireError(f"{where}.signals.{m}: bad {signal['type']} signal: {e}") from None


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
