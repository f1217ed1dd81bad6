"""The detection report: self-contained, escaped, right in its totals and local times, and a
page that works in real Chromium from a file:// URL with no network.

The fixture is a pseudo-day built with the detections dataclasses: camera 0, views 0 and 1, one
window every 18 frames of 10 s from 06:00 to 18:00 EDT on 3 June 2025; view 0 has two events
(10:15 and 14:30) and a skipped half hour at noon, view 1 none. Evidence files are real: H.264
clips from smokewatch.video and a GIF from Pillow.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import math
import os
import re
import time
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from videos import make_clip

from smokewatch.core.detections import Detections, Event, Skipped, ViewDetections, Window
from smokewatch.core.style import base_css
from smokewatch.detect.report import ReportError, render_report, write_report

SCREENSHOTS = Path(__file__).resolve().parents[2] / "out" / "test-artifacts" / "screenshots"

DAY_START = datetime(2025, 6, 3, 10, 0, tzinfo=UTC).timestamp()  # 06:00 EDT
SECONDS_PER_FRAME = 10.0
HOSTILE_PATH = "<script>alert(1)</script>"
HOSTILE_VALUE = '"><img src=x onerror=alert(2)>'


def _t(frame: int) -> float:
    return DAY_START + frame * SECONDS_PER_FRAME


def _windows(n: int, smoke: dict[int, float], skip: range, seed: float) -> list[Window]:
    out = []
    for k in range(n):
        start, end = 18 * k, 18 * k + 35
        if start in skip or end in skip:
            continue
        p = smoke.get(k, 0.08 + 0.06 * math.sin(k / 7 + seed) + 0.04 * math.sin(k * 1.7))
        ratio = 0.5 if p > 0.6 else None
        out.append(Window(start, end, _t(start), _t(end), round(p, 4), ratio))
    return out


def _event(windows: list[Window], first: int, last: int, id_: str, **kw: Any) -> Event:
    index = {w.start_frame // 18: i for i, w in enumerate(windows)}
    chosen = [index[k] for k in range(first, last + 1)]
    ws = [windows[i] for i in chosen]
    return Event(
        id=id_,
        start_time=ws[0].start_time,
        end_time=ws[-1].end_time,
        start_frame=ws[0].start_frame,
        end_frame=ws[-1].end_frame,
        windows=tuple(chosen),
        max_probability=max(w.probability for w in ws),
        **kw,
    )


def _gif(path: Path, size: int = 64, frames: int = 6) -> None:
    yy, xx = np.mgrid[0:size, 0:size]
    images = []
    for t in range(frames):
        heat = np.exp(-((xx - size / 2 - 2 * t) ** 2 + (yy - size / 3) ** 2) / (size * 3))
        rgb = np.stack([255 * heat, 80 * heat, 60 + 40 * (1 - heat)], axis=-1).astype(np.uint8)
        images.append(Image.fromarray(rgb))
    images[0].save(path, save_all=True, append_images=images[1:], duration=120, loop=0)


def make_detections(folder: Path, *, hostile: bool = False) -> Detections:
    """The pseudo-day above, its evidence written under ``folder/evidence``."""
    evidence = folder / "evidence"
    evidence.mkdir(parents=True, exist_ok=True)
    make_clip(evidence / "0-0-a.mp4", frames=36, size=64, seed=1)
    _gif(evidence / "0-0-a.gif")
    smoke = {85: 0.93, 86: 0.97, 87: 0.91, 170: 0.88, 171: 0.95, 172: 0.99, 173: 0.9}
    n = (12 * 3600 // 10 - 36) // 18 + 1  # 06:00 to 18:00
    noon = range(2160, 2341)  # frames of 12:00-12:30, not scored
    w0 = _windows(n, smoke, noon, 0.0)
    w1 = _windows(n, {}, range(0), 2.0)
    events = (
        _event(w0, 85, 87, "0-0-a", evidence_clip="evidence/0-0-a.mp4",
               evidence_gif="evidence/0-0-a.gif"),
        _event(w0, 170, 173, HOSTILE_VALUE if hostile else "0-0-b",
               evidence_clip="evidence/0-0-b.mp4", evidence_gif=None),
    )  # fmt: skip
    views = (
        ViewDetections(
            camera_id=0,
            view_id=0,
            windows=tuple(w0),
            events=events,
            skipped=(Skipped(2160, 2340, "corrupt segment: decoder error <at> frame 2170"),),
            box=(0, 0, 180, 180),
        ),
        ViewDetections(camera_id=0, view_id=1, windows=tuple(w1), box=(180, 0, 360, 180)),
    )
    model = {"name": "rise-hard-i3d", "path": "models/rise-hard-i3d", "kind": "i3d"}
    settings: dict[str, Any] = {  # as smokewatch detect writes them
        "window_frames": 36,
        "window_step": 18,
        "cam": True,
        "cam_probability": 0.6,
        "cam_threshold": 0.85,
        "rule": {"smoke_probability": 0.85, "smoke_ratio": 0.4, "use_ratio": True,
                 "max_gap": 1, "max_frames": 72, "min_frames": 36},
    }  # fmt: skip
    if hostile:
        model["path"] = HOSTILE_PATH
        settings["note"] = HOSTILE_VALUE
        settings[HOSTILE_PATH] = "key"
    source = {"timelapse": "2025-06-03/timelapse.mp4", "seconds_per_frame": SECONDS_PER_FRAME}
    return Detections(model=model, views=views, settings=settings, source=source)


class _Tags(HTMLParser):
    """Every start tag with its attributes, and the text inside <script> elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"
        if self._in_script:
            self.scripts.append("")

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts[-1] += data


