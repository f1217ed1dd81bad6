"""The label page in a real browser: accepted and rejected pages, keyboard labeling, retries."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select
from web.site_helpers import (
    Batch,
    Site,
    browser_page,
    fetched_batches,
    running_site,
    submit_to_an_expired_page,
    wait_for_batches,
)

from smokewatch.core.labels import citizen_next
from smokewatch.labeling.tables import Label, User, Video


def _states(site: Site, ids: list[int]) -> dict[int, tuple[int, int]]:
    with site.db.read() as session:
        rows = session.execute(
            select(Video.id, Video.label_state, Video.label_state_admin).where(Video.id.in_(ids))
        )
        return {r.id: (r.label_state, r.label_state_admin) for r in rows}


def _user(site: Site, page: Any) -> User:
    client_id = page.evaluate("localStorage.getItem('smokewatch.clientId')")
    with site.db.read() as session:
        user = session.scalar(select(User).where(User.client_id == client_id))
        assert user is not None, f"no user for client id {client_id!r}"
        return user


def _open_page(page: Any) -> list[int]:
    page.goto("/label")
    tiles = page.locator("#grid .tile")
    expect(tiles).to_have_count(16)
    return [int(v) for v in tiles.evaluate_all("ts => ts.map(t => t.dataset.videoId)")]


def _mark(page: Any, ids: list[int]) -> None:
    for vid in ids:
        page.locator(f'#grid .tile[data-video-id="{vid}"]').click()


def test_a_correct_page_is_accepted_and_moves_the_states(page: Any, site: Site) -> None:
    ids = _open_page(page)
    gold_pos = [i for i in ids if i in site.seeded.gold_pos]
    gold_neg = [i for i in ids if i in site.seeded.gold_neg]
    plain = [i for i in ids if i in site.seeded.plain]
    assert len(gold_pos) + len(gold_neg) == 4 and 1 <= len(gold_pos) <= 3 and len(plain) == 12
    before = _states(site, ids)
    submit = page.get_by_role("button", name="Submit")
    expect(submit).to_be_disabled()  # the page's minimum viewing time (nbf) first

    # keyboard labeling: focus the first clip, Space toggles, arrows move
    first = page.locator("#grid .tile").first
    first.focus()
    page.keyboard.press("Space")
    expect(first).to_have_attribute("aria-pressed", "true")
    page.keyboard.press("Space")
    expect(first).to_have_attribute("aria-pressed", "false")
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.dataset.videoId") == str(ids[1])
    page.keyboard.press("ArrowDown")  # four columns on a desktop
    assert page.evaluate("document.activeElement.dataset.videoId") == str(ids[5])

    smoke = gold_pos + plain[:5]
    _mark(page, smoke)
    expect(page.locator("#counts")).to_have_text(f"{len(smoke)} of 16 marked smoke")
    expect(submit).to_be_enabled(timeout=5000)
    submit.click()
    expect(page.locator("#result")).to_contain_text("Page accepted: +12 points")
    expect(page.locator("#result")).to_contain_text("reliability 100%")
    expect(page.locator("#user-score")).to_contain_text("Score 12")

    after = _states(site, ids)
    for vid in ids:  # the 12 answers to label go through the label-state machine
        answer = 1 if vid in smoke else 0
        expected = (
            before[vid][0] if vid in gold_pos + gold_neg else citizen_next(before[vid][0], answer)
        )
        assert after[vid][0] == expected, vid  # gold answers are kept, but are not votes
        assert after[vid][1] == before[vid][1], vid  # researcher states (gold) untouched
    assert any(after[v][0] != before[v][0] for v in plain)
    user = _user(site, page)
    assert (user.score, user.pages_submitted, user.pages_accepted) == (12, 1, 1)
    with site.db.read() as session:
        labels = session.scalar(select(func.count()).where(Label.user_id == user.id))
    assert labels == 16
    # the next page is shown at once, and has none of the clips just labeled
    expect(page.locator("#grid .tile")).to_have_count(16)
    next_ids = page.locator("#grid .tile").evaluate_all("ts => ts.map(t => +t.dataset.videoId)")
    assert not set(next_ids) & set(plain)
    assert page.evaluate("localStorage.getItem('smokewatch.pendingPages')") == "[]"


def test_a_wrong_gold_answer_rejects_the_page_and_changes_nothing(page: Any, site: Site) -> None:
    for round_ in range(3):
        ids = _open_page(page) if round_ == 0 else _current_ids(page)
        shown = page.locator("#grid").get_attribute("data-page")
        before = _states(site, ids)
        gold_neg = [i for i in ids if i in site.seeded.gold_neg]
        plain = [i for i in ids if i in site.seeded.plain]
        _mark(page, gold_neg + plain[:3])  # a gold clip without smoke marked smoke: wrong
        expect(page.get_by_role("button", name="Submit")).to_be_enabled(timeout=5000)
        page.get_by_role("button", name="Submit").click()
        expect(page.locator("#result")).to_contain_text("This page was not counted")
        assert _states(site, ids) == before
        if round_ < 2:
            expect(page.locator("#suggest-tutorial")).to_be_hidden()
            expect(page.locator("#grid .tile")).to_have_count(16)
            expect(page.locator("#grid")).not_to_have_attribute("data-page", shown or "")
    # three rejected pages in a row: the tutorial is suggested (once the third one's answer
    # is in: the words above are the second one's until then)
    expect(page.locator("#suggest-tutorial")).to_be_visible()
    user = _user(site, page)
    assert (user.score, user.pages_submitted, user.pages_accepted) == (0, 3, 0)
    with site.db.read() as session:
        assert session.scalar(select(func.count()).where(Label.user_id == user.id)) == 0
    expect(page.locator("#suggest-tutorial a")).to_have_attribute("href", "/tutorial?from=prompt")


def _current_ids(page: Any) -> list[int]:
    tiles = page.locator("#grid .tile")
    expect(tiles).to_have_count(16)
    return [int(v) for v in tiles.evaluate_all("ts => ts.map(t => t.dataset.videoId)")]


def test_a_failed_submission_is_kept_and_sent_again(page: Any, site: Site) -> None:
    ids = _open_page(page)
    _mark(page, [i for i in ids if i in site.seeded.gold_pos])
    page.route("**/api/v1/send_batch", lambda route: route.abort("internetdisconnected"))
    expect(page.get_by_role("button", name="Submit")).to_be_enabled(timeout=5000)
    page.get_by_role("button", name="Submit").click()
    expect(page.locator("#result")).to_contain_text("saved on this device")
    expect(page.locator("#pending")).to_be_visible()
    kept = page.evaluate("JSON.parse(localStorage.getItem('smokewatch.pendingPages'))")
    assert len(kept) == 1 and sorted(a["video_id"] for a in kept[0]["data"]) == sorted(ids)
    user = _user(site, page)
    assert user.pages_submitted == 0  # nothing reached the server

    page.unroute("**/api/v1/send_batch")
    page.evaluate("window.dispatchEvent(new Event('online'))")
    expect(page.locator("#result")).to_contain_text("Page accepted")
    expect(page.locator("#pending")).to_be_hidden()
    assert page.evaluate("localStorage.getItem('smokewatch.pendingPages')") == "[]"
    user = _user(site, page)
    assert (user.pages_submitted, user.pages_accepted) == (1, 1)


def test_home_shows_live_statistics_and_old_addresses_redirect(page: Any, site: Site) -> None:
    stats = site.api("/api/v1/get_label_statistics").json()
    page.goto("/index.html")
    expect(page).to_have_url(f"{site.url}/")
    # the house style (core's base.css, served beside site.css) applies under the page policy
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(245, 246, 248)"
    assert page.evaluate("getComputedStyle(document.body).overflowX") == "hidden"  # site.css
    expect(page.locator("#stat-all")).to_have_text(f"{stats['num_all_videos']:,}")
    expect(page.locator("#stat-full")).to_have_text(f"{stats['num_fully_labeled']:,}")
    page.get_by_role("link", name="Start labeling").click()
    expect(page).to_have_url(f"{site.url}/label")
    expect(page.locator("#grid .tile")).to_have_count(16)


@pytest.fixture(scope="module")
def short_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A site whose page tokens live a minute (the least allowed), with so many gold standards
    that a page fetched ahead seldom shares one with the page shown (and so is kept)."""
    # ids 1-99, 101-500
    seeding = {"plain": 96, "gold_pos": 99, "gold_neg": 400}
    with running_site(tmp_path_factory.mktemp("short"), page_token_ttl=60, **seeding) as running:
        yield running


