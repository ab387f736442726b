"""The assignment, complaint, policy, report and incident pages over plain HTTP, on SQLite and
PostgreSQL: access rules, CSRF on every new form, escaping of hostile text, and what each form
does to the store."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import re
from datetime import timedelta

import httpx
import sqlalchemy as sa

from tessera.review import actions, cases, complaints, incidents, policies
from tessera.review.records import ActionKind, CaseState, ComplaintState, MatchMode
from tessera.services.access import Principal
from tessera.services.orgs import issue_token
from tessera.store.db import utcnow
from tessera.store.orgs import OrgStore
from tessera.store.records import Scope, Tier, Verdict
from tessera.store.tables import banks
from tessera.web.report_pages import report_csp
from tests.web.conftest import BANK, CONTENT_REF, WebNode, csrf_of

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'
HUB = Principal("hub", Tier.COORDINATOR, frozenset(Scope))
FORGED = "0" * 64


def decide(client: httpx.Client, case_uuid: str, decision: str = "violating") -> None:
    """Decide the case through its page's form."""
    csrf = csrf_of(client.get(f"/web/cases/{case_uuid}"))
    done = client.post(f"/web/cases/{case_uuid}/decide", data={"decision": decision, "csrf": csrf})
    assert done.status_code == 303, done.text


def file_complaint(client: httpx.Client, case_uuid: str, reason: str) -> str:
    """File a complaint through the case page's form; the complaint's uuid."""
    csrf = csrf_of(client.get(f"/web/cases/{case_uuid}"))
    done = client.post(f"/web/cases/{case_uuid}/complaints", data={"reason": reason, "csrf": csrf})
    assert done.status_code == 303, done.text
    assert done.headers["location"] == f"/web/cases/{case_uuid}#complaints"
    page = client.get(f"/web/cases/{case_uuid}").text
    found = re.search(r'id="complaint-([0-9a-f-]{36})"', page)
    assert found is not None
    return found.group(1)


# -- assignment ------------------------------------------------------------------------------------


def test_a_case_is_assigned_and_unassigned_from_its_page(web_node: WebNode) -> None:
    uuid = web_node.case.uuid
    db = web_node.node.store.db
    with web_node.signed_in("m2") as client:
        page = client.get(f"/web/cases/{uuid}")
        assert 'id="assign"' in page.text and 'id="unassign"' not in page.text
        csrf = csrf_of(page)
        path = f"/web/cases/{uuid}/assign"
        assert client.post(path, data={"assignee": "ana", "csrf": FORGED}).status_code == 403
        assert cases.get(db, "m2", uuid).assignee is None
        done = client.post(path, data={"assignee": f"  {HOSTILE[:60]} ", "csrf": csrf})
        assert done.status_code == 303 and done.headers["location"] == f"/web/cases/{uuid}"
        assert cases.get(db, "m2", uuid).assignee == HOSTILE[:60]
        shown = client.get(f"/web/cases/{uuid}").text
        assert "<script>alert" not in shown and "&lt;script&gt;alert" in shown
        assert 'id="unassign"' in shown
        too_long = client.post(path, data={"assignee": "a" * 201, "csrf": csrf})
        assert too_long.status_code == 422
        assert client.post(path, data={"assignee": "bo", "csrf": csrf}).status_code == 303
        assert "bo" in client.get("/web/queue").text
        unassigned = client.post(path, data={"assignee": "bo", "unassign": "1", "csrf": csrf})
        assert unassigned.status_code == 303
        assert cases.get(db, "m2", uuid).assignee is None
        client.post(path, data={"assignee": "cy", "csrf": csrf})
        assert client.post(path, data={"assignee": " ", "csrf": csrf}).status_code == 303
        assert cases.get(db, "m2", uuid).assignee is None  # an empty name unassigns too
    with web_node.signed_in("m1") as other:
        csrf = csrf_of(other.get("/web/banks"))
        answer = other.post(f"/web/cases/{uuid}/assign", data={"assignee": "x", "csrf": csrf})
        assert answer.status_code == 404


# -- complaints ------------------------------------------------------------------------------------


