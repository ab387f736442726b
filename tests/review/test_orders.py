"""Removal orders on SQLite and PostgreSQL: deadlines, actions, reasons, alerts, scoping."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from tessera.errors import Conflict, Forbidden, InputError, NotFound
from tessera.review import actions, audit, cases, orders
from tessera.review.orders import NotActionedReason, OrderState, OrderWatch
from tessera.review.records import ActionKind, CaseState, Decision
from tessera.settings import Settings
from tessera.store import Store
from tessera.store.db import utcnow
from tessera.store.orgs import OrgStore
from tessera.store.records import Tier

REF = "https://platform.example/v/1"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Default deadlines (one hour for orders)."""
    return Settings(data_dir=tmp_path)


@pytest.fixture
def orgs(store: Store) -> Store:
    """The store with organisations hub (coordinator), m1 and m2 (members)."""
    o = OrgStore(store.db)
    o.create_org("hub", Tier.COORDINATOR)
    o.create_org("m1", Tier.MEMBER)
    o.create_org("m2", Tier.MEMBER)
    return store


def _record(store: Store, settings: Settings, **kw: object) -> orders.Order:
    values: dict[str, object] = {
        "org": "m1",
        "authority": "Europol IRU",
        "legal_reference": "TCO-2026-0001",
        "content_ref": REF,
    }
    return orders.record_order(store, settings, **(values | kw))  # type: ignore[arg-type]


def _kinds(store: Store, subject: str) -> list[str]:
    return [r.kind for r in audit.list_records(store.db, subject=subject)]


def test_record_opens_a_case_with_the_order_deadline(orgs: Store, settings: Settings) -> None:
    received = utcnow() - timedelta(minutes=10)
    order = _record(orgs, settings, received_at=received)
    assert order.state is OrderState.OPEN
    assert order.deadline == received + timedelta(hours=1)
    assert 49 * 60 < order.remaining_s() <= 50 * 60
    assert not order.overdue()
    assert order.case_uuid is not None
    case = cases.get(orgs.db, "m1", order.case_uuid)
    assert case.source == "removal_order"
    assert case.state is CaseState.OPEN
    assert case.deadline == order.deadline
    assert not case.automated_detection
    assert _kinds(orgs, f"removal_order:{order.uuid}") == ["removal_order.received"]
    assert "case.opened" in _kinds(orgs, f"case:{case.uuid}")


def test_an_order_attaches_to_the_open_case_and_brings_its_deadline_forward(
    orgs: Store, settings: Settings
) -> None:
    with orgs.db.write() as conn:
        case_id = cases.create(
            conn,
            org="m1",
            content_ref=REF,
            media_kind="image",
            signals=[],
            source="match",
            deadline=utcnow() + timedelta(days=1),
            automated_detection=True,
        )
        case_uuid = cases.fetch_uuid(conn, case_id)
    first = _record(orgs, settings)
    assert first.case_uuid == case_uuid
    assert cases.get(orgs.db, "m1", case_uuid).deadline == first.deadline
    later = _record(orgs, settings, received_at=utcnow() + timedelta(minutes=1))
    assert later.case_uuid == case_uuid
    assert cases.get(orgs.db, "m1", case_uuid).deadline == first.deadline  # not later


def test_act_queues_the_action_and_content_already_down_is_not_acted_on_twice(
    orgs: Store, settings: Settings
) -> None:
    order = _record(orgs, settings)
    done = orders.act_on_order(orgs, org="m1", order_uuid=order.uuid, actor="rev", note="gone")
    assert done.state is OrderState.ACTIONED
    assert done.action == "remove"
    assert done.actioned_at is not None
    assert done.case_uuid is not None
    case = cases.get(orgs.db, "m1", done.case_uuid)
    assert case.state is CaseState.ACTIONED
    assert case.decision is Decision.VIOLATING
    assert case.decided_by == f"removal_order:{order.uuid}"
    assert case.deadline is None
    queued = actions.list_actions(orgs.db, "m1", case_uuid=case.uuid)
    assert [a.kind for a in queued] == ["remove"]
    assert queued[0].payload["removal_order"] == order.uuid
    with pytest.raises(Conflict):
        orders.act_on_order(orgs, org="m1", order_uuid=order.uuid, actor="rev")
    # A second order on the same content: the case stays actioned, no second action.
    second = _record(orgs, settings, legal_reference="TCO-2026-0002")
    assert second.case_uuid == case.uuid
    assert cases.get(orgs.db, "m1", case.uuid).state is CaseState.ACTIONED
    again = orders.act_on_order(
        orgs, org="m1", order_uuid=second.uuid, actor="rev", action=ActionKind.RESTRICT
    )
    assert again.state is OrderState.ACTIONED
    assert again.action == "remove"  # what took it down
    assert len(actions.list_actions(orgs.db, "m1", case_uuid=case.uuid)) == 1
    rows = audit.list_records(orgs.db, subject=f"removal_order:{second.uuid}")
    assert rows[-1].detail["already_down"] is True
    assert rows[-1].detail["within_deadline"] is True


