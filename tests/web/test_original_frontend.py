"""The ORIGINAL RISE front end (CMU CREATE Lab's pages, unmodified) against ``smokewatch serve``.

The pages are served by a small server of their own on another port, so every API call is
cross-origin, as in RISE's deployment (CORS preflights included). Only two things differ from
a real deployment, both made here at test time and never in the original files:

- ``js/Util.js`` is served with ``getRootApiUrl()`` answering this test's API root;
- what the pages load from CDNs is answered by Playwright: jQuery 3.3.1 and jQuery UI 1.12.1
  from ``out/test-vendor`` (``make rise-frontend-libs``, from the npm registry), small stubs for
  Google Sign-In and jwt-decode, nothing for Google Analytics and the web fonts (the pages then
  use their own client id), and a local clip for the tutorial's clips on smoke.createlab.org.

The pages' server also forwards ``/login``, ``/static/`` and ``/api/`` to smokewatch, as a
reverse proxy does when a project serves both on one origin: that is how a researcher signs in
to the original pages (smokewatch's /login keeps the session where RISE's ``Util.login`` looks,
``localStorage.user_data``). See docs/labeling-api.md ("The original RISE front end").
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import expect
from service_helpers import Seeded, seed, video_row
from sqlalchemy import func, insert, select, update
from videos import make_clip
from web.site_helpers import PAGE_WAIT, RESEARCHER, ROOT, free_port, place_clips, serve

from smokewatch.labeling.db import Database, open_database
from smokewatch.labeling.tables import Batch, Connection, Role, Tutorial, User, Video
from smokewatch.labeling.users import add_account
from smokewatch.settings import Settings

ORIGINAL = Path(
    os.environ.get(
        "SMOKEWATCH_RISE_FRONTEND",
        ROOT.parent / "shared" / "peers" / "video-labeling-tool" / "front-end",
    )
)
LIBS = ROOT / "out" / "test-vendor"
SMOKE_CLIPS = range(3001, 3021)  # settled "smoke" by volunteers, for the gallery (20: 2 pages)

GSI_STUB = "window.google = {accounts: {id: {initialize() {}, renderButton() {}}}};"
JWT_STUB = "window.jwt_decode = (t) => JSON.parse(atob(t.split('.')[1]));"


@dataclass
class Original:
    url: str  # where the original pages are served
    api: str  # smokewatch
    db: Database
    seeded: Seeded
    sample: Path


class _Pages(SimpleHTTPRequestHandler):
    """The original files (Util.js patched), and smokewatch's own paths forwarded."""

    util_js: bytes = b""
    api: str = ""
    forwarded = ("/login", "/static/", "/api/")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's name)
        pass

    def do_GET(self) -> None:
        if self.path.startswith(self.forwarded):
            self._forward()
        elif urlsplit(self.path).path == "/js/Util.js":
            self._send(200, "application/javascript", self.util_js)
        else:
            super().do_GET()

    def do_POST(self) -> None:
        if self.path.startswith(self.forwarded):
            self._forward()
        else:
            self._send(405, "text/plain", b"")

    def _forward(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        answer = httpx.request(
            self.command,
            self.api + self.path,
            content=self.rfile.read(length) if length else None,
            headers={k: v for k, v in self.headers.items() if k.lower() == "content-type"},
            timeout=30,
        )
        self._send(answer.status_code, answer.headers.get("content-type", ""), answer.content)

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _patched_util_js(api_root: str) -> bytes:
    source = (ORIGINAL / "js" / "Util.js").read_text(encoding="utf-8")
    head = "var getRootApiUrl = function () {"
    assert source.count(head) == 1, "Util.js changed: getRootApiUrl() not found"
    return source.replace(head, f"{head}\n      return {api_root!r};").encode()


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Original]:
    if not (ORIGINAL / "label.html").is_file():
        pytest.skip(f"the original RISE front end is not at {ORIGINAL}")
    if not (LIBS / "jquery.min.js").is_file():
        pytest.fail(
            f"{LIBS} lacks jQuery: run 'make rise-frontend-libs' (make test does)", pytrace=False
        )
    tmp = tmp_path_factory.mktemp("original")
    data = tmp / "data"
    url_db = f"sqlite:///{data / 'smokewatch.db'}"
    settings = Settings(data_dir=data, database_url=url_db, page_min_seconds=PAGE_WAIT)
    db = open_database(settings)
    seeded = seed(db, plain=48)
    api_port, pages_port = free_port(), free_port()
    api = f"http://127.0.0.1:{api_port}"
    with db.write() as session:
        session.execute(insert(Video), [video_row(v, state=23, view=1) for v in SMOKE_CLIPS])
        # the clips' address on the service itself (SMOKEWATCH_VIDEOS_URL_ROOT at import)
        session.execute(update(Video).values(url_root=f"{api}/videos/"))
        add_account(session, RESEARCHER[0], RESEARCHER[1], Role.RESEARCHER)
    place_clips(settings, db, tmp)
    sample = tmp / "sample.mp4"
    make_clip(sample, frames=12, size=64, seed=3)

    handler = type("Pages", (_Pages,), {"util_js": _patched_util_js(f"{api}/api/v1/"), "api": api})
    pages = ThreadingHTTPServer(("127.0.0.1", pages_port), partial(handler, directory=ORIGINAL))
    thread = threading.Thread(target=pages.serve_forever, daemon=True)
    thread.start()
    pages_url = f"http://127.0.0.1:{pages_port}"
    env = {"SMOKEWATCH_PAGE_MIN_SECONDS": str(PAGE_WAIT), "SMOKEWATCH_CORS_ORIGINS": pages_url}
    try:
        with serve(settings, tmp, env, port=api_port):
            yield Original(pages_url, api, db, seeded, sample)
    finally:
        pages.shutdown()
        pages.server_close()
        db.dispose()