@pytest.fixture
def short_page(browser: Any, short_site: Site) -> Iterator[Any]:
    """A page on ``short_site`` whose clock the test moves on (``page.clock``)."""
    with browser_page(browser, short_site.url, clock=True) as p:
        yield p


def _open_with_a_page_ahead(page: Any) -> list[Batch]:
    """Open /label until the page fetched ahead is kept (one sharing a clip is not); the
    pages given to this browser page (``_batches``), the last two the shown and the ahead."""
    batches = fetched_batches(page)
    for _ in range(4):
        start = len(batches)
        page.goto("/label")
        wait_for_batches(page, batches, start + 2)
        shown, ahead = batches[start], batches[start + 1]
        expect(page.locator("#grid")).to_have_attribute("data-page", shown.token[-16:])
        if not shown.ids & ahead.ids:
            return batches
    raise AssertionError("every page fetched ahead shared a clip with the page shown")


def _submit_gold(page: Any, site: Site) -> None:
    _mark(page, [i for i in _current_ids(page) if i in site.seeded.gold_pos])
    expect(page.get_by_role("button", name="Submit")).to_be_enabled(timeout=5000)
    page.get_by_role("button", name="Submit").click()


def test_a_page_about_to_expire_is_replaced_with_new_clips(
    short_page: Any, short_site: Site
) -> None:
    page = short_page
    batches = _open_with_a_page_ahead(page)
    first = len(batches) - 2
    page.clock.fast_forward(40_000)  # 20 s left: the volunteer may still use it
    page.wait_for_timeout(300)
    expect(page.locator("#grid")).to_have_attribute("data-page", batches[first].token[-16:])
    expect(page.locator("#result")).to_be_hidden()
    # 10 s left (under a quarter of its life): new clips, not the page fetched ahead with it
    page.clock.fast_forward(10_000)
    expect(page.locator("#result")).to_contain_text("This page expired; here are new clips.")
    expect(page.locator("#result")).to_contain_text("kept for you for a minute")
    wait_for_batches(page, batches, first + 3)
    expect(page.locator("#grid")).to_have_attribute("data-page", batches[first + 2].token[-16:])
    _submit_gold(page, short_site)
    expect(page.locator("#result")).to_contain_text("Page accepted")


