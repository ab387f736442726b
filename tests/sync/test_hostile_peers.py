"""A hostile or broken peer (bad JSON, wrong types, floods, drips, silence, lies) cannot corrupt or
stall a node: each sync fails with a clear error recorded on the peer, and nothing is applied."""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from tessera.exchange.protocol import PeerError
from tessera.services.sync import Syncer, SyncLoop
from tessera.settings import Settings
from tessera.signals.base import Signal
from tessera.store import Database, Store
from tessera.store.peers import PeerStore
from tessera.store.records import NewEntry
from tests.sync.hostile import Behaviour, hostile_peer, reply

PEER_NODE = str(uuid.uuid4())
BANK = str(uuid.uuid4())


def entry(n: int, **changes: Any) -> dict[str, Any]:
    return {
        "uuid": str(uuid.UUID(int=n + 1)),
        "labels": [],
        "inclusion_criterion": "",
        "status": "active",
        "created_by": "hub",
        "created_at": "2026-12-01T00:00:00+00:00",
        "updated_at": "2026-12-01T00:00:00+00:00",
        "source": "",
        "note": "",
        "signals": [{"type": "md5", "value": f"{n:032x}", "quality": None}],
        "origin_node": PEER_NODE,
        "origin_org": "hub",
        "origin_uuid": str(uuid.UUID(int=n + 1)),
        "opinions": {},
    } | changes


def bank(**changes: Any) -> dict[str, Any]:
    return {
        "uuid": BANK,
        "name": "b",
        "description": "",
        "owner_org": "hub",
        "labels": [],
        "inclusion_criterion": "",
        "distribution": "members",
        "thresholds": {},
        "enabled": True,
        "origin_node": PEER_NODE,
    } | changes


def page(changes: list[dict[str, Any]], **top: Any) -> dict[str, Any]:
    last = changes[-1]["seq"] if changes else 0
    return {
        "node": PEER_NODE,
        "changes": changes,
        "banks": {BANK: bank()},
        "next_after": last,
        "latest_seq": last,
        "more": False,
    } | top


def good_page(n: int = 3) -> dict[str, Any]:
    changes = [{"seq": 1, "kind": "bank_created", "bank_uuid": BANK, "bank": bank()}]
    for i in range(n):
        changes.append(
            {
                "seq": i + 2,
                "kind": "entry_added",
                "bank_uuid": BANK,
                "entry_uuid": entry(i)["uuid"],
                "entry": entry(i),
            }
        )
    return page(changes)


@pytest.fixture
def edge(tmp_path: Path) -> Iterator[Store]:
    """An empty node store with one bank of its own."""
    db = Database(f"sqlite:///{tmp_path / 'edge.db'}")
    db.migrate()
    store = Store(db, node_org="edge")
    store.create_bank("own", distribution="members")
    yield store
    db.dispose()


def settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": tmp_path,
        "sync_read_timeout_s": 1.0,
        "sync_connect_timeout_s": 1.0,
        "sync_page_timeout_s": 2.0,
        "sync_max_page_bytes": 200_000,
    }
    return Settings(**(values | overrides))  # type: ignore[arg-type]


def sync_fails(edge: Store, tmp_path: Path, name: str, url: str, message: str) -> None:
    """Add the peer at ``url`` and sync with it once: the sync must fail with ``message``."""
    PeerStore(edge.db).add(name, url, "token")
    syncer = Syncer(edge, settings(tmp_path))
    try:
        with pytest.raises(PeerError, match=message):
            syncer.sync(name)
    finally:
        syncer.close()


def serve_json(doc: Any, status: int = 200) -> Callable[[BaseHTTPRequestHandler], None]:
    body = json.dumps(doc).encode() if not isinstance(doc, bytes) else doc
    return lambda h: reply(h, body, status)


def _flood(h: BaseHTTPRequestHandler) -> None:
    h.send_response(200)
    h.send_header("Content-Type", "application/json")
    h.end_headers()  # no length: a stream that never ends
    h.wfile.write(b'{"node": "' + PEER_NODE.encode() + b'", "changes": [')
    while True:
        h.wfile.write(b'{"seq": 1},' * 1000)


def _declared_huge(h: BaseHTTPRequestHandler) -> None:
    h.send_response(200)
    h.send_header("Content-Length", str(10**12))
    h.end_headers()
    h.wfile.write(b"{")


