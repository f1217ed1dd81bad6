"""The tutorial in a real browser: every lesson, a mistake in the last one, a retry with hints;
with the packaged lessons and with the real-clip ones (``web/tutorial-rise.json``, when
../shared/rise is present), whose lessons are also photographed at phone and desktop width."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from service_helpers import seed
from sqlalchemy import select
from web.site_helpers import PAGE_WAIT, SCREENSHOTS, Site, browser_page, serve

from smokewatch.demo import choose_tutorial, make_tutorial_clips
from smokewatch.labeling.db import open_database
from smokewatch.labeling.tables import Connection, Tutorial, User
from smokewatch.settings import Settings


def _answer(page: Any, clips: list[dict[str, Any]], leave_out: str | None = None) -> None:
    for clip in clips:
        if clip["smoke"] and clip["id"] != leave_out:
            page.locator(f'#grid .tile[data-clip-id="{clip["id"]}"]').click()
    page.get_by_role("button", name="Check my answers").click()


def test_the_tutorial_is_completed_with_a_retry(page: Any, site: Site) -> None:
    _complete_with_a_retry(page, site)


def _complete_with_a_retry(page: Any, site: Site) -> None:
    lessons = site.api("/api/v1/get_tutorial").json()["lessons"]
    page.goto("/tutorial?from=prompt")
    feedback = page.locator("#feedback")
    for i, lesson in enumerate(lessons):
        expect(page.locator("#lesson-title")).to_contain_text(lesson["title"])
        expect(page.locator("#grid .tile")).to_have_count(len(lesson["clips"]))
        last = i == len(lessons) - 1
        if last:
            missed = next(c for c in lesson["clips"] if c["smoke"])
            _answer(page, lesson["clips"], leave_out=missed["id"])
            right = len(lesson["clips"]) - 1
            expect(feedback).to_contain_text(f"{right} of {len(lesson['clips'])} right")
            wrong = page.locator(f'#grid .tile[data-clip-id="{missed["id"]}"]')
            expect(wrong).to_have_class("tile wrong")
            expect(wrong.locator(".explanation")).to_have_text(missed["explanation"])
            expect(wrong.locator(".region")).to_have_count(len(missed["regions"]))
            page.get_by_role("button", name="Try again with hints").click()
            expect(page.locator("#hint")).to_contain_text(lesson["hint"])
            smoky = sum(len(c["regions"]) for c in lesson["clips"])
            expect(page.locator("#grid .region")).to_have_count(smoky)  # where to look
        _answer(page, lesson["clips"])
        expect(feedback).to_contain_text(f"All {len(lesson['clips'])} right")
        page.get_by_role("button", name="Finish the tutorial" if last else "Next lesson").click()
    expect(page.locator("#done")).to_be_visible()
    expect(page.locator("#status")).to_have_text("Your result is saved.")

    # RISE's codes: came from the prompt after rejected pages (0, 2), took the tutorial on its
    # page (0, 0), passed the final lesson on the second try (3, 0)
    assert _records(site, page) == [(0, 2), (0, 0), (3, 0)]
    client_id = page.evaluate("localStorage.getItem('smokewatch.clientId')")
    with site.db.read() as session:
        user = session.scalar(select(User).where(User.client_id == client_id))
        assert user is not None and user.best_tutorial_action == 3


def _records(site: Site, page: Any) -> list[tuple[int, int]]:
    """This browser's tutorial records (action, query), in order."""
    client_id = page.evaluate("localStorage.getItem('smokewatch.clientId')")
    with site.db.read() as session:
        user = session.scalar(select(User).where(User.client_id == client_id))
        assert user is not None
        rows = session.execute(
            select(Tutorial.action_type, Tutorial.query_type)
            .join(Connection, Connection.id == Tutorial.connection_id)
            .where(Connection.user_id == user.id)
            .order_by(Tutorial.id)
        ).all()
    return [(r[0], r[1]) for r in rows]


def test_a_result_that_was_not_saved_is_not_called_saved(browser: Any, site: Site) -> None:
    """The final record is a crowd worker's qualification: when it never reaches the server,
    the page says so and offers to save it again, instead of "Your result is saved"."""
    lessons = site.api("/api/v1/get_tutorial").json()["lessons"]
    with browser_page(browser, site.url, clock=True) as page:
        page.goto("/tutorial")
        for i, lesson in enumerate(lessons):
            expect(page.locator("#lesson-title")).to_contain_text(lesson["title"])
            last = i == len(lessons) - 1
            if last:  # the connection drops before the final record
                page.route(
                    "**/api/v1/add_tutorial_record",
                    lambda route: route.abort("internetdisconnected"),
                )
            _answer(page, lesson["clips"])
            expect(page.locator("#feedback")).to_contain_text(f"All {len(lesson['clips'])} right")
            button = "Finish the tutorial" if last else "Next lesson"
            page.get_by_role("button", name=button).click()
        status = page.locator("#status")
        save = page.get_by_role("button", name="Save my result")
        for _ in range(20):  # jump over the waits between the tries
            if save.is_visible() or status.inner_text() == "Your result is saved.":
                break
            page.clock.fast_forward(5_000)
            page.wait_for_timeout(100)
        expect(status).to_contain_text("Your result was not saved.")
        expect(save).to_be_focused()
        assert _records(site, page) == [(0, 0)]  # on arrival only

        page.unroute("**/api/v1/add_tutorial_record")
        save.click()
        expect(status).to_have_text("Your result is saved.")
        expect(save).to_be_hidden()
        assert _records(site, page) == [(0, 0), (4, 0)]  # every lesson right the first time


