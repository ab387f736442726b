"""The complaint, policy and report pages in a real browser: Debian's chromium driven by
Playwright (never a downloaded browser). A reviewer decides a case, files a complaint, sees the
case reopened with its two-week countdown ticking, upholds the complaint and sees the case
restored; sets a bank's policy; and opens the transparency report, whose chart is checked in a
screenshot. Any console error (a CSP violation included) fails the test."""

from __future__ import annotations

import io
import re
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Page

from tessera.review import actions, cases, policies
from tessera.review.records import ActionKind, CaseState, MatchMode
from tests.web.conftest import BANK, MakeNode, WebNode

CHART_BLUE = (31, 95, 139)  # tessera.reports.charts.PALETTE[0]

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def sign_in(page: Page, web_node: WebNode, org: str) -> None:
    """Sign in through the form, as a person does, and land on the queue."""
    page.goto(f"{web_node.url}/web/")
    page.wait_for_url(re.compile(r"/web/signin"))
    page.fill("#token", web_node.orgs.tokens[org])
    page.click("form.signin button[type=submit]")
    page.wait_for_url(re.compile(r"/web/queue$"))


def hours_left(text: str) -> float:
    """The hours a countdown shows (``H:MM:SS``)."""
    found = re.fullmatch(r"(\d+):(\d\d):(\d\d)", text)
    assert found is not None, text
    h, m, s = (int(g) for g in found.groups())
    return h + m / 60 + s / 3600


def test_file_a_complaint_and_uphold_it(
    make_web_node: MakeNode, page: Page, tmp_path: Path
) -> None:
    web_node = make_web_node()
    uuid = web_node.case.uuid
    db = web_node.node.store.db
    sign_in(page, web_node, "m2")
    page.goto(f"{web_node.url}/web/cases/{uuid}")
    page.click("#decide button[value=violating]")
    page.locator("#decision").wait_for(state="visible")
    assert page.locator("#state").inner_text() == "actioned"

    page.fill("#complaint-reason", "the uploader says this is news footage")
    page.click("#file-complaint button[type=submit]")
    page.wait_for_url(re.compile(rf"/web/cases/{uuid}#complaints$"))
    assert page.locator("#state").inner_text() == "reopened"
    countdown = page.locator(".status .countdown")
    first = countdown.inner_text()
    assert 335.9 < hours_left(first) <= 336, first  # fourteen days
    time.sleep(1.2)
    assert countdown.inner_text() != first  # ticking
    assert page.locator("#decide").count() == 1  # back in the queue, to decide again
    page.locator("#complaints").screenshot(path=str(tmp_path / "complaint.png"))

    page.goto(f"{web_node.url}/web/complaints")
    row = page.locator("tr.complaint", has_text="news footage")
    assert 335.9 < hours_left(row.locator(".countdown").inner_text()) <= 336
    row.get_by_role("link").click()
    page.wait_for_url(re.compile(rf"/web/cases/{uuid}#complaints$"))
    page.locator("form.uphold input[name=note]").fill("it is news reporting")
    page.click("form.uphold button[type=submit]")
    page.wait_for_url(re.compile(rf"/web/cases/{uuid}#complaints$"))
    assert page.locator("#state").inner_text() == "restored"
    assert page.locator(".status .countdown").count() == 0
    assert "it is news reporting" in page.locator("#complaints").inner_text()
    page.screenshot(path=str(tmp_path / "restored.png"), full_page=True)
    assert cases.get(db, "m2", uuid).state is CaseState.RESTORED
    kinds = {a.kind for a in actions.list_actions(db, "m2", case_uuid=uuid)}
    assert ActionKind.RESTORE.value in kinds


def test_set_a_policy(make_web_node: MakeNode, page: Page) -> None:
    web_node = make_web_node()
    bank = web_node.node.store.get_bank(BANK)
    sign_in(page, web_node, "m2")
    page.get_by_role("link", name="Policies").click()
    page.wait_for_url(re.compile(r"/web/policies$"))
    row = page.locator(f"#policy-{bank.uuid}")
    assert row.locator(".badge").inner_text() == "review"
    row.locator("select[name=mode]").select_option("auto_action")
    row.locator("input[name=rollout]").fill("0.5")
    row.locator("input[name=shadow]").check()
    row.locator("select[name=action]").select_option("restrict")
    row.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(rf"/web/policies#policy-{bank.uuid}$"))
    row = page.locator(f"#policy-{bank.uuid}")
    assert row.locator(".badge").inner_text() == "auto action"
    assert row.locator(".rollout").inner_text() == (
        "restrict on 50% of matches, in shadow (recorded, not taken)"
    )
    chosen = policies.get_policy(web_node.node.store.db, "m2", bank.uuid)
    assert (chosen.mode, chosen.rollout, chosen.shadow) == (MatchMode.AUTO_ACTION, 0.5, True)


def test_the_report_shows_its_charts(make_web_node: MakeNode, page: Page, tmp_path: Path) -> None:
    web_node = make_web_node()
    sign_in(page, web_node, "m2")
    page.goto(f"{web_node.url}/web/cases/{web_node.case.uuid}")
    page.click("#decide button[value=violating]")
    page.locator("#decision").wait_for(state="visible")
    page.get_by_role("link", name="Reports").click()
    page.wait_for_url(re.compile(r"/web/reports$"))
    frame = page.frame_locator("#report-frame")
    chart = frame.locator("svg.chart").first
    chart.wait_for(state="visible")
    body = frame.locator("body")
    # The report's own inline style applied (its CSP allows it by hash): a 60rem column.
    assert body.evaluate("el => getComputedStyle(el).maxWidth") == "960px"
    decisions = frame.locator("svg.chart", has=frame.locator("title", has_text="Decisions by kind"))
    decisions.scroll_into_view_if_needed()
    shot = decisions.screenshot(path=str(tmp_path / "decisions.png"))
    pixels = np.asarray(Image.open(io.BytesIO(shot)).convert("RGB")).astype(int)
    blue = (np.abs(pixels - np.array(CHART_BLUE)).sum(axis=2) < 30).sum()
    assert blue > 500, blue  # the bar of the one decision is drawn
    assert decisions.bounding_box() is not None
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
