"""What routes depend on, as ``Annotated`` aliases: a route's signature reads as its requirements.

- ``NodeDep``: the running node (settings, store, organisations, tokens, matcher);
- ``CurrentOrg``: the calling organisation, from ``Authorization: Bearer <token>`` (401 without a
  valid token);
- ``MatchOrg``, ``ContributeOrg``, ``ReviewOrg``, ``SyncOrg``, ``AdminOrg``: the same, requiring
  the token to carry that scope (403 otherwise). ``AdminOrg`` also requires the coordinator tier.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CollectorRegistry, Gauge
from starlette.concurrency import run_in_threadpool

from tessera.errors import Forbidden, NotFound
from tessera.services.access import Principal, may_administer, may_see
from tessera.services.matching import Matcher
from tessera.services.orgs import TokenAuthority
from tessera.settings import Settings
from tessera.store.orgs import OrgStore
from tessera.store.records import Bank, Scope
from tessera.store.repository import Store

_BANK_CACHE_SIZE = 10_000


@dataclass
class Node:
    """Everything a request handler may use; one per app."""

    settings: Settings
    store: Store
    orgs: OrgStore
    tokens: TokenAuthority
    matcher: Matcher
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    loaded: bool = False
    _banks: dict[str, tuple[float, Bank | None]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._index_size = Gauge(
            "tessera_index_signals",
            "Signals in the match index, by signal type.",
            ["signal_type"],
            registry=self.registry,
        )
        self._seq = Gauge(
            "tessera_change_seq", "Newest change-log sequence number.", registry=self.registry
        )
        self._cursor = Gauge(
            "tessera_matcher_cursor",
            "Change-log position the match index has applied.",
            registry=self.registry,
        )

    def refresh_gauges(self) -> None:
        """Update the gauges a metrics scrape shows."""
        for name in self.matcher.signal_types:
            self._index_size.labels(name).set(self.matcher.size(name))
        self._seq.set(self.store.latest_seq())
        self._cursor.set(self.matcher.cursor)

    def visible_bank(self, who: Principal, name: str, *, cached: bool = False) -> Bank:
        """The bank called ``name`` if ``who`` may see it; NotFound alike when absent or hidden.

        ``cached``: the bank may be up to ``token_cache_s`` old (for naming banks to match
        against: the matches themselves are checked against the store's current banks).
        """
        bank = self._cached_bank(name) if cached else self._stored_bank(name)
        if bank is None or not may_see(who, bank):
            raise NotFound(f"no bank named {name!r}")
        return bank

    def cached_visible_bank(self, who: Principal, name: str) -> Bank | None:
        """``visible_bank(..., cached=True)`` from memory alone; None when not cached now."""
        hit = self._banks.get(name)
        if hit is None or hit[0] <= time.monotonic():
            return None
        if hit[1] is None or not may_see(who, hit[1]):
            raise NotFound(f"no bank named {name!r}")
        return hit[1]

    def _stored_bank(self, name: str) -> Bank | None:
        try:
            return self.store.get_bank(name)
        except NotFound:
            return None

    def _cached_bank(self, name: str) -> Bank | None:
        now = time.monotonic()
        hit = self._banks.get(name)
        if hit is not None and hit[0] > now:
            return hit[1]
        bank = self._stored_bank(name)
        if len(self._banks) >= _BANK_CACHE_SIZE:
            self._banks.clear()  # names are caller-chosen: never let them grow the cache
        self._banks[name] = (now + self.settings.token_cache_s, bank)
        return bank


# Dependencies that only read memory are ``async``: FastAPI runs a plain ``def`` dependency on a
# worker thread, and each such hop costs more than the check itself (more still on a busy host).
async def get_node(request: Request) -> Node:
    """The node this app serves."""
    node: Node = request.app.state.node
    return node


NodeDep = Annotated[Node, Depends(get_node)]

_bearer = HTTPBearer(auto_error=False, description="A token from `tessera token create`.")


async def current_org(
    node: NodeDep,
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The calling organisation, from its bearer token (its use is counted for the audit log).

    Answered in the event loop from the token cache; a miss (or a due ``last_used_at`` write)
    goes to a worker thread, as it reads or writes the database.
    """
    route = getattr(request.scope.get("route"), "path", "")
    presented = credentials.credentials if credentials else None
    who = node.tokens.resolve_cached(presented, route)
    if who is None:
        who = await run_in_threadpool(node.tokens.resolve, presented, route)
    return who


CurrentOrg = Annotated[Principal, Depends(current_org)]


def _scoped(scope: Scope) -> object:
    async def dependency(who: CurrentOrg) -> Principal:
        who.require(scope)
        return who

    dependency.__name__ = f"require_{scope.value}"
    return Depends(dependency)


async def _admin(who: CurrentOrg) -> Principal:
    who.require(Scope.ADMIN)
    if not may_administer(who):
        raise Forbidden("only a coordinator may administer this node")
    return who


MatchOrg = Annotated[Principal, _scoped(Scope.MATCH)]
ContributeOrg = Annotated[Principal, _scoped(Scope.CONTRIBUTE)]
ReviewOrg = Annotated[Principal, _scoped(Scope.REVIEW)]
SyncOrg = Annotated[Principal, _scoped(Scope.SYNC)]
AdminOrg = Annotated[Principal, Depends(_admin)]