def test_a_complaint_reopens_the_case_and_upholding_restores_it(web_node: WebNode) -> None:
    uuid = web_node.case.uuid
    store = web_node.node.store
    entry = web_node.case.matches[0].entry_uuid
    with web_node.signed_in("m2") as client:
        opened = client.get(f"/web/cases/{uuid}").text
        assert 'id="file-complaint"' not in opened and 'id="statement"' not in opened
        decide(client, uuid)
        assert 'id="file-complaint"' in client.get(f"/web/cases/{uuid}").text
        key = file_complaint(client, uuid, "the video is a news report about the attack")
        case = cases.get(store.db, "m2", uuid)
        assert case.state is CaseState.REOPENED and case.deadline is not None
        left = case.deadline - utcnow()
        assert timedelta(days=13, hours=23) < left <= timedelta(days=14)
        page = client.get(f"/web/cases/{uuid}").text
        assert 'id="state" class="badge state-reopened"' in page
        assert page.count(f'data-deadline="{case.deadline.isoformat(timespec="milliseconds")}') == 2
        assert re.search(r">33[56]:\d\d:\d\d<", page)  # the countdown, in hours
        assert 'id="file-complaint"' not in page  # one open complaint at a time
        listed = client.get("/web/complaints")
        assert listed.status_code == 200
        assert f'href="/web/cases/{uuid}#complaints">{CONTENT_REF}</a>' in listed.text
        assert "news report about the attack" in listed.text
        assert listed.text.count("data-deadline=") == 1
        csrf = csrf_of(listed)
        forged = client.post(f"/web/complaints/{key}/uphold", data={"csrf": FORGED})
        assert forged.status_code == 403
        done = client.post(
            f"/web/complaints/{key}/uphold", data={"csrf": csrf, "note": "news reporting"}
        )
        assert done.status_code == 303
        assert done.headers["location"] == f"/web/cases/{uuid}#complaints"
        again = client.post(f"/web/complaints/{key}/uphold", data={"csrf": csrf})
        assert again.status_code == 409
        page = client.get(f"/web/cases/{uuid}").text
        assert 'id="state" class="badge state-restored"' in page
        assert "news reporting" in page and "data-deadline=" not in page
        assert "No open complaints." in client.get("/web/complaints").text
        assert "news report about" in client.get("/web/complaints?state=upheld").text
        assert client.get("/web/complaints?state=nonsense").status_code == 422
    assert complaints.get(store.db, "m2", key).state is ComplaintState.UPHELD
    kinds = [a.kind for a in actions.list_actions(store.db, "m2", case_uuid=uuid)]
    assert sorted(kinds) == [ActionKind.REMOVE.value, ActionKind.RESTORE.value]
    opinions = store.get_opinions(BANK, entry)
    assert [(o.org, o.verdict) for o in opinions] == [("m2", Verdict.FALSE_POSITIVE)]


def test_rejecting_a_complaint_keeps_the_decision_and_shows_hostile_text_as_text(
    web_node: WebNode,
) -> None:
    uuid = web_node.case.uuid
    db = web_node.node.store.db
    with web_node.signed_in("m2") as client:
        decide(client, uuid)
        key = file_complaint(client, uuid, HOSTILE)
        csrf = csrf_of(client.get("/web/complaints"))
        path = f"/web/complaints/{key}/reject"
        assert client.post(path, data={"csrf": FORGED, "reason": "no"}).status_code == 403
        assert client.post(path, data={"csrf": csrf, "reason": "  "}).status_code == 422
        assert client.post(path, data={"csrf": csrf}).status_code == 422
        outcome = HOSTILE.replace("x", "outcome")
        assert client.post(path, data={"csrf": csrf, "reason": outcome}).status_code == 303
        pages = [
            client.get(f"/web/cases/{uuid}"),
            client.get("/web/complaints?state=all"),
            client.get("/web/complaints?state=rejected"),
        ]
    assert cases.get(db, "m2", uuid).state is CaseState.ACTIONED
    assert complaints.get(db, "m2", key).outcome_note == outcome
    for page in pages:
        assert page.status_code == 200, page.url
        assert "<script>alert" not in page.text and "<img src=x" not in page.text, page.url
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page.text, page.url
        assert "&lt;script&gt;alert(&#34;outcome&#34;)&lt;/script&gt;" in page.text, page.url


