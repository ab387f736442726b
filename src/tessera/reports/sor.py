"""DSA statements of reasons (Art. 17 and 24(5) DSA) in the EU Transparency Database's schema.

The field names and enum values are those of the DSA Transparency Database API, version 2 (in
force since 1 July 2025): the API documentation at
https://transparency.dsa.ec.europa.eu/page/api-documentation (source:
github.com/digital-services-act/transparency-database, ``resources/markdown/api-documentation.md``)
and the enums of its ``App\\Models\\Statement`` model. ``SOR_SCHEMA`` restates that documentation
as a JSON schema; every statement built here is checked against its rules.

One statement per restriction: a case whose content was removed or restricted (a delivered or
queued ``remove``/``restrict`` action, not a shadow one), or that was decided violating. Flow:

1. the restriction: the case's first such action (kind, time, whether a machine queued it), else
   the violating decision itself;
2. the source: a removal order for the case, received before the restriction (or a case the
   order opened), makes it ``SOURCE_TYPE_OTHER_NOTIFICATION``, the authority its
   ``source_identity``; otherwise the organisation found the content by hash matching on its own
   initiative, ``SOURCE_VOLUNTARY``;
3. automation, from how it happened: ``automated_detection`` is the case's own flag (a match, a
   scan or a retro-hunt is automated; a removal order is not); ``automated_decision`` is FULLY
   when an auto_action policy took the content down without a person, PARTIALLY when a machine
   took it down and a person later confirmed it, NOT_AUTOMATED when a person decided;
4. the rest is fixed for this exchange: illegal content (TCO Regulation (EU) 2021/784),
   category "risk for public security", specification "terrorist content".

No personal data goes in (Art. 24(5) DSA): no reviewer names, no content URLs; the PUID is the
case uuid, which the organisation can link to its content.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from tessera.errors import Conflict, NotFound
from tessera.reports import Period, safe_cell
from tessera.store.db import Database, as_utc
from tessera.store.review_tables import actions, case_matches, cases, removal_orders

TCO_URL = "https://eur-lex.europa.eu/eli/reg/2021/784/oj"
LEGAL_GROUND = "Terrorist content, Article 2(7) of Regulation (EU) 2021/784 (TCO)"
ORDER_GROUND = "Removal order under Article 3 of Regulation (EU) 2021/784 (TCO): {reference}"
CONTENT_TYPES = {
    "image": "CONTENT_TYPE_IMAGE",
    "video": "CONTENT_TYPE_VIDEO",
    "audio": "CONTENT_TYPE_AUDIO",
}
VISIBILITY = {
    "remove": "DECISION_VISIBILITY_CONTENT_REMOVED",
    "restrict": "DECISION_VISIBILITY_CONTENT_DISABLED",
}
_TAKEDOWN = ("remove", "restrict")


EEA_COUNTRIES = (
    *("AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE"),
    *("IS", "IT", "LI", "LT", "LU", "LV", "MT", "NL", "NO", "PL", "PT", "RO", "SE", "SI", "SK"),
)
"""The EU/EEA country codes the database accepts in ``territorial_scope`` (here: all of them, as
removing content takes it down everywhere)."""

_VISIBILITIES = (
    "DECISION_VISIBILITY_CONTENT_REMOVED",
    "DECISION_VISIBILITY_CONTENT_DISABLED",
    "DECISION_VISIBILITY_CONTENT_DEMOTED",
    "DECISION_VISIBILITY_CONTENT_AGE_RESTRICTED",
    "DECISION_VISIBILITY_CONTENT_INTERACTION_RESTRICTED",
    "DECISION_VISIBILITY_CONTENT_LABELLED",
    "DECISION_VISIBILITY_OTHER",
)
_CATEGORIES = tuple(
    f"STATEMENT_CATEGORY_{c}"
    for c in (
        "ANIMAL_WELFARE",
        "CONSUMER_INFORMATION",
        "CYBER_VIOLENCE",
        "CYBER_VIOLENCE_AGAINST_WOMEN",
        "DATA_PROTECTION_AND_PRIVACY_VIOLATIONS",
        "ILLEGAL_OR_HARMFUL_SPEECH",
        "INTELLECTUAL_PROPERTY_INFRINGEMENTS",
        "NEGATIVE_EFFECTS_ON_CIVIC_DISCOURSE_OR_ELECTIONS",
        "NOT_SPECIFIED_NOTICE",
        "OTHER_VIOLATION_TC",
        "PROTECTION_OF_MINORS",
        "RISK_FOR_PUBLIC_SECURITY",
        "SCAMS_AND_FRAUD",
        "SELF_HARM",
        "UNSAFE_AND_PROHIBITED_PRODUCTS",
        "VIOLENCE",
    )
)
_CONTENT_TYPES = tuple(
    f"CONTENT_TYPE_{t}"
    for t in ("APP", "AUDIO", "IMAGE", "PRODUCT", "SYNTHETIC_MEDIA", "TEXT", "VIDEO", "OTHER")
)
_RISK_KEYWORDS = (
    "KEYWORD_ILLEGAL_ORGANIZATIONS",
    "KEYWORD_RISK_ENVIRONMENTAL_DAMAGE",
    "KEYWORD_RISK_PUBLIC_HEALTH",
    "KEYWORD_TERRORIST_CONTENT",
    "KEYWORD_OTHER",
)
_DATE = r"^\d{4}-\d{2}-\d{2}$"


def _text(limit: int) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": limit}


def _one_of(values: Sequence[str]) -> dict[str, Any]:
    return {"type": "string", "enum": list(values)}


def _some_of(values: Sequence[str]) -> dict[str, Any]:
    return {"type": "array", "minItems": 1, "uniqueItems": True, "items": _one_of(values)}


SOR_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "DSA Transparency Database statement of reasons (API v2), as Tessera emits it",
    "type": "object",
    "additionalProperties": False,
    "required": [
        "decision_visibility",
        "decision_ground",
        "category",
        "content_type",
        "content_date",
        "application_date",
        "territorial_scope",
        "decision_facts",
        "source_type",
        "automated_detection",
        "automated_decision",
        "puid",
    ],
    "properties": {
        "decision_visibility": _some_of(_VISIBILITIES),
        "decision_visibility_other": _text(500),
        "decision_ground": _one_of(
            ("DECISION_GROUND_ILLEGAL_CONTENT", "DECISION_GROUND_INCOMPATIBLE_CONTENT")
        ),
        "decision_ground_reference_url": {
            "type": "string",
            "pattern": "^https?://",
            "maxLength": 500,
        },
        "illegal_content_legal_ground": _text(500),
        "illegal_content_explanation": _text(2000),
        "incompatible_content_ground": _text(500),
        "incompatible_content_explanation": _text(2000),
        "incompatible_content_illegal": _one_of(("Yes", "No")),
        "category": _one_of(_CATEGORIES),
        "category_addition": _some_of(_CATEGORIES),
        # The database takes any of its keywords; this exchange's category takes these.
        "category_specification": _some_of(_RISK_KEYWORDS),
        "category_specification_other": _text(500),
        "content_type": _some_of(_CONTENT_TYPES),
        "content_type_other": _text(500),
        "content_language": {"type": "string", "pattern": "^[A-Z]{2}$"},
        "content_date": {"type": "string", "pattern": _DATE, "minimum_date": "2000-01-01"},
        "application_date": {"type": "string", "pattern": _DATE, "minimum_date": "2020-01-01"},
        "territorial_scope": _some_of(EEA_COUNTRIES),
        "decision_facts": _text(5000),
        "source_type": _one_of(
            (
                "SOURCE_ARTICLE_16",
                "SOURCE_TRUSTED_FLAGGER",
                "SOURCE_TYPE_OTHER_NOTIFICATION",
                "SOURCE_VOLUNTARY",
            )
        ),
        "source_identity": _text(500),
        "automated_detection": _one_of(("Yes", "No")),
        "automated_decision": _one_of(
            (
                "AUTOMATED_DECISION_FULLY",
                "AUTOMATED_DECISION_PARTIALLY",
                "AUTOMATED_DECISION_NOT_AUTOMATED",
            )
        ),
        "puid": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,500}$"},
    },
    "allOf": [
        {
            "if": {"properties": {"decision_ground": {"const": "DECISION_GROUND_ILLEGAL_CONTENT"}}},
            "then": {"required": ["illegal_content_legal_ground", "illegal_content_explanation"]},
        },
        {
            "if": {
                "properties": {"decision_ground": {"const": "DECISION_GROUND_INCOMPATIBLE_CONTENT"}}
            },
            "then": {
                "required": ["incompatible_content_ground", "incompatible_content_explanation"]
            },
        },
        {
            "if": {"properties": {"content_type": {"contains": {"const": "CONTENT_TYPE_OTHER"}}}},
            "then": {"required": ["content_type_other"]},
        },
        {
            "if": {
                "properties": {
                    "decision_visibility": {"contains": {"const": "DECISION_VISIBILITY_OTHER"}}
                }
            },
            "then": {"required": ["decision_visibility_other"]},
        },
    ],
}
"""The schema of one statement: the database's API v2 documentation restated (field names, enums,
character limits, date formats and the conditional requirements), closed to other fields.
``minimum_date`` is an annotation (JSON schema does not compare dates): ``check_statement``
enforces it."""

SOR_FIELDS = tuple(SOR_SCHEMA["properties"])
"""Every field, in the order of the CSV export's columns."""


