"""Two nodes on loopback exchange banks by the tier rules: what travels, tombstones, no loops,
opinions back to the owner — on SQLite and on PostgreSQL."""

from __future__ import annotations

import hashlib

import pytest

from tessera.services.matching import Query
from tessera.signals.base import Signal
from tessera.store.records import EntryStatus, NewEntry, Verdict
from tessera.store.repository import Store
from tests.sync.conftest import SyncNode, http


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def fill(store: Store, bank: str, n: int, *, distribution: str = "members") -> list[str]:
    """Create ``bank`` owned by ``hub`` with ``n`` entries; returns their uuids."""
    store.create_bank(bank, distribution=distribution, owner_org="hub", labels=["tve"])
    added = store.add_entries(
        bank,
        [
            NewEntry(
                signals=(Signal("md5", md5(f"{bank}-{i}")),),
                labels=("propaganda",),
                inclusion_criterion="GIFCT TVEC",
                created_by="hub",
            )
            for i in range(n)
        ],
    )
    return [e.uuid for e in added.added]


def mirror_state(store: Store, origin_bank: str) -> dict[str, tuple[str, tuple[str, ...], str]]:
    """{entry uuid: (status, signal values, origin_org)} of the bank with this uuid (or {})."""
    found = [b for b, _ in store.list_banks() if b.uuid == origin_bank]
    if not found:
        return {}
    return {
        e.uuid: (e.status.value, tuple(sorted(s.value for s in e.signals)), e.origin_org)
        for e in store.iter_entries(found[0].name)
    }


def matches(node: SyncNode, value: str) -> list[str]:
    node.refresh()
    return [m.entry_uuid for m in node.app_node.matcher.match([Query(Signal("md5", value))])]


def test_a_shared_bank_travels_and_a_private_one_does_not(nodes: tuple[SyncNode, SyncNode]) -> None:
    hub, edge = nodes
    shared = fill(hub.store, "shared", 30)
    fill(hub.store, "private", 5, distribution="owner")
    fill(hub.store, "partners", 4, distribution="group:g1")
    result = edge.syncer(sync_page_size=7).sync("hub")
    assert result.pages >= 5 and result.applied.entries == 30
    banks = {b.name: b for b, _ in edge.store.list_banks()}
    assert set(banks) == {"hub.shared"}, "only the bank shared with members travels"
    mirror = banks["hub.shared"]
    origin = hub.store.get_bank("shared")
    assert mirror.uuid == origin.uuid and mirror.origin_node == hub.store.node_id
    assert mirror.owner_org == "hub" and mirror.labels == ("tve",)
    state = mirror_state(edge.store, origin.uuid)
    assert state == mirror_state(hub.store, origin.uuid)
    entry = edge.store.get_entry("hub.shared", shared[0])
    assert entry.inclusion_criterion == "GIFCT TVEC" and entry.labels == ("propaganda",)
    assert (entry.origin_node, entry.origin_uuid) == (hub.store.node_id, shared[0])
    assert matches(edge, md5("shared-0")) == [shared[0]]
    # A second sync finds nothing new and applies nothing twice.
    again = edge.syncer().sync("hub")
    assert again.applied.entries == 0 and again.applied.banks == 0
    assert mirror_state(edge.store, origin.uuid) == state
    # The mirror is read-only on the edge, even for its coordinator.
    with http(edge, "edge") as c:
        r = c.post(
            "/v1/banks/hub.shared/entries", json={"signals": [{"type": "md5", "value": md5("x")}]}
        )
        assert r.status_code == 403, r.text


def test_partners_and_observers_get_only_their_share(nodes: tuple[SyncNode, SyncNode]) -> None:
    hub, edge = nodes
    fill(hub.store, "members", 3)
    fill(hub.store, "observers", 3, distribution="members_observers")
    fill(hub.store, "everyone", 3, distribution="all")
    fill(hub.store, "group", 3, distribution="group:g1")
    edge.add_peer("as-observer", hub, "obsb")
    edge.add_peer("as-partner", hub, "pb")
    syncer = edge.syncer()
    syncer.sync("as-partner")
    names = {b.name for b, _ in edge.store.list_banks()}
    assert names == {"as-partner.everyone", "as-partner.group"}
    syncer.sync("as-observer")
    names = {b.name for b, _ in edge.store.list_banks()}
    assert names == {"as-partner.everyone", "as-partner.group", "as-observer.observers"}


