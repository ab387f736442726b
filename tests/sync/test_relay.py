"""Three nodes: a bank relayed hub → mid → leaf stays one bank (origin uuids and node kept), a
direct pull from the hub does not duplicate it, and an opinion travels leaf → mid → hub."""

from __future__ import annotations

from contextlib import ExitStack

import pytest

from tessera.store.records import EntryStatus, Tier
from tests.sync.conftest import Backend, http, start_node
from tests.sync.test_two_nodes import fill, mirror_state


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_bank_relayed_through_a_middle_node(backend: Backend) -> None:
    with ExitStack() as stack:
        hub = start_node(stack, backend, "hub", "hub")
        mid = start_node(stack, backend, "mid", "mid")
        leaf = start_node(stack, backend, "leaf", "leaf")
        hub.orgs.add("mid-org", Tier.MEMBER)
        hub.orgs.add("leaf-org", Tier.MEMBER)
        mid.orgs.add("leaf-org", Tier.MEMBER)
        leaf.orgs.add("reviewer", Tier.MEMBER)
        uuids = fill(hub.store, "shared", 6)
        bank = hub.store.get_bank("shared").uuid
        mid.add_peer("hub", hub, "mid-org")
        leaf.add_peer("mid", mid, "leaf-org")
        mid.syncer().sync("hub")
        leaf.syncer().sync("mid")
        relayed = {b.name: b for b, _ in leaf.store.list_banks()}
        assert list(relayed) == ["mid.hub.shared"]
        assert relayed["mid.hub.shared"].origin_node == hub.store.node_id
        assert mirror_state(leaf.store, bank) == mirror_state(hub.store, bank)
        entry = leaf.store.get_entry("mid.hub.shared", uuids[0])
        assert (entry.origin_node, entry.origin_uuid) == (hub.store.node_id, uuids[0])
        # Pulling the same bank straight from the hub updates the same copy, no duplicate.
        leaf.add_peer("hub", hub, "leaf-org")
        leaf.syncer().sync("hub")
        assert [b.name for b, _ in leaf.store.list_banks()] == ["mid.hub.shared"]
        assert mirror_state(leaf.store, bank) == mirror_state(hub.store, bank)
        # A dispute given on the leaf reaches the hub through the middle node.
        with http(leaf, "reviewer") as c:
            r = c.put(
                f"/v1/banks/mid.hub.shared/entries/{uuids[1]}/opinion",
                json={"verdict": "disputed", "reason": "satire"},
            )
            assert r.status_code == 200, r.text
        assert leaf.syncer().sync("mid").pushed == 1
        assert mid.syncer().sync("hub").pushed == 1
        carried = hub.store.get_opinions("shared", uuids[1])
        assert [(o.org, o.origin_node) for o in carried] == [
            ("mid-org/leaf-org/reviewer", leaf.store.node_id)
        ]
        assert hub.store.get_entry("shared", uuids[1]).status is EntryStatus.DISPUTED
        # Everything settles: further rounds carry nothing and change no log.
        for _ in range(2):
            mid.syncer().sync("hub")
            leaf.syncer().sync("mid")
            leaf.syncer().sync("hub")
        seqs = (hub.store.latest_seq(), mid.store.latest_seq(), leaf.store.latest_seq())
        assert leaf.syncer().sync("mid").pushed == 0
        mid.syncer().sync("hub")
        leaf.syncer().sync("hub")
        assert (hub.store.latest_seq(), mid.store.latest_seq(), leaf.store.latest_seq()) == seqs
        assert leaf.store.get_entry("mid.hub.shared", uuids[1]).status is EntryStatus.DISPUTED