def _parse(text: str) -> _Tags:
    parser = _Tags()
    parser.feed(text)
    parser.close()
    return parser


def _row(text: str, row_id: str) -> dict[str, str]:
    row = re.search(rf'<tr[^>]*id="{row_id}"[^>]*>(.*?)</tr>', text, re.S)
    assert row, row_id
    cells = re.findall(r'<td class="num col-(\w+)">([^<]*)</td>', row.group(1))
    return dict(cells)


@pytest.fixture
def day(tmp_path: Path) -> tuple[Detections, Path]:
    return make_detections(tmp_path), tmp_path


# --------------------------------------------------------------------------------------------
# The file


def test_writes_one_self_contained_file(day: tuple[Detections, Path]) -> None:
    detections, folder = day
    path = write_report(detections, folder)
    assert path == folder / "report.html"
    text = path.read_text(encoding="utf-8")
    assert not list(folder.glob(".report.html.*")), "the atomic write left its temporary file"
    assert "http://" not in text and "https://" not in text
    tags = _parse(text).tags
    for tag, attrs in tags:
        for name in ("src", "href"):
            value = attrs.get(name)
            if value is not None:
                assert value.startswith(("data:", "#")), f"<{tag} {name}={value[:60]}>"
    assert not [t for t, a in tags if t == "link" or (t == "script" and "src" in a)]
    assert len([t for t, _ in tags if t == "svg" and ("class", "tl") in _.items()]) == 2


