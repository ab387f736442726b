"""A hand-counted review history for the report tests, made through the real review services.

``build_history(store)`` gives organisation ``plat`` (and, to be left out of its reports, ``other``)
one case of every kind: reviewed and removed, found not violating, auto-actioned, shadowed and
exempted, restricted, only logged, suppressed by an allow-list, opened by a removal order,
escalated, auto-actioned then reversed, auto-actioned then confirmed by a person. Removal orders
and complaints are table rows (their services are another module's). ``EXPECTED`` holds the
figures counted by hand from that history, for the period ``period_of(now)``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from tessera.reports import Period, make_period
from tessera.review import policies
from tessera.review.records import ActionKind, Decision, Exemption, MatchMode
from tessera.services import review
from tessera.services.matching import Match
from tessera.settings import Settings
from tessera.signals.base import Signal
from tessera.store import Store
from tessera.store.db import utcnow
from tessera.store.review_tables import cases, complaints, removal_orders

ORG = "plat"
OTHER = "other"
SETTINGS = Settings()


@dataclass
class History:
    """The cases made (by name: c1, c2, ...) and the time the history was made."""

    now: datetime
    case_uuids: dict[str, str] = field(default_factory=dict)


def period_of(now: datetime) -> Period:
    """The report period around the history: ten days back to tomorrow (eleven whole days)."""
    today = datetime(now.year, now.month, now.day, tzinfo=now.tzinfo)
    return make_period(today - timedelta(days=10), today + timedelta(days=1))


def match_of(bank: str, signal_type: str = "pdq", distance: int = 4) -> Match:
    """A match of a fresh entry of ``bank``."""
    return Match(
        bank=bank,
        entry_uuid=str(uuid.uuid4()),
        signal_type=signal_type,
        distance=distance,
        threshold=31,
        query_value="q",
        matched_value="m",
        labels=("propaganda",),
        entry_status="active",
        created_by="hub",
    )


def _route(
    store: Store, ref: str, kind: str, bank: str, *, org: str = ORG, **kw: Any
) -> str | None:
    signal_type = kw.pop("signal_type", "pdq")
    routed = review.route(
        store,
        SETTINGS,
        org=org,
        content_ref=ref,
        media_kind=kind,
        signals=[Signal(signal_type, "v")],
        matches=[match_of(bank, signal_type)] + [match_of(b) for b in kw.pop("also", [])],
        **kw,
    )
    return routed.case.uuid if routed.case else None


def _decide(store: Store, case: str, decision: Decision, org: str = ORG, **kw: Any) -> None:
    review.decide(
        store,
        SETTINGS,
        org=org,
        case_uuid=case,
        decision=decision,
        actor="rev-1",
        withhold_feedback=True,
        **kw,
    )


def _reopen(store: Store, case: str) -> None:
    with store.db.write() as conn:
        conn.execute(cases.update().where(cases.c.uuid == case).values(state="reopened"))


def _case_id(store: Store, case: str) -> int:
    with store.db.read() as conn:
        return int(conn.execute(sa.select(cases.c.id).where(cases.c.uuid == case)).scalar_one())


def _policy(store: Store, bank: str, mode: MatchMode, **kw: Any) -> None:
    b = store.get_bank(bank)
    policies.set_policy(
        store.db, org=ORG, bank_uuid=b.uuid, bank_name=bank, mode=mode, actor="admin", **kw
    )


def build_history(store: Store) -> History:
    """Make the history described in the module docstring; returns its case uuids."""
    for name in ("tco", "auto", "shadowed", "logbank", "allow"):
        store.create_bank(name, labels=["tco"], owner_org="hub")
    _policy(store, "auto", MatchMode.AUTO_ACTION)
    _policy(store, "shadowed", MatchMode.AUTO_ACTION, shadow=True)
    _policy(store, "logbank", MatchMode.LOG_ONLY)
    _policy(store, "allow", MatchMode.ALLOW_LIST)
    h = History(now=utcnow())
    c = h.case_uuids
    for name, ref, kind, bank, extra in [
        ("c1", "post/1", "image", "tco", {}),
        ("c2", "post/2", "video", "tco", {"signal_type": "md5"}),
        ("c3", "post/3", "image", "auto", {}),
        ("c4", "post/4", "image", "shadowed", {}),
        ("c5", "post/5", "audio", "tco", {"signal_type": "tessera_audio"}),
        ("c8", "post/8", "image", "tco", {"source": "removal_order"}),
        ("c9", "post/9", "image", "tco", {}),
        ("c10", "post/10", "image", "auto", {}),
        ("c11", "post/11", "file", "auto", {}),
    ]:
        found = _route(store, ref, kind, bank, **extra)
        assert found is not None
        c[name] = found
    assert _route(store, "post/6", "image", "logbank") is None
    assert _route(store, "post/7", "image", "tco", also=["allow"]) is None
    other = _route(store, "theirs/1", "image", "tco", org=OTHER)
    assert other is not None
    c["other"] = other
    _decide(store, other, Decision.VIOLATING, org=OTHER)

    _decide(store, c["c1"], Decision.VIOLATING)
    _decide(store, c["c2"], Decision.NOT_VIOLATING)
    _decide(store, c["c4"], Decision.EXEMPT, exemption=Exemption.NEWS_REPORTING)
    _decide(store, c["c5"], Decision.VIOLATING, action=ActionKind.RESTRICT)
    _decide(store, c["c8"], Decision.VIOLATING)
    _decide(store, c["c9"], Decision.ESCALATE)
    for name, decision in (
        ("c3", Decision.NOT_VIOLATING),
        ("c10", Decision.NOT_VIOLATING),
        ("c11", Decision.VIOLATING),
    ):
        _reopen(store, c[name])
        _decide(store, c[name], decision)
    _orders(store, h)
    _complaints(store, h)
    return h


def _orders(store: Store, h: History) -> None:
    now = h.now
    hour = timedelta(hours=1)
    rows = [
        # (authority, received, state, actioned_at, reason, informed, case, org)
        (
            "DE-BKA",
            now - hour / 2,
            "actioned",
            now - hour / 2 + timedelta(minutes=20),
            None,
            True,
            "c8",
            ORG,
        ),
        ("DE-BKA", now - 3 * hour, "actioned", now - hour, None, False, None, ORG),
        (
            "FR-OCLCTIC",
            now - 4 * hour,
            "not_actioned",
            None,
            "de_facto_impossibility: gone",
            False,
            None,
            ORG,
        ),
        (
            "FR-OCLCTIC",
            now - 5 * hour,
            "not_actioned",
            None,
            "de_facto_impossibility",
            False,
            None,
            ORG,
        ),
        (
            "FR-OCLCTIC",
            now - 6 * hour,
            "not_actioned",
            None,
            "manifest_error: no URL",
            False,
            None,
            ORG,
        ),
        ("NL-NCTV", now - 2 * hour, "open", None, None, False, None, ORG),
        ("NL-NCTV", now - hour / 4, "open", None, None, False, None, ORG),
        (
            "NL-NCTV",
            now - timedelta(days=40),
            "actioned",
            now - timedelta(days=40),
            None,
            True,
            None,
            ORG,
        ),
        ("DE-BKA", now - hour, "actioned", now - hour / 2, None, True, None, OTHER),
    ]
    with store.db.write() as conn:
        for authority, received, state, actioned, reason, informed, case, org in rows:
            conn.execute(
                removal_orders.insert().values(
                    uuid=str(uuid.uuid4()),
                    org=org,
                    authority=authority,
                    legal_reference="TCO Art. 3 order 2026/17",
                    content_ref="post/x",
                    received_at=received,
                    deadline=received + hour,
                    case_id=_case_id(store, h.case_uuids[case]) if case else None,
                    state=state,
                    action="remove" if state == "actioned" else None,
                    actioned_at=actioned,
                    not_actioned_reason=reason,
                    uploader_informed=informed,
                    informed_at=actioned if informed else None,
                    note="",
                    created_at=received,
                )
            )


def _complaints(store: Store, h: History) -> None:
    now = h.now
    day = timedelta(days=1)
    rows = [
        # (case, received, deadline, state, decided_at, org)
        ("c3", now - 2 * day, now + 12 * day, "upheld", now - day, ORG),
        ("c1", now - 9 * day, now + 5 * day, "rejected", now - 9 * day + day / 2, ORG),
        ("c5", now - 8 * day, now - 3 * day, "rejected", now - 2 * day, ORG),
        ("c5", now - day, now + 13 * day, "open", None, ORG),
        ("c1", now - 40 * day, now - 26 * day, "rejected", now - 39 * day, ORG),
        ("other", now - day, now + 13 * day, "upheld", now, OTHER),
    ]
    with store.db.write() as conn:
        for case, received, deadline, state, decided, org in rows:
            conn.execute(
                complaints.insert().values(
                    uuid=str(uuid.uuid4()),
                    case_id=_case_id(store, h.case_uuids[case]),
                    org=org,
                    received_at=received,
                    deadline=deadline,
                    reason="this is news reporting",
                    state=state,
                    decided_by="rev-2" if decided else None,
                    decided_at=decided,
                    outcome_note="",
                )
            )


EXPECTED: dict[str, Any] = {
    "measures": {
        "policies_by_mode": {"allow_list": 1, "auto_action": 2, "log_only": 1},
        "matches": 9,
        "matches_by_signal_type": {"md5": 1, "pdq": 7, "tessera_audio": 1},
        "matches_by_bank": {"auto": 3, "shadowed": 1, "tco": 5},
        "matches_by_policy": {"auto_action": 4, "review": 5},
        "matches_logged_only": 1,
        "matches_suppressed_by_allow_list": 1,
        "decisions_human": 9,
        "decisions_automated": 3,
        "shadow_actions": 1,
    },
    "cases": {
        "opened": 9,
        "opened_by_source": {"match": 8, "removal_order": 1},
        "decisions": 12,
        "decisions_by_kind": {"escalate": 1, "exempt": 1, "not_violating": 3, "violating": 7},
        "exemptions": {"news_reporting": 1},
    },
    "actions": {
        "by_kind": {
            "remove": {"pending": 5, "shadow": 1},
            "restrict": {"pending": 1},
            "restore": {"pending": 2},
            "preserve": {},
        },
        "automated": 3,
        "human": 5,
        "items_removed": 5,
        "items_restricted": 1,
        "items_removed_or_restricted_following_orders": 1,
        "items_removed_or_restricted_own_measures": 5,
    },
    "removal_orders": {
        "received": 7,
        "by_authority": {"DE-BKA": 2, "FR-OCLCTIC": 3, "NL-NCTV": 2},
        "actioned": 2,
        "actioned_within_deadline": 1,
        "actioned_late": 1,
        "not_actioned": 3,
        "not_actioned_reasons": {"de_facto_impossibility": 2, "manifest_error": 1},
        "open": 2,
        "overdue": 1,
        "uploader_informed": 1,
        "median_minutes_to_action": 70.0,
    },
    "complaints": {
        "received": 4,
        "upheld": 1,
        "rejected": 2,
        "open": 1,
        "decided_within_deadline": 2,
        "decided_late": 1,
        "median_hours_to_outcome": 24.0,
    },
    "restorations": {"restored": 2, "following_complaint": 1, "other": 1},
}
