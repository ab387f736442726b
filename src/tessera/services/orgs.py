"""Organisations and tokens: admit organisations, issue and revoke tokens, resolve a caller.

A token reads ``tsr_<prefix>_<secret>``: the prefix (12 hex digits) is public and finds the
stored row; the whole token is stored only as its SHA-256 (a random 256-bit secret needs no slow
hash) and compared with ``hmac.compare_digest``. The token is shown once, when it is issued.

Resolving a presented token:
1. parse it (a malformed token is refused without a database read);
2. find the row by prefix (cached for ``token_cache_s``; revoking through this process drops the
   cache entry at once, and on SQLite a commit by any process (``store.probe``) does too, so a
   token revoked through another worker is refused at once), compare hashes in constant time,
   refuse revoked tokens;
3. return a ``Principal``: organisation, tier, scopes (capped by the tier again, should a tier
   ever be lowered), sharing groups; ``last_used_at`` is written at most once a minute;
4. tell ``on_use`` (if set) of the use: ``(prefix, org, route)``, in memory only (the audit log's
   ``TokenUseRecorder`` counts uses and writes them in batches; no database write per request).

``resolve_cached`` is the same check answered from memory alone, or None when it would need the
database (a cache miss, or ``last_used_at`` is due): an async caller answers most requests in its
event loop and sends only those few to a worker thread (``resolve``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from tessera.errors import InputError, Unauthenticated
from tessera.services.access import TIER_SCOPES, Principal, check_scopes
from tessera.store.db import utcnow
from tessera.store.orgs import OrgStore, TokenCredential
from tessera.store.probe import ChangeProbe
from tessera.store.records import Org, Scope, Tier, TokenInfo

TOKEN = re.compile(r"^tsr_([0-9a-f]{12})_([A-Za-z0-9_\-]{43})$")
TOUCH_INTERVAL_S = 60.0


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_tier(value: str) -> Tier:
    """A tier from its name; InputError naming the choices otherwise."""
    try:
        return Tier(value)
    except ValueError:
        choices = ", ".join(t.value for t in Tier)
        raise InputError(f"tier must be one of {choices}, got {value!r}") from None


def parse_scopes(values: Iterable[str]) -> frozenset[Scope]:
    """Scopes from their names; InputError naming the choices otherwise."""
    found: set[Scope] = set()
    for value in values:
        try:
            found.add(Scope(value))
        except ValueError:
            choices = ", ".join(s.value for s in Scope)
            raise InputError(f"scope must be one of {choices}, got {value!r}") from None
    if not found:
        raise InputError("a token needs at least one scope")
    return frozenset(found)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A new token: the secret (shown once, never stored) and what is stored about it."""

    secret: str
    info: TokenInfo


def create_org(orgs: OrgStore, name: str, tier: str) -> Org:
    """Admit an organisation with a tier."""
    return orgs.create_org(name, parse_tier(tier))


def ensure_node_org(orgs: OrgStore, name: str) -> Org | None:
    """On a node with no organisations, admit ``name`` as coordinator; None when some exist."""
    if orgs.list_orgs():
        return None
    return orgs.create_org(name, Tier.COORDINATOR)


def issue_token(
    orgs: OrgStore, org_name: str, scopes: Iterable[str], note: str = ""
) -> IssuedToken:
    """Issue a token for an organisation, with scopes its tier allows."""
    org = orgs.get_org(org_name)
    wanted = parse_scopes(scopes)
    check_scopes(org.tier, wanted)
    prefix = secrets.token_hex(6)
    secret = f"tsr_{prefix}_{secrets.token_urlsafe(32)}"
    ordered = sorted(wanted, key=list(Scope).index)
    info = orgs.add_token(org_name, prefix, _digest(secret), ordered, note)
    return IssuedToken(secret, info)


def _prefix(presented: str | None) -> str:
    """The public prefix of a well-formed token; Unauthenticated for a missing or malformed one."""
    if not presented:
        raise Unauthenticated("a token is required: send 'Authorization: Bearer <token>'")
    parsed = TOKEN.match(presented)
    if parsed is None:
        raise Unauthenticated("malformed token")
    return parsed.group(1)


@dataclass(frozen=True, slots=True)
class _Cached:
    """A token row as read: when (monotonic), at which store commit count, and what."""

    at: float
    commits: int | None
    credential: TokenCredential | None
    groups: frozenset[str]


