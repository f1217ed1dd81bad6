"""What ``static/js/api.js`` keeps in the browser's storage, in Chromium: a researcher's
sign-in, and RISE's copy of it (``localStorage.user_data``) that the original pages use."""

from __future__ import annotations

import base64
import json
from typing import Any

from web.site_helpers import Site, sign_in

RESEARCHER_KEY = "smokewatch.researcher"
RISE_USER_KEY = "user_data"


def _token(exp: float) -> str:
    """A JWT-shaped token expiring at ``exp`` (the page reads its claims, never checks it)."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'HS256'})}.{part({'exp': int(exp), 'user_id': 1})}.c2ln"


def _now(page: Any) -> float:
    """The page's clock, which decides expiry there (the test process's may be frozen)."""
    return float(page.evaluate("Date.now()")) / 1000


def _researcher_then_storage(page: Any) -> dict[str, Any]:
    """``researcher()`` as a page calls it, then what is left in localStorage."""
    return dict(
        page.evaluate(
            """async () => {
                const api = await import("/static/js/api.js");
                const r = api.researcher();
                return {researcher: r,
                        kept: localStorage.getItem("smokewatch.researcher"),
                        rise: localStorage.getItem("user_data")};
            }"""
        )
    )


def test_an_expired_sign_in_is_removed_with_rises_copy(page: Any, site: Site) -> None:
    """Finding: ``researcher()`` removed only its own record when the token had expired, so
    RISE's pages on the same origin kept reading ``user_data`` and sending the expired
    token. Both go, as signing out removes both."""
    sign_in(page, "/review")
    assert page.evaluate(f"localStorage.getItem('{RISE_USER_KEY}')") is not None
    expired = _token(_now(page) - 60)
    record = {"token": expired, "name": "rita", "role": "researcher", "user_id": 1}
    page.evaluate(
        """([record, rise]) => {
            localStorage.setItem("smokewatch.researcher", JSON.stringify(record));
            localStorage.setItem("user_data", JSON.stringify(rise));
        }""",
        [record, {"user_token": expired, "user_token_for_other_app": expired}],
    )
    left = _researcher_then_storage(page)
    assert left == {"researcher": None, "kept": None, "rise": None}


def test_a_valid_sign_in_and_a_browser_without_one_keep_rises_copy(page: Any, site: Site) -> None:
    """A sign-in that has not expired is kept, RISE's copy with it; and a browser where
    nobody signed in here keeps whatever RISE's pages keep (``researcher()`` reads, it does
    not clear storage that is not its own)."""
    page.goto("/")
    fresh = _token(_now(page) + 3600)
    record = {"token": fresh, "name": "rita", "role": "researcher", "user_id": 1}
    rise = json.dumps({"user_token": fresh})
    page.evaluate(
        """([record, rise]) => {
            localStorage.setItem("smokewatch.researcher", JSON.stringify(record));
            localStorage.setItem("user_data", rise);
        }""",
        [record, rise],
    )
    left = _researcher_then_storage(page)
    assert left["researcher"] == record and left["rise"] == rise
    page.evaluate("localStorage.removeItem('smokewatch.researcher')")
    left = _researcher_then_storage(page)
    assert left == {"researcher": None, "kept": None, "rise": rise}