def test_another_organisations_complaint_and_case_are_not_found(web_node: WebNode) -> None:
    uuid = web_node.case.uuid
    with web_node.signed_in("m2") as owner:
        decide(owner, uuid)
        key = file_complaint(owner, uuid, "contested")
    for org in ["m1", "hub"]:
        with web_node.signed_in(org) as other:
            page = other.get("/web/complaints?state=all")
            assert page.status_code == 200 and "contested" not in page.text
            csrf = csrf_of(page)
            for path, form in [
                (f"/web/complaints/{key}/uphold", {}),
                (f"/web/complaints/{key}/reject", {"reason": "no"}),
                (f"/web/cases/{uuid}/complaints", {"reason": "mine"}),
                ("/web/complaints/not-a-uuid/uphold", {}),
            ]:
                answer = other.post(path, data={"csrf": csrf} | form)
                assert answer.status_code == 404, (org, path)
    assert complaints.get(web_node.node.store.db, "m2", key).state is ComplaintState.OPEN


def test_a_complaint_on_an_open_case_is_refused(web_node: WebNode) -> None:
    uuid = web_node.case.uuid
    with web_node.signed_in("m2") as client:
        csrf = csrf_of(client.get(f"/web/cases/{uuid}"))
        path = f"/web/cases/{uuid}/complaints"
        assert client.post(path, data={"csrf": FORGED, "reason": "r"}).status_code == 403
        answer = client.post(path, data={"csrf": csrf, "reason": "too early"})
        assert answer.status_code == 409 and "decided or actioned" in answer.text
    assert complaints.list_complaints(web_node.node.store.db, "m2") == []


def test_complaint_pages_need_the_review_scope(web_node: WebNode) -> None:
    matcher = issue_token(OrgStore(web_node.node.store.db), "m2", ["match"]).secret
    with web_node.signed_in("m2", matcher) as client:
        page = client.get("/web/banks")
        for path in ["/web/complaints", "/web/policies", "/web/reports"]:
            assert client.get(path).status_code == 403, path
            assert f'href="{path}"' not in page.text  # nor in the navigation
        csrf = csrf_of(page)
        answer = client.post(
            f"/web/cases/{web_node.case.uuid}/complaints", data={"csrf": csrf, "reason": "r"}
        )
        assert answer.status_code == 403


# -- policies --------------------------------------------------------------------------------------


def test_policies_list_the_visible_banks_and_set_a_policy(web_node: WebNode) -> None:
    store = web_node.node.store
    store.create_bank("m1-private", owner_org="m1", distribution="owner")
    bank = store.get_bank(BANK)
    with web_node.signed_in("m2") as client:
        page = client.get("/web/policies")
        assert page.status_code == 200
        assert f'id="policy-{bank.uuid}"' in page.text and "m1-private" not in page.text
        assert "badge mode-review" in page.text
        csrf = csrf_of(page)
        path = f"/web/policies/{BANK}"
        form = {"csrf": csrf, "mode": "auto_action", "rollout": "0.25", "shadow": "1"}
        assert client.post(path, data=form | {"csrf": FORGED}).status_code == 403
        assert client.post(path, data=form | {"action": "restore"}).status_code == 422
        assert client.post(path, data=form | {"rollout": "1.5"}).status_code == 422
        assert client.post(path, data=form | {"rollout": "nan"}).status_code == 422
        assert client.post(path, data=form | {"mode": "delete_all"}).status_code == 422
        assert policies.get_policy(store.db, "m2", bank.uuid).mode is MatchMode.REVIEW
        done = client.post(path, data=form | {"action": "restrict"})
        assert done.status_code == 303
        assert done.headers["location"] == f"/web/policies#policy-{bank.uuid}"
        chosen = policies.get_policy(store.db, "m2", bank.uuid)
        assert (chosen.mode, chosen.rollout, chosen.shadow) == (MatchMode.AUTO_ACTION, 0.25, True)
        assert chosen.action is ActionKind.RESTRICT and chosen.updated_by.startswith("token:")
        shown = client.get("/web/policies").text
        assert "restrict on 25% of matches, in shadow" in shown
        # the form always carries rollout and shadow: other modes store their defaults
        back = {"csrf": csrf, "mode": "log_only", "rollout": "0.25", "shadow": "1"}
        assert client.post(path, data=back).status_code == 303
        chosen = policies.get_policy(store.db, "m2", bank.uuid)
        assert (chosen.mode, chosen.rollout, chosen.shadow) == (MatchMode.LOG_ONLY, 1.0, False)
        hidden = client.post("/web/policies/m1-private", data={"csrf": csrf, "mode": "log_only"})
        assert hidden.status_code == 404
        assert client.post("/web/policies/nope", data=back).status_code == 404
    assert policies.list_policies(store.db, "m1") == []  # m2's choice is m2's only
    with web_node.signed_in("m1") as owner:
        mine = owner.get("/web/policies").text
        assert "m1-private" in mine and "badge mode-log_only" not in mine


