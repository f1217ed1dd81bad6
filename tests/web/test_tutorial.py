"""The tutorial in a real browser: every lesson, a mistake in the last one, a retry with hints."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect
from sqlalchemy import select
from web.site_helpers import Site

from smokewatch.labeling.tables import Connection, Tutorial, User


def _answer(page: Any, clips: list[dict[str, Any]], leave_out: str | None = None) -> None:
    for clip in clips:
        if clip["smoke"] and clip["id"] != leave_out:
            page.locator(f'#grid .tile[data-clip-id="{clip["id"]}"]').click()
    page.get_by_role("button", name="Check my answers").click()


def test_the_tutorial_is_completed_with_a_retry(page: Any, site: Site) -> None:
    lessons = site.api("/api/v1/get_tutorial").json()["lessons"]
    page.goto("/tutorial?from=prompt")
    feedback = page.locator("#feedback")
    for i, lesson in enumerate(lessons):
        expect(page.locator("#lesson-title")).to_contain_text(lesson["title"])
        expect(page.locator("#grid .tile")).to_have_count(len(lesson["clips"]))
        last = i == len(lessons) - 1
        if last:
            missed = next(c for c in lesson["clips"] if c["smoke"])
            _answer(page, lesson["clips"], leave_out=missed["id"])
            right = len(lesson["clips"]) - 1
            expect(feedback).to_contain_text(f"{right} of {len(lesson['clips'])} right")
            wrong = page.locator(f'#grid .tile[data-clip-id="{missed["id"]}"]')
            expect(wrong).to_have_class("tile wrong")
            expect(wrong.locator(".explanation")).to_have_text(missed["explanation"])
            expect(wrong.locator(".region")).to_have_count(len(missed["regions"]))
            page.get_by_role("button", name="Try again with hints").click()
            expect(page.locator("#hint")).to_contain_text(lesson["hint"])
            smoky = sum(len(c["regions"]) for c in lesson["clips"])
            expect(page.locator("#grid .region")).to_have_count(smoky)  # where to look
        _answer(page, lesson["clips"])
        expect(feedback).to_contain_text(f"All {len(lesson['clips'])} right")
        page.get_by_role("button", name="Finish the tutorial" if last else "Next lesson").click()
    expect(page.locator("#done")).to_be_visible()
    expect(page.locator("#status")).to_have_text("Your result is saved.")

    client_id = page.evaluate("localStorage.getItem('smokewatch.clientId')")
    with site.db.read() as session:
        user = session.scalar(select(User).where(User.client_id == client_id))
        assert user is not None
        records = session.execute(
            select(Tutorial.action_type, Tutorial.query_type)
            .join(Connection, Connection.id == Tutorial.connection_id)
            .where(Connection.user_id == user.id)
            .order_by(Tutorial.id)
        ).all()
    # RISE's codes: came from the prompt after rejected pages (0, 2), took the tutorial on its
    # page (0, 0), passed the final lesson on the second try (3, 0)
    assert [tuple(r) for r in records] == [(0, 2), (0, 0), (3, 0)]
    assert user.best_tutorial_action == 3
