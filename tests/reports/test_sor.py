"""DSA statements of reasons: the Transparency Database's schema, filled from what happened."""

from __future__ import annotations

import copy
import csv
import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from tessera.errors import Conflict, NotFound
from tessera.reports import make_period, sor
from tessera.store import Store
from tests.reports import ORG, build_history, period_of

VALIDATOR = Draft202012Validator(sor.SOR_SCHEMA)


def _valid(statement: dict[str, Any]) -> dict[str, Any]:
    errors = sorted(VALIDATOR.iter_errors(statement), key=str)
    assert not errors, [e.message for e in errors]
    return statement


def test_the_schema_is_a_valid_json_schema() -> None:
    Draft202012Validator.check_schema(sor.SOR_SCHEMA)
    assert "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY" in json.dumps(sor.SOR_SCHEMA)
    assert sor.SOR_FIELDS[0] == "decision_visibility" and "puid" in sor.SOR_FIELDS


def test_each_case_gets_the_statement_its_history_calls_for(store: Store) -> None:
    c = build_history(store).case_uuids

    def of(name: str) -> dict[str, Any]:
        return _valid(sor.statement_for_case(store.db, ORG, c[name]))

    reviewed = of("c1")
    assert reviewed["decision_visibility"] == ["DECISION_VISIBILITY_CONTENT_REMOVED"]
    assert reviewed["category"] == "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY"
    assert reviewed["category_specification"] == ["KEYWORD_TERRORIST_CONTENT"]
    assert reviewed["decision_ground"] == "DECISION_GROUND_ILLEGAL_CONTENT"
    assert "2021/784" in reviewed["illegal_content_legal_ground"]
    assert reviewed["content_type"] == ["CONTENT_TYPE_IMAGE"]
    assert reviewed["source_type"] == "SOURCE_VOLUNTARY" and "source_identity" not in reviewed
    assert reviewed["automated_detection"] == "Yes"
    assert reviewed["automated_decision"] == "AUTOMATED_DECISION_NOT_AUTOMATED"
    assert reviewed["puid"] == c["c1"]
    assert len(reviewed["territorial_scope"]) == 30 and "NO" in reviewed["territorial_scope"]
    assert (
        "bank tco" in reviewed["decision_facts"] and "human reviewer" in reviewed["decision_facts"]
    )
    # No personal data: neither the reviewer's handle nor the content's own reference.
    assert "rev-1" not in json.dumps(reviewed) and "post/1" not in json.dumps(reviewed)

    auto_then_restored = of("c3")
    assert auto_then_restored["automated_decision"] == "AUTOMATED_DECISION_FULLY"
    assert auto_then_restored["decision_visibility"] == ["DECISION_VISIBILITY_CONTENT_REMOVED"]
    assert "automatic action" in auto_then_restored["decision_facts"]
    assert of("c10")["automated_decision"] == "AUTOMATED_DECISION_FULLY"

    restricted = of("c5")
    assert restricted["decision_visibility"] == ["DECISION_VISIBILITY_CONTENT_DISABLED"]
    assert restricted["content_type"] == ["CONTENT_TYPE_AUDIO"]

    ordered = of("c8")
    assert ordered["source_type"] == "SOURCE_TYPE_OTHER_NOTIFICATION"
    assert ordered["source_identity"] == "DE-BKA"
    assert "to execute the order" in ordered["decision_facts"]
    assert ordered["automated_detection"] == "No"
    assert ordered["automated_decision"] == "AUTOMATED_DECISION_NOT_AUTOMATED"
    assert "TCO Art. 3 order 2026/17" in ordered["illegal_content_legal_ground"]

    confirmed = of("c11")
    assert confirmed["automated_decision"] == "AUTOMATED_DECISION_PARTIALLY"
    assert confirmed["content_type"] == ["CONTENT_TYPE_OTHER"]
    assert confirmed["content_type_other"] == "file"
    assert "later confirmed" in confirmed["decision_facts"]

    today = datetime.now(UTC).date().isoformat()
    assert {of(n)["application_date"] for n in ("c1", "c3", "c8")} <= {
        today,
        reviewed["content_date"],
    }


