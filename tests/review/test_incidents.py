"""Incidents on SQLite and PostgreSQL: who declares, who sees, who is notified, the timeline."""

from __future__ import annotations

from pathlib import Path

import pytest

from tessera.errors import Conflict, Forbidden, InputError, NotFound
from tessera.review import actions, audit, incidents
from tessera.review.incidents import IncidentState
from tessera.services.access import TIER_SCOPES, Principal
from tessera.settings import Settings
from tessera.signals.base import Signal
from tessera.store import Store
from tessera.store.orgs import OrgStore
from tessera.store.records import NewEntry, Tier
from tessera.store.tables import banks


def _who(org: str, tier: Tier, groups: frozenset[str] = frozenset()) -> Principal:
    return Principal(org, tier, TIER_SCOPES[tier], groups)


HUB = _who("hub", Tier.COORDINATOR)
M1 = _who("m1", Tier.MEMBER)
P1 = _who("p1", Tier.PARTNER)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """A short incident sync interval."""
    return Settings(data_dir=tmp_path, incident_sync_interval_s=2.5)


@pytest.fixture
def node(store: Store) -> Store:
    """hub, m1, m2 (m2 without a webhook), p1; bank ``live`` shared with members, hidden from p1."""
    orgs = OrgStore(store.db)
    for name, tier in [
        ("hub", Tier.COORDINATOR),
        ("m1", Tier.MEMBER),
        ("m2", Tier.MEMBER),
        ("p1", Tier.PARTNER),
    ]:
        orgs.create_org(name, tier)
    for name in ("hub", "m1", "p1"):
        actions.set_webhook(store.db, name, f"https://{name}.example/hook")
    store.create_bank("live", owner_org="hub", distribution="members")
    return store


def _md5(i: int) -> NewEntry:
    return NewEntry(signals=(Signal("md5", f"{i:032x}"),))


def _events(store: Store, org: str) -> list[str]:
    return [a.kind for a in actions.list_actions(store.db, org) if "." in a.kind]


def test_a_coordinator_declares_and_orgs_that_see_the_bank_are_notified(
    node: Store, settings: Settings
) -> None:
    incident = incidents.declare(node, settings, HUB, name="Attack stream", bank="live")
    assert incident.state is IncidentState.ACTIVE
    assert incident.bank_name == "live"
    assert incident.sync_interval_s == 2.5
    assert _events(node, "hub") == ["incident.declared"]
    assert _events(node, "m1") == ["incident.declared"]
    assert _events(node, "m2") == []  # no webhook
    assert _events(node, "p1") == []  # may not see the bank
    event = actions.list_actions(node.db, "m1")[0]
    assert event.content_ref == ""
    assert event.payload["id"] == incident.uuid
    assert event.payload["bank"] == "live"
    with pytest.raises(Conflict):
        incidents.declare(node, settings, HUB, name="again", bank="live")


def test_only_a_coordinator_declares_updates_and_ends(node: Store, settings: Settings) -> None:
    with pytest.raises(Forbidden):
        incidents.declare(node, settings, M1, name="x", bank="live")
    incident = incidents.declare(node, settings, HUB, name="x", bank="live")
    with pytest.raises(Forbidden):
        incidents.update(node, M1, incident.uuid, note="y")
    with pytest.raises(Forbidden):
        incidents.end(node, M1, incident.uuid)
    with pytest.raises(Forbidden):
        incidents.timeline(node, M1, incident.uuid)


def test_bad_declarations_are_refused(node: Store, settings: Settings) -> None:
    with pytest.raises(NotFound):
        incidents.declare(node, settings, HUB, name="x", bank="nope")
    with pytest.raises(InputError):
        incidents.declare(node, settings, HUB, name=" ", bank="live")
    node.create_bank("secret", owner_org="m1", distribution="owner")
    with pytest.raises(NotFound):
        incidents.declare(node, settings, HUB, name="x", bank="secret")


def test_visibility_follows_the_bank(node: Store, settings: Settings) -> None:
    incident = incidents.declare(node, settings, HUB, name="x", bank="live")
    assert [i.uuid for i in incidents.active(node, M1)] == [incident.uuid]
    assert incidents.active(node, P1) == []
    with pytest.raises(NotFound):
        incidents.get(node, P1, incident.uuid)
    assert incidents.get(node, M1, incident.uuid).name == "x"


def test_update_end_and_the_timeline(node: Store, settings: Settings) -> None:
    incident = incidents.declare(node, settings, HUB, name="x", bank="live", note="first")
    node.add_entries("live", [_md5(1), _md5(2)], actor="hub")
    updated = incidents.update(node, HUB, incident.uuid, name="Attack", note="second")
    assert (updated.name, updated.note) == ("Attack", "second")
    node.add_entries("live", [_md5(3)], actor="hub")
    ended = incidents.end(node, HUB, incident.uuid, note="over")
    assert ended.state is IncidentState.ENDED
    assert ended.ended_at is not None
    assert incidents.active(node, M1) == []
    assert [i.uuid for i in incidents.list_incidents(node, M1, include_ended=True)] == [
        incident.uuid
    ]
    assert _events(node, "m1") == ["incident.ended", "incident.declared"]
    with pytest.raises(Conflict):
        incidents.end(node, HUB, incident.uuid)
    with pytest.raises(Conflict):
        incidents.update(node, HUB, incident.uuid, note="late")
    node.add_entries("live", [_md5(4)], actor="hub")  # after the end: not in the timeline
    rows = incidents.timeline(node, HUB, incident.uuid)
    kinds = [r.kind for r in rows]
    assert kinds == [
        "incident.declared",
        "entries.added",
        "incident.updated",
        "entries.added",
        "incident.ended",
    ]
    assert rows[2].detail["changed"] == {"name": "Attack", "note": "second"}
    assert rows[2].detail["bank_changes"] == {"entry_added": 2}
    assert rows[-1].detail["bank_changes"] == {"entry_added": 3}
    assert incidents.bank_changes(node.db, ended) == {"entry_added": 4}
    own = audit.list_records(node.db, subject=f"incident:{incident.uuid}")
    assert [r.org for r in own] == ["hub", "hub", "hub"]


def test_a_mirrored_bank_cannot_be_declared_on(node: Store, settings: Settings) -> None:
    with node.db.write() as conn:
        conn.execute(banks.update().where(banks.c.name == "live").values(origin_node="elsewhere"))
    with pytest.raises(InputError):
        incidents.declare(node, settings, HUB, name="x", bank="live")
