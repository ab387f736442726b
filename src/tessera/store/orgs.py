"""Organisations, their tokens and sharing groups, and this node's identity, in the store.

Organisations and tokens are this node's own business: they are not in the change log and never
travel to peers. A token is stored as its public lookup prefix and a hash of the whole token; the
services (``services.orgs``) make and check them. A bank's distribution is ``owner``, ``members``,
``members_observers``, ``all`` or ``group:<name>`` (a sharing group of organisations).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from tessera.errors import Conflict, InputError, NotFound
from tessera.store.db import Database, as_utc, utcnow
from tessera.store.records import Org, Scope, Tier, TokenInfo
from tessera.store.tables import node, orgs, sharing_group_members, sharing_groups, tokens

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,199}$")
DISTRIBUTIONS = ("owner", "members", "members_observers", "all")
GROUP_PREFIX = "group:"


def check_name(kind: str, name: str) -> str:
    """``name`` if it is a valid organisation, group or bank name; InputError otherwise."""
    if not NAME.match(name):
        raise InputError(
            f"invalid {kind} name {name!r}: use 1-200 letters, digits, '_', '.', '-', "
            "starting with a letter or digit"
        )
    return name


def check_distribution(value: str) -> str:
    """``value`` if it is a valid distribution level; InputError otherwise."""
    if value in DISTRIBUTIONS:
        return value
    if value.startswith(GROUP_PREFIX) and NAME.match(value[len(GROUP_PREFIX) :]):
        return value
    raise InputError(
        f"distribution must be one of {', '.join(DISTRIBUTIONS)} or group:<name>, got {value!r}"
    )


def node_uuid(conn: Connection) -> str:
    """This node's identity, made once by the schema migration."""
    return str(conn.execute(sa.select(node.c.uuid).where(node.c.id == 1)).scalar_one())


@dataclass(frozen=True, slots=True)
class TokenCredential:
    """What checking a presented token needs: the stored hash, the token and its org's tier."""

    token: TokenInfo
    secret_hash: str
    tier: Tier


def _org(r: Row[Any]) -> Org:
    return Org(id=int(r.id), name=r.name, tier=Tier(r.tier), created_at=as_utc(r.created_at))


def _token(r: Row[Any]) -> TokenInfo:
    return TokenInfo(
        id=int(r.id),
        org=r.org_name,
        prefix=r.prefix,
        scopes=tuple(Scope(s) for s in r.scopes),
        note=r.note,
        created_at=as_utc(r.created_at),
        revoked_at=as_utc(r.revoked_at) if r.revoked_at is not None else None,
        last_used_at=as_utc(r.last_used_at) if r.last_used_at is not None else None,
    )


_TOKEN_QUERY = sa.select(tokens, orgs.c.name.label("org_name"), orgs.c.tier).join(
    orgs, orgs.c.id == tokens.c.org_id
)


