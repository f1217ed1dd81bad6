"""Researcher sign-in in a real browser: where ``?next=`` may lead afterwards."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from web.site_helpers import RESEARCHER, Site, sign_in


def _sign_in_with_next(page: Any, raw_next: str) -> str:
    """Sign in from ``/login?next=<raw_next>`` (sent as written); the address landed on."""
    # an attacker's site, should the browser be sent there (nothing leaves the machine)
    page.context.route(
        re.compile(r"^https?://evil\.example"),
        lambda route: route.fulfill(body="<h1>attacker</h1>", content_type="text/html"),
    )
    page.goto(f"/login?next={raw_next}")
    page.get_by_label("Account name").fill(RESEARCHER[0])
    page.get_by_label("Password").fill(RESEARCHER[1])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda u: urlsplit(u).path != "/login")
    return str(page.url)


@pytest.mark.parametrize(
    "raw_next",
    [
        "/%5Cevil.example/phish",  # "/\evil.example": a backslash is a slash to the URL parser
        "/%09/evil.example/phish",  # "/<tab>/evil.example": the tab is dropped, leaving "//"
        "//evil.example/phish",
        "https://evil.example/phish",
    ],
)
def test_sign_in_never_leads_off_the_site(page: Any, site: Site, raw_next: str) -> None:
    assert _sign_in_with_next(page, raw_next) == f"{site.url}/review"


def test_sign_in_goes_on_to_the_page_asked_for(page: Any, site: Site) -> None:
    landed = _sign_in_with_next(page, "/dashboard%3Fdays%3D7%23users")
    assert landed == f"{site.url}/dashboard?days=7#users"


def test_the_sign_in_helper_returns_on_the_next_page(page: Any, site: Site) -> None:
    # "/login?next=/review" names the next page too: the helper must wait for the page itself
    sign_in(page, "/review")
    assert urlsplit(page.url).path == "/review"
    assert page.evaluate("JSON.parse(localStorage.getItem('smokewatch.researcher')).name") == "rita"
    sign_in(page, "/review?from=a&to=b")
    assert urlsplit(page.url)[2:4] == ("/review", "from=a&to=b")
