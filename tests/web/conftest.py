"""A node serving the review pages, with real content routed to a case through the API.

``web_node`` runs the app with the pages (``create_app(..., extra_routers=[web.router])``) on
loopback with organisations hub (coordinator), m1, m2 (members), obs (observer); m1 owns the bank
``extremist-media`` (members and observers may see it) holding one image, and m2 uploads the
same image as its content ``post-1``, which opens m2's case with a kept preview. The helpers sign
an ``httpx`` client in as a person would: fetch the form, post it back with the token.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from tessera import web
from tessera.api import Node, create_app
from tessera.review import cases
from tessera.review.records import Case
from tessera.store import Store
from tessera.store.orgs import OrgStore
from tessera.store.records import Tier
from tests.api.conftest import jpeg, node_settings
from tests.api.server import Orgs, run_server
from tests.conftest import IN_CI

BANK = "extremist-media"
CONTENT_REF = "post-1"
CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')


@dataclass
class WebNode:
    """A node serving the pages, its organisations' tokens, and m2's case about ``post-1``."""

    app: FastAPI
    url: str
    orgs: Orgs
    case: Case
    image: bytes

    @property
    def node(self) -> Node:
        """The app's node."""
        node: Node = self.app.state.node
        return node

    def client(self) -> httpx.Client:
        """A fresh HTTP client of the node (its own cookies), not signed in."""
        return httpx.Client(base_url=self.url, timeout=30)

    @contextmanager
    def signed_in(self, org: str, token: str | None = None) -> Iterator[httpx.Client]:
        """A client signed in to the pages with ``org``'s token (or ``token``)."""
        with self.client() as client:
            sign_in(client, token or self.orgs.tokens[org])
            yield client


def sign_in(client: httpx.Client, token: str, next_page: str = "/web/") -> httpx.Response:
    """Fetch the sign-in form and post it back with ``token``; the answer (not followed)."""
    form = client.get("/web/signin")
    assert form.status_code == 200, form.text
    nonce = re.search(r'name="nonce" value="([^"]+)"', form.text)
    assert nonce is not None
    data = {"token": token, "nonce": nonce.group(1), "next": next_page}
    return client.post("/web/signin", data=data)


def csrf_of(page: httpx.Response) -> str:
    """The CSRF token a page's forms carry."""
    found = CSRF.search(page.text)
    assert found is not None, page.text[:500]
    return found.group(1)


def add_bank_entry(
    url: str, orgs: Orgs, org: str, bank: str, image: bytes, **fields: object
) -> str:
    """Create ``bank`` owned by ``org`` through the API and add ``image`` to it; the entry uuid."""
    with httpx.Client(base_url=url, timeout=30, headers=orgs.auth(org)) as api:
        body = {"name": bank, "distribution": "members_observers"} | fields
        made = api.post("/v1/banks", json=body)
        assert made.status_code == 201, made.text
        added = api.post(
            f"/v1/banks/{bank}/entries/upload",
            files={"file": ("known.jpg", image, "image/jpeg")},
            data={"inclusion_criterion": "official propaganda of a listed group"},
        )
        assert added.status_code == 201, added.text
        return str(added.json()["added"][0]["uuid"])


def submit(url: str, orgs: Orgs, org: str, image: bytes, content_ref: str) -> dict[str, object]:
    """Upload content as ``org`` through the API (matched and routed); the API's answer."""
    with httpx.Client(base_url=url, timeout=30, headers=orgs.auth(org)) as api:
        sent = api.post(
            "/v1/content",
            files={"file": ("upload.jpg", image, "image/jpeg")},
            data={"content_ref": content_ref},
        )
        assert sent.status_code == 200, sent.text
        answer: dict[str, object] = sent.json()
        return answer


MakeNode = Callable[..., WebNode]


@pytest.fixture
def make_web_node(store: Store, tmp_path: Path) -> Iterator[MakeNode]:
    """A factory of one web node per test (settings overridable), stopped at the end."""
    stack = ExitStack()

    def make(**overrides: object) -> WebNode:
        orgs = Orgs(store)
        for name, tier in [
            ("hub", Tier.COORDINATOR),
            ("m1", Tier.MEMBER),
            ("m2", Tier.MEMBER),
            ("obs", Tier.OBSERVER),
        ]:
            orgs.add(name, tier)
        OrgStore(store.db).create_group("g1")
        settings = node_settings(tmp_path, webhook_interval_s=0, **overrides)
        app = create_app(settings, store=store, extra_routers=[web.router])
        url = stack.enter_context(run_server(app))
        image = jpeg(7)
        add_bank_entry(url, orgs, "m1", BANK, image, labels=["propaganda"])
        node: Node = app.state.node
        node.matcher.refresh()
        answer = submit(url, orgs, "m2", image, CONTENT_REF)
        assert answer["case"], answer
        case_uuid = str(answer["case"]["uuid"])  # type: ignore[index]
        return WebNode(app, url, orgs, cases.get(store.db, "m2", case_uuid), image)

    with stack:
        yield make


@pytest.fixture
def web_node(make_web_node: MakeNode) -> WebNode:
    """A web node with the default settings."""
    return make_web_node()


# -- the browser: Debian's chromium driven by Playwright (never a downloaded browser) ------------

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's chromium, headless; skips when it is absent (fails under CI=true)."""
    if not CHROMIUM.exists():
        reason = f"Debian's chromium is not installed at {CHROMIUM} (apt-get install chromium)"
        if IN_CI:
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (no cookies) and page; fails the test on a console error (CSP
    violations and script errors show up there)."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    opened = context.new_page()
    opened.set_default_timeout(15_000)
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(message.text)

    opened.on("console", on_console)
    opened.on("pageerror", lambda error: problems.append(str(error)))
    try:
        yield opened
        assert problems == [], problems
    finally:
        context.close()
