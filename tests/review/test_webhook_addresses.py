"""Webhook endpoints on internal addresses are refused unless the operator allows their range.

An organisation sets its own endpoint; without this check it could aim the node's requests at
the node's own network (loopback services, cloud metadata, private hosts).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tessera.review.actions import enqueue, get_action, set_webhook
from tessera.review.delivery import deliver_due
from tessera.review.records import ActionState
from tessera.settings import Settings
from tessera.store import Store
from tessera.store.orgs import OrgStore
from tessera.store.records import Tier
from tests.review.receiver import Receiver

ORG = "m1"


@pytest.fixture
def receiver(store: Store) -> Iterator[Receiver]:
    OrgStore(store.db).create_org(ORG, Tier.MEMBER)
    with Receiver() as rx:
        rx.secret = set_webhook(store.db, ORG, rx.url)
        yield rx


def queue(store: Store) -> str:
    with store.db.write() as conn:
        return enqueue(conn, org=ORG, kind="remove", content_ref="post/1")


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_loopback_endpoint_is_refused_and_never_called(
    store: Store, receiver: Receiver, tmp_path: Path, host: str
) -> None:
    set_webhook(store.db, ORG, receiver.url.replace("127.0.0.1", host))
    key = queue(store)
    settings = Settings(data_dir=tmp_path, webhook_allow_cidrs=[])
    counts = deliver_due(store.db, settings)
    assert (counts.delivered, counts.dead) == (0, 1)
    action = get_action(store.db, ORG, key)
    assert action.state is ActionState.DEAD
    assert "loopback" in action.last_error and "webhook_allow_cidrs" in action.last_error
    assert receiver.requests == []


def test_an_allowed_range_is_delivered_to(store: Store, receiver: Receiver, tmp_path: Path) -> None:
    key = queue(store)
    settings = Settings(data_dir=tmp_path, webhook_allow_cidrs=["127.0.0.0/8"])
    assert deliver_due(store.db, settings).delivered == 1
    assert get_action(store.db, ORG, key).state is ActionState.DELIVERED
    assert receiver.keys() == [key]


def test_a_bad_range_in_the_setting_is_a_clear_error(store: Store, tmp_path: Path) -> None:
    OrgStore(store.db).create_org(ORG, Tier.MEMBER)
    set_webhook(store.db, ORG, "https://platform.example/hook")
    queue(store)
    with pytest.raises(Exception, match="webhook_allow_cidrs: 'not-a-range'"):
        deliver_due(store.db, Settings(data_dir=tmp_path, webhook_allow_cidrs=["not-a-range"]))
