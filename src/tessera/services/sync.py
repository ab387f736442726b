"""Peer sync: pull a peer's change feed into mirrors, carry opinions back, in a loop if asked.

Pulling from one peer (``Syncer.pull``):
1. ask for the page after the peer's cursor (``GET /v1/changes``, with this node's uuid as
   ``exclude_origin`` so the peer never sends back what came from here);
2. read the answer with limits: connect and read timeouts, a wall-clock limit on the whole page
   (a peer that drips bytes) and a byte limit (a peer that floods); then validate it strictly
   (``exchange.protocol``: bad JSON, wrong types, unknown fields and inconsistent cursors are
   refused). Anything wrong raises ``PeerError``; it is recorded on the peer and nothing is applied;
3. if the page grants access to a bank, replay that bank's history up to the grant first (each
   replay page is idempotent, so a crash mid-replay is repaired by doing it again);
4. apply the page and move the cursor in ONE transaction (``store.mirror.apply_page``); the cursor
   is re-read inside it, so two processes syncing the same peer never apply a page twice. What
   the page logs here is never carried back, so a push cursor that had seen the whole log moves
   past it in that transaction too;
5. repeat until the peer says there is no more. The next page is fetched and read (step 2, on a
   second thread) while this one is applied, and Python's cycle collector is paused meanwhile
   (``services.cycles``). Consecutive pages share their transaction (up to
   ``SYNC_GROUP_CHANGES`` changes or ``SYNC_GROUP_S`` seconds), all on one connection held for
   the pull (``store.db.Writer``) whose SQLite page cache stays warm: a crash loses at most
   the group being applied, which is pulled again.

Then ``push``: opinions given here (or carried here from further away) on banks mirrored from the
peer go back to it (``POST /v1/opinions``), in batches, after this node's push cursor.

``SyncLoop`` runs ``sync_all`` every ``sync_interval_s`` on a background thread of ``serve``.
After each peer's sync it asks the peer for its active incidents (``GET /v1/incidents``: those of
banks this node's organisation there may see); while the peer reports one, the loop pulls that
peer every ``incident_sync_interval_s`` (this node's setting) and asks again after each pull, so
the surge ends with the incident. A peer without the endpoint, or one that cannot answer, simply
has no incident: it is pulled at the normal interval.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
import pydantic
import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict
from sqlalchemy.engine import Connection

from tessera.exchange.protocol import (
    ChangesPage,
    OpinionPush,
    OpinionsPush,
    PeerError,
    WireError,
    read_page,
)
from tessera.services.cycles import collector_paused
from tessera.settings import Settings
from tessera.signals.registry import all_signal_types
from tessera.store import changelog
from tessera.store.mirror import Applied, apply_page
from tessera.store.peers import Peer, PeerStore, get_peer, peers, set_cursor
from tessera.store.records import ChangeKind
from tessera.store.repository import Store
from tessera.store.tables import changes

log = logging.getLogger(__name__)

PUSH_BATCH = 500
# The SQLite page cache of the connection that applies a pull's pages, in KiB: a large mirror's
# random-key indexes (entry uuids, signal keys: about 200 MiB at a million entries) spill the
# 2 MiB default in mid-transaction, many times slower at millions of rows. SQLite fills the cache
# only as pages are read, so a small pull never holds much of it. The connection is held for the
# whole pull, so the cache stays warm from page to page, and gets its own size back afterwards.
SQLITE_APPLY_CACHE_KIB = 512 * 1024
# How far the WAL may grow, in KiB, while a pull applies its pages before a commit copies it into
# the database: with the default (1,000 pages) every page's commit copies the same hot index pages
# back again.
SQLITE_APPLY_CHECKPOINT_KIB = 256 * 1024
# A pull applies consecutive pages in one transaction until it holds this many changes or has
# been open this long: each commit writes every index page the group touched, and a large
# mirror's random-key indexes are touched nearly all over by every page, so fewer commits write
# them fewer times. The time bound keeps other writers of this node from waiting long.
SYNC_GROUP_CHANGES = 200_000
SYNC_GROUP_S = 10.0


class PeerIncident(BaseModel):
    """What this node reads of a peer's incident (other fields are ignored)."""

    model_config = ConfigDict(extra="ignore")

    id: str
    state: str
    bank_uuid: str | None = None


@dataclass
class SyncResult:
    """What one sync with a peer did."""

    peer: str
    pages: int = 0
    cursor: int = 0
    applied: Applied = field(default_factory=Applied)
    pushed: int = 0
    error: str | None = None


def _first_error(e: pydantic.ValidationError) -> str:
    err = e.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "the page"
    return f"{where}: {err['msg']}" + (
        f" ({e.error_count()} errors)" if e.error_count() > 1 else ""
    )