def _drip(h: BaseHTTPRequestHandler) -> None:
    h.send_response(200)
    h.send_header("Content-Type", "application/json")
    h.end_headers()
    for byte in json.dumps(good_page()).encode():
        h.wfile.write(bytes([byte]))
        h.wfile.flush()
        time.sleep(0.3)


def _silent(h: BaseHTTPRequestHandler) -> None:
    time.sleep(30)
    reply(h, b"{}")


def _bad(path: str, value: Any) -> dict[str, Any]:
    doc = good_page()
    target: Any = doc
    keys = path.split(".")
    for key in keys[:-1]:
        target = target[int(key)] if key.isdigit() else target[key]
    last = keys[-1]
    target[int(last) if last.isdigit() else last] = value
    return doc


HOSTILE: dict[str, tuple[Callable[[BaseHTTPRequestHandler], None], str]] = {
    "not json": (serve_json(b"<html>oops</html>"), "malformed page"),
    "truncated json": (serve_json(json.dumps(good_page()).encode()[:-40]), "malformed page"),
    "json but not a page": (serve_json([1, 2, 3]), "malformed page"),
    "seq as a string": (serve_json(_bad("changes.1.seq", "2")), "malformed page"),
    "signals as an object": (
        serve_json(_bad("changes.1.entry.signals", {"md5": "x"})),
        "malformed page",
    ),
    "unknown field": (serve_json(_bad("changes.1.entry.evil", 1)), "malformed page"),
    "unknown kind": (serve_json(_bad("changes.1.kind", "drop_table")), "malformed page"),
    "negative cursor": (serve_json(_bad("next_after", -5)), "malformed page"),
    "invalid pdq": (
        serve_json(
            _bad("changes.1.entry.signals", [{"type": "pdq", "value": "zz", "quality": 90}])
        ),
        "bad pdq signal",
    ),
    "seqs out of order": (serve_json(_bad("changes.2.seq", 1)), "is not after"),
    "more without progress": (serve_json(page([], more=True)), "does not advance"),
    "cursor behind its changes": (serve_json(_bad("next_after", 1)), "behind its changes"),
    "a bank of ours": (serve_json(b""), "one of this node's own"),  # filled in by the test
    "http 500": (serve_json(b"<h1>Internal error</h1>", 500), "HTTP 500"),
    "flood": (_flood, "over sync_max_page_bytes"),
    "declared huge": (_declared_huge, "is over 200000 bytes"),
    "drip": (_drip, "sync_page_timeout_s"),
    "silence": (_silent, "timed out"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_hostile_peer_cannot_corrupt_or_stall(edge: Store, tmp_path: Path, case: str) -> None:
    behaviour, message = HOSTILE[case]
    if case == "a bank of ours":
        own = edge.get_bank("own").uuid
        doc = good_page()
        doc["changes"][0] |= {"bank_uuid": own, "bank": bank(uuid=own)}
        behaviour = serve_json(doc)
    seq = edge.latest_seq()
    with hostile_peer(behaviour) as url:
        PeerStore(edge.db).add("evil", url, "token")
        syncer = Syncer(edge, settings(tmp_path))
        started = time.monotonic()
        try:
            with pytest.raises(PeerError, match=message):
                syncer.sync("evil")
        finally:
            syncer.close()
        assert time.monotonic() - started < 8, "a hostile peer must not stall the sync"
    peer = PeerStore(edge.db).get("evil")
    assert message in peer.last_error and peer.cursor == 0
    assert edge.latest_seq() == seq, "nothing of the answer was applied"
    assert [b.name for b, _ in edge.list_banks()] == ["own"]


def test_the_good_page_is_applied(edge: Store, tmp_path: Path) -> None:
    # The control: the same server with the untouched page does sync.
    with hostile_peer(serve_json(good_page())) as url:
        PeerStore(edge.db).add("fine", url, "token")
        syncer = Syncer(edge, settings(tmp_path))
        try:
            result = syncer.sync("fine")
        finally:
            syncer.close()
    assert result.applied.entries == 3 and result.cursor == 4
    assert [e.uuid for e in edge.iter_entries("fine.b")] == [entry(i)["uuid"] for i in range(3)]


def test_a_slow_peer_does_not_hold_up_the_others(edge: Store, tmp_path: Path) -> None:
    with hostile_peer(_silent) as slow, hostile_peer(serve_json(good_page())) as fine:
        peers = PeerStore(edge.db)
        peers.add("a-slow", slow, "token")
        peers.add("b-fine", fine, "token")
        loop = SyncLoop(edge, settings(tmp_path, sync_interval_s=0.2))
        loop.start()
        try:
            deadline = time.monotonic() + 10
            while not peers.get("b-fine").cursor and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            loop.stop()
    assert peers.get("b-fine").cursor == 4
    assert "timed out" in peers.get("a-slow").last_error


def test_a_peer_url_must_be_http(edge: Store) -> None:
    from tessera.errors import InputError

    for url in ("file:///etc/passwd", "ftp://x", "http://", "http://x/?q=1"):
        with pytest.raises(InputError):
            PeerStore(edge.db).add("p", url, "t")
    assert PeerStore(edge.db).list() == []


def _closing_first(closed: list[int]) -> Callable[[BaseHTTPRequestHandler], None]:
    """Closes the first connection without an answer (a keep-alive timeout met mid-request),
    then serves the good page."""

    def behaviour(h: BaseHTTPRequestHandler) -> None:
        if not closed:
            closed.append(1)
            h.close_connection = True
            h.connection.shutdown(socket.SHUT_RDWR)
            return
        reply(h, json.dumps(good_page()).encode())

    return behaviour


def test_a_connection_the_peer_closed_unanswered_is_asked_again(
    edge: Store, tmp_path: Path
) -> None:
    closed: list[int] = []
    with hostile_peer(_closing_first(closed)) as url:
        PeerStore(edge.db).add("closing", url, "token")
        syncer = Syncer(edge, settings(tmp_path))
        try:
            result = syncer.sync("closing")
        finally:
            syncer.close()
    assert closed and result.applied.entries == 3 and result.cursor == 4


def test_a_peer_that_never_answers_is_asked_only_twice(edge: Store, tmp_path: Path) -> None:
    asked: list[int] = []

    def hang_up(h: BaseHTTPRequestHandler) -> None:
        asked.append(1)
        h.close_connection = True
        h.connection.shutdown(socket.SHUT_RDWR)

    with hostile_peer(hang_up) as url:
        sync_fails(edge, tmp_path, "mute", url, "RemoteProtocolError")
    assert len(asked) == 2
    assert PeerStore(edge.db).get("mute").cursor == 0


def _paged(last_page: Callable[[BaseHTTPRequestHandler], None]) -> Behaviour:
    """Pages of one change each (the bank, then entries 0 and 1), then ``last_page``."""
    pages = [
        page([{"seq": 1, "kind": "bank_created", "bank_uuid": BANK, "bank": bank()}], more=True),
        *(
            page([{"seq": 2 + i, "kind": "entry_added", "bank_uuid": BANK, "entry": entry(i)}])
            | {"more": True}
            for i in range(2)
        ),
    ]

    def behaviour(h: BaseHTTPRequestHandler) -> None:
        after = int(h.path.split("after=")[1].split("&")[0])
        if after < len(pages):
            reply(h, json.dumps(pages[after]).encode())
        else:
            last_page(h)

    return behaviour


def test_a_page_that_fails_to_arrive_keeps_the_pages_before_it(edge: Store, tmp_path: Path) -> None:
    # The pages share one transaction (a group); the failure commits what came whole.
    with hostile_peer(_paged(serve_json(b"<h1>down</h1>", 500))) as url:
        sync_fails(edge, tmp_path, "flaky", url, "HTTP 500")
    assert PeerStore(edge.db).get("flaky").cursor == 3
    assert [e.uuid for e in edge.iter_entries("flaky.b")] == [entry(i)["uuid"] for i in range(2)]


def test_a_page_that_fails_to_apply_rolls_back_its_group(edge: Store, tmp_path: Path) -> None:
    taken = edge.add_entries("own", [NewEntry(signals=(Signal("md5", "f" * 32),))]).added[0].uuid
    # The fourth page names an entry of another bank here: it is refused as it is applied.
    clash = page(
        [{"seq": 4, "kind": "entry_added", "bank_uuid": BANK, "entry": entry(7, uuid=taken)}]
    )
    seq = edge.latest_seq()
    with hostile_peer(_paged(serve_json(clash))) as url:
        sync_fails(edge, tmp_path, "clash", url, "belongs to another bank")
    assert PeerStore(edge.db).get("clash").cursor == 0
    assert edge.latest_seq() == seq, "the whole group was rolled back"
    assert [b.name for b, _ in edge.list_banks()] == ["own"]