def check_statement(statement: dict[str, Any]) -> None:
    """Check one statement against ``SOR_SCHEMA``'s rules; ValueError naming the first problem."""
    props: dict[str, Any] = SOR_SCHEMA["properties"]
    for name in SOR_SCHEMA["required"]:
        if name not in statement:
            raise ValueError(f"statement of reasons: {name} is required")
    for name, value in statement.items():
        rule = props.get(name)
        if rule is None:
            raise ValueError(f"statement of reasons: {name} is not a field of the schema")
        for item in value if rule["type"] == "array" else [value]:
            _check_value(name, item, rule.get("items", rule))
        if rule["type"] == "array" and (not value or len(set(value)) != len(value)):
            raise ValueError(f"statement of reasons: {name} needs distinct values")
    for clause in SOR_SCHEMA["allOf"]:
        ((name, cond),) = clause["if"]["properties"].items()
        value = statement.get(name)
        hit = (
            value == cond["const"]
            if "const" in cond
            else cond["contains"]["const"] in (value or [])
        )
        missing = [f for f in clause["then"]["required"] if f not in statement]
        if hit and missing:
            raise ValueError(f"statement of reasons: {name} {value} needs {missing[0]}")


def _check_value(name: str, value: Any, rule: dict[str, Any]) -> None:
    if not isinstance(value, str):
        raise ValueError(f"statement of reasons: {name} must be text")
    if "enum" in rule and value not in rule["enum"]:
        raise ValueError(f"statement of reasons: {name} {value!r} is not an allowed value")
    if len(value) < rule.get("minLength", 0):
        raise ValueError(f"statement of reasons: {name} is empty")
    if len(value) > rule.get("maxLength", len(value)):
        raise ValueError(f"statement of reasons: {name} is over {rule['maxLength']} characters")
    if "pattern" in rule and re.search(rule["pattern"], value) is None:
        raise ValueError(f"statement of reasons: {name} {value!r} is malformed")
    if "minimum_date" in rule and value < rule["minimum_date"]:
        raise ValueError(f"statement of reasons: {name} must be on or after {rule['minimum_date']}")


