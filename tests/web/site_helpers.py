"""Shared by the browser tests: the running site, the researcher account, sign-in."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from service_helpers import Seeded

from smokewatch.labeling.db import Database
from smokewatch.settings import Settings

CHROMIUM = Path(os.environ.get("SMOKEWATCH_CHROMIUM", "/usr/bin/chromium"))
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
    page.goto(f"/login?next={next_path}")
    page.get_by_label("Account name").fill(RESEARCHER[0])
    page.get_by_label("Password").fill(RESEARCHER[1])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**{next_path}")
