"""Peers: other nodes this node pulls banks from, with their cursors; and the mirrors they fed.

A peer is a name, a base URL and the token this node presents there (the peer issued it; it is
kept for outgoing use only and never shown). ``cursor`` is the peer's change-log position applied
here: it moves only in the transaction that applies the changes up to it (``store.mirror``), so a
crash anywhere leaves it at the last applied page. ``push_cursor`` is this node's own change-log
position up to which opinions on the peer's banks were carried back to it.

``mirrors`` records which peer each mirrored bank came from (the bank itself is an ordinary bank
row, its uuid the origin's, its ``origin_node`` the node that owns it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from tessera.errors import Conflict, InputError, NotFound
from tessera.store import changelog
from tessera.store.db import Database, as_utc, utcnow
from tessera.store.orgs import check_name
from tessera.store.tables import metadata

peers = sa.Table(
    "peers",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("token", sa.Text, nullable=False),
    sa.Column("remote_node", sa.String(36), nullable=True),
    sa.Column("cursor", sa.BigInteger, nullable=False, default=0),
    sa.Column("push_cursor", sa.BigInteger, nullable=False, default=0),
    sa.Column("last_sync", sa.DateTime(timezone=True), nullable=True),
    sa.Column("last_error", sa.Text, nullable=False, default=""),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

mirrors = sa.Table(
    "mirrors",
    metadata,
    sa.Column("bank_uuid", sa.String(36), primary_key=True),
    sa.Column("peer", sa.String(200), nullable=False, index=True),
    sa.Column("origin_node", sa.String(36), nullable=False),
    sa.Column("remote_name", sa.String(200), nullable=False),
)

MAX_ERROR_CHARS = 2000


@dataclass(frozen=True, slots=True)
class Peer:
    """A node this node pulls from (its token is in ``token``; never print it)."""

    name: str
    url: str
    token: str
    remote_node: str | None
    cursor: int
    push_cursor: int
    last_sync: datetime | None
    last_error: str
    created_at: datetime


def _peer(r: Row[Any]) -> Peer:
    return Peer(
        name=r.name,
        url=r.url,
        token=r.token,
        remote_node=r.remote_node,
        cursor=int(r.cursor),
        push_cursor=int(r.push_cursor),
        last_sync=as_utc(r.last_sync) if r.last_sync is not None else None,
        last_error=r.last_error,
        created_at=as_utc(r.created_at),
    )


def check_url(url: str) -> str:
    """``url`` without a trailing slash if it is an http(s) base URL; InputError otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"a peer URL must be http:// or https:// with a host, got {url!r}")
    if parts.query or parts.fragment:
        raise InputError(f"a peer URL takes no query or fragment, got {url!r}")
    return url.rstrip("/")


def get_peer(conn: Connection, name: str) -> Peer:
    """The peer called ``name`` (inside a transaction); NotFound otherwise."""
    row = conn.execute(sa.select(peers).where(peers.c.name == name)).first()
    if row is None:
        raise NotFound(f"no peer named {name!r}")
    return _peer(row)


def set_cursor(conn: Connection, name: str, cursor: int, remote_node: str) -> None:
    """Move a peer's pull cursor inside the transaction that applied the changes up to it."""
    conn.execute(
        peers.update()
        .where(peers.c.name == name)
        .values(cursor=cursor, remote_node=remote_node, last_sync=utcnow(), last_error="")
    )


class PeerStore:
    """Peers over one database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, name: str, url: str, token: str) -> Peer:
        """Add a peer; Conflict when the name is taken."""
        check_name("peer", name)
        url = check_url(url)
        if not token.strip() or any(c.isspace() for c in token):
            raise InputError("a peer token must be non-empty, without spaces")
        with self.db.write() as conn:
            if conn.execute(sa.select(peers.c.id).where(peers.c.name == name)).first():
                raise Conflict(f"peer {name!r} already exists")
            conn.execute(
                peers.insert(),
                {
                    "name": name,
                    "url": url,
                    "token": token,
                    "cursor": 0,
                    # Opinions given before the peer was known are on no bank of its.
                    "push_cursor": changelog.latest_seq(conn),
                    "last_error": "",
                    "created_at": utcnow(),
                },
            )
            return get_peer(conn, name)

    def get(self, name: str) -> Peer:
        """The peer called ``name``; NotFound otherwise."""
        with self.db.read() as conn:
            return get_peer(conn, name)

    def list(self) -> list[Peer]:
        """Every peer, by name."""
        with self.db.read() as conn:
            return [_peer(r) for r in conn.execute(sa.select(peers).order_by(peers.c.name))]

    def remove(self, name: str) -> None:
        """Forget a peer (its mirrored banks stay, read-only, until deleted by hand)."""
        with self.db.write() as conn:
            get_peer(conn, name)
            conn.execute(peers.delete().where(peers.c.name == name))

    def record_error(self, name: str, message: str) -> None:
        """Record why the last sync with a peer failed (its cursor stays where it was)."""
        with self.db.write() as conn:
            conn.execute(
                peers.update()
                .where(peers.c.name == name)
                .values(last_error=message[:MAX_ERROR_CHARS], last_sync=utcnow())
            )

    def set_push_cursor(self, name: str, cursor: int) -> None:
        """Record that opinions up to this node's change ``cursor`` were carried to the peer."""
        with self.db.write() as conn:
            conn.execute(peers.update().where(peers.c.name == name).values(push_cursor=cursor))

    def mirrored_banks(self, name: str) -> set[str]:
        """Uuids of the banks mirrored from a peer."""
        with self.db.read() as conn:
            q = sa.select(mirrors.c.bank_uuid).where(mirrors.c.peer == name)
            return set(conn.execute(q).scalars())