TokenUse = Callable[[str, str, str], None]
"""Told of each resolved token: (prefix, organisation, route template); must not block."""


class TokenAuthority:
    """Resolves presented tokens to principals, with a short cache; revokes tokens."""

    def __init__(
        self,
        orgs: OrgStore,
        cache_s: float = 2.0,
        *,
        on_use: TokenUse | None = None,
        probe: ChangeProbe | None = None,
    ) -> None:
        self.orgs = orgs
        self.cache_s = cache_s
        self.on_use = on_use
        self.probe = probe
        self._cache: dict[str, _Cached] = {}
        self._touched: dict[str, float] = {}
        self._lock = threading.Lock()

    def _lookup(self, prefix: str) -> tuple[TokenCredential | None, frozenset[str]]:
        now = time.monotonic()
        commits = self.probe.commits() if self.probe is not None else None
        with self._lock:
            cached = self._cache.get(prefix)
        if cached is not None and self._fresh(cached, now, commits):
            return cached.credential, cached.groups
        credential = self.orgs.credential(prefix)
        groups = self.orgs.groups_of(credential.token.org) if credential else frozenset()
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()  # bounded: guessed prefixes must not grow it without end
            self._cache[prefix] = _Cached(now, commits, credential, groups)
        return credential, groups

    def _fresh(self, cached: _Cached, now: float, commits: int | None) -> bool:
        """Whether a cached row may answer: younger than ``cache_s``, and, with a probe, read
        since the last commit to the store (a probe that cannot answer trusts the time alone)."""
        if now - cached.at >= self.cache_s:
            return False
        return commits is None or cached.commits is None or commits == cached.commits

    def resolve(self, presented: str | None, route: str = "") -> Principal:
        """The principal a token stands for; Unauthenticated when it is missing or not valid.

        ``route`` (the route template, e.g. ``/v1/banks/{bank}``) is passed on to ``on_use``.
        """
        prefix = _prefix(presented)
        credential, groups = self._lookup(prefix)
        principal = self._admit(presented, prefix, credential, groups)
        self._touch(prefix)
        return self._used(principal, prefix, route)

    def resolve_cached(self, presented: str | None, route: str = "") -> Principal | None:
        """``resolve`` from memory alone; None when that needs the database (then call it).

        Refusals that need no database (no token, malformed, known unknown or revoked) raise
        Unauthenticated here as ``resolve`` would.
        """
        prefix = _prefix(presented)
        now = time.monotonic()
        commits = self.probe.commits() if self.probe is not None else None
        with self._lock:
            cached = self._cache.get(prefix)
            touched = self._touched.get(prefix)
        if cached is None or not self._fresh(cached, now, commits):
            return None
        principal = self._admit(presented, prefix, cached.credential, cached.groups)
        if touched is None or now - touched >= TOUCH_INTERVAL_S:
            return None  # last_used_at is due: a database write, off the caller's loop
        return self._used(principal, prefix, route)

    def _admit(
        self,
        presented: str | None,
        prefix: str,
        credential: TokenCredential | None,
        groups: frozenset[str],
    ) -> Principal:
        expected = credential.secret_hash if credential else _digest("no such token")
        valid = hmac.compare_digest(expected, _digest(presented or ""))
        if credential is None or not valid:
            raise Unauthenticated("unknown token")
        if credential.token.revoked_at is not None:
            raise Unauthenticated("this token has been revoked")
        scopes = frozenset(credential.token.scopes) & TIER_SCOPES[credential.tier]
        return Principal(credential.token.org, credential.tier, scopes, groups, prefix)

    def _used(self, principal: Principal, prefix: str, route: str) -> Principal:
        if self.on_use is not None:
            self.on_use(prefix, principal.org, route)
        return principal

    def _touch(self, prefix: str) -> None:
        now = time.monotonic()
        with self._lock:
            last = self._touched.get(prefix)
            if last is not None and now - last < TOUCH_INTERVAL_S:
                return
            self._touched[prefix] = now
        self.orgs.touch_token(prefix, utcnow())

    def revoke(self, prefix: str) -> TokenInfo:
        """Revoke a token; this process stops accepting it at once."""
        info = self.orgs.revoke_token(prefix)
        self.forget(prefix)
        return info

    def forget(self, prefix: str | None = None) -> None:
        """Drop cached tokens (one, or all: after sharing groups change)."""
        with self._lock:
            if prefix is None:
                self._cache.clear()
            else:
                self._cache.pop(prefix, None)