@pytest.mark.parametrize("name", ["c2", "c4", "c9"])
def test_no_statement_without_a_restriction(store: Store, name: str) -> None:
    c = build_history(store).case_uuids
    with pytest.raises(Conflict, match="only for a restriction"):
        sor.statement_for_case(store.db, ORG, c[name])


def test_another_organisations_case_is_not_found(store: Store) -> None:
    c = build_history(store).case_uuids
    with pytest.raises(NotFound):
        sor.statement_for_case(store.db, ORG, c["other"])
    with pytest.raises(NotFound):
        sor.statement_for_case(store.db, ORG, "no-such-case")
    assert sor.statement_for_case(store.db, "other", c["other"])["puid"] == c["other"]


def test_a_period_exports_every_restriction_once(store: Store) -> None:
    history = build_history(store)
    c = history.case_uuids
    found = [_valid(s) for s in sor.statements(store.db, ORG, period_of(history.now))]
    assert sorted(s["puid"] for s in found) == sorted(
        c[n] for n in ("c1", "c3", "c5", "c8", "c10", "c11")
    )
    long_ago = make_period(datetime(2021, 1, 1, tzinfo=UTC), datetime(2022, 1, 1, tzinfo=UTC))
    assert list(sor.statements(store.db, ORG, long_ago)) == []

    lines = "".join(sor.as_jsonl(found)).splitlines()
    assert [json.loads(line) for line in lines] == found
    rows = list(csv.DictReader(io.StringIO("".join(sor.as_csv(found)))))
    assert len(rows) == 6 and list(rows[0]) == list(sor.SOR_FIELDS)
    by_puid = {r["puid"]: r for r in rows}
    assert json.loads(by_puid[c["c5"]]["decision_visibility"]) == [
        "DECISION_VISIBILITY_CONTENT_DISABLED"
    ]
    assert by_puid[c["c8"]]["source_identity"] == "DE-BKA"
    assert by_puid[c["c1"]]["source_identity"] == ""
    assert "".join(sor.as_csv([])) == ",".join(sor.SOR_FIELDS) + "\n"


def _statement() -> dict[str, Any]:
    return {
        "decision_visibility": ["DECISION_VISIBILITY_CONTENT_REMOVED"],
        "decision_ground": "DECISION_GROUND_ILLEGAL_CONTENT",
        "illegal_content_legal_ground": "TCO",
        "illegal_content_explanation": "terrorist content",
        "category": "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY",
        "content_type": ["CONTENT_TYPE_IMAGE"],
        "content_date": "2026-01-01",
        "application_date": "2026-01-02",
        "territorial_scope": ["DE"],
        "decision_facts": "facts",
        "source_type": "SOURCE_VOLUNTARY",
        "automated_detection": "Yes",
        "automated_decision": "AUTOMATED_DECISION_FULLY",
        "puid": "abc-1_2",
    }


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"puid": None}, "puid is required"),
        ({"category": "STATEMENT_CATEGORY_TERRORISM"}, "not an allowed value"),
        ({"automated_decision": "Yes"}, "not an allowed value"),
        ({"automated_detection": "yes"}, "not an allowed value"),
        ({"puid": "has space"}, "malformed"),
        ({"decision_facts": "x" * 5001}, "over 5000"),
        ({"decision_facts": ""}, "empty"),
        ({"application_date": "2019-12-31"}, "on or after 2020-01-01"),
        ({"content_date": "2026-1-1"}, "malformed"),
        ({"territorial_scope": ["US"]}, "not an allowed value"),
        ({"territorial_scope": []}, "distinct values"),
        ({"illegal_content_explanation": None}, "needs illegal_content_explanation"),
        ({"content_type": ["CONTENT_TYPE_OTHER"]}, "needs content_type_other"),
        ({"url": "https://x"}, "not a field"),
    ],
)
def test_a_statement_breaking_the_schema_is_refused(change: dict[str, Any], problem: str) -> None:
    good = _statement()
    sor.check_statement(copy.deepcopy(good))
    _valid(good)
    bad = {k: v for k, v in {**good, **change}.items() if v is not None}
    with pytest.raises(ValueError, match=problem):
        sor.check_statement(bad)
    if "date" not in problem and "after" not in problem:
        assert list(VALIDATOR.iter_errors(bad)), "the JSON schema refuses it too"