def test_the_policies_page_shows_hostile_bank_text_as_text(web_node: WebNode) -> None:
    store = web_node.node.store
    store.create_bank("shown-bank", owner_org="m1", distribution="members_observers")
    store.update_bank("shown-bank", description=HOSTILE)
    with store.db.write() as conn:  # names are checked on the way in; escape them anyway
        conn.execute(sa.update(banks).where(banks.c.name == "shown-bank").values(name=HOSTILE))
    with web_node.signed_in("m2") as client:
        page = client.get("/web/policies")
    assert page.status_code == 200
    assert "<script>alert" not in page.text and "<img src=x" not in page.text
    assert page.text.count("&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") >= 3


# -- reports ---------------------------------------------------------------------------------------


def test_the_report_page_frames_the_report_under_its_own_policy(web_node: WebNode) -> None:
    with web_node.signed_in("m2") as client:
        decide(client, web_node.case.uuid)
        page = client.get("/web/reports")
        assert page.status_code == 200
        assert "frame-src 'self'" in page.headers["content-security-policy"]
        assert "script-src 'self'" in page.headers["content-security-policy"]
        frame = re.search(r'<iframe id="report-frame" src="([^"]+)"', page.text)
        assert frame is not None
        report = client.get(frame.group(1).replace("&amp;", "&"))
        assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
        assert "<svg" in report.text and "Transparency report" in report.text
        assert "<script" not in report.text
        policy = report.headers["content-security-policy"]
        style = re.search(r"<style>(.*?)</style>", report.text, re.DOTALL)
        assert style is not None
        digest = base64.b64encode(hashlib.sha256(style.group(1).encode()).digest()).decode()
        assert f"style-src 'sha256-{digest}'" in policy
        assert "default-src 'none'" in policy and "script-src" not in policy
        assert "frame-ancestors 'self'" in policy and "sandbox" in policy
        assert "unsafe-inline" not in policy
        assert report.headers["x-frame-options"] == "SAMEORIGIN"
        assert report.headers["cache-control"] == "no-store"


