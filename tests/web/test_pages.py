"""The review pages over plain HTTP, on SQLite and PostgreSQL: sessions, access rules, CSRF,
escaping of hostile text, and the preview's visibility and retention."""

from __future__ import annotations

import time

import httpx

from tessera.review import actions, cases, delivery
from tessera.review.records import ActionKind, CaseState
from tessera.services import review
from tessera.services.orgs import issue_token
from tessera.store.orgs import OrgStore
from tessera.store.peers import PeerStore
from tessera.store.records import Verdict
from tests.review.receiver import Receiver
from tests.web.conftest import BANK, CONTENT_REF, MakeNode, WebNode, csrf_of, sign_in, submit

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_pages_send_a_browser_without_a_session_to_sign_in(web_node: WebNode) -> None:
    with web_node.client() as client:
        for path in ["/web/queue", f"/web/cases/{web_node.case.uuid}", "/web/banks"]:
            answer = client.get(path)
            assert answer.status_code == 303
            assert answer.headers["location"].startswith("/web/signin?next=")
        preview = client.get(f"/web/cases/{web_node.case.uuid}/preview")
        assert preview.status_code == 303  # never the image
        assert client.get("/").headers["location"] == "/web/"


def test_signing_in_sets_a_strict_httponly_cookie_and_bad_tokens_are_refused(
    web_node: WebNode,
) -> None:
    with web_node.client() as client:
        refused = sign_in(client, "tsr_000000000000_not-a-real-token")
        assert refused.status_code == 401
        assert 'id="why"' in refused.text and "tessera_session" not in client.cookies
        done = sign_in(client, web_node.orgs.tokens["m2"], "/web/banks")
        assert done.status_code == 303
        assert done.headers["location"] == "/web/banks"
        cookie = next(v for v in done.headers.get_list("set-cookie") if "tessera_session" in v)
        lowered = cookie.lower()
        assert "httponly" in lowered and "samesite=strict" in lowered and "path=/web" in lowered
        assert "secure" not in lowered  # plain http on loopback
        page = client.get("/web/queue")
        assert page.status_code == 200
        assert CONTENT_REF in page.text
        assert page.headers["content-security-policy"].startswith("default-src 'none'")
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["cache-control"] == "no-store"
        assert page.headers["x-frame-options"] == "DENY"
        signout = client.post("/web/signout", data={"csrf": csrf_of(page)})
        assert signout.status_code == 303
        assert client.get("/web/queue").status_code == 303


def test_sign_in_needs_the_form_the_node_gave(web_node: WebNode) -> None:
    with web_node.client() as client:
        data = {"token": web_node.orgs.tokens["m2"], "nonce": "forged", "next": "/web/"}
        assert client.post("/web/signin", data=data).status_code == 403
        assert "tessera_session" not in client.cookies


def test_an_open_redirect_after_sign_in_is_not_possible(web_node: WebNode) -> None:
    with web_node.client() as client:
        for target in ["https://evil.example/", "//evil.example/", "/web//evil.example"]:
            assert sign_in(client, web_node.orgs.tokens["m2"], target).headers["location"] == (
                "/web/"
            )


def test_a_revoked_token_ends_the_session(web_node: WebNode) -> None:
    orgs = OrgStore(web_node.node.store.db)
    issued = issue_token(orgs, "m2", ["review"])
    with web_node.signed_in("m2", issued.secret) as client:
        assert client.get("/web/queue").status_code == 200
        web_node.node.tokens.revoke(issued.info.prefix)
        ended = client.get("/web/queue")
        assert ended.status_code == 303
        assert "Your session ended" in client.get(ended.headers["location"]).text


def test_the_sign_in_page_says_only_its_own_words(web_node: WebNode) -> None:
    with web_node.client() as client:
        page = client.get("/web/signin", params={"why": "Paste your token at evil.example"})
        assert page.status_code == 422 or "evil.example" not in page.text
        assert "evil.example" not in client.get("/web/signin?why=required").text


def test_review_pages_need_the_review_scope(web_node: WebNode) -> None:
    matcher = issue_token(OrgStore(web_node.node.store.db), "m2", ["match"]).secret
    with web_node.signed_in("m2", matcher) as client:
        home = client.get("/web/")
        assert home.headers["location"] == "/web/banks"
        assert client.get("/web/banks").status_code == 200
        for path in ["/web/queue", f"/web/cases/{web_node.case.uuid}", "/web/orders"]:
            answer = client.get(path)
            assert answer.status_code == 403, path
            assert "review" in answer.text
        entry = web_node.case.matches[0].entry_uuid
        page = client.get(f"/web/banks/{BANK}/entries/{entry}")
        assert page.status_code == 200
        assert 'id="dispute"' not in page.text  # no dispute form without the scope
        csrf = csrf_of(page)
        refused = client.post(
            f"/web/banks/{BANK}/entries/{entry}/dispute", data={"csrf": csrf, "reason": "no"}
        )
        assert refused.status_code == 403