class Syncer:
    """Pulls from and pushes to peers on behalf of one store."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.peers = PeerStore(store.db)
        self._signal_types = all_signal_types()
        self._client = httpx.Client(
            transport=transport,
            timeout=httpx.Timeout(
                connect=settings.sync_connect_timeout_s,
                read=settings.sync_read_timeout_s,
                write=settings.sync_read_timeout_s,
                pool=settings.sync_connect_timeout_s,
            ),
            follow_redirects=False,
        )

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    # -- fetching ------------------------------------------------------------------------------

    def _headers(self, peer: Peer) -> dict[str, str]:
        return {"Authorization": f"Bearer {peer.token}", "Accept": "application/json"}

    def _read_limited(self, response: httpx.Response, what: str) -> bytes:
        limit = self.settings.sync_max_page_bytes
        deadline = time.monotonic() + self.settings.sync_page_timeout_s
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise PeerError(f"{what}: page of {declared} bytes is over {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > limit:
                raise PeerError(f"{what}: page is over sync_max_page_bytes ({limit} bytes)")
            if time.monotonic() > deadline:
                raise PeerError(
                    f"{what}: page took over sync_page_timeout_s "
                    f"({self.settings.sync_page_timeout_s:g} s)"
                )
            chunks.append(chunk)
        return b"".join(chunks)

    def fetch_page(
        self, peer: Peer, after: int, *, bank: str | None = None, until: int | None = None
    ) -> ChangesPage:
        """One validated page of the peer's feed after ``after``; PeerError when it is unusable."""
        params: dict[str, Any] = {
            "after": after,
            "limit": self.settings.sync_page_size,
            "exclude_origin": self.store.node_id,
        }
        if bank is not None:
            params |= {"bank": bank, "until": until}
        what = f"peer {peer.name} ({peer.url})"
        try:
            request = self._client.build_request(
                "GET", f"{peer.url}/v1/changes", params=params, headers=self._headers(peer)
            )
            try:
                response = self._client.send(request, stream=True)
            except httpx.RemoteProtocolError:
                # The peer closed its end of a kept-alive connection while this node was busy
                # (applying the last page can outlast its keep-alive timeout) and the request
                # went out on it: nothing was answered, so ask once more, on a new connection.
                response = self._client.send(request, stream=True)
            try:
                if response.status_code != 200:
                    text = self._read_limited(response, what)[:300].decode("utf-8", "replace")
                    raise PeerError(f"{what}: HTTP {response.status_code}: {text.strip()}")
                body = self._read_limited(response, what)
            finally:
                response.close()
        except httpx.TimeoutException as e:
            raise PeerError(f"{what}: timed out ({type(e).__name__})") from None
        except httpx.HTTPError as e:
            raise PeerError(f"{what}: {type(e).__name__}: {e}") from None
        try:
            page = read_page(body, self._signal_types)
        except pydantic.ValidationError as e:
            raise PeerError(f"{what}: malformed page: {_first_error(e)}") from None
        except WireError as e:
            raise PeerError(f"{what}: malformed page: {e}") from None
        self._check(peer, page, after, until, what)
        return page

    def _check(
        self, peer: Peer, page: ChangesPage, after: int, until: int | None, what: str
    ) -> None:
        if page["node"] == self.store.node_id:
            raise PeerError(f"{what}: the peer is this node itself")
        if peer.remote_node is not None and page["node"] != peer.remote_node:
            raise PeerError(
                f"{what}: the peer's node uuid changed from {peer.remote_node} to {page['node']} "
                "(remove and add the peer again if it was rebuilt)"
            )
        last = after
        for change in page["changes"]:
            if change["seq"] <= last:
                raise PeerError(f"{what}: change seq {change['seq']} is not after {last}")
            last = change["seq"]
        next_after = page["next_after"]
        if next_after < last or (page["changes"] and next_after < after):
            raise PeerError(f"{what}: next_after {next_after} is behind its changes")
        if next_after < after:
            raise PeerError(f"{what}: next_after {next_after} goes back from {after}")
        if until is not None and last > until:
            raise PeerError(f"{what}: replay went past seq {until}")
        if page["more"] and next_after == after:
            raise PeerError(f"{what}: says there is more but does not advance the cursor")

    # -- pulling -------------------------------------------------------------------------------

    def _apply(
        self, conn: Connection, peer: Peer, page: ChangesPage, after: int, *, move: bool
    ) -> Applied:
        if move:
            current = get_peer(conn, peer.name).cursor
            if current != after:
                raise PeerError(
                    f"peer {peer.name}: another sync moved the cursor to {current}; "
                    "stopping this one"
                )
        top = changelog.latest_seq(conn)
        applied = apply_page(conn, page, peer=peer.name, local_node=self.store.node_id)
        if move:
            set_cursor(conn, peer.name, page["next_after"], page["node"])
        # What a page logs here came from a peer and is never pushed: a push cursor that had
        # seen the whole log moves past it, so the next push does not scan a big sync again.
        conn.execute(
            peers.update()
            .where(peers.c.push_cursor == top)
            .values(push_cursor=changelog.latest_seq(conn))
        )
        return applied

    def _replay(
        self, conn: Connection, peer: Peer, bank: str, until: int, result: SyncResult
    ) -> None:
        after = 0
        while True:
            page = self.fetch_page(peer, after, bank=bank, until=until)
            result.applied.add(self._apply(conn, peer, page, after, move=False))
            if not page["more"] or page["next_after"] >= until:
                return
            after = page["next_after"]

    def pull(self, name: str, *, max_pages: int | None = None) -> SyncResult:
        """Pull every page the peer has after its cursor (or ``max_pages`` of them).

        The next page is fetched while this one is applied (the peer builds it meanwhile); it is
        used only if this one applied. Consecutive pages are applied in one transaction, with
        the cursor, until it holds ``SYNC_GROUP_CHANGES`` changes or has been open
        ``SYNC_GROUP_S`` seconds: a page that fails to apply rolls its group back (the pages are
        fetched again next time), a page that fails to arrive commits the group before it.
        """
        result = SyncResult(name)
        peer = self.peers.get(name)
        after = committed = peer.cursor
        with (
            collector_paused(),
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="tessera-fetch") as pool,
            self.store.db.writer(
                sqlite_cache_kib=SQLITE_APPLY_CACHE_KIB,
                sqlite_checkpoint_kib=SQLITE_APPLY_CHECKPOINT_KIB,
            ) as writer,
        ):
            pending: Future[ChangesPage] | None = pool.submit(self.fetch_page, peer, after)
            grouped, opened = 0, 0.0
            try:
                while pending is not None and (max_pages is None or result.pages < max_pages):
                    try:
                        page = pending.result()
                    except PeerError:
                        writer.commit()  # the pages before this one are whole
                        committed = after
                        raise
                    pending = None
                    if page["more"]:
                        pending = pool.submit(self.fetch_page, peer, page["next_after"])
                    if not writer.in_transaction:
                        writer.begin()
                        grouped, opened = 0, time.monotonic()
                    for change in page["changes"]:
                        if change["kind"] == "bank_granted":
                            self._replay(
                                writer.conn, peer, change["bank_uuid"], change["seq"], result
                            )
                    result.applied.add(self._apply(writer.conn, peer, page, after, move=True))
                    result.pages += 1
                    after = page["next_after"]
                    grouped += len(page["changes"])
                    if (
                        pending is None
                        or grouped >= SYNC_GROUP_CHANGES
                        or time.monotonic() - opened >= SYNC_GROUP_S
                    ):
                        writer.commit()
                        committed = after
                writer.commit()
                committed = after
            except BaseException:
                writer.rollback()
                raise
            finally:
                result.cursor = committed
                if pending is not None:
                    pending.cancel()
                    with contextlib.suppress(Exception):
                        pending.result()  # let an in-flight fetch finish before closing
        return result

    # -- pushing opinions back -----------------------------------------------------------------

    def _opinions_to_push(
        self, peer: Peer, after: int, top: int
    ) -> Iterator[tuple[int, list[OpinionPush]]]:
        banks = self.peers.mirrored_banks(peer.name)
        while True:
            q = (
                sa.select(changes.c.seq, changes.c.bank_uuid, changes.c.payload)
                .where(
                    changes.c.seq > after,
                    changes.c.seq <= top,
                    changes.c.kind == ChangeKind.OPINION_SET.value,
                )
                .order_by(changes.c.seq)
                .limit(PUSH_BATCH)
            )
            with self.store.db.read() as conn:
                rows = conn.execute(q).all()
            if not rows:
                return
            batch: list[OpinionPush] = []
            for _seq, bank_uuid, payload in rows:
                p = dict(payload)
                opinion = p["opinion"]
                # Opinions that came from the peer's feed ("via") or from the peer's node are not
                # sent back to it; those given here, or carried here from further away, are.
                if (
                    bank_uuid not in banks
                    or "via" in p
                    or opinion["origin_node"] == peer.remote_node
                ):
                    continue
                batch.append(
                    OpinionPush(
                        entry=opinion["entry"],
                        org=opinion["org"],
                        verdict=opinion["verdict"],
                        reason=opinion["reason"],
                        origin_node=opinion["origin_node"],
                    )
                )
            after = int(rows[-1].seq)
            yield after, batch

    def push(self, name: str) -> int:
        """Carry opinions on the peer's banks back to it; returns how many were sent."""
        peer = self.peers.get(name)
        sent = 0
        what = f"peer {peer.name} ({peer.url})"
        top = self.store.latest_seq()
        if top <= peer.push_cursor:
            return 0
        for cursor, batch in self._opinions_to_push(peer, peer.push_cursor, top):
            if batch:
                body = OpinionsPush(opinions=batch).model_dump(mode="json")
                try:
                    r = self._client.post(
                        f"{peer.url}/v1/opinions", json=body, headers=self._headers(peer)
                    )
                except httpx.HTTPError as e:
                    raise PeerError(f"{what}: pushing opinions: {type(e).__name__}: {e}") from None
                if r.status_code != 200:
                    raise PeerError(
                        f"{what}: pushing opinions: HTTP {r.status_code}: {r.text[:300].strip()}"
                    )
                sent += len(batch)
            self.peers.set_push_cursor(name, cursor)
        # Nothing (more) to carry up to ``top``: the next push scans only what comes after it.
        self.peers.set_push_cursor(name, top)
        return sent

    # -- incidents -----------------------------------------------------------------------------

    def active_incidents(self, name: str) -> list[PeerIncident]:
        """The active incidents the peer shows this node; [] when it has no such endpoint or
        its answer is unusable (an incident only makes syncing faster: nothing depends on it)."""
        peer = self.peers.get(name)
        try:
            with self._client.stream(
                "GET", f"{peer.url}/v1/incidents", headers=self._headers(peer)
            ) as response:
                if response.status_code != 200:
                    return []
                body = self._read_limited(response, f"peer {name} incidents")
            found = pydantic.TypeAdapter(list[PeerIncident]).validate_json(body)
        except (httpx.HTTPError, pydantic.ValidationError, PeerError) as e:
            log.debug("peer %s: no incidents read: %s", name, e)
            return []
        return [i for i in found if i.state == "active"]

    # -- both ----------------------------------------------------------------------------------

    def sync(self, name: str) -> SyncResult:
        """Pull from a peer, then push opinions back; a failure is recorded on the peer."""
        try:
            result = self.pull(name)
            result.pushed = self.push(name)
        except PeerError as e:
            self.peers.record_error(name, str(e))
            raise
        return result

    def sync_all(self) -> list[SyncResult]:
        """Sync with every peer in turn; one peer's failure does not stop the others."""
        results = []
        for peer in self.peers.list():
            try:
                results.append(self.sync(peer.name))
            except PeerError as e:
                results.append(SyncResult(peer.name, cursor=peer.cursor, error=str(e)))
        return results


