"""Browser tests: Debian's Chromium (driven by Playwright) against a real ``smokewatch serve``.

One server per session on SQLite, seeded with small generated clips: 4 gold standards with
smoke (ids 1-4), 4 without (101-104) and 48 plain clips (1001-1048); one researcher account.
Never downloads a browser: ``/usr/bin/chromium`` must exist (``make test`` installs it), and
its absence is a failure, not a skip.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from service_helpers import seed
from videos import make_clip
from web.site_helpers import CHROMIUM, PAGE_WAIT, RESEARCHER, Site

from smokewatch.labeling.db import Database, open_database
from smokewatch.labeling.tables import Role
from smokewatch.labeling.tutorial import PACKAGED, read_lessons
from smokewatch.labeling.users import add_account
from smokewatch.settings import Settings


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _place_clips(settings: Settings, db: Database, tmp: Path) -> None:
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


@pytest.fixture(scope="session")
def chromium() -> Path:
    if not CHROMIUM.is_file():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests drive Debian's Chromium. Install it with "
            "'apt-get install -y chromium' (make test does this when run as root).",
            pytrace=False,
        )
    return CHROMIUM


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("site")
    data = tmp / "data"
    url_db = f"sqlite:///{data / 'smokewatch.db'}"
    settings = Settings(data_dir=data, database_url=url_db, page_min_seconds=PAGE_WAIT)
    db = open_database(settings)
    seeded = seed(db, plain=48)
    with db.write() as session:
        add_account(session, RESEARCHER[0], RESEARCHER[1], Role.RESEARCHER)
    _place_clips(settings, db, tmp)
    port = _free_port()
    env = {
        **os.environ,
        "SMOKEWATCH_DATA_DIR": str(data),
        "SMOKEWATCH_DATABASE_URL": url_db,
        "SMOKEWATCH_PAGE_MIN_SECONDS": str(PAGE_WAIT),
    }
    log = (tmp / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "smokewatch", "serve", "--port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"smokewatch serve exited: {(tmp / 'server.log').read_text()}")
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("smokewatch serve did not answer /healthz within 60 s")
            time.sleep(0.2)
        yield Site(url, settings, db, seeded)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        db.dispose()


@pytest.fixture(scope="session")
def browser(chromium: Path) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=str(chromium),
            headless=True,
            args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
        )
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, site: Site) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1440, "height": 900}, base_url=site.url)
    context.set_default_timeout(15_000)
    p = context.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda exc: errors.append(str(exc)))
    yield p
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