def test_the_report_downloads_come_through_the_session(web_node: WebNode) -> None:
    with web_node.signed_in("m2") as client:
        decide(client, web_node.case.uuid)
        query = {"from": "2020-01-01", "to": (utcnow() + timedelta(days=1)).date().isoformat()}
        page = client.get("/web/reports", params=query)
        assert page.status_code == 200
        links = re.findall(r'href="(/web/reports/[^"]+)" download', page.text)
        assert len(links) == 5
        got = {
            link: client.get(link.replace("&amp;", "&")) for link in links
        }  # every download link works
        for link, answer in got.items():
            assert answer.status_code == 200, link
            disposition = "inline" if link.endswith("format=html") else "attachment"
            assert answer.headers["content-disposition"].startswith(f"{disposition}; filename=")
        as_json = client.get("/web/reports/transparency", params=query | {"format": "json"})
        report = as_json.json()
        assert report["org"] == "m2" and report["measures"]["decisions_human"] == 1
        as_csv = client.get("/web/reports/transparency", params=query | {"format": "csv"})
        rows = list(csv.reader(io.StringIO(as_csv.text)))
        assert rows[0] == ["section", "metric", "value"] and ["report", "org", "m2"] in rows
        lines = client.get("/web/reports/statements-of-reasons", params=query).text.splitlines()
        assert len(lines) == 1 and json.loads(lines[0])["puid"]
        sor_csv = client.get("/web/reports/statements-of-reasons", params=query | {"format": "csv"})
        assert len(list(csv.reader(io.StringIO(sor_csv.text)))) == 2
        case_page = client.get(f"/web/cases/{web_node.case.uuid}").text
        assert f'id="statement" href="/web/cases/{web_node.case.uuid}/statement-of' in case_page
        one = client.get(f"/web/cases/{web_node.case.uuid}/statement-of-reasons")
        assert one.status_code == 200 and one.json()["puid"] == json.loads(lines[0])["puid"]
    with web_node.signed_in("m1") as other:
        report = other.get("/web/reports/transparency", params=query | {"format": "json"}).json()
        assert report["org"] == "m1" and report["measures"]["decisions_human"] == 0
        assert other.get("/web/reports/statements-of-reasons", params=query).text == ""
        answer = other.get(f"/web/cases/{web_node.case.uuid}/statement-of-reasons")
        assert answer.status_code == 404


def test_a_bad_period_is_explained(web_node: WebNode) -> None:
    with web_node.signed_in("m2") as client:
        empty = client.get("/web/reports", params={"from": "2026-02-01", "to": "2026-01-01"})
        assert empty.status_code == 422
        assert 'id="problem"' in empty.text and "period is empty" in empty.text
        assert 'id="report-frame"' not in empty.text
        hostile = client.get("/web/reports", params={"from": HOSTILE[:40], "to": "2026-01-01"})
        assert hostile.status_code == 422 and "<script>alert" not in hostile.text
        missing = client.get("/web/reports/transparency", params={"from": "2026-01-01"})
        assert missing.status_code == 422
        wrong = client.get(
            "/web/reports/transparency",
            params={"from": "2026-01-01", "to": "2026-02-01", "format": "pdf"},
        )
        assert wrong.status_code == 422


def test_report_csp_allows_exactly_the_documents_styles() -> None:
    html = '<style>a{}</style><p>x</p><style media="print">b{}</style>'
    policy = report_csp(html)
    for body in ["a{}", "b{}"]:
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy
    assert "style-src 'none'" in report_csp("<p>no style</p>")


# -- incidents -------------------------------------------------------------------------------------


def test_an_active_incident_shows_on_every_page_of_those_who_see_its_bank(
    web_node: WebNode,
) -> None:
    node = web_node.node
    node.store.create_bank("g1-bank", owner_org="m1", distribution="group:g1")
    with web_node.signed_in("m2") as client:
        assert 'id="incident-banner"' not in client.get("/web/queue").text
        hidden = incidents.declare(node.store, node.settings, HUB, name="Hidden", bank="g1-bank")
        assert 'id="incident-banner"' not in client.get("/web/queue").text
        live = incidents.declare(node.store, node.settings, HUB, name=HOSTILE, bank=BANK)
        for path in ["/web/queue", "/web/banks", "/web/complaints", "/web/policies"]:
            page = client.get(path)
            assert 'id="incident-banner"' in page.text, path
            assert "<script>alert" not in page.text and "&lt;script&gt;alert" in page.text
            assert "Hidden" not in page.text
        incidents.end(node.store, HUB, live.uuid)
        assert 'id="incident-banner"' not in client.get("/web/queue").text
    with web_node.signed_in("m1") as owner:
        assert "Hidden" in owner.get("/web/banks").text
    incidents.end(node.store, HUB, hidden.uuid)
    with web_node.client() as anonymous:
        assert 'id="incident-banner"' not in anonymous.get("/web/signin").text