class SyncLoop:
    """Syncs with every peer every ``interval_s`` seconds on a background thread, and with a
    peer that reports an active incident every ``incident_interval_s``."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.syncer = Syncer(store, settings)
        self.interval_s = settings.sync_interval_s
        self.incident_interval_s = settings.incident_sync_interval_s
        self.surging: dict[str, float] = {}
        """Peers with an active incident, and when (``time.monotonic``) each is pulled next."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _watch_incidents(self, name: str) -> None:
        if self.syncer.active_incidents(name):
            if name not in self.surging:
                log.info("peer %s has an active incident: pulling it more often", name)
            self.surging[name] = time.monotonic() + self.incident_interval_s
        elif self.surging.pop(name, None) is not None:
            log.info("peer %s has no active incident any more", name)

    def run_round(self) -> None:
        """Sync with every peer once, and note which report an active incident."""
        for result in self.syncer.sync_all():
            if result.error:
                log.warning("sync with %s failed: %s", result.peer, result.error)
                self.surging.pop(result.peer, None)
            else:
                self._watch_incidents(result.peer)

    def run_surges(self) -> None:
        """Pull each peer whose incident surge is due, then ask it again about its incidents."""
        now = time.monotonic()
        for name, due in list(self.surging.items()):
            if due > now or self._stop.is_set():
                continue
            try:
                self.syncer.sync(name)
            except PeerError as e:
                log.warning("incident sync with %s failed: %s", name, e)
                self.surging.pop(name, None)
                continue
            self._watch_incidents(name)

    def start(self) -> None:
        """Start the loop (a no-op when the interval is 0)."""
        if self.interval_s <= 0 or self._thread is not None:
            return

        def run() -> None:
            next_round = time.monotonic()
            while not self._stop.is_set():
                try:
                    if time.monotonic() >= next_round:
                        self.run_round()
                        next_round = time.monotonic() + self.interval_s
                    else:
                        self.run_surges()
                except Exception:  # a database hiccup must not end syncing for good
                    log.exception("syncing with peers failed; retrying")
                    next_round = time.monotonic() + self.interval_s
                wake = min([next_round, *self.surging.values()])
                self._stop.wait(max(wake - time.monotonic(), 0.01))

        self._thread = threading.Thread(target=run, name="tessera-sync", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the loop and close its connections."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.syncer.close()