@dataclass(frozen=True, slots=True)
class _Restriction:
    kind: str
    when: datetime
    automated: bool


def _restriction(conn: Connection, case: Row[Any]) -> _Restriction | None:
    first = conn.execute(
        sa.select(actions.c.kind, actions.c.created_at, actions.c.automated)
        .where(
            actions.c.case_id == case.id,
            actions.c.state != "shadow",
            actions.c.kind.in_(_TAKEDOWN),
        )
        .order_by(actions.c.id)
        .limit(1)
    ).first()
    if first is not None:
        return _Restriction(first.kind, as_utc(first.created_at), bool(first.automated))
    if case.decision == "violating" and case.decided_at is not None:
        return _Restriction("remove", as_utc(case.decided_at), bool(case.automated_decision))
    return None


def _automated_decision(case: Row[Any], restriction: _Restriction) -> str:
    if not restriction.automated:
        return "AUTOMATED_DECISION_NOT_AUTOMATED"
    confirmed_by_person = case.decision == "violating" and not case.automated_decision
    return "AUTOMATED_DECISION_PARTIALLY" if confirmed_by_person else "AUTOMATED_DECISION_FULLY"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _match_facts(matches: Sequence[Row[Any]]) -> list[str]:
    by_bank: dict[str, list[Row[Any]]] = {}
    for m in matches:
        by_bank.setdefault(m.bank_name, []).append(m)
    lines = []
    for bank, found in sorted(by_bank.items()):
        signals = ", ".join(
            sorted(
                {f"{m.signal_type} distance {m.distance} of threshold {m.threshold}" for m in found}
            )
        )
        labels = sorted({str(label) for m in found for label in (m.labels or [])})
        entries = len({m.entry_uuid for m in found})
        shown = f" (labels: {', '.join(labels)})" if labels else ""
        lines.append(
            f"{entries} entr{'y' if entries == 1 else 'ies'} of bank {bank}{shown}: {signals}"
        )
    return lines


