"""Schemathesis against the node's own OpenAPI: a real node on loopback (SQLite), a coordinator's
token, and bounded examples per operation, valid and invalid requests alike.

For every generated request: no 5xx; every 4xx is JSON ``{"error": {"code", "message"}}``; and
the response conforms to the schema (status code documented, body valid, content type right).
Half the time, path parameters are replaced by names that exist (a bank, its entry, an
organisation, a sharing group), so generated requests reach past the 404s into the handlers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.config._checks import NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from tessera.api import create_app
from tessera.api.routes import ROUTERS
from tessera.store import Database, Store
from tessera.store.orgs import OrgStore
from tessera.store.records import Tier
from tests.api.conftest import node_settings
from tests.api.server import Orgs, run_server

MAX_EXAMPLES = 25

# The request schema cannot state every rule (signal types are a registry, a dispute needs a
# reason, a tier caps a token's scopes, a file must decode), so a schema-valid request may still
# be refused with a 422 JSON error; that is checked like any other 4xx below.
RULES_BEYOND_THE_SCHEMA = [positive_data_acceptance]
# In multipart/form-data every part is bytes on the wire: a "number" where the schema says
# binary is a valid file of those bytes, so a type mutation of a form part is not invalid data.
NOT_INVALID_ON_THE_WIRE = [negative_data_rejection]

OPERATIONS = sorted(
    (method, route.path)
    for router in ROUTERS
    for route in router.routes
    for method in getattr(route, "methods", ())
    if method != "HEAD"
)


@dataclass
class Fuzzed:
    """The node under test, its schema, the caller's headers and names that exist."""

    schema: schemathesis.BaseSchema
    url: str
    headers: dict[str, str]
    known: dict[str, list[str]]


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    """A seeded node on loopback (SQLite) and its OpenAPI, called with a coordinator's token."""
    tmp_path = tmp_path_factory.mktemp("schemathesis")
    db = Database(f"sqlite:///{tmp_path / 'tessera.db'}")
    db.migrate()
    store = Store(db, node_org="test-org")
    orgs = Orgs(store)
    orgs.add("hub", Tier.COORDINATOR)
    orgs.add("m1", Tier.MEMBER)
    OrgStore(store.db).create_group("g1")
    app = create_app(node_settings(tmp_path, max_upload_bytes=200_000), store=store)
    try:
        with run_server(app) as url:
            auth = orgs.auth("hub")
            with httpx.Client(base_url=url, headers=auth, timeout=30) as client:
                for name, distribution in (("b1", "members"), ("b2", "owner")):
                    r = client.post("/v1/banks", json={"name": name, "distribution": distribution})
                    assert r.status_code == 201, r.text
                r = client.post(
                    "/v1/banks/b1/entries",
                    json={"signals": [{"type": "md5", "value": "0" * 31 + "1"}], "labels": ["x"]},
                )
                assert r.status_code == 201, r.text
                entry = r.json()["added"][0]["uuid"]
            known = {"bank": ["b1", "b2"], "entry": [entry], "org": ["hub", "m1"], "group": ["g1"]}
            # A body over max_upload_bytes is refused with 413: a rejection like any other 4xx.
            rejections = [*NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES, "413"]
            config = schemathesis.Config.from_dict(
                {"checks": {"negative_data_rejection": {"expected-statuses": rejections}}}
            )
            schema = schemathesis.openapi.from_url(f"{url}/openapi.json", config=config)
            yield Fuzzed(schema, url, auth, known)
    finally:
        db.dispose()


def test_every_operation_is_fuzzed(fuzzed: Fuzzed) -> None:
    in_schema = {
        (op.method.upper(), op.path)
        for result in fuzzed.schema.get_all_operations()
        for op in [result.ok()]
    }
    assert in_schema == set(OPERATIONS)


def _is_error_json(response: schemathesis.Response) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    error = body.get("error") if isinstance(body, dict) else None
    return (
        isinstance(error, dict)
        and isinstance(error.get("code"), str)
        and isinstance(error.get("message"), str)
        and bool(error["message"])
    )


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_the_api_answers_every_request_by_its_schema(
    fuzzed: Fuzzed, method: str, path: str
) -> None:
    operation = fuzzed.schema[path][method]
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @given(case=cases, data=st.data())
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def check(case: Case, data: st.DataObject) -> None:
        names = {
            k: st.sampled_from(v)
            for k, v in fuzzed.known.items()
            if k in (case.path_parameters or {})
        }
        if names and data.draw(st.booleans(), label="existing names"):
            case.path_parameters = {
                **(case.path_parameters or {}),
                **data.draw(st.fixed_dictionaries(names)),
            }
        excluded = list(RULES_BEYOND_THE_SCHEMA)
        if case.media_type == "multipart/form-data":
            excluded += NOT_INVALID_ON_THE_WIRE
        # A case whose headers are the invalid part (the token left out or mangled) is sent as
        # generated, to be refused with 401; every other case carries the coordinator's token.
        negative_headers = case.meta is not None and case.meta.is_negative_at(
            ParameterLocation.HEADER
        )
        response = case.call_and_validate(
            base_url=fuzzed.url,
            headers=None if negative_headers else fuzzed.headers,
            excluded_checks=excluded,
        )
        assert response.status_code < 500, response.text
        if 400 <= response.status_code < 500:
            assert _is_error_json(response), (response.status_code, response.text)

    check()
