"""Hypothesis strategies and builders for bank entries, shared by the format tests."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta, timezone
from itertools import count

from hypothesis import strategies as st

from tessera.exchange.formats import BankFormat
from tessera.store.records import Entry, EntryStatus, NewEntry, StoredSignal

HEX_LENGTH = {"md5": 32, "sha256": 64, "pdq": 64}
MD5 = "d41d8cd98f00b204e9800998ecf8427e"
SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6339c4e9c9b22"
_ids = count(1)

# Any text the store can hold: no NUL (PostgreSQL refuses it), no lone surrogates (not UTF-8).
text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"))
labels = st.lists(text.filter(lambda s: bool(s.strip())), max_size=4).map(tuple)
offsets = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))
times = st.datetimes(timezones=offsets)


@st.composite
def signals(draw: st.DrawFn) -> StoredSignal:
    """A normalised md5, sha256 or pdq signal, with or without a quality."""
    signal_type = draw(st.sampled_from(sorted(HEX_LENGTH)))
    digits = HEX_LENGTH[signal_type]
    value = draw(st.text("0123456789abcdef", min_size=digits, max_size=digits))
    quality = draw(st.none() | st.integers(0, 100))
    return StoredSignal(next(_ids), signal_type, value, quality)


@st.composite
def entries(draw: st.DrawFn) -> Entry:
    """An entry as the store returns it, with arbitrary text in every free-text field."""
    return Entry(
        id=next(_ids),
        uuid=str(draw(st.uuids())),
        bank_name="bank",
        labels=draw(labels),
        inclusion_criterion=draw(text),
        status=draw(st.sampled_from(EntryStatus)),
        created_by=draw(text.filter(bool).map(lambda s: s[:200])),
        created_at=draw(times),
        updated_at=datetime.now(UTC),
        source=draw(text),
        note=draw(text),
        signals=tuple(draw(st.lists(signals(), min_size=1, max_size=3))),
    )


def entry(
    *signals: tuple[str, str],
    labels: tuple[str, ...] = (),
    status: EntryStatus = EntryStatus.ACTIVE,
    note: str = "",
    bank_name: str = "bank",
) -> Entry:
    """A hand-made entry holding the given (type, value) signals."""
    return Entry(
        id=next(_ids),
        uuid=f"00000000-0000-4000-8000-{next(_ids):012d}",
        bank_name=bank_name,
        labels=labels,
        inclusion_criterion="",
        status=status,
        created_by="org-a",
        created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        updated_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        source="",
        note=note,
        signals=tuple(StoredSignal(next(_ids), t, v, None) for t, v in signals),
    )


def as_new(e: Entry) -> NewEntry:
    """What importing ``e`` from a lossless file must give back."""
    return NewEntry(
        signals=tuple(s.as_signal() for s in e.signals),
        labels=e.labels,
        inclusion_criterion=e.inclusion_criterion,
        source=e.source,
        note=e.note,
        uuid=e.uuid,
        created_by=e.created_by,
        created_at=e.created_at,
        status=e.status,
    )


def round_trip(fmt: BankFormat, items: list[Entry]) -> tuple[int, str, list[NewEntry]]:
    """Write ``items`` as a file would hold them, read that back: (count, text, entries)."""
    out = io.StringIO(newline="")
    n = fmt.write(items, out)
    written = out.getvalue()
    return n, written, list(fmt.read(io.StringIO(written, newline="")))


def read_text(fmt: BankFormat, text_: str) -> list[NewEntry]:
    """Every entry ``fmt`` reads from ``text_``."""
    return list(fmt.read(io.StringIO(text_, newline="")))


def signal_pairs(items: list[NewEntry]) -> list[tuple[str, str]]:
    """The (type, value) of every signal of ``items``, in order."""
    return [(s.type, s.value) for e in items for s in e.signals]