@pytest.fixture
def rise_page(browser: Any, original: Original) -> Iterator[Any]:
    """A fresh browser context on the original pages, with the CDNs answered locally."""
    # tall enough for a whole batch (two columns of 8) and its button: the pages pause clips
    # scrolled out of view, which a scroll to a tile would otherwise do
    context = browser.new_context(viewport={"width": 1280, "height": 3600}, base_url=original.url)
    context.set_default_timeout(20_000)
    files = {
        "jquery.min.js": (LIBS / "jquery.min.js", "application/javascript"),
        "jquery-ui.min.js": (LIBS / "jquery-ui.min.js", "application/javascript"),
        "jquery-ui.css": (LIBS / "jquery-ui.min.css", "text/css"),
    }

    def cdn(route: Any) -> None:
        url = urlsplit(route.request.url)
        name = url.path.rsplit("/", 1)[-1]
        if url.hostname == "ajax.googleapis.com" and name in files:
            path, kind = files[name]
            route.fulfill(path=path, content_type=kind)
        elif url.hostname == "accounts.google.com":
            route.fulfill(body=GSI_STUB, content_type="application/javascript")
        elif url.hostname == "cdn.jsdelivr.net" and "jwt-decode" in url.path:
            route.fulfill(body=JWT_STUB, content_type="application/javascript")
        elif url.hostname == "smoke.createlab.org" and name.endswith(".mp4"):
            route.fulfill(path=original.sample, content_type="video/mp4")
        elif route.request.resource_type == "stylesheet":
            route.fulfill(body="", content_type="text/css")  # web fonts, Font Awesome
        else:
            route.abort()  # Google Analytics and anything else outside

    context.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/])"), cdn)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.clock.install()  # the pages count down before "Next": run_for() skips the wait
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the original pages: {errors}"


def _ids_by_name(db: Database) -> dict[str, int]:
    with db.read() as session:
        return {name: vid for vid, name in session.execute(select(Video.id, Video.file_name))}


def _shown_clips(page: Any, selector: str, db: Database) -> list[int]:
    """Ids of the visible clips, from their addresses (which the pages rewrote to 320 px)."""
    sources = page.eval_on_selector_all(
        f"{selector} > a:not(.force-hidden) video", "vs => vs.map(v => v.currentSrc || v.src)"
    )
    assert sources and all("-320-320-" in s for s in sources), sources
    by_name = _ids_by_name(db)
    names = [
        s.rsplit("/", 1)[-1].removesuffix(".mp4").replace("-320-320-", "-180-180-") for s in sources
    ]
    return [by_name[n] for n in names]


