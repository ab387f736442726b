"""`tessera peer ...` and `tessera sync`: the nodes this node pulls banks from.

``peer add NAME URL --token T`` stores the peer (the token is the one the peer issued to this
node's organisation, with the ``sync`` scope); ``sync [NAME]`` pulls from one peer or all of them
now, applies what arrives to read-only mirrors, and carries opinions back.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from tessera.cli.context import STATE, DbOption, err, fail, out, reports_errors
from tessera.exchange.protocol import PeerError
from tessera.services.sync import Syncer
from tessera.store.peers import PeerStore

app = typer.Typer(help="Peers: other nodes this node pulls banks from.", no_args_is_help=True)


@app.command("add")
@reports_errors
def add(
    name: Annotated[str, typer.Argument(help="A local name for the peer (letters, digits, _.-).")],
    url: Annotated[str, typer.Argument(help="The peer's base URL, e.g. https://hub.example.org.")],
    token: Annotated[
        str,
        typer.Option(
            "--token", envvar="TESSERA_PEER_TOKEN", help="A token the peer issued (scope sync)."
        ),
    ],
    db_url: DbOption = None,
) -> None:
    """Add a peer to pull from."""
    peer = PeerStore(STATE.store(db_url).db).add(name, url, token)
    out.print(f"added peer {peer.name} at {peer.url}; run `tessera sync {peer.name}` to pull now")


@app.command("list")
@reports_errors
def list_peers(db_url: DbOption = None) -> None:
    """Peers with their cursors, last sync and last error (never their tokens)."""
    table = Table(title_justify="left")
    for column in ("peer", "url", "cursor", "last sync", "last error"):
        table.add_column(column)
    for peer in PeerStore(STATE.store(db_url).db).list():
        when = peer.last_sync.isoformat(timespec="seconds") if peer.last_sync else "never"
        table.add_row(peer.name, peer.url, str(peer.cursor), when, peer.last_error or "")
    out.print(table)


@app.command("remove")
@reports_errors
def remove(
    name: Annotated[str, typer.Argument(help="The peer's name.")],
    db_url: DbOption = None,
) -> None:
    """Forget a peer (its mirrored banks stay, read-only)."""
    PeerStore(STATE.store(db_url).db).remove(name)
    out.print(f"removed peer {name}")


@reports_errors
def sync(
    name: Annotated[
        str | None, typer.Argument(help="Only this peer (default: every peer).")
    ] = None,
    db_url: DbOption = None,
) -> None:
    """Pull from peers now (banks they share with this node), and carry opinions back."""
    store = STATE.store(db_url)
    syncer = Syncer(store, STATE.settings(db_url))
    names = [name] if name else [p.name for p in PeerStore(store.db).list()]
    if not names:
        err.print("no peers; add one with `tessera peer add NAME URL --token T`")
        return
    failed = 0
    try:
        for peer in names:
            try:
                r = syncer.sync(peer)
            except PeerError as e:
                failed += 1
                err.print(f"[bold red]error:[/] {e}", markup=True, highlight=False)
                continue
            a = r.applied
            out.print(
                f"{peer}: {r.pages} page(s) to cursor {r.cursor}: {a.banks} bank change(s), "
                f"{a.entries} entr(y/ies), {a.removed} removed, {a.opinions} opinion(s); "
                f"{r.pushed} opinion(s) carried back"
            )
    finally:
        syncer.close()
    if failed:
        raise fail(f"{failed} of {len(names)} peer(s) failed to sync")
