"""The Events page in Chromium, on a site of its own: a detection run imported by the real
command (``clips import --from-detections``), served by ``smokewatch serve``. A researcher
sees the day's events per view with their evidence playing, an event id with markup stays
text, and confirming an event labels its clips; no Content-Security-Policy violation."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from detection_runs import Run, RunView, write_run
from playwright.sync_api import expect
from sqlalchemy import select
from web.site_helpers import PAGE_WAIT, RESEARCHER, SCREENSHOTS, serve, sign_in

from smokewatch.labeling.db import open_database
from smokewatch.labeling.tables import Role, Video
from smokewatch.labeling.users import add_account
from smokewatch.settings import Settings

HOSTILE = '<img src="x" data-hostile>[b]e2[/b]'
VIEWS = [
    RunView(0, 1, [0.1, 0.52, 0.9, 0.95, 0.97, 0.3], [("e1", [2, 3, 4])]),
    RunView(0, 2, [0.25, 0.91, 0.99], [(HOSTILE, [1, 2])]),
]


@dataclass
class EventsSite:
    url: str
    settings: Settings
    run: Run


@pytest.fixture(scope="module")
def events_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EventsSite]:
    tmp = tmp_path_factory.mktemp("events-site")
    data = tmp / "data"
    settings = Settings(
        data_dir=data,
        database_url=f"sqlite:///{data / 'smokewatch.db'}",
        page_min_seconds=PAGE_WAIT,
        timezone="US/Eastern",
    )
    run = write_run(tmp / "run", VIEWS)
    env = {
        **os.environ,
        "SMOKEWATCH_DATA_DIR": str(data),
        "SMOKEWATCH_DATABASE_URL": settings.database_url,
        "SMOKEWATCH_TIMEZONE": settings.timezone,
    }
    command = [sys.executable, "-m", "smokewatch", "clips", "import"]
    done = subprocess.run(
        [*command, "--from-detections", str(run.path), "--uncertain", "1"],
        env=env, cwd=tmp, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "events: 2 added" in done.stdout
    db = open_database(settings)
    with db.write() as session:
        add_account(session, RESEARCHER[0], RESEARCHER[1], Role.RESEARCHER)
    db.dispose()
    with serve(settings, tmp, {"SMOKEWATCH_TIMEZONE": settings.timezone}) as url:
        yield EventsSite(url, settings, run)


@pytest.fixture
def watched(browser: Any, events_site: EventsSite) -> Iterator[tuple[Any, list[str]]]:
    """A page on the events site, and the errors it met (script errors, policy refusals,
    dialogs: a dialog would be markup from data running)."""
    context = browser.new_context(viewport={"width": 1440, "height": 900}, base_url=events_site.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("dialog", lambda d: (errors.append(f"dialog: {d.message}"), d.dismiss()))
    page.on(
        "console",
        lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None,
    )
    yield page, errors
    context.close()


def _admin_states(site: EventsSite, names: list[str]) -> list[int]:
    db = open_database(site.settings)
    try:
        with db.read() as s:
            rows = s.execute(select(Video.file_name, Video.label_state_admin))
            states = {str(n): int(a) for n, a in rows}
    finally:
        db.dispose()
    return [states[n] for n in names]


def test_the_events_page_lists_plays_and_confirms(
    watched: tuple[Any, list[str]], events_site: EventsSite
) -> None:
    page, errors = watched
    sign_in(page, "/events")
    expect(page.locator("#zone")).to_have_text("Times in US/Eastern")
    expect(page.locator("#day-title")).to_contain_text("2019")
    expect(page.locator("#date")).to_have_value("2019-01-01")
    sections = page.locator(".view-events")
    expect(sections).to_have_count(2)
    expect(sections.nth(0).locator("h3")).to_have_text("Camera 0 · view 1 · 1 event")
    expect(page.locator(".timeline .span")).to_have_count(2)
    cards = page.locator("article.event")
    expect(cards).to_have_count(2)
    first, second = cards.nth(0), cards.nth(1)
    # 09:03:00 to 09:08:55 local time (windows 2-4 from 09:00, 5 s a frame)
    expect(first.locator(".meta")).to_contain_text("09:03–09:08 · highest probability 0.97")
    expect(first.locator(".clips .state")).to_have_count(3)
    # the id with markup is text: shown as written, no element made of it
    expect(second.locator(".id")).to_have_text(HOSTILE)
    assert page.locator("[data-hostile]").count() == 0
    # the evidence plays (the clip) and shows (the Grad-CAM GIF)
    page.wait_for_function(
        "() => [...document.querySelectorAll('article.event video')].filter(v => !v.paused"
        " && v.readyState >= 2 && v.videoWidth > 0 && v.currentTime > 0).length === 2"
    )
    assert page.locator("article.event .evidence img").evaluate_all(
        "imgs => imgs.map(i => i.complete && i.naturalWidth)"
    ) == [1, 1]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "events-1440x900.png", full_page=True)

    # confirm the first event from its timeline bar and its button
    page.locator(".timeline .span").first.click()
    expect(first).to_have_class("event open picked")
    first.get_by_role("button", name="Confirm: smoke (event e1)").click()
    first = page.locator("article.event").nth(0)
    expect(first).to_have_class("event confirmed")
    expect(first.locator(".status")).to_have_text("Confirmed: smoke (rita)")
    expect(page.locator(".timeline .span").first).to_have_class("span confirmed")
    expect(first.locator(".clips .state.pos")).to_have_count(3)
    expect(page.locator("#message")).to_contain_text("Event e1: confirmed: smoke")
    names = [events_site.run.names[(0, k)] for k in (2, 3, 4)]
    assert _admin_states(events_site, names) == [23, 23, 23]
    # after a reload the verdict is still there
    page.reload()
    expect(page.locator("article.event").nth(0)).to_have_class("event confirmed")
    assert not errors, errors


def test_the_events_page_on_a_phone(browser: Any, events_site: EventsSite) -> None:
    context = browser.new_context(
        viewport={"width": 360, "height": 640},
        base_url=events_site.url,
        is_mobile=True,
        has_touch=True,
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security" in m.text else None)
    sign_in(page, "/events")
    expect(page.locator("article.event")).to_have_count(2)
    page.wait_for_function(
        "() => [...document.querySelectorAll('article.event video')]"
        ".every(v => v.readyState >= 2 && v.videoWidth > 0)"
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    small = page.evaluate(
        "() => [...document.querySelectorAll('main button, main input')]"
        ".filter(e => e.offsetParent !== null).map(e => e.getBoundingClientRect())"
        ".filter(r => r.height < 44 || r.width < 44).length"
    )
    assert small == 0
    page.screenshot(path=SCREENSHOTS / "events-360x640.png", full_page=True)
    context.close()
    assert not refused, refused


def test_signed_out_the_events_page_asks_for_a_researcher(
    watched: tuple[Any, list[str]],
) -> None:
    page, errors = watched
    page.goto("/events")
    expect(page.locator("#signin")).to_be_visible()
    expect(page.locator("#content")).to_be_hidden()
    assert not errors, errors
