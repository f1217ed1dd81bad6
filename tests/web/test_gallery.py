"""The gallery in a real browser, opened from addresses edited by hand."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import expect
from web.site_helpers import Site, sign_in


def test_an_unknown_tab_shows_the_smoke_tab(page: Any, site: Site) -> None:
    page.goto("/gallery?tab=%3Cscript%3E&page=1")
    smoke = page.locator("#tabs").get_by_role("button", name="Smoke", exact=True)
    expect(smoke).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#tabs [aria-pressed=true]")).to_have_count(1)
    expect(page).to_have_url(f"{site.url}/gallery?tab=smoke")


def test_a_page_past_the_last_shows_the_last_page(page: Any, site: Site) -> None:
    sign_in(page, "/review")  # the gold standards: always some, whatever ran before
    page.goto("/gallery?tab=gold&page=999")
    summary = page.locator("#summary")
    expect(summary).to_have_text(re.compile(r"^\d+ clips · page \d+ of \d+$"))
    total, shown, last = map(int, re.findall(r"\d+", summary.inner_text()))
    assert total >= 4 and shown == last == -(-total // 16)
    expect(page.locator(".gallery-item")).to_have_count(total - 16 * (last - 1))
    expect(page.locator("#message")).to_have_text(
        f"There is no page 999: this is the last page, {last}."
    )
    expect(page.locator("#page-no")).to_have_text(f"Page {last} of {last}")
    expect(page.locator("#next")).to_be_disabled()
    if last > 1:
        expect(page.locator("#prev")).to_be_enabled()
    else:
        expect(page.locator("#prev")).to_be_disabled()
    query = parse_qs(urlsplit(page.url).query)
    assert query.get("page", ["1"]) == [str(last)] and query["tab"] == ["gold"]


def test_clip_names_and_the_footer_link_are_big_enough(page: Any, site: Site) -> None:
    sign_in(page, "/review")
    page.goto("/gallery?tab=gold")
    name = page.locator(".gallery-item .meta .name").first
    expect(name).to_be_visible()
    assert float(name.evaluate("n => parseFloat(getComputedStyle(n).fontSize)")) >= 12.5
    api = page.locator("footer").get_by_role("link", name="API")
    box = api.bounding_box()
    assert box is not None and box["width"] >= 24 and box["height"] >= 24, box
