"""`tessera bank ...`: create, inspect, fill, prune, import and export banks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from tessera.cli.context import STATE, DbOption, err, fail, out, reports_errors
from tessera.services import banks as bank_service
from tessera.services.hashing import HashResult, expand_paths
from tessera.signals.registry import parse_signal
from tessera.store.records import EntryStatus
from tessera.store.repository import AddResult

app = typer.Typer(help="Create, inspect, fill, import and export banks.", no_args_is_help=True)

Labels = Annotated[
    list[str] | None, typer.Option("--label", "-l", help="A label (repeatable), e.g. 'isis'.")
]
Criterion = Annotated[
    str, typer.Option("--criterion", help="The inclusion criterion the entries meet.")
]


def _report_add(result: AddResult, failed: list[HashResult] | None = None) -> None:
    for entry in result.added:
        kinds = ", ".join(sorted({s.type for s in entry.signals}))
        out.print(f"added {entry.uuid} ({kinds})")
    for new, existing in result.duplicates:
        what = new.source or "entry"
        out.print(f"already present: {what} is entry {existing}")
    for f in failed or []:
        err.print(f"[bold red]error:[/] {f.path}: {f.error or 'no signal applies'}", markup=True)
    out.print(
        f"{len(result.added)} added, {len(result.duplicates)} already present"
        + (f", {len(failed)} failed" if failed else "")
    )


@app.command("create")
@reports_errors
def create(
    name: str,
    description: Annotated[str, typer.Option(help="What the bank holds.")] = "",
    label: Labels = None,
    criterion: Criterion = "",
    threshold: Annotated[
        list[str] | None,
        typer.Option(help="Override a signal type's match threshold, e.g. pdq=24 (repeatable)."),
    ] = None,
    db_url: DbOption = None,
) -> None:
    """Create a bank."""
    bank = bank_service.create_bank(
        STATE.store(db_url),
        name,
        description=description,
        labels=label or [],
        inclusion_criterion=criterion,
        thresholds=threshold or [],
    )
    out.print(f"created bank {bank.name} ({bank.uuid})")


@app.command("list")
@reports_errors
def list_banks(db_url: DbOption = None) -> None:
    """List banks with their entry counts."""
    rows = STATE.store(db_url).list_banks()
    if not rows:
        out.print("no banks yet: create one with 'tessera bank create NAME'")
        return
    table = Table()
    for column in ("bank", "entries", "disputed", "retired", "labels", "owner", "enabled"):
        table.add_column(column)
    for bank, counts in rows:
        table.add_row(
            bank.name,
            str(counts.get("active", 0)),
            str(counts.get("disputed", 0)),
            str(counts.get("retired", 0)),
            ", ".join(bank.labels),
            bank.owner_org,
            "yes" if bank.enabled else "no",
        )
    out.print(table)


@app.command("show")
@reports_errors
def show(
    name: str,
    limit: Annotated[int, typer.Option(min=0, help="How many entries to list.")] = 20,
    db_url: DbOption = None,
) -> None:
    """Show a bank's settings and its first entries."""
    store = STATE.store(db_url)
    bank = store.get_bank(name)
    out.print(f"[bold]{bank.name}[/] ({bank.uuid})")
    out.print(f"  description: {bank.description}")
    out.print(f"  owner: {bank.owner_org}   distribution: {bank.distribution}")
    out.print(f"  labels: {', '.join(bank.labels)}")
    out.print(f"  inclusion criterion: {bank.inclusion_criterion}")
    thresholds = ", ".join(f"{k}={v}" for k, v in sorted(bank.thresholds.items()))
    out.print(f"  thresholds: {thresholds or 'signal type defaults'}")
    out.print(f"  created: {bank.created_at.isoformat(timespec='seconds')}")
    table = Table()
    for column in ("entry", "status", "signals", "labels", "created by", "created", "source"):
        table.add_column(column)
    total = 0
    for entry in store.iter_entries(name):
        total += 1
        if total > limit:
            continue
        table.add_row(
            entry.uuid,
            entry.status.value,
            ", ".join(sorted({s.type for s in entry.signals})),
            ", ".join(entry.labels),
            entry.created_by,
            entry.created_at.isoformat(timespec="seconds"),
            entry.source,
        )
    out.print(f"  entries: {total}")
    if total:
        out.print(table)
    if total > limit:
        out.print(f"  … and {total - limit} more")