def _all_playing(page: Any, selector: str, n: int) -> None:
    page.wait_for_function(
        "([sel, n]) => [...document.querySelectorAll(sel + ' > a:not(.force-hidden) video')]"
        ".filter(v => !v.paused && v.readyState >= 2 && v.videoWidth > 0).length === n",
        arg=[selector, n],
    )


TOOL = ".video-labeling-tool-videos"


def _sources(page: Any) -> list[str]:
    return list(page.eval_on_selector_all(f"{TOOL} video", "vs => vs.map(v => v.src)"))


def _batch(page: Any, original: Original, previous: list[str]) -> list[int]:
    """Wait for a batch of 16 playing clips other than ``previous`` (their sources); its ids."""
    expect(page.locator(f"{TOOL} > a:not(.force-hidden)")).to_have_count(16)
    page.wait_for_function(
        "prev => { const s = [...document.querySelectorAll('.video-labeling-tool-videos video')]"
        ".map(v => v.src); return s.length === 16 && !s.every((x, i) => x === prev[i]); }",
        arg=previous,
    )
    _all_playing(page, TOOL, 16)
    return _shown_clips(page, TOOL, original.db)


def _submit(page: Any, select_ids: set[int], shown: list[int]) -> None:
    tiles = page.locator(f"{TOOL} > a")
    for i, vid in enumerate(shown):
        if vid in select_ids:
            tiles.nth(i).click()
    _all_playing(page, TOOL, 16)  # the autoplay check runs within the count-down
    page.clock.run_for(11_000)  # the page's 10 s count-down before "Submit and Continue"
    time.sleep(PAGE_WAIT + 0.2)  # the count-down is skipped, the server's minimum is not
    expect(page.locator("#next")).to_be_enabled()
    page.locator("#next").click()


def test_label_html_labels_batches_with_the_gold_check(rise_page: Any, original: Original) -> None:
    page = rise_page
    page.goto("/label.html")
    page.locator("#guest-button").click()  # the sign-in dialog: Google's cannot work here
    first = _batch(page, original, [])
    gold = set(original.seeded.gold_pos)
    assert len(set(first)) == 16 and gold & set(first)

    _submit(page, gold, first)  # every gold clip right: accepted
    expect(page.locator("#quality-check-passed-text")).to_be_visible()
    second = _batch(page, original, _sources(page))
    gold_all = gold | set(original.seeded.gold_neg)
    assert not set(second) & (set(first) - gold_all)  # never a clip this volunteer labeled

    _submit(page, set(), second)  # the gold clips with smoke left out: rejected
    expect(page.locator("#quality-check-passed-text")).to_be_hidden()
    _batch(page, original, _sources(page))

    with original.db.read() as session:
        batches = session.execute(
            select(Batch.user_id, Batch.accepted, Batch.video_ids).order_by(Batch.id)
        ).all()
        user = session.get(User, batches[0].user_id)
        assert user is not None and user.client_id.startswith("uuid.")  # the page's own id
        sent = [(b.accepted, sorted(b.video_ids)) for b in batches if b.accepted is not None]
        assert sent == [(True, sorted(first)), (False, sorted(second))]
        assert (user.pages_submitted, user.pages_accepted) == (2, 1)

    page.locator("#tutorial").click()  # RISE records (0, 1): the tutorial button on a page
    page.wait_for_url("**/tutorial.html")
    with original.db.read() as session:
        records = session.execute(
            select(Tutorial.action_type, Tutorial.query_type)
            .join(Connection, Connection.id == Tutorial.connection_id)
            .where(Connection.user_id == user.id)
        ).all()
    assert [tuple(r) for r in records] == [(0, 1)]