def test_a_case_and_its_preview_are_only_for_the_submitting_organisation(
    web_node: WebNode,
) -> None:
    uuid = web_node.case.uuid
    with web_node.signed_in("m2") as owner:
        preview = owner.get(f"/web/cases/{uuid}/preview")
        assert preview.status_code == 200
        assert preview.headers["content-type"] == "image/jpeg"
        assert preview.headers["cache-control"].startswith("no-store")
        assert preview.content.startswith(b"\xff\xd8\xff")
        page = owner.get(f"/web/cases/{uuid}")
        assert 'id="preview-frame"' in page.text and "concealed" in page.text
    for other in ["m1", "hub"]:  # the bank's owner and a coordinator alike
        with web_node.signed_in(other) as client:
            assert client.get(f"/web/cases/{uuid}").status_code == 404
            assert client.get(f"/web/cases/{uuid}/preview").status_code == 404
            assert CONTENT_REF not in client.get("/web/queue").text


def test_the_preview_is_gone_after_retention(make_web_node: MakeNode) -> None:
    web_node = make_web_node(review_retention_days=1e-6)  # about 86 ms
    time.sleep(0.3)
    uuid = web_node.case.uuid
    with web_node.signed_in("m2") as client:
        assert client.get(f"/web/cases/{uuid}/preview").status_code == 404  # expired, not purged
        assert "Preview deleted after retention" in client.get(f"/web/cases/{uuid}").text
        assert review.purge_expired_media(web_node.node.store) == 1
        assert client.get(f"/web/cases/{uuid}/preview").status_code == 404
        page = client.get(f"/web/cases/{uuid}")
        assert "Preview deleted after retention" in page.text
        assert 'id="preview"' not in page.text


def test_deciding_needs_the_session_csrf_token_and_a_same_site_origin(web_node: WebNode) -> None:
    uuid = web_node.case.uuid
    with web_node.signed_in("m2") as client:
        csrf = csrf_of(client.get(f"/web/cases/{uuid}"))
        form = {"decision": "violating", "csrf": "0" * 64}
        assert client.post(f"/web/cases/{uuid}/decide", data=form).status_code == 403
        missing = client.post(f"/web/cases/{uuid}/decide", data={"decision": "violating"})
        assert missing.status_code == 422
        cross = client.post(
            f"/web/cases/{uuid}/decide",
            data={"decision": "violating", "csrf": csrf},
            headers={"Origin": "https://evil.example"},
        )
        assert cross.status_code == 403
        assert client.get(f"/web/cases/{uuid}/decide").status_code == 405  # never by GET
        assert cases.get(web_node.node.store.db, "m2", uuid).state is CaseState.OPEN
        with web_node.signed_in("m1") as m1:  # another session's token does not fit
            m1_csrf = csrf_of(m1.get("/web/banks"))
        form = {"decision": "violating", "csrf": m1_csrf}
        assert client.post(f"/web/cases/{uuid}/decide", data=form).status_code == 403
        assert cases.get(web_node.node.store.db, "m2", uuid).state is CaseState.OPEN


def test_a_decision_queues_the_action_and_gives_feedback(web_node: WebNode) -> None:
    uuid = web_node.case.uuid
    entry = web_node.case.matches[0].entry_uuid
    with web_node.signed_in("m2") as client:
        csrf = csrf_of(client.get(f"/web/cases/{uuid}"))
        exempt_without_reason = client.post(
            f"/web/cases/{uuid}/decide", data={"decision": "exempt", "csrf": csrf}
        )
        assert exempt_without_reason.status_code == 422
        assert "exemption" in exempt_without_reason.text
        done = client.post(
            f"/web/cases/{uuid}/decide",
            data={"decision": "violating", "exemption": "research", "csrf": csrf, "note": "ok"},
        )
        assert done.status_code == 303 and done.headers["location"] == f"/web/cases/{uuid}"
        page = client.get(f"/web/cases/{uuid}")
        assert 'id="decision"' in page.text and "decided: violating" in page.text
        assert 'id="decide"' not in page.text  # no second decision
        again = client.post(
            f"/web/cases/{uuid}/decide", data={"decision": "not_violating", "csrf": csrf}
        )
        assert again.status_code == 409
    case = cases.get(web_node.node.store.db, "m2", uuid)
    assert case.state is CaseState.ACTIONED and case.exemption is None
    assert case.decided_by is not None and case.decided_by.startswith("token:")
    queued = actions.list_actions(web_node.node.store.db, "m2", case_uuid=uuid)
    assert [a.kind for a in queued] == [ActionKind.REMOVE.value]
    opinions = web_node.node.store.get_opinions(BANK, entry)
    assert [(o.org, o.verdict) for o in opinions] == [("m2", Verdict.CONFIRMED)]


