"""`tessera scan` and `tessera retro-hunt`: back-scan what an organisation hosts, and hunt the
signals it kept when banks gain entries.

`tessera scan SOURCE` hashes and matches every file of a folder or manifest with a progress bar,
journalling each item, so the same command after a kill (or Ctrl-C) continues where it stopped;
matches go to review by the banks' policies; `--report FILE` writes the outcome as JSON Lines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from tessera.cli.context import STATE, DbOption, err, fail, out, reports_errors
from tessera.scan.checkpoint import ScanJournal
from tessera.scan.local import LocalBackend
from tessera.scan.report import summary_json, write_report
from tessera.scan.retention import forget_content, purge_kept
from tessera.scan.retro import RetroHunter
from tessera.scan.runner import Scanner
from tessera.scan.source import open_source
from tessera.scan.work import Backend

kept_app = typer.Typer(
    help="Signals kept of scanned content for retro-hunt: delete them early or past retention.",
    no_args_is_help=True,
)

SHOWN_ERRORS = 20
"""Per-item errors printed after a scan (all of them are in the report)."""


@reports_errors
def scan(
    source: Annotated[Path, typer.Argument(help="A folder, or a manifest (.jsonl or .csv).")],
    manifest: Annotated[
        bool,
        typer.Option(
            "--manifest",
            help='SOURCE is a JSONL manifest ({"path": ..., "content_id": ...} a line) '
            "whatever its name; a .csv needs a header naming path and content_id.",
        ),
    ] = False,
    org: Annotated[
        str | None,
        typer.Option(help="The organisation whose content this is (default: node_org)."),
    ] = None,
    ray: Annotated[
        str | None,
        typer.Option(
            "--ray",
            metavar="local|ADDRESS",
            help="Run on Ray: 'local' starts a Ray instance here; an ADDRESS joins a cluster.",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="Worker processes (Ray actors); default: one per core."),
    ] = None,
    batch_size: Annotated[
        int, typer.Option(min=1, max=10_000, help="Files per unit of work.")
    ] = 16,
    keep_signals: Annotated[
        bool,
        typer.Option(
            "--keep-signals",
            help="Keep the signals (never the media) of scanned content for retro-hunt.",
        ),
    ] = False,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume/--restart",
            help="Continue the unfinished scan of SOURCE (default), or start it afresh.",
        ),
    ] = True,
    report: Annotated[
        Path | None, typer.Option(help="Write the outcome as JSON Lines to this file.")
    ] = None,
    db_url: DbOption = None,
) -> None:
    """Hash and match every file of a folder or manifest; resumable; matches go to review."""
    if report is not None and not report.parent.is_dir():
        raise fail(f"cannot write the report {report}: no folder {report.parent}")
    settings = STATE.settings(db_url)
    store = STATE.store(db_url)
    org_name = org or settings.node_org
    scan_source = open_source(source, manifest or None)
    total = scan_source.count()
    backend: Backend
    if ray is not None:
        from tessera.scan.ray_backend import RayBackend

        backend = RayBackend(store, settings, org=org_name, address=ray, workers=workers)
    else:
        backend = LocalBackend(store, settings, org=org_name, workers=workers)
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    )
    try:
        with progress:
            task = progress.add_task("scanning", total=total)
            scanner = Scanner(
                store,
                settings,
                backend,
                org=org_name,
                batch_size=batch_size,
                keep_signals=keep_signals,
                on_progress=lambda n: progress.advance(task, n),
            )
            outcome = scanner.run(scan_source, restart=not resume)
    except KeyboardInterrupt:
        err.print("interrupted: run the same command again to continue where it stopped")
        raise
    finally:
        backend.close()
    journal = ScanJournal(store)
    summary = summary_json(journal, outcome)
    table = Table(title=f"scan {outcome.job.uuid}", title_justify="left", show_header=False)
    for key in ("source", "items", "scanned_now", "skipped_done_before", "failed", "matched"):
        table.add_row(key.replace("_", " "), str(summary[key]))
    table.add_row("cases opened now", str(outcome.cases_opened))
    out.print(table)
    shown = 0
    for item in journal.items(outcome.job, errors_only=True):
        if shown == SHOWN_ERRORS:
            err.print(f"... and {outcome.summary.failed - shown} more (see the report)")
            break
        err.print(f"[bold red]error:[/] {item.key}: {item.error}", markup=True)
        shown += 1
    if report is not None:
        try:
            write_report(journal, outcome, report)
        except OSError as e:
            raise fail(f"cannot write the report {report}: {e.strerror or e}") from None
        out.print(f"report: {report}")


@reports_errors
def retro_hunt(db_url: DbOption = None) -> None:
    """Match kept signals against bank entries added since the last hunt (one pass, now)."""
    settings = STATE.settings(db_url)
    hunter = RetroHunter(STATE.store(db_url), settings)
    done = hunter.run_once()
    out.print(
        f"retro-hunt: {done.changes} change(s) read, {hunter.size()} kept signal(s) indexed "
        f"({done.new_kept} new), {done.routed} piece(s) of content routed, "
        f"{done.cases_opened} case(s) opened; at change {done.cursor}"
    )


@kept_app.command("purge")
@reports_errors
def kept_purge(db_url: DbOption = None) -> None:
    """Delete kept signals older than `kept_signal_days` (`tessera serve` does this hourly)."""
    deleted = purge_kept(STATE.store(db_url), STATE.settings(db_url))
    out.print(f"deleted {deleted} kept signal(s)")


@kept_app.command("forget")
@reports_errors
def kept_forget(
    content_ref: Annotated[str, typer.Argument(help="The content id the scan kept it under.")],
    org: Annotated[
        str | None, typer.Option(help="The organisation that kept it (default: node_org).")
    ] = None,
    db_url: DbOption = None,
) -> None:
    """Delete the signals kept of one piece of content (it was taken down or deleted)."""
    settings = STATE.settings(db_url)
    owner = org or settings.node_org
    deleted = forget_content(
        STATE.store(db_url), org=owner, content_ref=content_ref, actor=settings.node_org
    )
    out.print(f"deleted {deleted} kept signal(s) of {content_ref!r}")