def test_a_marked_page_about_to_expire_asks_to_be_submitted_first(
    short_page: Any, short_site: Site
) -> None:
    """Marks are the volunteer's work: the page stays, with a warning, until it has all but
    run out, and is taken if submitted in that time."""
    page = short_page
    batches = _open_with_a_page_ahead(page)
    first = len(batches) - 2
    _mark(page, [i for i in _current_ids(page) if i in short_site.seeded.gold_pos])
    page.clock.fast_forward(50_000)  # 10 s left: an unmarked page would be replaced now
    result = page.locator("#result")
    expect(result).to_contain_text("This page expires soon.")
    expect(result).to_contain_text("to keep your marks")
    expect(page.locator("#grid")).to_have_attribute("data-page", batches[first].token[-16:])
    page.clock.fast_forward(6_000)  # 4 s left: too late to send, new clips
    expect(result).to_contain_text("This page expired; here are new clips.")
    expect(page.locator("#grid")).not_to_have_attribute("data-page", batches[first].token[-16:])


def test_a_marked_page_submitted_after_the_warning_is_taken(
    short_page: Any, short_site: Site
) -> None:
    page = short_page
    _open_with_a_page_ahead(page)
    _mark(page, [i for i in _current_ids(page) if i in short_site.seeded.gold_pos])
    page.clock.fast_forward(50_000)
    expect(page.locator("#result")).to_contain_text("This page expires soon.")
    page.get_by_role("button", name="Submit").click()
    expect(page.locator("#result")).to_contain_text("Page accepted")


def test_a_page_fetched_ahead_long_ago_is_not_shown(short_page: Any, short_site: Site) -> None:
    page = short_page
    batches = _open_with_a_page_ahead(page)
    first = len(batches) - 2
    page.clock.fast_forward(40_000)  # the page ahead has 20 s left, too little to be shown
    _submit_gold(page, short_site)
    expect(page.locator("#result")).to_contain_text("Page accepted")  # in time: taken
    wait_for_batches(page, batches, first + 3)
    expect(page.locator("#grid")).to_have_attribute("data-page", batches[first + 2].token[-16:])


