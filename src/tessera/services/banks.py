"""Bank use cases: create and configure banks, add media or signals, import and export files.

Every add is one store transaction: a failed or interrupted import leaves the bank as it was.
Media is hashed before the transaction opens, so a slow decode never holds the write lock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tessera.errors import FormatError, InputError, InvalidSetting
from tessera.exchange.formats import BankFormat, get_format, guess_format
from tessera.media.content import MediaLimits
from tessera.services.hashing import HashResult, hash_path, split_by_quality
from tessera.signals.base import Signal
from tessera.signals.registry import get_signal_type
from tessera.store.records import Bank, NewEntry
from tessera.store.repository import AddResult, Store

ProgressFn = Callable[[HashResult], None]


@dataclass(frozen=True, slots=True)
class Provenance:
    """Why and from where entries are added: stored with every entry."""

    labels: tuple[str, ...] = ()
    inclusion_criterion: str = ""
    source: str = ""
    note: str = ""


def parse_thresholds(items: Iterable[str]) -> dict[str, int]:
    """Parse ``TYPE=N`` threshold overrides, checking each against its signal type's range."""
    out: dict[str, int] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise InvalidSetting(f"threshold must be TYPE=N, got {item!r}")
        signal_type = get_signal_type(name)
        try:
            n = int(value)
        except ValueError:
            raise InvalidSetting(
                f"threshold for {signal_type.name} must be a whole number"
            ) from None
        if not 0 <= n <= signal_type.max_threshold:
            raise InvalidSetting(
                f"threshold for {signal_type.name} must be 0..{signal_type.max_threshold}, got {n}"
            )
        out[signal_type.name] = n
    return out


def create_bank(
    store: Store,
    name: str,
    *,
    description: str = "",
    labels: Sequence[str] = (),
    inclusion_criterion: str = "",
    thresholds: Sequence[str] = (),
) -> Bank:
    """Create a bank with optional per-signal-type threshold overrides (``pdq=24``)."""
    return store.create_bank(
        name,
        description=description,
        labels=labels,
        inclusion_criterion=inclusion_criterion,
        thresholds=parse_thresholds(thresholds),
    )


def add_files(
    store: Store,
    bank_name: str,
    paths: Iterable[Path],
    limits: MediaLimits,
    provenance: Provenance,
    progress: ProgressFn | None = None,
    min_quality: int = 0,
) -> tuple[AddResult, list[HashResult]]:
    """Hash files and add each as one entry; returns what was added and the files that failed.

    Files that fail to hash are reported and not added; the others are added in one transaction.
    Signals below ``min_quality`` are left out of the entry (its other signals still count).
    """
    store.get_bank(bank_name)  # fail fast, before hashing anything
    new: list[NewEntry] = []
    failed: list[HashResult] = []
    for path in paths:
        result = hash_path(path, limits)
        if progress is not None:
            progress(result)
        usable, _weak = split_by_quality(result.signals, min_quality)
        if not result.ok or not usable:
            failed.append(result)
            continue
        new.append(
            NewEntry(
                signals=usable,
                labels=provenance.labels,
                inclusion_criterion=provenance.inclusion_criterion,
                source=provenance.source or f"file:{path.name}",
                note=provenance.note,
            )
        )
    return store.add_entries(bank_name, new), failed


def add_signals(
    store: Store, bank_name: str, signals: Sequence[Signal], provenance: Provenance
) -> AddResult:
    """Add one entry holding the given (already validated) signals."""
    if not signals:
        raise InputError("give at least one signal")
    entry = NewEntry(
        signals=tuple(signals),
        labels=provenance.labels,
        inclusion_criterion=provenance.inclusion_criterion,
        source=provenance.source or "signal",
        note=provenance.note,
    )
    return store.add_entries(bank_name, [entry])


def _format_for(path: Path, name: str | None) -> BankFormat:
    return get_format(name) if name else guess_format(path)


def import_bank(
    store: Store, bank_name: str, path: Path, format_name: str | None = None
) -> AddResult:
    """Import a bank file into a bank, all or nothing."""
    fmt = _format_for(path, format_name)
    store.get_bank(bank_name)
    try:
        with path.open(encoding="utf-8", newline="") as stream:
            return store.add_entries(bank_name, fmt.read(stream))
    except UnicodeDecodeError as e:
        raise FormatError(f"{path}: not UTF-8 text ({e.reason})") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror or e}") from None


def export_bank(
    store: Store,
    bank_name: str,
    path: Path,
    format_name: str | None = None,
    *,
    include_retired: bool = False,
) -> int:
    """Write a bank's entries to a file; returns how many were written."""
    fmt = _format_for(path, format_name)
    store.get_bank(bank_name)
    tmp = path.with_name(path.name + ".part")
    try:
        with tmp.open("w", encoding="utf-8", newline="") as stream:
            n = fmt.write(store.iter_entries(bank_name, include_retired=include_retired), stream)
        tmp.replace(path)  # a reader never sees a half-written export
    except OSError as e:
        raise InputError(f"{path}: cannot write: {e.strerror or e}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return n