def test_restrict_is_an_action_and_other_kinds_are_refused(orgs: Store, settings: Settings) -> None:
    order = _record(orgs, settings)
    with pytest.raises(InputError):
        orders.act_on_order(
            orgs, org="m1", order_uuid=order.uuid, actor="rev", action=ActionKind.RESTORE
        )
    done = orders.act_on_order(
        orgs, org="m1", order_uuid=order.uuid, actor="rev", action=ActionKind.RESTRICT
    )
    assert done.action == "restrict"


def test_not_actioned_records_why_and_may_be_actioned_later(
    orgs: Store, settings: Settings
) -> None:
    order = _record(orgs, settings)
    done = orders.not_actioned(
        orgs,
        org="m1",
        order_uuid=order.uuid,
        reason=NotActionedReason.INSUFFICIENT_INFORMATION,
        explanation="the URL names no item: asked the authority: which one?",
        actor="rev",
    )
    assert done.state is OrderState.NOT_ACTIONED
    assert done.not_actioned_reason is NotActionedReason.INSUFFICIENT_INFORMATION
    assert done.not_actioned_explanation == "the URL names no item: asked the authority: which one?"
    assert orders.list_orders(orgs.db, "m1", state=OrderState.NOT_ACTIONED) == [done]
    with pytest.raises(Conflict):
        orders.not_actioned(
            orgs,
            org="m1",
            order_uuid=order.uuid,
            reason=NotActionedReason.FORCE_MAJEURE,
            explanation="",
            actor="rev",
        )
    bare = _record(orgs, settings, content_ref="https://platform.example/v/2")
    plain = orders.not_actioned(
        orgs,
        org="m1",
        order_uuid=bare.uuid,
        reason=NotActionedReason.MANIFEST_ERROR,
        explanation="",
        actor="rev",
    )
    assert plain.not_actioned_reason is NotActionedReason.MANIFEST_ERROR
    assert plain.not_actioned_explanation == ""
    later = orders.act_on_order(orgs, org="m1", order_uuid=order.uuid, actor="rev")
    assert later.state is OrderState.ACTIONED
    kinds = _kinds(orgs, f"removal_order:{order.uuid}")
    assert kinds == [
        "removal_order.received",
        "removal_order.not_actioned",
        "removal_order.actioned",
    ]


def test_uploader_informed_is_a_flag_and_a_time(orgs: Store, settings: Settings) -> None:
    order = _record(orgs, settings)
    when = utcnow() - timedelta(minutes=3)
    done = orders.inform_uploader(
        orgs, org="m1", order_uuid=order.uuid, actor="rev", informed_at=when
    )
    assert done.uploader_informed
    assert done.informed_at == when
    with pytest.raises(Conflict):
        orders.inform_uploader(orgs, org="m1", order_uuid=order.uuid, actor="rev")
    with pytest.raises(InputError):
        other = _record(orgs, settings, content_ref="x")
        orders.inform_uploader(
            orgs, org="m1", order_uuid=other.uuid, actor="rev", informed_at=utcnow() + timedelta(1)
        )


def test_orders_are_scoped_to_their_addressee(orgs: Store, settings: Settings) -> None:
    order = _record(orgs, settings)
    with pytest.raises(NotFound):
        orders.get(orgs.db, "m2", order.uuid)
    with pytest.raises(NotFound):
        orders.act_on_order(orgs, org="m2", order_uuid=order.uuid, actor="x")
    assert orders.list_orders(orgs.db, "m2") == []
    assert [o.uuid for o in orders.list_orders(orgs.db, "m1")] == [order.uuid]