def test_the_house_style_is_inlined_first_and_allowed_by_its_hash(
    day: tuple[Detections, Path],
) -> None:
    detections, folder = day
    text = render_report(detections, folder)
    (style,) = re.findall(r"<style>(.*?)</style>", text, re.S)
    assert style.startswith(base_css()) and ":root {\n  --prob:" in style[len(base_css()) :]
    digest = base64.b64encode(hashlib.sha256(style.encode("utf-8")).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in text


def test_evidence_is_embedded_byte_for_byte(day: tuple[Detections, Path]) -> None:
    detections, folder = day
    tags = _parse(write_report(detections, folder).read_text()).tags
    videos = [a["src"] for t, a in tags if t == "video"]
    images = [a["src"] for t, a in tags if t == "img"]
    assert len(videos) == 1 and len(images) == 1  # event b's clip is missing, it has no GIF
    kind, data = str(videos[0]).split(",", 1)
    assert kind == "data:video/mp4;base64"
    assert base64.b64decode(data) == (folder / "evidence/0-0-a.mp4").read_bytes()
    kind, data = str(images[0]).split(",", 1)
    assert kind == "data:image/gif;base64"
    assert base64.b64decode(data) == (folder / "evidence/0-0-a.gif").read_bytes()


def test_missing_evidence_is_a_placeholder(day: tuple[Detections, Path]) -> None:
    detections, folder = day
    text = write_report(detections, folder).read_text()
    card = re.search(r'<article class="event" id="event-0-0-2">(.*?)</article>', text, re.S)
    assert card, "the second event has its card"
    assert "Evidence clip missing" in card.group(1) and "evidence/0-0-b.mp4" in card.group(1)
    assert "Grad-CAM missing" in card.group(1) and "none was written" in card.group(1)
    assert "<video" not in card.group(1)
    assert "1 evidence file was missing" in text


def test_totals_count_events_and_minutes(day: tuple[Detections, Path]) -> None:
    detections, folder = day
    text = render_report(detections, folder)
    view0, view1 = detections.views
    minutes0 = sum(e.end_time - e.start_time for e in view0.events) / 60
    assert _row(text, "total-0-0") == {"events": "2", "minutes": f"{minutes0:.1f}"}
    assert _row(text, "total-0-1") == {"events": "0", "minutes": "0.0"}
    assert _row(text, "total-day") == {"events": "2", "minutes": f"{minutes0:.1f}"}
    assert f'<span class="n">{minutes0:.1f}</span>' in text
    assert "No smoke events in: camera 0 · view 1." in text
    assert "No smoke events in this view." in text


def test_a_minute_two_views_saw_counts_once_for_the_day(tmp_path: Path) -> None:
    def view(view_id: int, start: float, end: float) -> ViewDetections:
        w = Window(0, 35, start, end, 0.9)
        return ViewDetections(0, view_id, (w,), (Event("e", start, end, 0, 35, (0,), 0.9),))

    t = DAY_START
    detections = Detections(model={}, views=(view(0, t, t + 600), view(1, t + 300, t + 1200)))
    text = render_report(detections, tmp_path)
    assert _row(text, "total-0-0")["minutes"] == "10.0"
    assert _row(text, "total-0-1")["minutes"] == "15.0"
    assert _row(text, "total-day") == {"events": "2", "minutes": "20.0"}


def test_times_are_local_to_the_given_zone(day: tuple[Detections, Path]) -> None:
    detections, folder = day
    first = detections.views[0].events[0]
    assert first.start_time == datetime(2025, 6, 3, 14, 15, tzinfo=UTC).timestamp()
    eastern = render_report(detections, folder)
    assert '<h4>10:15:00 – 10:26:50 <span class="tz">EDT</span></h4>' in eastern
    assert "Tuesday 3 June 2025" in eastern and "US/Eastern (EDT)" in eastern
    utc = render_report(detections, folder, time_zone="UTC")
    assert '<h4>14:15:00 – 14:26:50 <span class="tz">UTC</span></h4>' in utc
    tokyo = render_report(detections, folder, time_zone="Asia/Tokyo")  # the day spans midnight
    assert '<h4>Tue 3 Jun, 23:15:00 – 23:26:50 <span class="tz">JST</span></h4>' in tokyo
    assert "Tuesday 3 June 2025 to Wednesday 4 June 2025" in tokyo


def test_the_machines_time_zone_changes_nothing(day: tuple[Detections, Path]) -> None:
    detections, folder = day
    saved = os.environ.get("TZ")
    pages = []
    try:
        for zone in ("UTC", "Pacific/Kiritimati", "America/Los_Angeles"):
            os.environ["TZ"] = zone
            time.tzset()
            pages.append(render_report(detections, folder))
    finally:
        if saved is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = saved
        time.tzset()
    assert pages[0] == pages[1] == pages[2]
    assert "<h4>10:15:00 – 10:26:50 <span" in pages[0]


def _gap_day() -> Detections:
    """The audit's camera day: frames every 10 s from 10:00 UTC, a 1210-s gap after frame 44
    (frame 45 at 10:27:30), two windows before it and frames 45-79 too few for a window."""
    t = DAY_START

    def at(frame: int) -> float:
        return t + 10 * frame + (1210 - 10 if frame > 44 else 0)

    windows = tuple(Window(a, a + 35, at(a), at(a + 35), 0.1) for a in (0, 9))
    skipped = (Skipped(45, 79, "fewer than 36 daytime frames before the end of the video"),)
    gap = {"after_frame": 44, "start": at(44), "end": at(45), "seconds": 1210.0}
    source = {"timelapse": "day.mp4", "frames": 80, "max_frame_gap": 60.0, "gaps": [gap]}
    view = ViewDetections(0, 0, windows=windows, skipped=skipped)
    return Detections(model={"name": "m"}, views=(view,), source=source)


def test_a_part_not_scored_after_a_gap_is_timed_from_the_gap(tmp_path: Path) -> None:
    """The frames after a gap were taken 20 minutes later than the windows before it imply:
    their times come from ``source.gaps``, never from the windows' rhythm carried across."""
    text = render_report(_gap_day(), tmp_path, time_zone="UTC")
    assert "frames 45–79, about 10:27–10:33: fewer than 36" in text
    band = re.search(r'<rect x="([\d.]+)%"[^>]*class="tl-skipped"><title>([^<]*)</title>', text)
    assert band is not None and band[2].startswith("Not scored 10:27–10:33")
    assert float(band[1]) == pytest.approx(100 * 1650 / 3600, abs=0.01)  # 10:27:30 on 10-11


def test_a_time_nothing_records_is_said_to_be_unknown(tmp_path: Path) -> None:
    """With no camera rhythm to go on (a one-frame window), a part with no recorded time in
    its stretch of frames, or one end of it, is said to be unknown: never an invented time."""
    one_frame = Window(50, 50, DAY_START, DAY_START, 0.1)  # no seconds per frame from it
    view = ViewDetections(
        0, 0, windows=(one_frame,), skipped=(Skipped(10, 20, "corrupt segment: x"),)
    )
    text = render_report(Detections(model={}, views=(view,)), tmp_path, time_zone="UTC")
    assert "frames 10–20, time not known: corrupt segment" in text
    assert 'class="tl-skipped"' not in text
    gap = {"after_frame": 30, "start": DAY_START - 900, "end": DAY_START - 600}
    view = dataclasses.replace(view, skipped=(Skipped(10, 30, "gap: 300 s after frame 30"),))
    detections = Detections(model={}, views=(view,), source={"gaps": [gap]})
    text = render_report(detections, tmp_path, time_zone="UTC")
    assert "frames 10–30, until about 09:45, start time not known: gap" in text


def test_text_from_the_data_is_escaped_never_markup(tmp_path: Path) -> None:
    detections = make_detections(tmp_path, hostile=True)
    text = write_report(detections, tmp_path).read_text()
    parsed = _parse(text)
    scripts = [a for t, a in parsed.tags if t == "script"]
    assert len(scripts) == 1 and "alert" not in parsed.scripts[0]
    assert not [a for t, a in parsed.tags if t == "img" and "onerror" in a]
    assert not [t for t, a in parsed.tags if any(k.startswith("on") for k in a)]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "&quot;&gt;&lt;img src=x onerror=alert(2)&gt;" in text
    assert "decoder error &lt;at&gt; frame 2170" in text
    assert HOSTILE_PATH not in text and HOSTILE_VALUE not in text


def test_evidence_over_the_cap_is_linked_and_said_so(day: tuple[Detections, Path]) -> None:
    detections, folder = day
    make_clip(folder / "evidence/0-0-b.mp4", frames=36, size=64, seed=2)  # after a's GIF
    sizes = [(folder / f"evidence/{n}").stat().st_size for n in ("0-0-a.mp4", "0-0-b.mp4")]
    gif = (folder / "evidence/0-0-a.gif").stat().st_size
    short = sum(4 * math.ceil(n / 3) for n in [*sizes, gif]) - 1  # base64 of all three, but one
    tags = _parse(write_report(detections, folder, max_embed_bytes=short).read_text()).tags
    assert [a["src"] for t, a in tags if t == "img"] == ["evidence/0-0-a.gif"]  # clips first
    videos = [str(a["src"]) for t, a in tags if t == "video"]
    assert len(videos) == 2 and all(v.startswith("data:video/mp4") for v in videos)
    text = write_report(detections, folder, max_embed_bytes=0).read_text()
    tags = _parse(text).tags
    assert [a["src"] for t, a in tags if t == "video"] == [f"evidence/0-0-{x}.mp4" for x in "ab"]
    assert "data:video" not in text and "data:image" not in text
    assert "3 evidence files are linked, not embedded" in text


def test_evidence_outside_the_folder_is_never_read(tmp_path: Path) -> None:
    detections = make_detections(tmp_path / "run")
    secret = tmp_path / "secret.gif"
    secret.write_bytes(b"GIF89a not for the report")
    view = detections.views[0]
    event = view.events[0]
    moved = dataclasses.replace(event, evidence_gif="../secret.gif")
    views = (ViewDetections(0, 0, view.windows, (moved,)), *detections.views[1:])
    text = render_report(Detections(model={}, views=views), tmp_path / "run")
    assert base64.b64encode(secret.read_bytes()).decode() not in text
    assert "outside the report" in text


def test_threshold_from_the_settings_or_given(day: tuple[Detections, Path]) -> None:
    detections, folder = day
    assert ">threshold 0.85</text>" in render_report(detections, folder)
    assert ">threshold 0.7</text>" in render_report(detections, folder, threshold=0.7)
    bare = Detections(model={"threshold": 0.5}, views=detections.views)  # the model's own
    assert 'class="tl-threshold"' not in render_report(bare, folder)
    assert "<code>rule.smoke_probability</code>" in render_report(detections, folder)


def test_bad_options_are_clear_errors(day: tuple[Detections, Path]) -> None:
    detections, folder = day
    with pytest.raises(ReportError, match="unknown time zone 'Mars/Olympus'"):
        write_report(detections, folder, time_zone="Mars/Olympus")
    with pytest.raises(ReportError, match="threshold"):
        write_report(detections, folder, threshold=1.5)
    assert not (folder / "report.html").exists()


def test_an_empty_run_still_reports(tmp_path: Path) -> None:
    text = render_report(Detections(model={"path": "m"}), tmp_path)
    assert "holds no camera views" in text and _row(text, "total-day")["events"] == "0"


# --------------------------------------------------------------------------------------------
# In Chromium


# the hour labels a reader sees on a timeline, as pairs that overlap (none should)
_OVERLAPPING_TICKS = """
() => [...document.querySelectorAll('svg.tl')].flatMap(svg => {
  const r = [...svg.querySelectorAll('.tl-tick')]
    .filter(t => getComputedStyle(t).display !== 'none')
    .map(t => [t.textContent, t.getBoundingClientRect()]);
  return r.slice(1).flatMap(([t, b], i) => b.left < r[i][1].right + 2 ? [r[i][0] + '/' + t] : []);
})
"""
_MEDIA_SHOWN = (
    "[...document.querySelectorAll('video.thumb')].every(v => v.readyState >= 2)"
    " && [...document.querySelectorAll('.media img')].every(i => i.complete && i.naturalWidth)"
)


def _open(browser: Any, url: str, **context: Any) -> tuple[Any, Any, list[str], list[str]]:
    ctx = browser.new_context(**context)
    ctx.set_default_timeout(15_000)
    page = ctx.new_page()
    errors: list[str] = []
    requests: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type in ("error", "warning") else None)
    page.on("request", lambda r: requests.append(r.url))
    page.goto(url)
    return ctx, page, errors, requests