def _facts(
    case: Row[Any], matches: Sequence[Row[Any]], order: Row[Any] | None, r: _Restriction
) -> str:
    done = "removed" if r.kind == "remove" else "disabled access to"
    parts = []
    if order is not None:
        parts.append(
            f"A removal order from {order.authority} (reference: {order.legal_reference}) "
            f"was received at {as_utc(order.received_at).isoformat(timespec='seconds')}."
        )
    if matches:
        parts.append(
            "The content matched, by hash, items of known terrorist content shared through a "
            "hash-sharing exchange: " + "; ".join(_match_facts(matches)) + "."
        )
    if r.automated:
        parts.append(f"An automatic action under the platform's match policy {done} the content.")
        if case.decision == "violating" and not case.automated_decision:
            parts.append("A human reviewer later confirmed the decision.")
    elif order is not None:
        parts.append(f"The platform {done} the content to execute the order.")
    else:
        parts.append(f"A human reviewer found the content to be terrorist content and {done} it.")
    return _clip(" ".join(parts), 5000)


def _explanation(matches: Sequence[Row[Any]], order: Row[Any] | None, r: _Restriction) -> str:
    why = []
    if order is not None:
        why.append(f"A competent authority ({order.authority}) ordered its removal.")
    if matches:
        banks = ", ".join(sorted({m.bank_name for m in matches}))
        why.append(
            "It is a copy or near-copy of material listed as terrorist content in the hash "
            f"banks {banks}."
        )
    if not r.automated and order is None:
        why.append(
            "A reviewer found no purpose in its context that exempts it (educational, "
            "journalistic, artistic or research purposes, TCO Art. 1(3))."
        )
    why.append("The material incites, solicits or glorifies terrorist offences (TCO Art. 2(7)).")
    return _clip(" ".join(why), 2000)


def _linked_order(conn: Connection, case: Row[Any]) -> Row[Any] | None:
    return conn.execute(
        sa.select(removal_orders)
        .where(removal_orders.c.org == case.org, removal_orders.c.case_id == case.id)
        .order_by(removal_orders.c.received_at)
        .limit(1)
    ).first()