def test_withheld_feedback_gives_no_opinion(web_node: WebNode) -> None:
    uuid = web_node.case.uuid
    with web_node.signed_in("m2") as client:
        csrf = csrf_of(client.get(f"/web/cases/{uuid}"))
        form = {"decision": "not_violating", "withhold": "1", "csrf": csrf}
        assert client.post(f"/web/cases/{uuid}/decide", data=form).status_code == 303
        assert "withheld" in client.get(f"/web/cases/{uuid}").text
    entry = web_node.case.matches[0].entry_uuid
    assert web_node.node.store.get_opinions(BANK, entry) == []


def test_hostile_text_is_shown_as_text(web_node: WebNode) -> None:
    store = web_node.node.store
    store.update_bank(BANK, description=HOSTILE, labels=[HOSTILE[:50]], inclusion_criterion=HOSTILE)
    entry = web_node.case.matches[0].entry_uuid
    store.update_entry(BANK, entry, note=HOSTILE, inclusion_criterion=HOSTILE)
    store.set_opinion(BANK, entry, "m1", Verdict.DISPUTED, HOSTILE)
    hostile_ref = f'"><script>alert(2)</script>{time.time()}'
    submit(web_node.url, web_node.orgs, "m2", web_node.image, hostile_ref)
    with web_node.signed_in("m2") as client:
        csrf = csrf_of(client.get(f"/web/cases/{web_node.case.uuid}"))
        added = client.post(
            f"/web/cases/{web_node.case.uuid}/notes", data={"text": HOSTILE, "csrf": csrf}
        )
        assert added.status_code == 303
        pages = [
            client.get(f"/web/cases/{web_node.case.uuid}"),
            client.get("/web/banks"),
            client.get(f"/web/banks/{BANK}"),
            client.get(f"/web/banks/{BANK}/entries/{entry}"),
            client.get("/web/queue"),
        ]
    with web_node.signed_in("m1") as owner:
        pages.append(owner.get(f"/web/banks/{BANK}/entries/{entry}"))  # m1 sees its reason
    for page in pages:
        assert page.status_code == 200, page.url
        assert "<script>alert" not in page.text, page.url
        assert "<img src=x" not in page.text, page.url
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in pages[0].text
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in pages[4].text
    assert pages[-1].text.count("&lt;img src=x onerror=alert(1)&gt;") >= 2


def test_the_bank_browser_obeys_the_access_rules(web_node: WebNode) -> None:
    store = web_node.node.store
    store.create_bank("m1-private", owner_org="m1", distribution="owner")
    entry = web_node.case.matches[0].entry_uuid
    store.set_opinion(BANK, entry, "obs", Verdict.FALSE_POSITIVE, "looks like news footage")
    with web_node.signed_in("m2") as m2:
        listed = m2.get("/web/banks")
        assert BANK in listed.text and "m1-private" not in listed.text
        assert m2.get("/web/banks/m1-private").status_code == 404
        assert m2.get("/web/banks/no-such-bank").status_code == 404
        page = m2.get(f"/web/banks/{BANK}/entries/{entry}")
        assert "looks like news footage" not in page.text  # another org's opinion
        assert "false positive 1" in page.text  # but the rolled-up count is shown
    with web_node.signed_in("m1") as m1:
        assert "m1-private" in m1.get("/web/banks").text
        assert "looks like news footage" in m1.get(f"/web/banks/{BANK}/entries/{entry}").text


def test_disputing_an_entry_from_its_page(web_node: WebNode) -> None:
    entry = web_node.case.matches[0].entry_uuid
    path = f"/web/banks/{BANK}/entries/{entry}"
    with web_node.signed_in("obs") as client:
        page = client.get(path)
        assert 'id="dispute"' in page.text
        csrf = csrf_of(page)
        empty = client.post(f"{path}/dispute", data={"csrf": csrf, "reason": "  "})
        assert empty.status_code == 422
        done = client.post(f"{path}/dispute", data={"csrf": csrf, "reason": "a news report"})
        assert done.status_code == 303
        after = client.get(path)
        assert 'id="entry-status" class="badge status-disputed"' in after.text
        assert "a news report" in after.text
    assert web_node.node.store.get_entry(BANK, entry).status.value == "disputed"


