"""The `tessera` command: hash media, keep banks, match content against them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from tessera import __version__
from tessera.cli import audit, bank, db, org, peer, report, review, scan, serve, token, webhook
from tessera.cli import orders as takedowns
from tessera.cli.context import STATE, DbOption, err, fail, out, reports_errors
from tessera.services.hashing import HashResult, expand_paths, hash_path, split_by_quality
from tessera.services.matching import Match, Matcher, Query, match_path, shown_value
from tessera.signals.registry import parse_signal

app = typer.Typer(
    name="tessera",
    help="Tessera: hash media, keep banks of known terrorist content, and match against them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
app.add_typer(audit.app, name="audit")
app.add_typer(bank.app, name="bank")
app.add_typer(db.app, name="db")
app.add_typer(org.app, name="org")
app.add_typer(peer.app, name="peer")
app.add_typer(token.app, name="token")
app.add_typer(review.case_app, name="case")
app.add_typer(review.policy_app, name="policy")
app.add_typer(report.app, name="report")
app.add_typer(takedowns.order_app, name="order")
app.add_typer(takedowns.complaint_app, name="complaint")
app.add_typer(takedowns.incident_app, name="incident")
app.add_typer(webhook.app, name="webhook")
app.add_typer(webhook.actions_app, name="actions")
app.command("submit")(review.submit_command)
app.command("scan")(scan.scan)
app.command("retro-hunt")(scan.retro_hunt)
app.add_typer(scan.kept_app, name="kept")
app.command("serve")(serve.serve)
app.command("sync")(peer.sync)


def _version(value: bool) -> None:
    if value:
        out.print(f"tessera {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    db_url: DbOption = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Tessera: hash media, keep banks of known terrorist content, and match against them."""
    del version
    STATE.reset(db_url)


def progress_bar(total: int) -> Progress:
    """A progress bar on stderr (hidden when there is a single file)."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=total <= 1,
    )


def report_failure(result: HashResult) -> None:
    """One clear line naming the file and the reason."""
    err.print(f"[bold red]error:[/] {result.path}: {result.error}", markup=True)


def warn_weak(result: HashResult, min_quality: int) -> None:
    """Say which of a file's signals are too weak to use (below min_quality)."""
    for s in split_by_quality(result.signals, min_quality)[1]:
        err.print(
            f"note: {result.path}: {s.type} quality {s.quality} is below min_quality "
            f"{min_quality}; not used",
            markup=False,
        )


@app.command("hash")
@reports_errors
def hash_command(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (folders recurse).")],
) -> None:
    """Hash files: one JSON object per file on stdout (path, media kind, signals or error)."""
    limits = STATE.settings().media_limits()
    files = list(expand_paths(paths))
    failed = 0
    with progress_bar(len(files)) as progress:
        task = progress.add_task("hashing", total=len(files))
        for path in files:
            result = hash_path(path, limits)
            out.print(json.dumps(result.as_json()), markup=False, highlight=False)
            if not result.ok:
                failed += 1
                report_failure(result)
            progress.advance(task)
    if failed:
        raise fail(f"{failed} of {len(files)} file(s) could not be hashed")


def _print_matches(label: str, matches: list[Match]) -> None:
    if not matches:
        out.print(f"{label}: [dim]no match[/]")
        return
    table = Table(title=f"{label}: {len(matches)} match(es)", title_justify="left")
    for column in ("bank", "entry", "signal", "distance", "labels", "transform"):
        table.add_column(column)
    for m in matches:
        table.add_row(
            m.bank,
            m.entry_uuid,
            m.signal_type,
            f"{m.distance} / {m.threshold}",
            ", ".join(m.labels),
            " ".join(filter(None, [m.transform, _audio_offset(m), _video_segment(m), _demoted(m)])),
        )
    out.print(table)


def _demoted(m: Match) -> str:
    """``demoted by pdq_orb`` when a verifying signal type contradicts the match; else ''."""
    evidence = (m.detail or {}).get("demoted_by")
    return f"demoted by {evidence['signal_type']}" if m.demoted and evidence else ""


def _audio_offset(m: Match) -> str:
    """Where an audio match sits in the reference, e.g. ``at 83.2 s (10.0 s)``; else ''."""
    detail = m.detail or {}
    if "offset_s" not in detail:
        return ""
    return f"at {detail['offset_s']:.1f} s ({detail.get('duration_s', 0):.1f} s)"


def _video_segment(m: Match) -> str:
    """The matched video segment, e.g. ``0.0-10.0 s of ref 5.0-15.0 s (100%/48%)``; else ''."""
    d = m.detail or {}
    if "reference_start_s" not in d:
        return ""
    return (
        f"{d['query_start_s']:.1f}-{d['query_end_s']:.1f} s of ref "
        f"{d['reference_start_s']:.1f}-{d['reference_end_s']:.1f} s "
        f"({d['query_match_pct']:.0f}%/{d['compared_match_pct']:.0f}%)"
    )


@app.command("match")
@reports_errors
def match_command(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Files or folders to match (folders recurse).")
    ] = None,
    signal: Annotated[
        list[str] | None,
        typer.Option("--signal", "-s", help="Match a signal given as TYPE:VALUE (repeatable)."),
    ] = None,
    bank_names: Annotated[
        list[str] | None, typer.Option("--bank", "-b", help="Only these banks (repeatable).")
    ] = None,
    dihedral: Annotated[
        bool, typer.Option("--dihedral", help="Also match images rotated or flipped (8 ways).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per item.")] = False,
    db_url: DbOption = None,
) -> None:
    """Match files or signals against the banks; each match names bank, entry, type, distance."""
    if not paths and not signal:
        raise fail("give files or folders to match, or --signal TYPE:VALUE", code=2)
    queries = [parse_signal(s) for s in signal or []]
    store = STATE.store(db_url)
    settings = STATE.settings(db_url)
    matcher = Matcher(store)
    matcher.load()
    banks = set(bank_names) if bank_names else None

    def emit(label: str, key: str, matches: list[Match]) -> None:
        if as_json:
            payload = {key: label, "matches": [m.as_json() for m in matches]}
            out.print(json.dumps(payload), markup=False, highlight=False)
        else:
            _print_matches(label, matches)

    for query in queries:
        label = f"{query.type}:{shown_value(query.value)}"
        emit(label, "signal", matcher.match([Query(query)], banks))
    files = list(expand_paths(paths or []))
    failed = 0
    with progress_bar(len(files)) as progress:
        task = progress.add_task("matching", total=len(files))
        for path in files:
            looked = match_path(
                matcher,
                path,
                settings.media_limits(),
                banks=banks,
                transformed=dihedral,
                min_quality=settings.min_quality,
            )
            result = looked.result
            progress.advance(task)
            if not result.ok:
                failed += 1
                report_failure(result)
                if as_json:
                    out.print(json.dumps(result.as_json()), markup=False, highlight=False)
                continue
            warn_weak(result, settings.min_quality)
            emit(str(path), "path", looked.matches)
    if failed:
        raise fail(f"{failed} of {len(files)} file(s) could not be hashed")


@app.command("demo")
@reports_errors
def demo_command(
    workdir: Annotated[
        Path, typer.Option(help="Folder for the demo's images and database.")
    ] = Path("demo"),
) -> None:
    """A guided tour: create a bank, add images, match edited copies, print the matches."""
    from tessera.cli.demo import run_demo

    run_demo(workdir)