def test_who_may_record(orgs: Store, settings: Settings) -> None:
    with pytest.raises(Forbidden):
        _record(orgs, settings, org="m2", recorder="m1")
    relayed = _record(orgs, settings, org="m2", recorder="hub")
    assert relayed.org == "m2"
    assert orders.get(orgs.db, "m2", relayed.uuid).uuid == relayed.uuid
    rows = audit.list_records(orgs.db, subject=f"removal_order:{relayed.uuid}")
    assert rows[0].detail["recorded_by"] == "hub"
    with pytest.raises(NotFound):
        _record(orgs, settings, org="nobody", recorder="hub")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("authority", " "),
        ("legal_reference", ""),
        ("content_ref", ""),
        ("received_at", utcnow() + timedelta(hours=2)),
        ("received_at", datetime(1999, 12, 31, tzinfo=UTC)),
        ("received_at", datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=2)))),
        ("media_kind", "hologram"),
        ("note", "a\x00b"),
    ],
)
def test_bad_input_is_refused(orgs: Store, settings: Settings, field: str, value: object) -> None:
    with pytest.raises(InputError):
        _record(orgs, settings, **{field: value})


def test_a_closed_case_with_its_content_up_is_reopened(orgs: Store, settings: Settings) -> None:
    with orgs.db.write() as conn:
        case_id = cases.create(
            conn,
            org="m1",
            content_ref=REF,
            media_kind="image",
            signals=[],
            source="match",
            deadline=None,
            automated_detection=True,
            state=CaseState.DECIDED,
        )
        case_uuid = cases.fetch_uuid(conn, case_id)
    order = _record(orgs, settings)
    case = cases.get(orgs.db, "m1", case_uuid)
    assert order.case_uuid == case_uuid
    assert case.state is CaseState.REOPENED
    assert case.deadline == order.deadline


def test_overdue_orders_are_alerted_once(orgs: Store, settings: Settings) -> None:
    late = _record(orgs, settings, received_at=utcnow() - timedelta(hours=2))
    on_time = _record(orgs, settings, content_ref="https://platform.example/v/2")
    done_late = _record(
        orgs,
        settings,
        content_ref="https://platform.example/v/3",
        received_at=utcnow() - timedelta(hours=3),
    )
    orders.act_on_order(orgs, org="m1", order_uuid=done_late.uuid, actor="rev")
    assert late.overdue()
    assert [o.uuid for o in orders.overdue(orgs.db)] == [late.uuid]
    assert orders.alert_overdue(orgs.db) == [late.uuid]
    assert orders.alert_overdue(orgs.db) == []
    rows = audit.list_records(
        orgs.db, subject=f"removal_order:{late.uuid}", kind="removal_order.overdue"
    )
    assert len(rows) == 1
    assert rows[0].detail["overdue_s"] >= 3600
    events = [a for a in actions.list_actions(orgs.db, "m1") if a.kind == "removal_order.overdue"]
    assert len(events) == 1
    assert events[0].payload["id"] == late.uuid
    assert events[0].content_ref == REF
    # An hour from now the other one is overdue too.
    assert orders.alert_overdue(orgs.db, utcnow() + timedelta(hours=2)) == [on_time.uuid]


def test_the_watch_alerts_in_the_background(orgs: Store, tmp_path: Path) -> None:
    quick = Settings(data_dir=tmp_path, removal_order_deadline_s=0.2)
    order = _record(orgs, quick)
    watch = OrderWatch(orgs.db, interval_s=0.05)
    watch.start()
    try:
        deadline = time.monotonic() + 10
        while not audit.list_records(orgs.db, kind="removal_order.overdue"):
            assert time.monotonic() < deadline, "the watch did not alert"
            time.sleep(0.05)
    finally:
        watch.stop()
    rows = audit.list_records(orgs.db, kind="removal_order.overdue")
    assert [r.subject for r in rows] == [f"removal_order:{order.uuid}"]


def test_a_received_time_in_another_zone_is_the_same_instant(
    orgs: Store, settings: Settings
) -> None:
    zone = timezone(timedelta(hours=2))
    received = (utcnow() - timedelta(minutes=10)).astimezone(zone)
    order = _record(orgs, settings, received_at=received)
    stored = orders.get(orgs.db, "m1", order.uuid)
    assert stored.received_at == received
    assert stored.deadline == received + timedelta(hours=1)
    assert 49 * 60 < stored.remaining_s() <= 50 * 60
    naive = _record(orgs, settings, content_ref="z", received_at=datetime(2026, 1, 1, 12, 0))
    assert naive.received_at == datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