@app.command("delete")
@reports_errors
def delete(
    name: str,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    db_url: DbOption = None,
) -> None:
    """Delete a bank and all its entries."""
    store = STATE.store(db_url)
    store.get_bank(name)
    if not yes and not typer.confirm(f"Delete bank {name!r} and all its entries?"):
        raise fail("not deleted")
    n = store.delete_bank(name)
    out.print(f"deleted bank {name} with {n} entries")


@app.command("add")
@reports_errors
def add(
    name: str,
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Media files or folders (folders recurse).")
    ] = None,
    signal: Annotated[
        list[str] | None,
        typer.Option("--signal", "-s", help="Add one entry from TYPE:VALUE (repeatable)."),
    ] = None,
    label: Labels = None,
    criterion: Criterion = "",
    note: Annotated[str, typer.Option(help="Why these entries are added.")] = "",
    source: Annotated[str, typer.Option(help="Where the content came from.")] = "",
    db_url: DbOption = None,
) -> None:
    """Add media files (one entry each) or signals (one entry) to a bank."""
    if not paths and not signal:
        raise fail("give media files or folders, or --signal TYPE:VALUE", code=2)
    store = STATE.store(db_url)
    provenance = bank_service.Provenance(tuple(label or ()), criterion, source, note)
    if signal:
        signals = [parse_signal(s) for s in signal]
        _report_add(bank_service.add_signals(store, name, signals, provenance))
    if paths:
        from tessera.cli.main import progress_bar, warn_weak

        min_quality = STATE.settings(db_url).min_quality
        files = list(expand_paths(paths))
        with progress_bar(len(files)) as progress:
            task = progress.add_task("hashing", total=len(files))

            def hashed(r: HashResult) -> None:
                progress.advance(task)
                warn_weak(r, min_quality)

            result, failed = bank_service.add_files(
                store,
                name,
                files,
                STATE.settings(db_url).media_limits(),
                provenance,
                progress=hashed,
                min_quality=min_quality,
            )
        _report_add(result, failed)
        if failed:
            raise typer.Exit(1)


@app.command("remove")
@reports_errors
def remove(
    name: str,
    entry: Annotated[str, typer.Argument(help="Entry uuid (or a unique prefix of 6+ chars).")],
    purge: Annotated[
        bool, typer.Option(help="Delete outright instead of retiring (keeps no history).")
    ] = False,
    db_url: DbOption = None,
) -> None:
    """Retire an entry so it no longer matches (or --purge to delete it)."""
    store = STATE.store(db_url)
    if purge:
        gone = store.delete_entry(name, entry)
        out.print(f"deleted entry {gone.uuid}")
    else:
        retired = store.set_entry_status(name, entry, EntryStatus.RETIRED)
        out.print(f"retired entry {retired.uuid}")


FormatOption = Annotated[
    str | None,
    typer.Option(
        "--format", "-f", help="jsonl, csv, pytx, pytx-csv or hma (default: from the extension)."
    ),
]


@app.command("import")
@reports_errors
def import_(
    name: str,
    file: Path,
    fmt: FormatOption = None,
    create: Annotated[bool, typer.Option(help="Create the bank if it does not exist.")] = False,
    db_url: DbOption = None,
) -> None:
    """Import a bank file (all or nothing)."""
    store = STATE.store(db_url)
    if create and name not in {b.name for b, _ in store.list_banks()}:
        bank_service.create_bank(store, name)
    result = bank_service.import_bank(store, name, file, fmt)
    out.print(f"{len(result.added)} added, {len(result.duplicates)} already present")


@app.command("export")
@reports_errors
def export(
    name: str,
    file: Path,
    fmt: FormatOption = None,
    include_retired: Annotated[
        bool, typer.Option(help="Also export retired entries (jsonl and csv keep status).")
    ] = False,
    db_url: DbOption = None,
) -> None:
    """Export a bank to a file."""
    n = bank_service.export_bank(
        STATE.store(db_url), name, file, fmt, include_retired=include_retired
    )
    out.print(f"exported {n} entries to {file}")
