"""The pages at phone, tablet and desktop sizes: screenshots (for people to look at) and the
checks a screenshot cannot make: no horizontal scroll, 44 px touch targets, clips that play."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect
from web.site_helpers import SCREENSHOTS, Site, sign_in

SIZES = [(360, 640), (768, 1024), (1440, 900)]
COLUMNS = {360: 2, 768: 3, 1440: 4}

# every control a finger uses must be at least 44 x 44 CSS pixels (visible ones)
_SMALL_TARGETS = """
() => [...document.querySelectorAll('button, a.btn, .tile, select, input, .site-nav a')]
  .filter(e => e.offsetParent !== null && !e.closest('footer'))
  .map(e => [e, e.getBoundingClientRect()])
  .filter(([e, r]) => r.height < 44 || r.width < 44)
  .map(([e, r]) => `${e.tagName}.${e.className} "${(e.textContent || '').trim().slice(0, 20)}" `
                   + `${Math.round(r.width)}x${Math.round(r.height)}`)
"""


def _check_layout(page: Any, width: int) -> None:
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"horizontal scroll at {width} px: the page is {scroll} px wide"
    assert page.evaluate(_SMALL_TARGETS) == []


def _shoot(page: Any, name: str) -> None:
    """What the visitor sees (the viewport), and the whole page with the toolbar in its place
    at the end (a sticky bar would otherwise land mid-page in a full-page capture)."""
    page.screenshot(path=SCREENSHOTS / f"{name}.png")
    page.evaluate(  # through the CSSOM: the pages' policy refuses an injected <style>
        "document.querySelectorAll('.toolbar')"
        ".forEach(t => t.style.setProperty('position', 'static', 'important'))"
    )
    page.screenshot(path=SCREENSHOTS / f"{name}-full.png", full_page=True)


def _clips_play(page: Any, n: int) -> None:
    page.wait_for_function(
        "n => [...document.querySelectorAll('#grid video')].filter(v => v.readyState >= 2"
        " && v.videoWidth > 0).length >= n",
        arg=n,
    )
    attrs = page.locator("#grid video").first.evaluate(
        "v => [v.muted, v.loop, v.playsInline, v.hasAttribute('playsinline')]"
    )
    assert attrs == [True, True, True, True]


@pytest.mark.parametrize("width,height", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_screenshots(browser: Any, own_site: Site, width: int, height: int) -> None:
    site = own_site  # three new volunteers need 36-72 clips free
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    phone = width < 500
    context = browser.new_context(
        viewport={"width": width, "height": height},
        base_url=site.url,
        device_scale_factor=1,
        is_mobile=phone,
        has_touch=phone,
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto("/label")
        expect(page.locator("#grid .tile")).to_have_count(16)
        columns = page.locator("#grid").evaluate(
            "g => getComputedStyle(g).gridTemplateColumns.split(' ').length"
        )
        assert columns == COLUMNS[width]
        _clips_play(page, 16)
        for tile in page.locator("#grid .tile").all()[:3]:
            tile.click() if not phone else tile.tap()
        _check_layout(page, width)
        _shoot(page, f"label-{width}x{height}")

        page.goto("/tutorial?from=button")
        expect(page.locator("#grid .tile").first).to_be_visible()
        _clips_play(page, 4)
        page.locator("#grid .tile").first.click()
        page.get_by_role("button", name="Check my answers").click()
        expect(page.locator("#feedback")).to_be_visible()
        _check_layout(page, width)
        _shoot(page, f"tutorial-{width}x{height}")

        sign_in(page, "/review")
        expect(page.locator("#grid .review-tile")).to_have_count(16)
        _clips_play(page, 16)
        page.locator(".review-tile .tile").first.focus()
        page.keyboard.press("Space")
        page.keyboard.press("ArrowRight")
        page.keyboard.press("b")
        _check_layout(page, width)
        _shoot(page, f"review-{width}x{height}")
        if phone:  # the menu opens and closes with a 44 px button
            page.get_by_role("button", name="Menu").click()
            expect(page.get_by_role("link", name="Gallery")).to_be_visible()
            _check_layout(page, width)
            page.screenshot(path=SCREENSHOTS / f"menu-{width}x{height}.png")
        for extra in ("gallery", "dashboard"):
            page.goto(f"/{extra}")
            page.wait_for_load_state("networkidle")
            _check_layout(page, width)
            page.screenshot(path=SCREENSHOTS / f"{extra}-{width}x{height}.png", full_page=True)
    finally:
        context.close()
    assert not errors, errors
