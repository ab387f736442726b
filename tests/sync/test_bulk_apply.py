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

import pydantic
import pytest
import sqlalchemy as sa

from tessera.exchange.protocol import WireError, read_page
from tessera.signals.registry import all_signal_types
from tessera.store import Store
from tessera.store.mirror import apply_page
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
    body = json.dumps(page).encode()
    where = "changes.0.entry.signals.0: bad pdq signal"
    with pytest.raises(WireError, match=where):
        read_page(body)
    with pytest.raises(WireError, match=where):
        read_page(body, all_signal_types())


def _one_entry_page(signals: list[dict[str, object]]) -> bytes:
    entry = {
        "uuid": "00000000-0000-0000-0000-000000000003",
        "status": "active",
        "created_by": "hub",
        "created_at": "2026-01-01T00:00:00+00:00",
        "updated_at": "2026-01-01T00:00:00+00:00",
        "signals": signals,
        "origin_node": "00000000-0000-0000-0000-000000000001",
        "origin_org": "hub",
        "origin_uuid": "00000000-0000-0000-0000-000000000003",
        "opinions": {},
    }
    change = {"seq": 1, "kind": "entry_added", "bank_uuid": entry["origin_node"], "entry": entry}
    page = {"node": entry["origin_node"], "changes": [change]}
    return json.dumps(page | {"next_after": 1, "latest_seq": 1, "more": False}).encode()


def test_signals_arrive_normalised() -> None:
    raw = " ABCDEF0123456789ABCDEF0123456789 "
    page = read_page(
        _one_entry_page([{"type": "md5", "value": raw}, {"type": "elsewhere", "value": "As Is"}])
    )
    entry = page["changes"][0]["entry"]
    assert entry is not None
    assert [s["value"] for s in entry["signals"]] == [
        "abcdef0123456789abcdef0123456789",
        "As Is",  # a type this node does not know is kept as it came
    ]


def test_what_a_sender_leaves_out_is_filled_in() -> None:
    page = read_page(_one_entry_page([{"type": "md5", "value": "0" * 32}]))
    assert page["banks"] == {}
    change = page["changes"][0]
    assert (change["entry_uuid"], change["bank"], change["opinion"]) == (None, None, None)
    entry = change["entry"]
    assert entry is not None
    assert (entry["labels"], entry["inclusion_criterion"], entry["source"], entry["note"]) == (
        [],
        "",
        "",
        "",
    )
    assert entry["signals"][0]["quality"] is None


@pytest.mark.parametrize(
    "signal",
    [
        {"type": "md5", "value": "0" * 32, "evil": 1},  # an unknown field
        {"type": "md5", "value": 5},  # a wrong type
        {"type": "md5", "value": "0" * 32, "quality": "90"},  # no coercion: strict
        {"type": "md5", "value": "0" * 32, "quality": 101},  # out of range
        {"type": "", "value": "0" * 32},  # an empty type
    ],
)
def test_a_malformed_signal_refuses_the_page(signal: dict[str, object]) -> None:
    with pytest.raises(pydantic.ValidationError):
        read_page(_one_entry_page([signal]))


_PEER = "00000000-0000-0000-0000-0000000000aa"
_BANK = "00000000-0000-0000-0000-0000000000bb"


def _snapshot(uuid: str, labels: list[str], value: str) -> dict[str, object]:
    return {
        "uuid": uuid,
        "labels": labels,
        "status": "active",
        "created_by": "hub",
        "created_at": "2026-01-01T00:00:00+00:00",
        "updated_at": "2026-01-01T00:00:00+00:00",
        "signals": [{"type": "md5", "value": value}],
        "origin_node": _PEER,
        "origin_org": "hub",
        "origin_uuid": uuid,
        "opinions": {},
    }


def test_each_snapshot_of_an_entry_on_one_page_is_applied_as_it_was(store: Store) -> None:
    """Two snapshots of one entry on a page, with another change between them: each is applied
    and logged as it was (the page's entries are batched by bank, the last snapshot of a batch
    wins, and the change between them ends the batch)."""
    x, y = (f"00000000-0000-0000-0000-00000000000{n}" for n in (1, 2))
    bank = {
        "uuid": _BANK,
        "name": "shared",
        "owner_org": "hub",
        "distribution": "members",
        "thresholds": {},
        "enabled": True,
        "origin_node": _PEER,
    }
    kinds = [
        ("entry_added", x, _snapshot(x, ["first"], "1" * 32)),
        ("entry_added", y, _snapshot(y, [], "2" * 32)),
        ("entry_removed", y, None),
        ("entry_updated", x, _snapshot(x, ["second"], "3" * 32)),
    ]
    body = {
        "node": _PEER,
        "changes": [
            {"seq": n + 1, "kind": kind, "bank_uuid": _BANK, "entry_uuid": uuid, "entry": entry}
            for n, (kind, uuid, entry) in enumerate(kinds)
        ],
        "banks": {_BANK: bank},
        "next_after": 4,
        "latest_seq": 4,
        "more": False,
    }
    page = read_page(json.dumps(body).encode())
    with store.db.write() as conn:
        apply_page(conn, page, peer="hub", local_node=store.node_id)
    with store.db.read() as conn:
        texts = conn.execute(
            sa.select(sa.cast(changes.c.payload, sa.Text))
            .where(changes.c.entry_uuid == x)
            .order_by(changes.c.seq)
        ).scalars()
        logged = [json.loads(t) for t in texts]
    assert [(p["labels"], [s["value"] for s in p["signals"]]) for p in logged] == [
        (["first"], ["1" * 32]),
        (["second"], ["3" * 32]),
    ]
    assert all(p["via"] == "hub" and p["bank"] == "hub.shared" for p in logged)
    entry = store.get_entry("hub.shared", x)
    assert entry.labels == ("second",)
    assert [s.value for s in entry.signals] == ["3" * 32]