def _statement(conn: Connection, case: Row[Any]) -> dict[str, Any] | None:
    restriction = _restriction(conn, case)
    if restriction is None:
        return None
    matches = conn.execute(
        sa.select(case_matches)
        .where(case_matches.c.case_id == case.id)
        .order_by(case_matches.c.distance, case_matches.c.id)
    ).all()
    order = _linked_order(conn, case)
    if order is not None and as_utc(order.received_at) > restriction.when:
        order = None  # the content was already down when the order came: not its source
    ordered = order is not None or case.source == "removal_order"
    legal = ORDER_GROUND.format(reference=order.legal_reference) if order else LEGAL_GROUND
    statement: dict[str, Any] = {
        "decision_visibility": [VISIBILITY[restriction.kind]],
        "decision_ground": "DECISION_GROUND_ILLEGAL_CONTENT",
        "decision_ground_reference_url": TCO_URL,
        "illegal_content_legal_ground": _clip(legal, 500),
        "illegal_content_explanation": _explanation(matches, order, restriction),
        "category": "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY",
        "category_specification": ["KEYWORD_TERRORIST_CONTENT"],
        "content_type": [CONTENT_TYPES.get(case.media_kind, "CONTENT_TYPE_OTHER")],
        "content_date": as_utc(case.created_at).date().isoformat(),
        "application_date": restriction.when.date().isoformat(),
        "territorial_scope": list(EEA_COUNTRIES),
        "decision_facts": _facts(case, matches, order, restriction),
        "source_type": "SOURCE_TYPE_OTHER_NOTIFICATION" if ordered else "SOURCE_VOLUNTARY",
        "automated_detection": "Yes" if case.automated_detection else "No",
        "automated_decision": _automated_decision(case, restriction),
        "puid": str(case.uuid),
    }
    if case.media_kind not in CONTENT_TYPES:
        statement["content_type_other"] = _clip(str(case.media_kind), 500)
    if order is not None:
        statement["source_identity"] = _clip(str(order.authority), 500)
    check_statement(statement)
    return statement


def statement_for_case(db: Database, org: str, case_uuid: str) -> dict[str, Any]:
    """The statement of reasons for the organisation's restriction of one case's content."""
    with db.read() as conn:
        case = conn.execute(
            sa.select(cases).where(cases.c.uuid == case_uuid, cases.c.org == org)
        ).first()
        if case is None:
            raise NotFound(f"no case {case_uuid!r}")
        found = _statement(conn, case)
    if found is None:
        raise Conflict(
            f"case {case_uuid} restricted no content (state {case.state}, decision "
            f"{case.decision or 'none'}): a statement of reasons is owed only for a restriction"
        )
    return found


def _restricted_in(conn: Connection, org: str, period: Period) -> list[int]:
    first = sa.func.min(actions.c.created_at)
    by_action = (
        sa.select(actions.c.case_id, first.label("at"))
        .join(cases, cases.c.id == actions.c.case_id)
        .where(
            cases.c.org == org,
            actions.c.state != "shadow",
            actions.c.kind.in_(_TAKEDOWN),
        )
        .group_by(actions.c.case_id)
        .having(sa.and_(first >= period.start, first < period.end))
    )
    found = {int(case_id): as_utc(at) for case_id, at in conn.execute(by_action)}
    has_action = sa.select(actions.c.case_id).where(
        actions.c.case_id.is_not(None), actions.c.state != "shadow", actions.c.kind.in_(_TAKEDOWN)
    )
    by_decision = sa.select(cases.c.id, cases.c.decided_at).where(
        cases.c.org == org,
        cases.c.decision == "violating",
        cases.c.decided_at >= period.start,
        cases.c.decided_at < period.end,
        cases.c.id.not_in(has_action),
    )
    found.update({int(case_id): as_utc(at) for case_id, at in conn.execute(by_decision)})
    return [case_id for case_id, _at in sorted(found.items(), key=lambda kv: (kv[1], kv[0]))]


def statements(db: Database, org: str, period: Period) -> Iterator[dict[str, Any]]:
    """The statements of reasons for every restriction the organisation applied in the period."""
    with db.read() as conn:
        for case_id in _restricted_in(conn, org, period):
            case = conn.execute(sa.select(cases).where(cases.c.id == case_id)).one()
            found = _statement(conn, case)
            if found is not None:
                yield found


def as_jsonl(found: Iterable[dict[str, Any]]) -> Iterator[str]:
    """One JSON object per line."""
    for statement in found:
        yield json.dumps(statement, ensure_ascii=False, sort_keys=False) + "\n"


def as_csv(found: Iterable[dict[str, Any]]) -> Iterator[str]:
    """CSV with a header of every field; arrays as JSON arrays, absent fields empty."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(SOR_FIELDS)
    for statement in found:
        writer.writerow([safe_cell(_cell(statement.get(name))) for name in SOR_FIELDS])
        yield buf.getvalue()
        buf.seek(0)
        buf.truncate()
    yield buf.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)