def test_in_chromium_it_plays_on_hover_and_fetches_nothing(
    browser: Any, day: tuple[Detections, Path]
) -> None:
    detections, folder = day
    url = write_report(detections, folder).as_uri()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    ctx, page, errors, requests = _open(
        browser, url, viewport={"width": 1280, "height": 900}, device_scale_factor=1
    )
    try:
        assert page.locator("svg.tl").count() == 2
        assert page.locator("svg.tl path.tl-line").first.get_attribute("d")
        # the house style (core's base.css) applies: its --paper background, its link colour
        assert page.evaluate("getComputedStyle(document.body).backgroundColor") == (
            "rgb(245, 246, 248)"
        )
        assert page.locator("a").first.evaluate("a => getComputedStyle(a).color") == (
            "rgb(10, 88, 184)"
        )
        assert page.locator("svg.tl .tl-event").count() == 2
        assert page.locator("svg.tl .tl-skipped").count() == 1
        video = page.locator("video.thumb").first
        page.wait_for_function("document.querySelector('video.thumb').readyState >= 1")
        assert video.evaluate("v => v.paused")
        # before any hover the thumbnail shows a still from mid-clip, not an empty box
        page.wait_for_function(
            "[...document.querySelectorAll('video.thumb')].every(v => v.currentTime > 0)"
        )
        video.hover()
        page.wait_for_function("!document.querySelector('video.thumb').paused")
        page.wait_for_function("document.querySelector('video.thumb').currentTime > 0")
        page.mouse.move(5, 5)
        page.wait_for_function("document.querySelector('video.thumb').paused")
        assert page.evaluate(_OVERLAPPING_TICKS) == []
        page.screenshot(path=SCREENSHOTS / "report-desktop.png", full_page=True)
        page.locator("svg.tl a").first.click()  # an event band jumps to its card
        assert page.evaluate("location.hash") == "#event-0-0-1"
    finally:
        ctx.close()
    assert errors == []
    assert [u for u in requests if not u.startswith(("data:", "file:"))] == []