def test_answers_to_an_expired_page_are_explained_to_the_volunteer(page: Any, site: Site) -> None:
    ids = _open_page(page)
    shown = page.locator("#grid").get_attribute("data-page") or ""
    _mark(page, [i for i in ids if i in site.seeded.gold_pos])
    result = submit_to_an_expired_page(page, "Submit")
    expect(result).to_contain_text("This page had expired, so its answers could not be recorded.")
    expect(result).to_contain_text("Here are new clips.")
    expect(result).not_to_contain_text("token")
    expect(page.locator("#grid")).not_to_have_attribute("data-page", shown)
    expect(page.locator("#grid .tile")).to_have_count(16)


def _kept_after_a_failed_submit(page: Any, site: Site) -> str:
    """Open /label, submit a page that never reaches the server (kept on the device), and wait
    for the next page; the kept page's token. The server stays out of reach (``_reconnect``)."""
    ids = _open_page(page)
    shown = page.locator("#grid").get_attribute("data-page") or ""
    _mark(page, [i for i in ids if i in site.seeded.gold_pos])
    page.context.route("**/api/v1/send_batch", lambda route: route.abort("internetdisconnected"))
    expect(page.get_by_role("button", name="Submit")).to_be_enabled(timeout=5000)
    page.get_by_role("button", name="Submit").click()
    expect(page.locator("#result")).to_contain_text("saved on this device")
    expect(page.locator("#grid")).not_to_have_attribute("data-page", shown)
    expect(page.locator("#grid .tile")).to_have_count(16)
    kept = page.evaluate("JSON.parse(localStorage.getItem('smokewatch.pendingPages'))")
    assert len(kept) == 1
    return str(kept[0]["video_token"])


def _reconnect(page: Any) -> None:
    page.context.unroute("**/api/v1/send_batch")


def _sends(page: Any, answers: list[str] | None = None) -> list[str]:
    """The page tokens of the send_batch requests made from ``page``'s context from now on;
    ``answers`` gets, for each answer, which tab sent it and the status (for a failure's
    message: a second copy's 409 is another story than a 425 sent again)."""
    sent: list[str] = []

    def seen(request: Any) -> None:
        if request.url.endswith("/api/v1/send_batch"):
            sent.append(request.post_data_json["video_token"])

    def answered(response: Any) -> None:
        if answers is not None and response.url.endswith("/api/v1/send_batch"):
            tab = "this tab" if response.frame.page == page else "another tab"
            answers.append(f"{tab}: {response.status}")

    page.context.on("request", seen)
    page.context.on("response", answered)
    return sent


def test_a_page_sent_again_in_the_background_leaves_the_focus_alone(
    browser: Any, short_site: Site
) -> None:
    """The volunteer is on the next page when the kept one is taken: the outcome is announced
    (a live region) without moving the focus or the view away from the clip they are on."""
    with browser_page(browser, short_site.url) as page:
        page.set_viewport_size({"width": 360, "height": 740})
        _kept_after_a_failed_submit(page, short_site)
        tile = page.locator("#grid .tile").nth(11)
        tile.scroll_into_view_if_needed()
        tile.focus()
        assert page.evaluate("scrollY") > 0
        where = tile.evaluate("t => t.getBoundingClientRect().top")
        _reconnect(page)
        page.evaluate("window.dispatchEvent(new Event('online'))")
        expect(page.locator("#result")).to_contain_text("Page accepted")
        expect(tile).to_be_focused()
        # where it was on the screen (the notices above may change height: the page scrolls
        # to keep the clip in place, as browsers anchor it, but never up to the notices)
        assert abs(tile.evaluate("t => t.getBoundingClientRect().top") - where) <= 2


def test_a_kept_page_is_sent_once_when_sends_are_asked_for_at_once(
    browser: Any, short_site: Site
) -> None:
    """Two "online" events in a row, and a second tab going over the same kept pages: one
    send_batch, and its outcome ("Page accepted") is not replaced by "already received"."""
    with browser_page(browser, short_site.url) as page:
        kept = _kept_after_a_failed_submit(page, short_site)
        other = page.context.new_page()  # the same volunteer in a second tab
        other.goto("/label")
        expect(other.locator("#grid .tile")).to_have_count(16)
        if other.evaluate("localStorage.getItem('smokewatch.pendingPages')") == "[]":
            pytest.fail("the second tab sent the kept page on opening: nothing left to race")
        _reconnect(page)
        answers: list[str] = []
        sent = _sends(page, answers)
        twice = (
            "window.dispatchEvent(new Event('online')); window.dispatchEvent(new Event('online'))"
        )
        page.evaluate(twice)
        other.evaluate(twice)
        expect(page.locator("#result")).to_contain_text("Page accepted")
        expect(page.locator("#pending")).to_be_hidden()
        page.wait_for_timeout(1000)  # time for a second copy, were one sent
        assert sent == [kept], f"answers: {answers}"
        expect(page.locator("#result")).to_contain_text("Page accepted")
        expect(other.locator("#result")).not_to_contain_text("already received")


