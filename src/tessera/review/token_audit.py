"""Token use in the audit log: counted in memory, written in batches.

Every use of an API token is audited, but not with a database write per request (that would put
the single writer, and its lock, on the hot path of every match). Instead:

1. ``TokenAuthority`` calls ``record(prefix, org, route)`` for each token it resolves; that only
   updates a counter in memory under a lock: the count, the first and last time, and the route
   templates used (at most ``max_routes`` of them; past that, ``routes_truncated`` says so);
2. a background thread flushes every ``flush_s`` seconds (setting ``audit_token_flush_s``): one
   audit record per token and organisation (kind ``token.used``, subject ``token:<prefix>``),
   all in one write transaction;
3. ``stop()`` flushes what is left. A flush that fails (the database is away) keeps its counts
   and adds them to the next one, so uses are delayed, not lost, while the process lives.

So the audit log says which token was used, by which organisation, how often, when, and on which
routes, to within ``flush_s``; a process killed outright loses at most its last window.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tessera.review import audit
from tessera.store.db import Database

log = logging.getLogger(__name__)

KIND = "token.used"
"""The audit kind of a token-use record."""


@dataclass
class TokenUses:
    """The uses of one token by one organisation since the last flush."""

    count: int = 0
    first: float = 0.0
    last: float = 0.0
    routes: set[str] = field(default_factory=set)
    routes_truncated: bool = False

    def merge(self, other: TokenUses, max_routes: int) -> None:
        """Add another window's uses (a failed flush's, put back)."""
        self.count += other.count
        self.first = min(self.first, other.first)
        self.last = max(self.last, other.last)
        for route in other.routes:
            self.add_route(route, max_routes)
        self.routes_truncated |= other.routes_truncated

    def add_route(self, route: str, max_routes: int) -> None:
        """Note a route template, up to ``max_routes`` distinct ones."""
        if route in self.routes:
            return
        if len(self.routes) < max_routes:
            self.routes.add(route)
        else:
            self.routes_truncated = True


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds")


class TokenUseRecorder:
    """Counts token uses in memory and writes them to the audit log every ``flush_s`` seconds."""

    def __init__(self, db: Database, flush_s: float, *, max_routes: int = 32) -> None:
        if flush_s <= 0:
            raise ValueError("flush_s must be positive")
        self.db = db
        self.flush_s = flush_s
        self.max_routes = max_routes
        self._uses: dict[tuple[str, str], TokenUses] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def record(self, prefix: str, org: str, route: str) -> None:
        """Count one use of a token (in memory; cheap enough for every request)."""
        now = time.time()
        with self._lock:
            uses = self._uses.get((prefix, org))
            if uses is None:
                uses = self._uses[(prefix, org)] = TokenUses(first=now)
            uses.count += 1
            uses.last = now
            uses.add_route(route, self.max_routes)

    def pending(self) -> int:
        """How many uses are counted but not yet written."""
        with self._lock:
            return sum(u.count for u in self._uses.values())

    def flush(self) -> int:
        """Write one audit record per token used since the last flush; returns how many."""
        with self._lock:
            taken, self._uses = self._uses, {}
        if not taken:
            return 0
        try:
            with self.db.write() as conn:
                for (prefix, org), uses in sorted(taken.items()):
                    detail = {
                        "count": uses.count,
                        "first": _iso(uses.first),
                        "last": _iso(uses.last),
                        "routes": sorted(uses.routes),
                        "routes_truncated": uses.routes_truncated,
                    }
                    audit.append(
                        conn,
                        org=org,
                        actor=f"token:{prefix}",
                        kind=KIND,
                        subject=f"token:{prefix}",
                        detail=detail,
                    )
        except BaseException:
            self._put_back(taken)
            raise
        return len(taken)

    def _put_back(self, taken: dict[tuple[str, str], TokenUses]) -> None:
        with self._lock:
            for key, uses in taken.items():
                newer = self._uses.get(key)
                if newer is not None:
                    uses.merge(newer, self.max_routes)
                self._uses[key] = uses

    def start(self) -> None:
        """Flush every ``flush_s`` seconds on a background thread until ``stop()``."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="tessera-token-audit", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.flush_s):
            try:
                self.flush()
            except Exception:
                log.exception("writing token uses to the audit log failed; retrying next time")

    def stop(self) -> None:
        """Stop the background thread and write what is left."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            thread.join()
        self.flush()
