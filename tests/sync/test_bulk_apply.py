"""The fast paths of a large sync keep their guarantees, on SQLite and on PostgreSQL.

- mirrored rows get the keys the database would have given them, and the change log's payloads
  name the stored signal ids (matcher replicas index by them);
- the change log's JSON is ordinary JSON, readable by the standard library;
- what a pull logs is never carried back, so the push cursor passes it (a later push does not scan
  a big sync again), while an opinion given here in between is still carried home;
- a signal its type rejects refuses the page while it is read, before anything is applied.
"""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from tessera.exchange.protocol import ChangesPage, SignalWire
from tessera.signals.registry import all_signal_types
from tessera.store.peers import PeerStore
from tessera.store.records import Verdict
from tessera.store.tables import changes, signals
from tests.sync.conftest import SyncNode
from tests.sync.test_two_nodes import fill, mirror_state


def test_mirrored_ids_and_log_payloads_agree(nodes: tuple[SyncNode, SyncNode]) -> None:
    hub, edge = nodes
    fill(hub.store, "shared", 25)
    edge.syncer(sync_page_size=10).sync("hub")
    origin = hub.store.get_bank("shared")
    assert mirror_state(edge.store, origin.uuid) == mirror_state(hub.store, origin.uuid)
    with edge.store.db.read() as conn:
        stored = {int(i): v for i, v in conn.execute(sa.select(signals.c.id, signals.c.value))}
        texts = conn.execute(
            sa.select(sa.cast(changes.c.payload, sa.Text)).where(changes.c.kind == "entry_added")
        ).scalars()
        logged = [json.loads(t) for t in texts]
    assert len(logged) == 25
    named = {s["id"]: s["value"] for p in logged for s in p["signals"]}
    assert named == stored, "the log names each stored signal by its own id"
    # New local rows after the mirrored ones get fresh keys, with no clash.
    fill(edge.store, "local", 3)
    with edge.store.db.read() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(signals)).scalar_one()
    assert count == 28


def test_a_pull_moves_the_push_cursor_past_what_it_logged(
    nodes: tuple[SyncNode, SyncNode],
) -> None:
    hub, edge = nodes
    uuids = fill(hub.store, "shared", 12)
    syncer = edge.syncer(sync_page_size=5)
    syncer.pull("hub")
    assert PeerStore(edge.store.db).get("hub").push_cursor == edge.store.latest_seq()
    # An opinion given on the edge, then more pages pulled: the opinion still goes home.
    edge.store.set_opinion("hub.shared", uuids[0], "reviewer", Verdict.DISPUTED, "not in scope")
    fill(hub.store, "more", 6)
    result = syncer.sync("hub")
    assert result.applied.entries == 6 and result.pushed == 1
    carried = hub.store.get_opinions("shared", uuids[0])
    assert [(o.org, o.verdict) for o in carried] == [("nodeb/reviewer", Verdict.DISPUTED)]
    assert PeerStore(edge.store.db).get("hub").push_cursor == edge.store.latest_seq()


@pytest.mark.parametrize("value", ["zz" * 32, "0" * 63])
def test_a_bad_signal_refuses_the_page_as_it_is_read(value: str) -> None:
    page = {
        "node": "00000000-0000-0000-0000-000000000001",
        "changes": [
            {
                "seq": 1,
                "kind": "entry_added",
                "bank_uuid": "00000000-0000-0000-0000-000000000002",
                "entry_uuid": "00000000-0000-0000-0000-000000000003",
                "entry": {
                    "uuid": "00000000-0000-0000-0000-000000000003",
                    "status": "active",
                    "created_by": "hub",
                    "created_at": "2026-01-01T00:00:00+00:00",
                    "updated_at": "2026-01-01T00:00:00+00:00",
                    "signals": [{"type": "pdq", "value": value, "quality": 90}],
                    "origin_node": "00000000-0000-0000-0000-000000000001",
                    "origin_org": "hub",
                    "origin_uuid": "00000000-0000-0000-0000-000000000003",
                    "opinions": {},
                },
            }
        ],
        "next_after": 1,
        "latest_seq": 1,
        "more": False,
    }
    body = json.dumps(page)
    with pytest.raises(ValueError, match="bad pdq signal"):
        ChangesPage.model_validate_json(body, strict=True)
    with pytest.raises(ValueError, match="bad pdq signal"):
        ChangesPage.model_validate_json(
            body, strict=True, context={"signal_types": all_signal_types()}
        )


def test_signals_arrive_normalised() -> None:
    raw = " ABCDEF0123456789ABCDEF0123456789 "
    wire = SignalWire.model_validate_json(json.dumps({"type": "md5", "value": raw}))
    assert wire.value == "abcdef0123456789abcdef0123456789"
    unknown = SignalWire.model_validate_json('{"type": "elsewhere", "value": "As Is"}')
    assert unknown.value == "As Is"
