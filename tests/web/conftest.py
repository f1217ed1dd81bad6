"""Browser tests: Debian's Chromium (driven by Playwright) against a real ``smokewatch serve``.

One server per session on SQLite, seeded with small generated clips: 4 gold standards with
smoke (ids 1-4), 4 without (101-104) and 48 plain clips (1001-1048); one researcher account.
The browser is the root conftest's ``browser`` (Debian's Chromium).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from service_helpers import seed
from web.site_helpers import PAGE_WAIT, RESEARCHER, Site, place_clips, serve

from smokewatch.labeling.db import open_database
from smokewatch.labeling.tables import Role
from smokewatch.labeling.users import add_account
from smokewatch.settings import Settings


@contextmanager
def _running_site(tmp: Path) -> Iterator[Site]:
    data = tmp / "data"
    url_db = f"sqlite:///{data / 'smokewatch.db'}"
    settings = Settings(data_dir=data, database_url=url_db, page_min_seconds=PAGE_WAIT)
    db = open_database(settings)
    seeded = seed(db, plain=48)
    with db.write() as session:
        add_account(session, RESEARCHER[0], RESEARCHER[1], Role.RESEARCHER)
    place_clips(settings, db, tmp)
    with serve(settings, tmp, {"SMOKEWATCH_PAGE_MIN_SECONDS": str(PAGE_WAIT)}) as url:
        try:
            yield Site(url, settings, db, seeded)
        finally:
            db.dispose()


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with _running_site(tmp_path_factory.mktemp("site")) as running:
        yield running


@pytest.fixture(scope="module")
def own_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The same site, for one module alone: each new volunteer's visit to /label holds 12 plain
    clips for an hour (24 with the page fetched ahead), so by the end of the session the shared
    site may have none left to give, depending on how many pages were fetched ahead."""
    with _running_site(tmp_path_factory.mktemp("own-site")) as running:
        yield running


@pytest.fixture
def page(browser: Any, site: Site) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1440, "height": 900}, base_url=site.url)
    context.set_default_timeout(15_000)
    p = context.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda exc: errors.append(str(exc)))

    def refused(message: Any) -> None:  # the site's own pages stay within their policy
        if "Content Security Policy" in message.text:
            errors.append(message.text)

    p.on("console", refused)
    yield p
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
