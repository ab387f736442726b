"""Entries of a bank: list, show (with provenance and opinions), add by signals or by upload,
change labels, retire or delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, UploadFile, status

from tessera.api.deps import ContributeOrg, CurrentOrg, Node, NodeDep
from tessera.api.errors import ERROR_RESPONSES
from tessera.api.routes.banks import curated_bank
from tessera.api.schemas import (
    AddedOut,
    EntriesOut,
    EntryIn,
    EntryOut,
    EntryPatch,
    LabelStr,
    opinions_visible,
)
from tessera.api.uploads import hash_upload
from tessera.errors import InputError
from tessera.services.access import Principal
from tessera.services.hashing import split_by_quality
from tessera.store.records import EntryStatus, NewEntry
from tessera.store.repository import AddResult

router = APIRouter(prefix="/v1/banks/{bank}/entries", tags=["entries"], responses=ERROR_RESPONSES)


def entry_out(node: Node, who: Principal, bank: str, entry: str) -> EntryOut:
    """An entry the caller may see, with the opinions it may see."""
    found_bank = node.visible_bank(who, bank)
    found = node.store.get_entry(bank, entry)
    opinions = opinions_visible(who, found_bank, node.store.get_opinions(bank, found.uuid))
    return EntryOut.of(found, opinions)


def _added(result: AddResult) -> AddedOut:
    return AddedOut(
        added=[EntryOut.of(e) for e in result.added],
        already_present=[uuid for _, uuid in result.duplicates],
    )


@router.get("")
def list_entries(
    node: NodeDep,
    who: CurrentOrg,
    bank: str,
    after: Annotated[int, Query(ge=0, le=2**62, description="Cursor from next_after.")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    include_retired: bool = True,
) -> EntriesOut:
    """A page of a bank's entries, oldest first."""
    node.visible_bank(who, bank)
    page = node.store.entries_page(bank, after, limit, include_retired=include_retired)
    return EntriesOut(
        entries=[EntryOut.of(e) for e in page],
        next_after=page[-1].id if len(page) == limit else None,
    )


@router.post("", status_code=status.HTTP_201_CREATED)
def add_entry(node: NodeDep, who: ContributeOrg, bank: str, body: EntryIn) -> AddedOut:
    """Add one entry from its signals (skipped as already present when the bank holds it)."""
    curated_bank(node, who, bank)
    if len(body.signals) > node.settings.max_batch_signals:
        raise InputError(f"at most {node.settings.max_batch_signals} signals per entry")
    signals = [s.validated() for s in body.signals]
    usable, _weak = split_by_quality(signals, node.settings.min_quality)
    if not usable:
        raise InputError(f"every signal is below min_quality {node.settings.min_quality}")
    entry = NewEntry(
        signals=usable,
        labels=tuple(body.labels),
        inclusion_criterion=body.inclusion_criterion,
        source=body.source or "api",
        note=body.note,
        created_by=who.org,  # entries added through the API carry the calling organisation
    )
    return _added(node.store.add_entries(bank, [entry], actor=who.org))


@router.post("/upload", status_code=status.HTTP_201_CREATED)
def add_upload(
    node: NodeDep,
    who: ContributeOrg,
    bank: str,
    file: Annotated[UploadFile, File(description="The media to add.")],
    labels: Annotated[list[LabelStr] | None, Form(max_length=100)] = None,
    inclusion_criterion: Annotated[str, Form(max_length=4000)] = "",
    note: Annotated[str, Form(max_length=4000)] = "",
) -> AddedOut:
    """Hash an uploaded file and add it as one entry."""
    curated_bank(node, who, bank)
    result = hash_upload(file, node.settings)
    usable, _weak = split_by_quality(result.signals, node.settings.min_quality)
    if not usable:
        raise InputError(f"{result.path}: no signal of quality {node.settings.min_quality}+")
    entry = NewEntry(
        signals=usable,
        labels=tuple(labels or ()),
        inclusion_criterion=inclusion_criterion,
        source=f"upload:{result.path}"[:4000],
        note=note,
        created_by=who.org,
    )
    return _added(node.store.add_entries(bank, [entry], actor=who.org))


@router.get("/{entry}")
def show_entry(node: NodeDep, who: CurrentOrg, bank: str, entry: str) -> EntryOut:
    """One entry: signals, labels, provenance, rolled-up status, the opinions the caller sees."""
    return entry_out(node, who, bank, entry)


@router.patch("/{entry}")
def update_entry(
    node: NodeDep, who: ContributeOrg, bank: str, entry: str, body: EntryPatch
) -> EntryOut:
    """Change an entry's labels, inclusion criterion or note."""
    curated_bank(node, who, bank)
    fields = body.model_dump(exclude_none=True)
    if not fields:
        raise InputError("nothing to change")
    node.store.update_entry(bank, entry, actor=who.org, **fields)
    return entry_out(node, who, bank, entry)


@router.delete("/{entry}")
def remove_entry(
    node: NodeDep,
    who: ContributeOrg,
    bank: str,
    entry: str,
    purge: Annotated[bool, Query(description="Delete outright instead of retiring.")] = False,
) -> EntryOut:
    """Retire an entry (it stops matching; peers see it retired), or with ``purge`` delete it."""
    curated_bank(node, who, bank)
    if purge:
        return EntryOut.of(node.store.delete_entry(bank, entry, actor=who.org))
    node.store.set_entry_status(bank, entry, EntryStatus.RETIRED, actor=who.org)
    return entry_out(node, who, bank, entry)
