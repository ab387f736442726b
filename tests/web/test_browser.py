"""The review pages in a real browser: Debian's chromium driven by Playwright (never a downloaded
browser). A reviewer signs in, opens a case from the queue, finds the preview blurred, reveals
it and decides with the keyboard; a removal order's countdown ticks. Screenshots (in tmp_path)
are checked for what a person would see."""

from __future__ import annotations

import io
import re
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Page

from tessera.review import cases, orders
from tessera.review.records import CaseState, Decision
from tessera.store.db import utcnow
from tests.web.conftest import CONTENT_REF, MakeNode, WebNode, submit

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def sign_in(page: Page, web_node: WebNode, org: str) -> None:
    """Sign in through the form, as a person does."""
    page.goto(f"{web_node.url}/web/")
    page.wait_for_url(re.compile(r"/web/signin"))
    page.fill("#token", web_node.orgs.tokens[org])
    page.click("form.signin button[type=submit]")


def looks(shot: bytes) -> tuple[float, float]:
    """(sharpness, colourfulness) of a screenshot: the variance of its brightness's Laplacian
    (the usual focus measure: edges make it large, blur makes it vanish), and the mean spread
    between each pixel's colour channels (0 for grey)."""
    rgb = np.asarray(Image.open(io.BytesIO(shot)).convert("RGB"), dtype=np.float32)
    grey = rgb.mean(axis=2)
    laplacian = (
        grey[:-2, 1:-1] + grey[2:, 1:-1] + grey[1:-1, :-2] + grey[1:-1, 2:] - 4 * grey[1:-1, 1:-1]
    )
    colour = (rgb.max(axis=2) - rgb.min(axis=2)).mean()
    return float(laplacian.var()), float(colour)


def test_review_a_case_with_the_keyboard(
    make_web_node: MakeNode, page: Page, tmp_path: Path
) -> None:
    web_node = make_web_node()
    sign_in(page, web_node, "m2")
    page.wait_for_url(re.compile(r"/web/queue$"))
    page.get_by_role("link", name=CONTENT_REF).click()
    page.wait_for_url(re.compile(rf"/web/cases/{web_node.case.uuid}$"))
    page.wait_for_function(
        "() => { const i = document.getElementById('preview');"
        " return i && i.complete && i.naturalWidth > 0; }"
    )
    image = page.locator("#preview")
    concealed = image.evaluate("el => getComputedStyle(el).filter")
    assert "blur" in concealed and "grayscale" in concealed
    blurred = page.locator("#preview-frame").screenshot(path=str(tmp_path / "blurred.png"))

    page.keyboard.press("r")
    page.wait_for_function(
        "() => getComputedStyle(document.getElementById('preview')).filter === 'none'"
    )
    time.sleep(0.4)  # the reveal's transition
    revealed = page.locator("#preview-frame").screenshot(path=str(tmp_path / "revealed.png"))
    blurred_sharpness, blurred_colour = looks(blurred)
    revealed_sharpness, revealed_colour = looks(revealed)
    assert blurred_sharpness < 0.05 * revealed_sharpness, (blurred_sharpness, revealed_sharpness)
    assert blurred_colour < 3 < 30 < revealed_colour, (blurred_colour, revealed_colour)
    assert page.locator("#reveal").get_attribute("aria-pressed") == "true"

    page.keyboard.press("w")
    assert page.locator("#withhold").is_checked()
    page.keyboard.press("w")
    assert not page.locator("#withhold").is_checked()
    page.keyboard.press("x")  # exempt needs its exemption: focus goes to the choice
    assert page.locator("#key-hint").is_visible()
    assert page.evaluate("document.activeElement.id") == "exemption"
    page.locator("body").click(position={"x": 5, "y": 400})  # leave the choice, unchosen
    page.fill("#note-text", "violent vvv text typed in a field decides nothing")
    page.locator("#note-text").press("v")
    assert cases.get(web_node.node.store.db, "m2", web_node.case.uuid).state is CaseState.OPEN
    page.locator("body").click(position={"x": 5, "y": 400})

    page.keyboard.press("v")
    badge = page.locator("#decision")
    badge.wait_for(state="visible")
    assert badge.inner_text() == "decided: violating"
    assert page.locator("#state").inner_text() == "actioned"
    assert page.locator("#decide").count() == 0
    page.screenshot(path=str(tmp_path / "decided.png"), full_page=True)
    box = badge.bounding_box()
    assert box is not None and box["width"] > 40 and box["height"] > 10
    decided = cases.get(web_node.node.store.db, "m2", web_node.case.uuid)
    assert decided.decision is Decision.VIOLATING
    assert not decided.withhold_feedback