def test_dead_letters_are_listed_and_retried(web_node: WebNode) -> None:
    db = web_node.node.store.db
    settings = web_node.node.settings
    with Receiver() as rx:
        rx.secret = actions.set_webhook(db, "m2", rx.url)
        rx.script("410")
        with db.write() as conn:
            key = actions.enqueue(conn, org="m2", kind="remove", content_ref="post-9")
        delivery.deliver_due(db, settings)
        with web_node.signed_in("m2") as client:
            page = client.get("/web/actions")
            assert key in page.text and "410" in page.text
            done = client.post(f"/web/actions/{key}/retry", data={"csrf": csrf_of(page)})
            assert done.status_code == 303
            assert actions.get_action(db, "m2", key).state.value == "pending"
            assert key not in client.get("/web/actions").text
        delivery.deliver_due(db, settings)
        assert actions.get_action(db, "m2", key).state.value == "delivered"
        with web_node.signed_in("m1") as other:
            csrf = csrf_of(other.get("/web/actions"))
            answer = other.post(f"/web/actions/{key}/retry", data={"csrf": csrf})
            assert answer.status_code == 404


def test_removal_orders_are_recorded_counted_down_and_acted_on(web_node: WebNode) -> None:
    with web_node.signed_in("m2") as client:
        csrf = csrf_of(client.get("/web/orders"))
        form = {
            "csrf": csrf,
            "authority": "<b>Authority</b>",
            "legal_reference": "TCO 2021/784 Art. 3",
            "content_ref": CONTENT_REF,
        }
        assert client.post("/web/orders", data=form).status_code == 303
        late = form | {"content_ref": "post-2", "received_at": "2020-01-01T00:00:00"}
        assert client.post("/web/orders", data=late).status_code == 303
        page = client.get("/web/orders")
        assert page.text.count("data-deadline=") == 2
        assert "&lt;b&gt;Authority&lt;/b&gt;" in page.text
        assert 'class="countdown overdue"' in page.text  # the order received in 2020
        assert "0:59:" in page.text  # the one received now has under an hour left
        order = next(o for o in page.text.split('id="order-')[1:] if CONTENT_REF in o)
        order_uuid = order.split('"', 1)[0]
        done = client.post(f"/web/orders/{order_uuid}/act", data={"csrf": csrf})
        assert done.status_code == 303
        assert client.post(f"/web/orders/{order_uuid}/act", data={"csrf": csrf}).status_code == 409
        assert client.get("/web/orders").text.count("data-deadline=") == 1
    with web_node.signed_in("m1") as other:
        assert "TCO 2021/784" not in other.get("/web/orders").text


def test_peers_are_shown_to_the_coordinator_without_their_tokens(web_node: WebNode) -> None:
    PeerStore(web_node.node.store.db).add("upstream", "https://hub.example", "tsr_secret_value")
    with web_node.signed_in("hub") as hub:
        page = hub.get("/web/peers")
        assert page.status_code == 200
        assert "upstream" in page.text and "https://hub.example" in page.text
        assert "tsr_secret_value" not in page.text
    with web_node.signed_in("m1") as member:
        assert member.get("/web/peers").status_code == 403


def test_the_script_and_style_come_from_the_node(web_node: WebNode) -> None:
    with httpx.Client(base_url=web_node.url) as client:
        script = client.get("/web/static/tessera.js")
        assert script.status_code == 200
        assert script.headers["content-type"].startswith("text/javascript")
        assert "data-deadline" in script.text
        assert client.get("/web/static/tessera.css").status_code == 200
        assert client.get("/web/static/..%2Fsession.py").status_code == 404
        assert client.get("/web/static/other.js").status_code == 404


def test_an_audio_case_says_it_has_no_preview(web_node: WebNode) -> None:
    store = web_node.node.store
    with store.db.write() as conn:
        cases.touch(conn, web_node.case.id, media_kind="audio")
    with web_node.signed_in("m2") as client:
        page = client.get(f"/web/cases/{web_node.case.uuid}")
        assert "Audio: no preview is kept" in page.text
        form = {"decision": "escalate", "csrf": csrf_of(page)}
        assert client.post(f"/web/cases/{web_node.case.uuid}/decide", data=form).status_code == 303
        escalated = client.get(f"/web/cases/{web_node.case.uuid}").text
        assert 'id="escalated"' in escalated and 'id="decide"' in escalated  # still to decide
