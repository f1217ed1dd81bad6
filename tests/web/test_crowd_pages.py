"""Crowd pages in Chromium: a worker's task page (qualification, the tutorial's way back,
a task, the completion code) at phone and desktop width, and the researchers' study page."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from playwright.sync_api import expect
from web.site_helpers import SCREENSHOTS, Site, browser_page, sign_in
from web.test_screenshots import _check_layout

from smokewatch.labeling.crowd import create_study, verify_code
from smokewatch.labeling.tokens import load_signing_key

HOSTILE = "<img src=x onerror=alert(1)>\"'工人😀"


@pytest.fixture(scope="module")
def study(site: Site) -> int:
    with site.db.write() as session:
        made = create_study(
            session,
            name="Pilot <b>bold</b> & 'quotes'",
            video_ids=site.seeded.plain[-24:],
            assignments=2,
            reward_cents=120,
            seed=5,
        )
        return made.id


@pytest.mark.parametrize(("width", "height", "worker"), [(360, 740, HOSTILE), (1440, 900, "W2")])
def test_a_worker_qualifies_labels_and_gets_a_code(
    page: Any, site: Site, study: int, width: int, height: int, worker: str
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": width, "height": height})
    query = urlencode(
        {"study": study, "workerId": worker, "assignmentId": f"A-{width}", "hitId": "H1"}
    )
    page.goto(f"/crowd?{query}")
    expect(page.locator("#qualify")).to_be_visible()
    expect(page.locator("#study-name")).to_have_text("Pilot <b>bold</b> & 'quotes'")
    _check_layout(page, width)
    page.screenshot(path=SCREENSHOTS / f"crowd-qualify-{width}.png")

    # the tutorial records for this worker, and leads back to the task
    page.get_by_role("link", name="Take the tutorial").click()
    expect(page.locator("#crowd-back")).to_be_visible()
    token = page.evaluate("JSON.parse(sessionStorage.getItem('smokewatch.crowd')).token")
    r = site.api(
        "/api/v1/add_tutorial_record", {"user_token": token, "action_type": 4, "query_type": 0}
    )
    assert r.status_code == 204
    page.get_by_role("link", name="Back to your task").click()
    tiles = page.locator("#grid .tile")
    expect(tiles).to_have_count(16)
    tiles.nth(0).click()
    tiles.nth(3).click()
    expect(page.locator("#counts")).to_have_text("2 of 16 marked smoke")
    expect(page.get_by_role("button", name="Submit")).to_be_enabled()
    _check_layout(page, width)
    expect(page.locator("#message")).to_contain_text("min left to submit")
    page.screenshot(path=SCREENSHOTS / f"crowd-task-{width}.png", full_page=True)

    # the first answer is lost on the way back (saved, but the page never hears): sent
    # again, it gets the code all the same
    def lose_the_answer(route: Any) -> None:
        route.fetch()
        route.abort()

    page.route("**/api/v1/crowd/submit_task", lose_the_answer, times=1)
    page.get_by_role("button", name="Submit").click()
    expect(page.locator("#message")).to_contain_text("Not sent")
    page.get_by_role("button", name="Submit").click()
    code = page.locator("#code")
    expect(code).not_to_be_empty()
    _check_layout(page, width)
    page.screenshot(path=SCREENSHOTS / f"crowd-done-{width}.png")
    found = verify_code(
        load_signing_key(site.settings), code.inner_text(), study=study, worker=worker
    )
    assert found.assignment == f"A-{width}" and found.platform == "mturk"
    # a reload of the same assignment (a closed tab, say) shows the same code again
    first = code.inner_text()
    page.reload()
    expect(page.locator("#code")).to_have_text(first)


def test_a_preview_starts_nothing(page: Any, study: int) -> None:
    page.goto(f"/crowd?study={study}&workerId=W9&assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE")
    expect(page.locator("#message")).to_contain_text("preview")
    expect(page.locator("#grid .tile")).to_have_count(0)


@pytest.mark.parametrize("width", [360, 1440])
def test_the_study_page(page: Any, site: Site, study: int, width: int) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"/crowd/studies?study={study}")
    expect(page.locator("#signin")).to_be_visible()
    sign_in(page, f"/crowd/studies?study={study}")
    expect(page.locator("#study-name")).to_have_text("Pilot <b>bold</b> & 'quotes'")
    # the worker test ran first in this module, at both widths (or not at all, alone)
    rows = page.locator("#workers tbody tr")
    if rows.count():
        expect(page.locator("#workers")).to_contain_text(HOSTILE)
        expect(page.locator("#stat-done")).to_have_text("2")
        expect(page.locator("#stat-paid")).to_have_text("2.40")
    expect(page.locator("#stat-wanted")).to_have_text("4")
    expect(page.locator("#stat-budget")).to_have_text("4.80")
    _check_layout(page, width)
    page.screenshot(path=SCREENSHOTS / f"crowd-study-{width}.png", full_page=True)


def _qualify(page: Any, site: Site) -> None:
    """The worker on ``page`` (joined) passes the tutorial, through the API."""
    token = page.evaluate("JSON.parse(sessionStorage.getItem('smokewatch.crowd')).token")
    r = site.api(
        "/api/v1/add_tutorial_record", {"user_token": token, "action_type": 4, "query_type": 0}
    )
    assert r.status_code == 204


LONG_NAME = "clairton_coke_works_2024_03_mturk_pilot_batch7"  # one word, wider than a phone


def test_a_long_study_name_fits_a_phone(browser: Any, site: Site) -> None:
    """A study's name is the heading of the worker's page and of the study page: a long one
    without spaces wraps, so the page stays phone-wide and Submit stays in reach."""
    with site.db.write() as session:
        made = create_study(
            session, name=LONG_NAME, video_ids=site.seeded.plain[:12], assignments=1, seed=7
        )
        study_id = made.id
    context = browser.new_context(
        viewport={"width": 360, "height": 740}, base_url=site.url, is_mobile=True, has_touch=True
    )
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        page.goto(f"/crowd?study={study_id}&workerId=W-long&assignmentId=A-long")
        expect(page.locator("#study-name")).to_have_text(LONG_NAME)
        expect(page.locator("#qualify")).to_be_visible()
        _qualify(page, site)
        page.get_by_role("button", name="I have passed it").tap()
        expect(page.locator("#grid .tile")).to_have_count(16)
        widths = "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        assert page.evaluate(widths) == [360, 360]
        submit = page.get_by_role("button", name="Submit")
        expect(submit).to_be_enabled()
        box = submit.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 360
        submit.tap()
        expect(page.locator("#code")).not_to_be_empty()

        sign_in(page, f"/crowd/studies?study={study_id}")
        expect(page.locator("#study-name")).to_have_text(LONG_NAME)
        assert page.evaluate(widths) == [360, 360]
    finally:
        context.close()


def test_the_time_left_is_kept_true_to_the_end(browser: Any, site: Site) -> None:
    """The assignment's hour counts down on the page (not "60 min left" to the end), and its
    last minutes are a warning."""
    with site.db.write() as session:
        made = create_study(
            session, name="Clock", video_ids=site.seeded.plain[12:24], assignments=1, seed=9
        )
        study_id = made.id
    with browser_page(browser, site.url, clock=True) as page:
        page.goto(f"/crowd?study={study_id}&workerId=W-clock&assignmentId=A-clock")
        expect(page.locator("#qualify")).to_be_visible()
        _qualify(page, site)
        page.get_by_role("button", name="I have passed it").click()
        expect(page.locator("#grid .tile")).to_have_count(16)
        message = page.locator("#message")
        expect(message).to_contain_text("You have 60 min left to submit")
        page.clock.fast_forward("30:00")
        expect(message).to_contain_text("You have 30 min left to submit")
        expect(message).to_have_class("notice warn")
        page.clock.fast_forward("25:00")
        expect(message).to_contain_text("Only 5 min left to submit")
        expect(message).to_have_class("notice bad")
        page.clock.fast_forward("04:00")
        expect(message).to_contain_text("Only 1 min left to submit")
        page.clock.fast_forward("01:00")
        expect(message).to_contain_text("Your time for this task is up")