def _focused(page: Any) -> str:
    return str(page.evaluate("document.activeElement.id || document.activeElement.tagName"))


def test_by_keyboard_the_focus_goes_to_the_lesson_after_a_retry(page: Any, site: Site) -> None:
    lessons = site.api("/api/v1/get_tutorial").json()["lessons"]
    page.goto("/tutorial")
    title = page.locator("#lesson-title")
    expect(title).to_contain_text(lessons[0]["title"])
    first = page.locator("#grid .tile").first
    for retry in ("Try again", "Try again with hints"):
        first.focus()
        if not lessons[0]["clips"][0]["smoke"]:
            page.keyboard.press("Space")  # a clip without smoke marked smoke: wrong
        page.get_by_role("button", name="Check my answers").focus()
        page.keyboard.press("Enter")
        expect(page.locator("#feedback")).to_contain_text("right.")
        assert _focused(page) == "retry"
        if retry != "Try again":
            page.keyboard.press("Tab")
            assert _focused(page) == "retry-hints"
        page.keyboard.press("Enter")  # the button is hidden: the focus is on the lesson again
        expect(page.locator("#grid .tile.wrong")).to_have_count(0)
        assert _focused(page) == "lesson-title"
        page.keyboard.press("Tab")  # and the clips come next
        assert page.evaluate("document.activeElement === document.querySelector('#grid .tile')")
    _answer(page, lessons[0]["clips"])
    page.get_by_role("button", name="Next lesson").focus()
    page.keyboard.press("Enter")
    expect(title).to_contain_text(lessons[1]["title"])
    assert _focused(page) == "lesson-title"


@pytest.fixture(scope="module")
def rise_site(tmp_path_factory: pytest.TempPathFactory, rise_dir: Path) -> Iterator[Site]:
    """A site set up as ``smokewatch demo`` does with the RISE clips: the real-clip lessons."""
    tmp = tmp_path_factory.mktemp("rise-site")
    data = tmp / "data"
    url_db = f"sqlite:///{data / 'smokewatch.db'}"
    settings = Settings(data_dir=data, database_url=url_db, page_min_seconds=PAGE_WAIT)
    assert choose_tutorial(settings, rise_dir) == "rise"
    assert make_tutorial_clips(settings, rise_dir=rise_dir) == 26
    db = open_database(settings)
    seeded = seed(db, plain=0)
    with serve(settings, tmp, {"SMOKEWATCH_PAGE_MIN_SECONDS": str(PAGE_WAIT)}) as url:
        try:
            yield Site(url, settings, db, seeded)
        finally:
            db.dispose()


@pytest.fixture
def rise_page(browser: Any, rise_site: Site) -> Iterator[Any]:
    yield from _new_page(browser, rise_site.url, 1440, 900)


def _new_page(browser: Any, url: str, width: int, height: int) -> Iterator[Any]:
    phone = width < 500
    context = browser.new_context(
        viewport={"width": width, "height": height}, base_url=url, device_scale_factor=1,
        is_mobile=phone, has_touch=phone,
    )  # fmt: skip
    context.set_default_timeout(15_000)
    p = context.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda exc: errors.append(str(exc)))
    p.on("console", lambda m: errors.append(m.text) if "Content Security" in m.text else None)
    yield p
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def test_the_real_clip_tutorial_is_completed_with_a_retry(rise_page: Any, rise_site: Site) -> None:
    lessons = rise_site.api("/api/v1/get_tutorial").json()["lessons"]
    assert all(c["url"].startswith("/videos/tutorial/rise/") for x in lessons for c in x["clips"])
    _complete_with_a_retry(rise_page, rise_site)


@pytest.mark.parametrize("width,height", [(360, 640), (1280, 800)], ids=["360", "1280"])
def test_the_real_clip_lessons_at_phone_and_desktop_width(
    browser: Any, rise_site: Site, width: int, height: int
) -> None:
    """Each lesson as it starts and once checked (boxes and explanations shown), to look at;
    the clips play and the page never scrolls sideways."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    lessons = rise_site.api("/api/v1/get_tutorial").json()["lessons"]
    pages = _new_page(browser, rise_site.url, width, height)
    page = next(pages)
    page.goto("/tutorial")
    for n, lesson in enumerate(lessons, 1):
        expect(page.locator("#grid .tile")).to_have_count(len(lesson["clips"]))
        page.wait_for_function(
            "n => [...document.querySelectorAll('#grid video')].filter(v => v.readyState >= 2"
            " && v.videoWidth > 0).length >= n",
            arg=len(lesson["clips"]),
        )
        page.evaluate("document.querySelectorAll('#grid video').forEach(v => v.currentTime = 2)")
        page.evaluate(  # the toolbar at the end of a full-page capture, not mid-page
            "document.querySelectorAll('.toolbar')"
            ".forEach(t => t.style.setProperty('position', 'static', 'important'))"
        )
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.screenshot(path=SCREENSHOTS / f"tutorial-rise-{width}-lesson{n}.png", full_page=True)
        _answer(page, lesson["clips"])
        expect(page.locator("#feedback")).to_contain_text(f"All {len(lesson['clips'])} right")
        expect(page.locator("#grid .region")).to_have_count(
            sum(len(c["regions"]) for c in lesson["clips"])
        )
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.screenshot(
            path=SCREENSHOTS / f"tutorial-rise-{width}-lesson{n}-checked.png", full_page=True
        )
        page.get_by_role(
            "button", name="Finish the tutorial" if n == len(lessons) else "Next lesson"
        ).click()
    expect(page.locator("#done")).to_be_visible()
    next(pages, None)
