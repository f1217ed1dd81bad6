"""Shared by the browser tests: the running site, the researcher account, sign-in."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest
from playwright.sync_api import expect
from service_helpers import Seeded, seed
from videos import make_clip

from smokewatch.labeling.db import Database, open_database
from smokewatch.labeling.tables import Role
from smokewatch.labeling.tutorial import PACKAGED, read_lessons
from smokewatch.labeling.users import add_account
from smokewatch.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "out" / "test-artifacts" / "screenshots"
RESEARCHER = ("rita", "smoke-and-mirrors")
PAGE_WAIT = 1  # seconds before a page may be submitted (the token's nbf)


@dataclass
class Site:
    url: str
    settings: Settings
    db: Database
    seeded: Seeded

    def api(self, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        if body is None:
            return httpx.get(self.url + path, timeout=10)
        return httpx.post(self.url + path, json=body, timeout=10)


def sign_in(page: Any, next_path: str = "/review") -> None:
    """Sign the researcher in from /login and wait until ``next_path`` (a path, perhaps with a
    query) is the page shown: not merely named in the sign-in page's own ``?next=``."""
    page.goto(f"/login?next={quote(next_path, safe='/')}")
    page.get_by_label("Account name").fill(RESEARCHER[0])
    page.get_by_label("Password").fill(RESEARCHER[1])
    page.get_by_role("button", name="Sign in").click()
    want = urlsplit(next_path)

    def arrived(url: str) -> bool:  # a query only when one was asked for (a page may add one)
        got = urlsplit(url)
        return got.path == want.path and (not want.query or got.query == want.query)

    page.wait_for_url(arrived)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve(settings: Settings, tmp: Path, env: dict[str, str], port: int = 0) -> Iterator[str]:
    """``smokewatch serve`` on the settings' data and database (plus ``env``), until it
    answers /healthz; yields its URL and stops it afterwards."""
    port = port or free_port()
    full_env = {
        **os.environ,
        "SMOKEWATCH_DATA_DIR": str(settings.data_dir),
        "SMOKEWATCH_DATABASE_URL": settings.database_url,
        **env,
    }
    log_path = tmp / f"server-{port}.log"
    log = log_path.open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "smokewatch", "serve", "--port", str(port)],
        env=full_env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"smokewatch serve exited: {log_path.read_text()}")
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("smokewatch serve did not answer /healthz within 60 s")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def place_clips(settings: Settings, db: Database, tmp: Path) -> None:
    """One tiny real clip per kind, hard-linked wherever the database and lessons name one."""
    from sqlalchemy import select

    from smokewatch.labeling.tables import Video

    sample = tmp / "sample.mp4"
    make_clip(sample, frames=12, size=64, seed=3)
    with db.read() as session:
        parts = list(session.scalars(select(Video.url_part)))
    files = [settings.videos_dir / p for p in parts if p]
    lessons = read_lessons(PACKAGED).lessons
    files += [settings.videos_dir / c.file for lesson in lessons for c in lesson.clips]
    for path in files:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            os.link(sample, path)


@contextmanager
def running_site(tmp: Path, *, page_token_ttl: int | None = None, **seeding: int) -> Iterator[Site]:
    """A served site on SQLite in ``tmp``: clips seeded (``service_helpers.seed``, 48 plain
    unless ``seeding`` says otherwise) and placed, the researcher account, and the page wait
    (and ``page_token_ttl``, if given) set for the server as for the tests' ``settings``."""
    data = tmp / "data"
    extra: dict[str, Any] = {} if page_token_ttl is None else {"page_token_ttl": page_token_ttl}
    settings = Settings(
        data_dir=data,
        database_url=f"sqlite:///{data / 'smokewatch.db'}",
        page_min_seconds=PAGE_WAIT,
        **extra,
    )
    db = open_database(settings)
    seeded = seed(db, **{"plain": 48, **seeding})
    with db.write() as session:
        add_account(session, RESEARCHER[0], RESEARCHER[1], Role.RESEARCHER)
    place_clips(settings, db, tmp)
    env = {"SMOKEWATCH_PAGE_MIN_SECONDS": str(PAGE_WAIT)}
    if page_token_ttl is not None:
        env["SMOKEWATCH_PAGE_TOKEN_TTL"] = str(page_token_ttl)
    try:
        with serve(settings, tmp, env) as url:
            yield Site(url, settings, db, seeded)
    finally:
        db.dispose()


@contextmanager
def browser_page(browser: Any, url: str, *, clock: bool = False) -> Iterator[Any]:
    """A desktop-sized page on ``url``; JavaScript errors, or the site's pages stepping
    outside their Content Security Policy, fail the test. ``clock``: the page's clock is the
    test's to move (``page.clock``)."""
    context = browser.new_context(viewport={"width": 1440, "height": 900}, base_url=url)
    context.set_default_timeout(15_000)
    p = context.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda exc: errors.append(str(exc)))

    def refused(message: Any) -> None:  # the site's own pages stay within their policy
        if "Content Security Policy" in message.text:
            errors.append(message.text)

    p.on("console", refused)
    if clock:
        p.clock.install()
    yield p
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@dataclass
class Batch:
    """A page ``get_batch`` gave: its token and clip ids."""

    token: str
    ids: set[int]


def fetched_batches(page: Any) -> list[Batch]:
    """The pages ``get_batch`` gives this browser page, in order (filled in as they come)."""
    batches: list[Batch] = []

    def seen(response: Any) -> None:
        if response.url.endswith("/api/v1/get_batch") and response.status == 200:
            body = response.json()
            batches.append(Batch(body["video_token"], {item["id"] for item in body["data"]}))

    page.on("response", seen)
    return batches


def wait_for_batches(page: Any, batches: list[Batch], n: int) -> None:
    """Wait (up to 10 s) until ``n`` pages have come."""
    for _ in range(100):
        if len(batches) >= n:
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"{len(batches)} pages fetched, not {n}")


def submit_to_an_expired_page(page: Any, button: str) -> Any:
    """Press ``button`` (once enabled) with every ``send_batch`` answered by the server's 401
    for an expired page token; the page's result box."""
    expired = {"message": "The batch token has expired; ask for a new one"}
    page.route("**/api/v1/send_batch", lambda route: route.fulfill(status=401, json=expired))
    expect(page.get_by_role("button", name=button)).to_be_enabled(timeout=5000)
    page.get_by_role("button", name=button).click()
    return page.locator("#result")
