"""Text from the database is text: a hostile clip name shows as characters and never runs,
and the pages' Content-Security-Policy stops inline script even where markup got in."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect
from service_helpers import video_row
from sqlalchemy import insert
from web.site_helpers import RESEARCHER, place_clips, serve, sign_in

from smokewatch.labeling.db import open_database
from smokewatch.labeling.tables import Role, Video
from smokewatch.labeling.users import add_account
from smokewatch.settings import Settings

PAYLOAD = "<img src=x onerror=window.__xss=1>"  # no "-": one part of a RISE clip name
HOSTILE = 9001


@pytest.fixture(scope="module")
def hostile_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A site whose only smoke clip came from metadata with markup in its file name."""
    tmp = tmp_path_factory.mktemp("hostile")
    data = tmp / "data"
    settings = Settings(data_dir=data, database_url=f"sqlite:///{data / 'smokewatch.db'}")
    db = open_database(settings)
    row = video_row(HOSTILE, state=23)
    row["file_name"] = row["file_name"].replace("2019-01-01", f"{PAYLOAD}-01-01", 1)
    assert row["file_name"].split("-")[2] == PAYLOAD
    with db.write() as session:
        session.execute(insert(Video), [row])
        add_account(session, RESEARCHER[0], RESEARCHER[1], Role.RESEARCHER)
    place_clips(settings, db, tmp)
    try:
        with serve(settings, tmp, {}) as url:
            yield url
    finally:
        db.dispose()


@pytest.fixture
def hostile_page(browser: Any, hostile_site: str) -> Iterator[tuple[Any, list[str]]]:
    """A page, and the policy violations its console reports."""
    context = browser.new_context(base_url=hostile_site)
    context.set_default_timeout(15_000)
    page = context.new_page()
    violations: list[str] = []

    def on_console(message: Any) -> None:
        if "Content Security Policy" in message.text:
            violations.append(message.text)

    page.on("console", on_console)
    yield page, violations
    context.close()


def _no_script_ran(page: Any) -> None:
    assert page.evaluate("window.__xss") is None


def test_a_hostile_clip_name_is_shown_as_text_in_the_gallery(
    hostile_page: tuple[Any, list[str]],
) -> None:
    page, violations = hostile_page
    for signed_in in (False, True):  # the public gallery, then a researcher's (token in reach)
        if signed_in:
            sign_in(page, "/gallery")
        else:
            page.goto("/gallery")
        card = page.locator(f'.gallery-item[data-video-id="{HOSTILE}"]')
        expect(card.locator(".meta")).to_contain_text(PAYLOAD)
        assert card.locator(".meta img").count() == 0  # no element was made from the name
        _no_script_ran(page)
    assert violations == []  # nothing even tried to run


def test_the_policy_blocks_inline_script_that_reaches_a_page(
    hostile_page: tuple[Any, list[str]],
) -> None:
    page, violations = hostile_page
    page.goto("/gallery")
    expect(page.locator(".gallery-item")).to_have_count(1)
    page.evaluate(
        """html => {
            const box = document.createElement("div");
            box.innerHTML = html;  // what a careless page would do with a name
            document.body.append(box);
            const s = document.createElement("script");
            s.textContent = "window.__xss = 2";
            document.body.append(s);
        }""",
        PAYLOAD,
    )
    for _ in range(100):  # both refusals reach the console within moments
        if len(violations) >= 2:
            break
        page.wait_for_timeout(50)
    assert len(violations) >= 2, violations
    assert any("inline event handler" in v for v in violations), violations
    _no_script_ran(page)