def test_removal_order_countdowns_tick_and_turn_red(
    make_web_node: MakeNode, page: Page, tmp_path: Path
) -> None:
    web_node = make_web_node()
    node = web_node.node
    orders.record_order(
        node.store,
        node.settings,
        org="m2",
        authority="National police",
        legal_reference="TCO 2021/784 Art. 3",
        content_ref="post-7",
    )
    orders.record_order(
        node.store,
        node.settings,
        org="m2",
        authority="National police",
        legal_reference="TCO 2021/784 Art. 3",
        content_ref="post-8",
        received_at=utcnow() - timedelta(hours=2),
    )
    sign_in(page, web_node, "m2")
    page.wait_for_url(re.compile(r"/web/queue$"))
    page.goto(f"{web_node.url}/web/orders")
    due = page.locator("tr.order", has_text="post-7").locator(".countdown")
    late = page.locator("tr.order", has_text="post-8").locator(".countdown")
    first = due.inner_text()
    assert re.fullmatch(r"0:5\d:\d\d|1:00:00", first), first
    time.sleep(2.2)
    second = due.inner_text()
    assert second != first and second < first, (first, second)
    assert re.fullmatch(r"overdue [12]:\d\d:\d\d", late.inner_text())
    red = late.evaluate("el => getComputedStyle(el).color")
    assert red == "rgb(179, 38, 30)", red
    assert due.evaluate("el => getComputedStyle(el).color") != red
    shot = page.locator("#orders").screenshot(path=str(tmp_path / "orders.png"))
    pixels = np.asarray(Image.open(io.BytesIO(shot)).convert("RGB")).astype(int)
    reddish = (pixels[..., 0] > 150) & (pixels[..., 1] < 80) & (pixels[..., 2] < 80)
    assert reddish.sum() > 50  # the overdue countdown is visibly red


def test_exempt_with_the_keyboard_after_choosing_the_exemption(
    make_web_node: MakeNode, page: Page, tmp_path: Path
) -> None:
    web_node = make_web_node()
    answer = submit(web_node.url, web_node.orgs, "m2", web_node.image, "post-news")
    case_uuid = str(answer["case"]["uuid"])  # type: ignore[index]
    sign_in(page, web_node, "m2")
    page.wait_for_url(re.compile(r"/web/queue$"))
    page.get_by_role("link", name="post-news").click()
    page.wait_for_url(re.compile(rf"/web/cases/{case_uuid}$"))
    page.keyboard.press("x")
    assert page.evaluate("document.activeElement.id") == "exemption"
    page.select_option("#exemption", "news_reporting")
    page.locator("#exemption").press("x")  # x again, from the choice: decide
    badge = page.locator("#decision")
    badge.wait_for(state="visible")
    assert badge.inner_text() == "decided: exempt (news reporting)"
    assert page.locator("#state").inner_text() == "decided"
    page.screenshot(path=str(tmp_path / "exempt.png"))
    decided = cases.get(web_node.node.store.db, "m2", case_uuid)
    assert decided.decision is Decision.EXEMPT
    assert decided.exemption is not None and decided.exemption.value == "news_reporting"