def test_a_tab_whose_kept_list_lags_behind_does_not_send_a_page_another_tab_sent(
    browser: Any, short_site: Site
) -> None:
    """localStorage reaches another tab a moment late: a tab that takes a page's send lock
    just after another tab sent the page may still see it kept. The sender's mark in
    IndexedDB (settled.js), committed before it lets go of the lock, stops the second copy."""
    key = "smokewatch.pendingPages"
    with browser_page(browser, short_site.url) as page:
        kept = _kept_after_a_failed_submit(page, short_site)
        other = page.context.new_page()
        other.goto("/label")
        expect(other.locator("#grid .tile")).to_have_count(16)
        # the second tab's view of the list is frozen as it is now: the lag, made to last
        other.evaluate(
            """key => {
              const stale = localStorage.getItem(key);
              const real = Storage.prototype.getItem;
              Storage.prototype.getItem = function (k) {
                return k === key ? stale : real.call(this, k);
              };
            }""",
            key,
        )
        assert kept in (other.evaluate("k => localStorage.getItem(k)", key) or "")
        _reconnect(page)
        answers: list[str] = []
        sent = _sends(page, answers)
        page.evaluate("window.dispatchEvent(new Event('online'))")
        expect(page.locator("#result")).to_contain_text("Page accepted")
        expect(page.locator("#pending")).to_be_hidden()
        other.evaluate("window.dispatchEvent(new Event('online'))")
        other.wait_for_timeout(1000)  # time for a second copy, were one sent
        assert sent == [kept], f"answers: {answers}"
        expect(other.locator("#result")).not_to_contain_text("already received")


def test_a_submission_that_never_gets_an_answer_is_kept_and_sent_again(
    short_page: Any, short_site: Site
) -> None:
    """A stalled request (no answer, no error) times out after 20 s: the page is kept on the
    device and the volunteer gets new clips, not "Sending your answers…" for good."""
    page = short_page
    ids = _open_page(page)
    shown = page.locator("#grid").get_attribute("data-page") or ""
    _mark(page, [i for i in ids if i in short_site.seeded.gold_pos])
    held: list[Any] = []  # requests left without an answer (and never sent on)
    stall = [True]

    def answer(route: Any) -> None:
        if stall[0]:
            held.append(route)
        else:
            route.continue_()

    page.route("**/api/v1/send_batch", answer)
    expect(page.get_by_role("button", name="Submit")).to_be_enabled(timeout=5000)
    page.get_by_role("button", name="Submit").click()
    expect(page.locator("#status")).to_have_text("Sending your answers…")
    for _ in range(100):  # the request is on its way (its timeout counted from then)
        if held:
            break
        page.wait_for_timeout(50)
    assert len(held) == 1
    page.clock.fast_forward(15_000)
    page.wait_for_timeout(300)
    expect(page.locator("#status")).to_have_text("Sending your answers…")  # still waiting
    page.clock.fast_forward(6_000)  # past the 20 s
    expect(page.locator("#result")).to_contain_text("saved on this device")
    expect(page.locator("#pending")).to_be_visible()
    expect(page.locator("#grid")).not_to_have_attribute("data-page", shown)
    expect(page.locator("#grid .tile")).to_have_count(16)
    kept = page.evaluate("JSON.parse(localStorage.getItem('smokewatch.pendingPages'))")
    assert [k["video_token"][-16:] for k in kept] == [shown]

    stall[0] = False  # the server answers again: the resend under way times out, the next
    for _ in range(20):  # is taken (the retry timer's waits jumped over)
        if "Page accepted" in page.locator("#result").inner_text():
            break
        page.clock.fast_forward(5_000)
        page.wait_for_timeout(200)
    expect(page.locator("#result")).to_contain_text("Page accepted")
    expect(page.locator("#pending")).to_be_hidden()
