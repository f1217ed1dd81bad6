"""Browser tests: Debian's Chromium (driven by Playwright) against a real ``smokewatch serve``.

One server per session on SQLite, seeded with small generated clips: 4 gold standards with
smoke (ids 1-4), 4 without (101-104) and 48 plain clips (1001-1048); one researcher account.
The browser is the root conftest's ``browser`` (Debian's Chromium).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from web.site_helpers import Site, browser_page, running_site


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with running_site(tmp_path_factory.mktemp("site")) as running:
        yield running


@pytest.fixture(scope="module")
def own_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The same site, for one module alone: each new volunteer's visit to /label holds 12 plain
    clips for an hour (24 with the page fetched ahead), so by the end of the session the shared
    site may have none left to give, depending on how many pages were fetched ahead."""
    with running_site(tmp_path_factory.mktemp("own-site")) as running:
        yield running


@pytest.fixture
def page(browser: Any, site: Site) -> Iterator[Any]:
    with browser_page(browser, site.url) as p:
        yield p