def test_tutorial_html_records_its_events(rise_page: Any, original: Original) -> None:
    page = rise_page
    page.goto("/tutorial.html")
    steps = page.evaluate("tutorial_data.length")
    for step in range(steps):
        expect(page.locator("#next span")).to_have_text("Check Answer")
        n = page.evaluate(f"tutorial_data[{step}].data.length")
        _all_playing(page, ".tutorial-tool-videos", n)
        labels = page.evaluate(f"tutorial_data[{step}].data.map(d => d.label)")  # shuffled order
        tiles = page.locator(".tutorial-tool-videos > a")
        for i, label in enumerate(labels):
            if label == 1:
                tiles.nth(i).click()
        for button in ["Check Answer", "Next Step"]:
            page.clock.run_for(4_000)  # the 3 s count-down
            expect(page.locator("#next")).to_be_enabled()
            expect(page.locator("#next span")).to_have_text(button)
            page.locator("#next").click()
    expect(page.locator("#tutorial-end-text")).to_be_visible()

    # took the tutorial on its page (0, 0); passed the last batch the first time (4, 0)
    expected = [(0, 0), (4, 0)]
    assert _eventually(lambda: _tutorial_records(original.db), expected) == expected


def _tutorial_records(db: Database) -> list[tuple[int, int]]:
    """The records of the newest user (each page load of the original is a new volunteer)."""
    with db.read() as session:
        newest = session.scalar(select(func.max(User.id)))
        rows = session.execute(
            select(Tutorial.action_type, Tutorial.query_type)
            .join(Connection, Connection.id == Tutorial.connection_id)
            .where(Connection.user_id == newest)
            .order_by(Tutorial.id)
        ).all()
    return [(int(a), int(q)) for a, q in rows]


def _eventually(read: Any, expected: Any, seconds: float = 15) -> Any:
    """``read()`` once it equals ``expected`` (the page's last request may still be on its
    way), else its last value, for the assertion to compare."""
    deadline = time.monotonic() + seconds
    value = read()
    while value != expected and time.monotonic() < deadline:
        time.sleep(0.1)
        value = read()
    return value


GALLERY = ".gallery-videos"


def _smoke_pages(original: Original) -> list[list[int]]:
    """What the API lists as smoke, page by page (16 a page, as the gallery asks)."""
    pages = []
    for number in (1, 2):
        answer = httpx.get(
            f"{original.api}/api/v1/get_pos_labels",
            params={"pageNumber": number, "pageSize": 16},
            timeout=10,
        )
        pages.append([item["id"] for item in answer.json()["data"]])
    return pages


def test_gallery_html_lists_smoke_clips_and_pages_through_them(
    rise_page: Any, original: Original
) -> None:
    page = rise_page
    first, second = _smoke_pages(original)
    assert len(first) == 16 and 0 < len(second) < 16
    page.goto("/gallery.html")
    expect(page.locator(f"{GALLERY} > a:not(.force-hidden)")).to_have_count(16)
    _all_playing(page, GALLERY, 16)
    assert _shown_clips(page, GALLERY, original.db) == first
    expect(page.locator("#page-back")).to_be_disabled()
    page.locator("#page-next").click()
    expect(page.locator(f"{GALLERY} > a:not(.force-hidden)")).to_have_count(len(second))
    _all_playing(page, GALLERY, len(second))
    assert _shown_clips(page, GALLERY, original.db) == second
    expect(page.locator("#page-next")).to_be_disabled()
    page.locator("#page-back").click()
    expect(page.locator(f"{GALLERY} > a:not(.force-hidden)")).to_have_count(16)
    assert _shown_clips(page, GALLERY, original.db) == first
    expect(page.locator(".admin-control")).to_be_hidden()  # no researcher here


def test_a_researcher_signs_in_and_sets_a_label_state_from_gallery_html(
    rise_page: Any, original: Original
) -> None:
    page = rise_page
    page.goto("/login?next=/gallery.html")  # smokewatch's sign-in, on the pages' origin
    page.get_by_label("Account name").fill(RESEARCHER[0])
    page.get_by_label("Password").fill(RESEARCHER[1])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/gallery.html")
    expect(page.locator(".admin-text")).to_be_visible()  # RISE's "log in as a researcher"
    expect(page.locator(f"{GALLERY} > a:not(.force-hidden)")).to_have_count(16)
    shown = _shown_clips(page, GALLERY, original.db)
    item = page.locator(f"{GALLERY} > a").first
    expect(item).to_contain_text("Citizen: Strong Pos")
    item.get_by_role("button", name="Neg").click()
    expect(item).to_contain_text("Scientist: Strong Neg")
    with original.db.read() as session:
        state = session.scalar(select(Video.label_state_admin).where(Video.id == shown[0]))
    assert state == 16