def test_in_chromium_on_a_phone(browser: Any, day: tuple[Detections, Path]) -> None:
    detections, folder = day
    url = write_report(detections, folder).as_uri()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    phone = {"width": 360, "height": 740}
    ctx, page, errors, _ = _open(
        browser, url, viewport=phone, device_scale_factor=1, is_mobile=True, has_touch=True
    )
    try:
        assert page.evaluate("document.documentElement.scrollWidth") <= phone["width"]
        assert page.evaluate(_OVERLAPPING_TICKS) == []
        page.wait_for_function(_MEDIA_SHOWN)
        page.screenshot(path=SCREENSHOTS / "report-phone.png", full_page=True)
        # a full-page capture leaves a phone's videos unpainted: the first card, as seen
        page.locator("article.event").first.screenshot(path=SCREENSHOTS / "report-phone-event.png")
        page.emulate_media(media="print")
        assert (
            page.locator("video.thumb").first.evaluate(
                "v => getComputedStyle(v.closest('figure')).display"
            )
            == "none"
        )
    finally:
        ctx.close()
    assert errors == []


def test_in_chromium_linked_evidence_plays_beside_the_file(
    browser: Any, day: tuple[Detections, Path]
) -> None:
    detections, folder = day
    url = write_report(detections, folder, max_embed_bytes=0).as_uri()
    ctx, page, errors, requests = _open(browser, url)
    try:
        page.wait_for_function("document.querySelector('video.thumb').readyState >= 1")
        page.wait_for_function("document.querySelector('.cam img').naturalWidth > 0")
    finally:
        ctx.close()
    assert errors == []
    assert [u for u in requests if not u.startswith(("data:", "file:"))] == []