class OrgStore:
    """Organisations, tokens and sharing groups over one database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- organisations -------------------------------------------------------------------------

    def create_org(self, name: str, tier: Tier) -> Org:
        """Add an organisation; Conflict when the name is taken."""
        check_name("organisation", name)
        with self.db.write() as conn:
            if conn.execute(sa.select(orgs.c.id).where(orgs.c.name == name)).first():
                raise Conflict(f"organisation {name!r} already exists")
            conn.execute(orgs.insert(), {"name": name, "tier": tier.value, "created_at": utcnow()})
            return self._get_org(conn, name)

    def _get_org(self, conn: Connection, name: str) -> Org:
        row = conn.execute(sa.select(orgs).where(orgs.c.name == name)).first()
        if row is None:
            raise NotFound(f"no organisation named {name!r}")
        return _org(row)

    def get_org(self, name: str) -> Org:
        """The organisation called ``name``; NotFound otherwise."""
        with self.db.read() as conn:
            return self._get_org(conn, name)

    def list_orgs(self) -> list[Org]:
        """Every organisation, by name."""
        with self.db.read() as conn:
            return [_org(r) for r in conn.execute(sa.select(orgs).order_by(orgs.c.name))]

    # -- tokens --------------------------------------------------------------------------------

    def add_token(
        self, org_name: str, prefix: str, secret_hash: str, scopes: Sequence[Scope], note: str
    ) -> TokenInfo:
        """Store a new token of an organisation (its prefix and hash only)."""
        with self.db.write() as conn:
            org = self._get_org(conn, org_name)
            conn.execute(
                tokens.insert(),
                {
                    "org_id": org.id,
                    "prefix": prefix,
                    "secret_hash": secret_hash,
                    "scopes": [s.value for s in scopes],
                    "note": note,
                    "created_at": utcnow(),
                },
            )
            return _token(conn.execute(_TOKEN_QUERY.where(tokens.c.prefix == prefix)).one())

    def credential(self, prefix: str) -> TokenCredential | None:
        """The stored token with this prefix, its hash and its organisation's tier."""
        with self.db.read() as conn:
            row = conn.execute(_TOKEN_QUERY.where(tokens.c.prefix == prefix)).first()
        if row is None:
            return None
        return TokenCredential(_token(row), row.secret_hash, Tier(row.tier))

    def list_tokens(self, org_name: str | None = None) -> list[TokenInfo]:
        """Tokens (of one organisation, or all), oldest first."""
        q = _TOKEN_QUERY.order_by(tokens.c.id)
        with self.db.read() as conn:
            if org_name is not None:
                q = q.where(tokens.c.org_id == self._get_org(conn, org_name).id)
            return [_token(r) for r in conn.execute(q)]

    def revoke_token(self, prefix: str) -> TokenInfo:
        """Revoke a token for good (revoking twice keeps the first time)."""
        with self.db.write() as conn:
            row = conn.execute(_TOKEN_QUERY.where(tokens.c.prefix == prefix)).first()
            if row is None:
                raise NotFound(f"no token {prefix!r}")
            if row.revoked_at is None:
                conn.execute(
                    tokens.update().where(tokens.c.id == row.id).values(revoked_at=utcnow())
                )
            return _token(conn.execute(_TOKEN_QUERY.where(tokens.c.id == row.id)).one())

    def touch_token(self, prefix: str, when: datetime) -> None:
        """Record when a token was last used."""
        with self.db.write() as conn:
            conn.execute(tokens.update().where(tokens.c.prefix == prefix).values(last_used_at=when))

    # -- sharing groups ------------------------------------------------------------------------

    def create_group(self, name: str) -> None:
        """Add a sharing group; Conflict when the name is taken."""
        check_name("sharing group", name)
        with self.db.write() as conn:
            q = sa.select(sharing_groups.c.id).where(sharing_groups.c.name == name)
            if conn.execute(q).first():
                raise Conflict(f"sharing group {name!r} already exists")
            conn.execute(sharing_groups.insert(), {"name": name, "created_at": utcnow()})

    def _group_id(self, conn: Connection, name: str) -> int:
        q = sa.select(sharing_groups.c.id).where(sharing_groups.c.name == name)
        found = conn.execute(q).scalar()
        if found is None:
            raise NotFound(f"no sharing group named {name!r}")
        return int(found)

    def set_group_member(self, group: str, org_name: str, member: bool) -> None:
        """Add an organisation to a sharing group, or take it out (idempotent)."""
        with self.db.write() as conn:
            group_id = self._group_id(conn, group)
            org_id = self._get_org(conn, org_name).id
            where = sa.and_(
                sharing_group_members.c.group_id == group_id,
                sharing_group_members.c.org_id == org_id,
            )
            present = conn.execute(sa.select(sharing_group_members).where(where)).first()
            if member and present is None:
                conn.execute(
                    sharing_group_members.insert(), {"group_id": group_id, "org_id": org_id}
                )
            elif not member and present is not None:
                conn.execute(sharing_group_members.delete().where(where))

    def list_groups(self) -> dict[str, list[str]]:
        """Every sharing group with its member organisations, by name."""
        q = (
            sa.select(sharing_groups.c.name, orgs.c.name.label("org_name"))
            .select_from(sharing_groups)
            .outerjoin(
                sharing_group_members, sharing_group_members.c.group_id == sharing_groups.c.id
            )
            .outerjoin(orgs, orgs.c.id == sharing_group_members.c.org_id)
            .order_by(sharing_groups.c.name, orgs.c.name)
        )
        found: dict[str, list[str]] = {}
        with self.db.read() as conn:
            for group, org_name in conn.execute(q):
                members = found.setdefault(group, [])
                if org_name is not None:
                    members.append(org_name)
        return found

    def groups_of(self, org_name: str) -> frozenset[str]:
        """Names of the sharing groups an organisation is in."""
        q = (
            sa.select(sharing_groups.c.name)
            .join(sharing_group_members, sharing_group_members.c.group_id == sharing_groups.c.id)
            .join(orgs, orgs.c.id == sharing_group_members.c.org_id)
            .where(orgs.c.name == org_name)
        )
        with self.db.read() as conn:
            return frozenset(conn.execute(q).scalars())