def test_retire_delete_and_narrowing_propagate(nodes: tuple[SyncNode, SyncNode]) -> None:
    hub, edge = nodes
    uuids = fill(hub.store, "shared", 10)
    bank_uuid = hub.store.get_bank("shared").uuid
    syncer = edge.syncer(sync_page_size=3)
    syncer.sync("hub")
    assert matches(edge, md5("shared-1")) == [uuids[1]]
    hub.store.set_entry_status("shared", uuids[1], EntryStatus.RETIRED)
    hub.store.delete_entry("shared", uuids[2])
    syncer.sync("hub")
    state = mirror_state(edge.store, bank_uuid)
    assert state == mirror_state(hub.store, bank_uuid)
    assert state[uuids[1]][0] == "retired" and uuids[2] not in state
    assert matches(edge, md5("shared-1")) == [] and matches(edge, md5("shared-2")) == []
    # Narrowing the distribution withdraws the bank from the edge (a bank-level tombstone).
    hub.store.update_bank("shared", distribution="owner")
    syncer.sync("hub")
    assert mirror_state(edge.store, bank_uuid) == {}
    assert matches(edge, md5("shared-3")) == []
    # Entries added while the edge could not see the bank arrive when access comes back.
    hub.store.add_entries(
        "shared", [NewEntry(signals=(Signal("md5", md5("late")),), created_by="hub")]
    )
    hub.store.update_bank("shared", distribution="members")
    syncer.sync("hub")
    assert mirror_state(edge.store, bank_uuid) == mirror_state(hub.store, bank_uuid)
    assert len(mirror_state(edge.store, bank_uuid)) == 10
    hub.store.delete_bank("shared")
    syncer.sync("hub")
    assert [b.name for b, _ in edge.store.list_banks()] == []


def test_no_loop_between_two_nodes_and_opinions_go_home(nodes: tuple[SyncNode, SyncNode]) -> None:
    hub, edge = nodes
    uuids = fill(hub.store, "shared", 4)
    edge.store.create_bank("edge-bank", distribution="members", owner_org="edge")
    edge.store.add_entries(
        "edge-bank", [NewEntry(signals=(Signal("md5", md5("edge-0")),), created_by="edge")]
    )
    # Each pulls from the other: the hub as org hubnode on the edge.
    hub.add_peer("edge", edge, "hubnode")
    for _ in range(3):
        edge.syncer().sync("hub")
        hub.syncer().sync("edge")
    hub_banks = {b.name for b, _ in hub.store.list_banks()}
    edge_banks = {b.name for b, _ in edge.store.list_banks()}
    assert hub_banks == {"shared", "edge.edge-bank"}, "the hub's own bank never comes back"
    assert edge_banks == {"edge-bank", "hub.shared"}
    seq_hub, seq_edge = hub.store.latest_seq(), edge.store.latest_seq()
    edge.syncer().sync("hub")
    hub.syncer().sync("edge")
    assert (hub.store.latest_seq(), edge.store.latest_seq()) == (seq_hub, seq_edge), "no echo"
    # An opinion given on the edge's copy reaches the owning node, under the puller's org.
    with http(edge, "reviewer") as c:
        r = c.put(
            f"/v1/banks/hub.shared/entries/{uuids[0]}/opinion",
            json={"verdict": "disputed", "reason": "not terrorist content"},
        )
        assert r.status_code == 200, r.text
    result = edge.syncer().sync("hub")
    assert result.pushed == 1
    carried = hub.store.get_opinions("shared", uuids[0])
    assert [(o.org, o.verdict, o.origin_node) for o in carried] == [
        ("nodeb/reviewer", Verdict.DISPUTED, edge.store.node_id)
    ]
    assert hub.store.get_entry("shared", uuids[0]).status is EntryStatus.DISPUTED
    # Pushing again changes nothing; the dispute comes back to the edge as the entry's status.
    assert edge.syncer().sync("hub").pushed == 0
    assert len(hub.store.get_opinions("shared", uuids[0], include_history=True)) == 1
    assert edge.store.get_entry("hub.shared", uuids[0]).status is EntryStatus.DISPUTED
    hub.syncer().sync("edge")
    assert len(hub.store.get_opinions("shared", uuids[0], include_history=True)) == 1


def test_the_feed_filters_by_caller(nodes: tuple[SyncNode, SyncNode]) -> None:
    hub, _edge = nodes
    fill(hub.store, "members", 2)
    fill(hub.store, "private", 2, distribution="owner")
    with http(hub, "pb") as c:
        page = c.get("/v1/changes", params={"after": 0}).json()
        assert page["changes"] == [] and page["next_after"] == hub.store.latest_seq()
    with http(hub, "nodeb") as c:
        page = c.get("/v1/changes", params={"after": 0, "limit": 2}).json()
        assert [ch["kind"] for ch in page["changes"]] == ["bank_created", "entry_added"]
        assert page["more"] is True and page["next_after"] == 2
        entry = page["changes"][1]["entry"]
        assert set(entry) >= {"signals", "labels", "origin_node", "origin_org", "origin_uuid"}
        assert c.get("/v1/changes", params={"until": 3}).status_code == 422
    with http(hub, "nodeb") as c:
        hub.store.update_bank("members", distribution="owner")
        page = c.get("/v1/changes", params={"after": hub.store.latest_seq() - 1}).json()
        assert [(ch["kind"], ch.get("bank")) for ch in page["changes"]] == [("bank_revoked", None)]


@pytest.mark.parametrize("scopes", [["match"], ["review"]])
def test_the_feed_needs_the_sync_scope(nodes: tuple[SyncNode, SyncNode], scopes: list[str]) -> None:
    hub, _edge = nodes
    from tessera.services.orgs import issue_token
    from tessera.store.orgs import OrgStore

    token = issue_token(OrgStore(hub.store.db), "nodeb", scopes).secret
    import httpx

    r = httpx.get(f"{hub.url}/v1/changes", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403 and r.json()["error"]["code"]
