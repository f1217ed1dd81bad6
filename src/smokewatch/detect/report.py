"""The detection report (``report.html``): one file a volunteer can email to a regulator.

Everything the page shows travels inside it (styles, a ten-line script, the evidence clips and
Grad-CAM GIFs as ``data:`` URIs), so it opens from an e-mail attachment with no network and
nothing to install. Its Content-Security-Policy forbids fetching anything, so a later edit that
adds a web font or a CDN script breaks visibly in the browser test instead of telling a third
party who opened the report. Every text that comes from the detections (paths, ids, settings)
is escaped; times are shown in the cameras' time zone, never the machine's. The page's layout
and its choices are described in ``docs/detect-report.md``.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import html
import json
import math
import statistics
import urllib.parse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from importlib import resources
from pathlib import Path
from typing import Any, TypeGuard
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from smokewatch import __version__
from smokewatch.core.atomic import atomic_write_text
from smokewatch.core.detections import Detections, Event, ViewDetections, Window
from smokewatch.core.style import base_css
from smokewatch.errors import SmokewatchError

__all__ = [
    "DEFAULT_MAX_EMBED_BYTES",
    "REPORT_NAME",
    "THRESHOLD_KEYS",
    "ReportError",
    "render_report",
    "write_report",
]

REPORT_NAME = "report.html"

#: Evidence embedded in one report, counted as the base64 text in the file. A mail client
#: base64-encodes the attachment again (+33 %), so 14 MB of evidence stays under the 20 MB
#: that Outlook.com accepts (Gmail: 25 MB). Evidence beyond it is linked instead.
DEFAULT_MAX_EMBED_BYTES = 14_000_000

#: Where the event rule's probability threshold is looked for in ``detections.settings``
#: (dotted keys into nested objects) when ``write_report`` is not given one: detect writes
#: its ``EventRule`` under ``rule``.
THRESHOLD_KEYS = ("rule.smoke_probability", "smoke_probability")

_MEDIA_TYPES = {
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".webm": "video/webm",
    ".gif": "image/gif",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
}
_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_TICK_HOURS = (1, 2, 3, 4, 6, 12, 24, 48, 72, 168)

# The timeline's geometry, in CSS pixels of the SVG (its width is the page's).
_PLOT_TOP = 10
_PLOT_HEIGHT = 120
_TICK_Y = _PLOT_TOP + _PLOT_HEIGHT + 17


class ReportError(SmokewatchError, ValueError):
    """The report cannot be written as asked (an unknown time zone, a bad option)."""


def write_report(
    detections: Detections,
    out_dir: str | Path,
    *,
    title: str | None = None,
    time_zone: str = "US/Eastern",
    threshold: float | None = None,
    max_embed_bytes: int = DEFAULT_MAX_EMBED_BYTES,
) -> Path:
    """Write ``out_dir/report.html`` atomically and return its path.

    Evidence paths are read relative to ``out_dir`` (the detections file's folder). The
    probability ``threshold`` drawn on the timelines is, unless given, the first of
    :data:`THRESHOLD_KEYS` found in the run's settings (none is drawn without one).
    """
    folder = Path(out_dir)
    page = render_report(
        detections,
        folder,
        title=title,
        time_zone=time_zone,
        threshold=threshold,
        max_embed_bytes=max_embed_bytes,
    )
    path = folder / REPORT_NAME
    atomic_write_text(path, page)
    return path


def render_report(
    detections: Detections,
    out_dir: str | Path,
    *,
    title: str | None = None,
    time_zone: str = "US/Eastern",
    threshold: float | None = None,
    max_embed_bytes: int = DEFAULT_MAX_EMBED_BYTES,
) -> str:
    """The report page as text (what :func:`write_report` writes)."""
    clock = _Clock(time_zone)
    if max_embed_bytes < 0:
        raise ReportError(f"max_embed_bytes must be >= 0, got {max_embed_bytes}")
    if threshold is None:
        threshold = _find_threshold(detections)
    elif not (isinstance(threshold, int | float) and 0.0 <= threshold <= 1.0):
        raise ReportError(f"threshold must be a number in [0, 1], got {threshold!r}")
    views = sorted(detections.views, key=lambda v: (v.camera_id, v.view_id))
    evidence = _Evidence(Path(out_dir), max_embed_bytes, views)
    axis = _Axis.covering(views, clock)
    single_day = len(_days(views, clock)) <= 1
    sections = [
        _view_section(
            v, clock, axis, threshold, evidence, single_day, _frame_times(v, detections.source)
        )
        for v in views
    ]
    title = title or _default_title(views, clock)
    body = [
        _header(detections, views, clock, title),
        '<main class="wrap">',
        _glance(views),
        _notices(views, evidence),
        _totals(views, clock),
        _event_list(views, clock, single_day),
        _how_to_read(threshold),
        *sections,
        _run_section(detections, threshold),
        "</main>",
        f'<footer class="wrap">Written by smokewatch {_e(__version__)} from '
        f"<code>detections.json</code>. Times are {_e(clock.zone_name)} local time.</footer>",
    ]
    return _document(title, "\n".join(body), evidence.linked_any)


# --------------------------------------------------------------------------------------------
# Time


class _Clock:
    """Epoch seconds shown in one time zone, whatever the machine's own is."""

    def __init__(self, name: str) -> None:
        try:
            self.zone = ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ReportError(f"unknown time zone {name!r} (an IANA name like US/Eastern)") from exc
        self.zone_name = name

    def local(self, t: float) -> datetime:
        return datetime.fromtimestamp(t, tz=self.zone)

    def hm(self, t: float) -> str:
        return self.local(t).strftime("%H:%M")

    def hms(self, t: float) -> str:
        return self.local(t).strftime("%H:%M:%S")

    def abbreviation(self, t: float) -> str:
        return self.local(t).tzname() or self.zone_name

    def hour_floor(self, t: float) -> float:
        d = self.local(t)
        return t - (d.minute * 60 + d.second + d.microsecond / 1e6)

    @staticmethod
    def day_name(d: date) -> str:
        return f"{_WEEKDAYS[d.weekday()]} {d.day} {_MONTHS[d.month - 1]} {d.year}"

    @staticmethod
    def short_day(d: date) -> str:
        return f"{_WEEKDAYS[d.weekday()][:3]} {d.day} {_MONTHS[d.month - 1][:3]}"


def _times(views: Iterable[ViewDetections]) -> list[float]:
    out: list[float] = []
    for v in views:
        for w in v.windows:
            out += (w.start_time, w.end_time)
        for ev in v.events:
            out += (ev.start_time, ev.end_time)
    return out


def _days(views: Sequence[ViewDetections], clock: _Clock) -> list[date]:
    return sorted({clock.local(t).date() for t in _times(views)})


def _duration(seconds: float) -> str:
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h} h {m} min"
    return f"{m} min {s} s" if s else f"{m} min"


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f}"


def _union_seconds(spans: Iterable[tuple[float, float]]) -> float:
    """Seconds covered by at least one span: a minute two views both saw counts once."""
    total, end = 0.0, -math.inf
    for a, b in sorted(spans):
        if b <= end:
            continue
        total += b - max(a, end)
        end = b
    return total


def _event_seconds(view: ViewDetections) -> float:
    return sum(ev.end_time - ev.start_time for ev in view.events)


# --------------------------------------------------------------------------------------------
# Evidence files


@dataclass(frozen=True, slots=True)
class _Media:
    kind: str  # "embedded", "linked" or "missing"
    src: str = ""  # a data: URI or a relative URL
    why: str = ""  # for "missing"


class _Evidence:
    """Evidence files as ``data:`` URIs while the budget lasts, then as relative links.

    The budget goes to the clips first (the evidence itself, and small: about 50 KB for 36
    frames at 180 x 180), then to the Grad-CAM GIFs (ten times that), each kind in page order;
    a file that does not fit is linked and a later, smaller one may still be embedded. Only
    regular files inside the report's folder are read, so a crafted detections file cannot
    make the report carry a file from elsewhere on the machine.
    """

    def __init__(self, folder: Path, budget: int, views: Sequence[ViewDetections]) -> None:
        self.folder = folder
        self.root = folder.resolve()
        self.budget = budget
        self.embedded_bytes = 0
        self.linked: list[str] = []
        self.missing: list[str] = []
        events = [ev for v in views for ev in sorted(v.events, key=lambda e: e.start_time)]
        wanted = [ev.evidence_clip for ev in events] + [ev.evidence_gif for ev in events]
        self._embed: set[str] = set()
        planned = 0
        for relative in dict.fromkeys(r for r in wanted if r is not None):
            path = self._inside(relative)
            if path is None or not path.is_file():
                continue
            cost = _base64_size(path.stat().st_size) * wanted.count(relative)
            if planned + cost <= budget:
                self._embed.add(relative)
                planned += cost

    @property
    def linked_any(self) -> bool:
        return bool(self.linked)

    def _inside(self, relative: str) -> Path | None:
        path = (self.folder / relative).resolve()
        return path if path.is_relative_to(self.root) else None

    def media(self, relative: str | None) -> _Media:
        if relative is None:
            return _Media("missing", why="none was written")
        path = self._inside(relative)
        if path is None:
            self.missing.append(relative)
            return _Media("missing", why="outside the report's folder")
        if not path.is_file():
            self.missing.append(relative)
            return _Media("missing", why="file not found")
        if relative not in self._embed:
            self.linked.append(relative)
            return _Media("linked", src=urllib.parse.quote(Path(relative).as_posix()))
        data = path.read_bytes()
        self.embedded_bytes += _base64_size(len(data))
        kind = _MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream")
        return _Media("embedded", src=f"data:{kind};base64,{base64.b64encode(data).decode()}")


def _base64_size(n: int) -> int:
    return 4 * math.ceil(n / 3)


# --------------------------------------------------------------------------------------------
# The timeline


@dataclass(frozen=True, slots=True)
class _Axis:
    """The common time axis of every view's timeline: whole local hours around the data."""

    start: float
    end: float

    @classmethod
    def covering(cls, views: Sequence[ViewDetections], clock: _Clock) -> _Axis | None:
        times = _times(views)
        if not times:
            return None
        start = clock.hour_floor(min(times))
        end = clock.hour_floor(max(times))
        if end < max(times) or end <= start:
            end += 3600
        return cls(start, end)

    def x(self, t: float) -> float:
        """Position of ``t`` in percent of the width."""
        return 100 * (t - self.start) / (self.end - self.start)

    def ticks(self) -> list[float]:
        hours = (self.end - self.start) / 3600
        step = next((h for h in _TICK_HOURS if hours / h <= 12), _TICK_HOURS[-1]) * 3600
        out, t = [], self.start
        while t <= self.end + 1:
            out.append(t)
            t += step
        return out


def _pct(x: float) -> str:
    return f"{x:.3f}".rstrip("0").rstrip(".") + "%"


@dataclass(frozen=True, slots=True)
class _FrameTimes:
    """When a view's frames were taken, as far as the detections file says.

    Skipped parts carry frame numbers only. Their times come from the frames whose times are
    recorded: the windows' first and last frames and, on both sides of each gap detect found
    in the frame times (``source.gaps``), the frames before and after it. A time is
    interpolated between two of those, or carried on at the camera's ``rate`` from the nearest
    one, but never across a gap: the steps there are minutes, not the camera's seconds. A
    frame with no recorded time in its stretch has no time: the report says so.
    """

    frames: tuple[int, ...]  #: frames whose time is recorded, in order
    times: tuple[float, ...]
    breaks: tuple[int, ...]  #: the frame before each gap, in order
    rate: float | None  #: the camera's seconds per frame, when known

    def at(self, frame: int) -> float | None:
        """``frame``'s time, or None where nothing recorded tells it."""
        i = bisect.bisect_left(self.breaks, frame)  # the stretch: (breaks[i-1], breaks[i]]
        first = self.breaks[i - 1] + 1 if i else -math.inf
        last = self.breaks[i] if i < len(self.breaks) else math.inf
        lo, hi = bisect.bisect_left(self.frames, first), bisect.bisect_right(self.frames, last)
        if lo == hi:
            return None
        j = bisect.bisect_left(self.frames, frame, lo, hi)
        if j < hi and self.frames[j] == frame:
            return self.times[j]
        if lo < j < hi:
            f0, f1, t0, t1 = self.frames[j - 1], self.frames[j], self.times[j - 1], self.times[j]
            return t0 + (frame - f0) * (t1 - t0) / (f1 - f0)
        if self.rate is None:
            return None
        k = lo if j == lo else hi - 1  # the nearest recorded frame of the stretch
        return self.times[k] + (frame - self.frames[k]) * self.rate


def _frame_times(view: ViewDetections, source: dict[str, Any]) -> _FrameTimes:
    """The frame times the detections record for ``view`` (see :class:`_FrameTimes`)."""
    gaps = _gaps(source)
    pairs = sorted(
        {(w.start_frame, w.start_time) for w in view.windows}
        | {(w.end_frame, w.end_time) for w in view.windows}
        | {(after, start) for after, start, _ in gaps}
        | {(after + 1, end) for after, _, end in gaps}
    )
    frames: list[int] = []
    times: list[float] = []
    for f, t in pairs:
        if frames and f == frames[-1]:
            continue
        frames.append(f)
        times.append(t)
    breaks = tuple(sorted({after for after, _, _ in gaps}))
    return _FrameTimes(tuple(frames), tuple(times), breaks, _seconds_per_frame(view, source))


def _gaps(source: dict[str, Any]) -> list[tuple[int, float, float]]:
    """``source.gaps`` as detect writes them (the frame before each gap, and the times of the
    frames on both sides); entries that are not that shape are passed over."""
    out = []
    gaps = source.get("gaps")
    for gap in gaps if isinstance(gaps, list) else ():
        if not isinstance(gap, dict):
            continue
        after, start, end = gap.get("after_frame"), gap.get("start"), gap.get("end")
        if _is_int(after) and after >= 0 and _is_number(start) and _is_number(end) and start < end:
            out.append((after, float(start), float(end)))
    return out


def _seconds_per_frame(view: ViewDetections, source: dict[str, Any]) -> float | None:
    """The run's fixed interval (``source.seconds_per_frame``), else the windows' median."""
    given = source.get("seconds_per_frame")
    if _is_number(given) and given > 0:
        return float(given)
    rates = [
        (w.end_time - w.start_time) / (w.end_frame - w.start_frame)
        for w in view.windows
        if w.end_frame > w.start_frame
    ]
    return statistics.median(rates) if rates else None


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _probability_paths(view: ViewDetections, axis: _Axis) -> tuple[str, str]:
    """The probability as an area and a line (SVG path data in a 1000 x 1000 box), broken
    where windows are missing so a gap never reads as a measurement."""
    windows = sorted(view.windows, key=lambda w: w.start_time)
    if not windows:
        return "", ""
    typical = statistics.median(w.end_time - w.start_time for w in windows)
    runs: list[list[Window]] = [[windows[0]]]
    for w in windows[1:]:
        if w.start_time > runs[-1][-1].end_time + max(typical / 2, 1.0):
            runs.append([])
        runs[-1].append(w)
    area, line = [], []
    for run in runs:
        points = [((w.start_time + w.end_time) / 2, w.probability) for w in run]
        points = [(run[0].start_time, run[0].probability), *points]
        points.append((run[-1].end_time, run[-1].probability))
        xy = [(10 * axis.x(t), 1000 * (1 - p)) for t, p in points]
        coords = " L".join(f"{x:.1f} {y:.1f}" for x, y in xy)
        line.append(f"M{coords}")
        area.append(f"M{xy[0][0]:.1f} 1000 L{coords} L{xy[-1][0]:.1f} 1000 Z")
    return " ".join(area), " ".join(line)


def _timeline(
    view: ViewDetections,
    clock: _Clock,
    axis: _Axis,
    threshold: float | None,
    anchors: dict[int, str],
    times: _FrameTimes,
) -> str:
    pid = f"hatch-{view.camera_id}-{view.view_id}"
    bottom = _PLOT_TOP + _PLOT_HEIGHT
    label = (
        f"Smoke probability in camera {view.camera_id} view {view.view_id} from "
        f"{clock.hm(axis.start)} to {clock.hm(axis.end)}, with {len(view.events)} smoke "
        f"event{'s' if len(view.events) != 1 else ''} marked"
    )
    parts = [
        f'<svg class="tl" role="img" aria-label="{_e(label)}">',
        "<defs>"
        f'<pattern id="{pid}" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" fill="#eef0f2"/>'
        '<rect width="2" height="6" fill="#b9c0c8"/></pattern></defs>',
        f'<rect class="tl-bg" x="0" y="{_PLOT_TOP}" width="100%" height="{_PLOT_HEIGHT}"/>',
        f'<line class="tl-half" x1="0" x2="100%" y1="{_PLOT_TOP + _PLOT_HEIGHT / 2}" '
        f'y2="{_PLOT_TOP + _PLOT_HEIGHT / 2}"/>',
    ]
    ticks = axis.ticks()
    major = max(1, math.ceil((len(ticks) - 1) / 4))  # a phone shows these five or so
    for i, t in enumerate(ticks):
        x = _pct(axis.x(t))
        parts.append(
            f'<line class="tl-grid" x1="{x}" x2="{x}" y1="{_PLOT_TOP}" y2="{bottom + 4}"/>'
        )
        local = clock.local(t)
        text = clock.short_day(local.date()) if local.hour == 0 and local.minute == 0 else None
        anchor = "start" if i == 0 else "end" if i == len(ticks) - 1 else "middle"
        minor = "" if i % major == 0 else " minor"
        parts.append(
            f'<text class="tl-tick{minor}" x="{x}" y="{_TICK_Y}" text-anchor="{anchor}">'
            f"{_e(text or clock.hm(t))}</text>"
        )
    for s in view.skipped:
        a, b = times.at(s.start_frame), times.at(s.end_frame)
        if a is None or b is None:  # the list below says the time is not known
            continue
        x0, x1 = max(axis.x(a), 0.0), min(axis.x(b), 100.0)
        if x1 <= x0:
            continue
        parts.append(
            f'<rect x="{_pct(x0)}" y="{_PLOT_TOP}" width="{_pct(x1 - x0)}" '
            f'height="{_PLOT_HEIGHT}" fill="url(#{pid})" class="tl-skipped">'
            f"<title>Not scored {clock.hm(a)}–{clock.hm(b)}: {_e(s.reason)}</title></rect>"
        )
    area, line = _probability_paths(view, axis)
    parts.append(
        f'<svg x="0" y="{_PLOT_TOP}" width="100%" height="{_PLOT_HEIGHT}" '
        'viewBox="0 0 1000 1000" preserveAspectRatio="none">'
        f'<path class="tl-area" d="{area}"/>'
        f'<path class="tl-line" d="{line}" vector-effect="non-scaling-stroke"/></svg>'
    )
    parts.append('<g class="tl-events">')
    for i, ev in sorted(enumerate(view.events), key=lambda p: p[1].start_time):
        x0 = axis.x(ev.start_time)
        width = max(axis.x(ev.end_time) - x0, 0.35)
        tip = (
            f"Smoke {clock.hms(ev.start_time)}–{clock.hms(ev.end_time)}, "
            f"max probability {ev.max_probability:.2f}"
        )
        parts.append(
            f'<a href="#{anchors[i]}" aria-label="{_e(tip)}"><title>{_e(tip)}</title>'
            f'<rect class="tl-event" x="{_pct(x0)}" y="{_PLOT_TOP}" width="{_pct(width)}" '
            f'height="{_PLOT_HEIGHT}"/>'
            f'<rect class="tl-event-top" x="{_pct(x0)}" y="{_PLOT_TOP}" width="{_pct(width)}" '
            'height="4"/></a>'
        )
    parts.append("</g>")
    if threshold is not None:
        y = _PLOT_TOP + _PLOT_HEIGHT * (1 - threshold)
        parts.append(f'<line class="tl-threshold" x1="0" x2="100%" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(
            f'<text class="tl-thr-label" x="99.5%" y="{y - 4:.1f}" text-anchor="end">'
            f"threshold {threshold:g}</text>"
        )
    parts.append(f'<text class="tl-ylabel" x="4" y="{_PLOT_TOP + 13}">probability 1</text>')
    parts.append("</svg>")
    return "".join(parts)


def _legend(threshold: float | None, events: bool, skipped: bool) -> str:
    items = [('<span class="sw sw-prob"></span>', "smoke probability of each window")]
    if events:
        items.append(
            ('<span class="sw sw-event"></span>', "smoke event (select it to see its evidence)")
        )
    if threshold is not None:
        items.append(('<span class="sw sw-thr"></span>', f"event threshold {threshold:g}"))
    if skipped:
        items.append(('<span class="sw sw-skip"></span>', "not scored (see below)"))
    lis = "".join(f"<li>{sw}{_e(text)}</li>" for sw, text in items)
    return f'<ul class="legend">{lis}</ul>'


# --------------------------------------------------------------------------------------------
# Page parts


def _e(value: object) -> str:
    """Any data as escaped text: never markup, whatever it holds."""
    return html.escape(str(value), quote=True)


def _view_name(view: ViewDetections) -> str:
    return f"camera {view.camera_id} · view {view.view_id}"


def _model_name(model: dict[str, Any]) -> str:
    for key in ("name", "preset"):
        if model.get(key):
            return str(model[key])
    if model.get("path"):
        return Path(str(model["path"])).name or str(model["path"])
    return "unnamed model"


def _source_line(source: dict[str, Any]) -> str:
    for key in ("timelapse", "clips", "frames", "path"):
        if source.get(key):
            return f"{key} <code>{_e(source[key])}</code>"
    if source:
        return _e(", ".join(f"{k}: {_scalar(v)}" for k, v in _flatten(source)))
    return "not recorded"


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _flatten(data: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out += _flatten(value, f"{name}.")
        else:
            out.append((name, value))
    return out


def _find_threshold(detections: Detections) -> float | None:
    flat = dict(_flatten(detections.settings))
    for key in THRESHOLD_KEYS:
        value = flat.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1:
            return float(value)
    return None  # the model's own ``threshold`` is not the event rule's: draw none


def _default_title(views: Sequence[ViewDetections], clock: _Clock) -> str:
    cameras = sorted({v.camera_id for v in views})
    days = _days(views, clock)
    parts = ["Smoke report"]
    if cameras:
        plural = "s" if len(cameras) > 1 else ""
        parts.append(f"camera{plural} {', '.join(map(str, cameras))}")
    if days:
        parts.append(_day_span(days))
    return " — ".join(parts)


def _day_span(days: Sequence[date]) -> str:
    if len(days) == 1:
        return _Clock.day_name(days[0])
    return f"{_Clock.day_name(days[0])} to {_Clock.day_name(days[-1])}"


def _header(
    detections: Detections, views: Sequence[ViewDetections], clock: _Clock, title: str
) -> str:
    cameras = sorted({v.camera_id for v in views})
    days = _days(views, clock)
    times = _times(views)
    zone = _e(clock.zone_name)
    if times:
        abbreviations = sorted({clock.abbreviation(t) for t in times})
        zone += f" ({_e(', '.join(abbreviations))})"
    model = detections.model
    model_text = f"{_e(_model_name(model))}"
    if model.get("path"):
        model_text += f" — <code>{_e(model['path'])}</code>"
    facts = [
        ("Camera" + ("s" if len(cameras) != 1 else ""), _e(", ".join(map(str, cameras)) or "—")),
        ("Day" + ("s" if len(days) > 1 else ""), _e(_day_span(days)) if days else "—"),
        ("Views", _e(", ".join(v.key for v in views) or "—")),
        ("Times in", zone),
        ("Model", model_text),
        ("Scored from", _source_line(detections.source)),
    ]
    dl = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts)
    return (
        '<header class="report-header"><div class="wrap">'
        '<p class="kicker">Smoke detection report</p>'
        f"<h1>{_e(title)}</h1>"
        '<p class="lede">Industrial smoke found by a machine-learning model in camera video, '
        "with the video evidence for each event.</p>"
        f'<dl class="facts">{dl}</dl></div></header>'
    )


def _glance(views: Sequence[ViewDetections]) -> str:
    n_events = sum(len(v.events) for v in views)
    seconds = _union_seconds((ev.start_time, ev.end_time) for v in views for ev in v.events)
    with_events = sum(1 for v in views if v.events)
    stats = [
        ("smoke", str(n_events), "smoke event" + ("" if n_events == 1 else "s")),
        ("smoke", _minutes(seconds), "minutes with smoke"),
        ("", f"{with_events} of {len(views)}", "views with smoke"),
    ]
    cards = "".join(
        f'<div class="stat {cls}"><span class="n">{_e(n)}</span>'
        f'<span class="what">{_e(what)}</span></div>'
        for cls, n, what in stats
    )
    return f'<section class="glance" aria-label="At a glance">{cards}</section>'


def _notices(views: Sequence[ViewDetections], evidence: _Evidence) -> str:
    # The views' sections are rendered before this, so the evidence tallies are complete.
    out = []
    if evidence.linked:
        n = len(evidence.linked)
        out.append(
            f"<p><strong>{n} evidence file{'s are' if n > 1 else ' is'} linked, not "
            "embedded</strong>: this report embeds at most "
            f"{evidence.budget / 1e6:.0f} MB of video so that it can be sent by e-mail. "
            "Keep <code>report.html</code> in its folder, next to those files, for them to "
            "play; the rest of the report works anywhere.</p>"
        )
    if evidence.missing:
        n = len(evidence.missing)
        out.append(
            f"<p><strong>{n} evidence file{'s were' if n > 1 else ' was'} missing</strong> "
            "when this report was written; their events are listed without them.</p>"
        )
    quiet = [v for v in views if not v.events]
    if quiet:
        names = ", ".join(_view_name(v) for v in quiet)
        out.append(f"<p>No smoke events in: {_e(names)}.</p>")
    if not views:
        out.append("<p>The detections file holds no camera views.</p>")
    return f'<div class="notice" role="note">{"".join(out)}</div>' if out else ""


def _totals(views: Sequence[ViewDetections], clock: _Clock) -> str:
    rows = []
    for v in views:
        scored = (
            f"{clock.hm(min(w.start_time for w in v.windows))}–"
            f"{clock.hm(max(w.end_time for w in v.windows))}"
            if v.windows
            else "—"
        )
        rows.append(
            f'<tr id="total-{v.key}"><td>{_e(_view_name(v))}</td>'
            f'<td class="num col-events">{len(v.events)}</td>'
            f'<td class="num col-minutes">{_minutes(_event_seconds(v))}</td>'
            f'<td class="wide">{_e(scored)}</td><td class="num wide">{len(v.windows)}</td>'
            f'<td class="num wide">{len(v.skipped)}</td></tr>'
        )
    n_events = sum(len(v.events) for v in views)
    seconds = _union_seconds((ev.start_time, ev.end_time) for v in views for ev in v.events)
    rows.append(
        '<tr class="total" id="total-day"><td>Whole day</td>'
        f'<td class="num col-events">{n_events}</td>'
        f'<td class="num col-minutes">{_minutes(seconds)}</td><td class="wide"></td>'
        f'<td class="num wide">{sum(len(v.windows) for v in views)}</td>'
        f'<td class="num wide">{sum(len(v.skipped) for v in views)}</td></tr>'
    )
    return (
        '<section class="panel" aria-labelledby="totals-h"><h2 id="totals-h">Totals</h2>'
        '<div class="table-scroll"><table><thead><tr><th>View</th><th class="num">Events</th>'
        '<th class="num">Minutes of smoke</th><th class="wide">Time scored</th>'
        '<th class="num wide">Windows scored</th><th class="num wide">Parts not scored</th>'
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
        '<p class="small muted">Minutes of smoke add up each event from its first to its last '
        "frame. For the whole day a minute counts once even when several views saw smoke in "
        "it.</p></section>"
    )


def _anchors(view: ViewDetections) -> dict[int, str]:
    """Each event's element id, numbered in time order (never built from the data's ids)."""
    order = sorted(range(len(view.events)), key=lambda i: view.events[i].start_time)
    return {i: f"event-{view.key}-{n + 1}" for n, i in enumerate(order)}


def _event_list(views: Sequence[ViewDetections], clock: _Clock, single_day: bool) -> str:
    """Every event of the run in one table: what a complaint to a regulator quotes."""
    rows = []
    listed = [(ev, v, _anchors(v)[i]) for v in views for i, ev in enumerate(v.events)]
    for ev, v, anchor in sorted(listed, key=lambda r: (r[0].start_time, r[1].key)):
        day = "" if single_day else f"{clock.short_day(clock.local(ev.start_time).date())}, "
        rows.append(
            f'<tr><td><a href="#{anchor}">{_e(day + clock.hms(ev.start_time))}</a></td>'
            f"<td>{_e(clock.hms(ev.end_time))}</td>"
            f'<td class="num">{_e(_duration(ev.end_time - ev.start_time))}</td>'
            f"<td>{_e(_view_name(v))}</td>"
            f'<td class="num">{ev.max_probability:.2f}</td></tr>'
        )
    if not rows:
        return ""
    return (
        '<section class="panel" aria-labelledby="list-h"><h2 id="list-h">Smoke events</h2>'
        '<div class="table-scroll"><table class="event-list"><thead><tr><th>Start</th>'
        '<th>End</th><th class="num">Duration</th><th>View</th>'
        '<th class="num">Max probability</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div></section>"
    )


def _how_to_read(threshold: float | None) -> str:
    rule = f"above {threshold:g}" if threshold is not None else "above the threshold of the run"
    return (
        '<section class="panel" aria-labelledby="read-h"><h2 id="read-h">How to read this '
        "report</h2><p>The video of each camera view was cut into short overlapping windows "
        "and a model trained on volunteers' labels gave each window a probability of showing "
        f"industrial smoke (0 = surely none, 1 = surely smoke). Windows {rule}, under the rule "
        "listed at the end, form <strong>smoke events</strong>. Each event below has its video "
        "clip (hover or tap to play) and a Grad-CAM picture showing where in the image the "
        "model saw smoke. A model can be wrong: the clips are the evidence, the probabilities "
        "are a guide to them.</p></section>"
    )


def _view_section(
    view: ViewDetections,
    clock: _Clock,
    axis: _Axis | None,
    threshold: float | None,
    evidence: _Evidence,
    single_day: bool,
    times: _FrameTimes,
) -> str:
    key = view.key
    anchors = _anchors(view)
    n = len(view.events)
    badge = (
        f'<span class="badge">{n} event{"s" if n != 1 else ""} · '
        f"{_minutes(_event_seconds(view))} min</span>"
        if n
        else '<span class="badge none">no smoke events</span>'
    )
    box = (
        f'<span class="summary small">panorama box {_e(", ".join(map(str, view.box)))}</span>'
        if view.box
        else ""
    )
    parts = [
        f'<section class="panel view" id="view-{key}" aria-labelledby="view-{key}-h">',
        f'<div class="view-head"><h2 id="view-{key}-h">{_e(_view_name(view).capitalize())}'
        f"</h2>{badge}{box}</div>",
    ]
    if axis is not None and view.windows:
        parts.append(
            f'<figure class="timeline">{_timeline(view, clock, axis, threshold, anchors, times)}'
            f"{_legend(threshold, bool(view.events), bool(view.skipped))}</figure>"
        )
    else:
        parts.append('<p class="muted">No windows of this view were scored.</p>')
    if view.skipped:
        parts.append(_skipped_list(view, clock, times))
    if view.events:
        cards = [
            _event_card(view, view.events[i], anchors[i], clock, evidence, single_day)
            for i in sorted(anchors, key=lambda i: view.events[i].start_time)
        ]
        parts.append(f'<h3>Smoke events</h3><div class="events">{"".join(cards)}</div>')
    else:
        parts.append('<p class="no-events">No smoke events in this view.</p>')
    parts.append("</section>")
    return "\n".join(parts)


def _skipped_list(view: ViewDetections, clock: _Clock, times: _FrameTimes) -> str:
    items = []
    for s in view.skipped:
        when = _skipped_when(times.at(s.start_frame), times.at(s.end_frame), clock)
        items.append(f"<li>frames {s.start_frame}–{s.end_frame}, {_e(when)}: {_e(s.reason)}</li>")
    return (
        '<p class="small muted">Parts of the video not scored:</p>'
        f'<ul class="skipped-list">{"".join(items)}</ul>'
    )


def _skipped_when(start: float | None, end: float | None, clock: _Clock) -> str:
    """A skipped part's local times, saying which the detections file does not tell."""
    if start is not None and end is not None:
        return f"about {clock.hm(start)}–{clock.hm(end)}"
    if start is not None:
        return f"from about {clock.hm(start)}, end time not known"
    if end is not None:
        return f"until about {clock.hm(end)}, start time not known"
    return "time not known"


def _media_html(media: _Media, what: str, path: str | None, *, video: bool) -> str:
    if media.kind == "missing":
        name = f"<code>{_e(path)}</code>" if path else ""
        return (
            f'<div class="missing" role="img" aria-label="{_e(what)} missing">'
            f"<strong>{_e(what)} missing</strong><span>{_e(media.why)}</span>{name}</div>"
        )
    if video:
        return (
            f'<video class="thumb" src="{_e(media.src)}" muted loop playsinline '
            f'preload="metadata" tabindex="0" aria-label="{_e(what)} (plays on hover)">'
            "</video>"
        )
    return f'<img src="{_e(media.src)}" alt="{_e(what)}">'


def _windows(n: int) -> str:
    return f"{n} window" if n == 1 else f"{n} windows"


def _event_card(
    view: ViewDetections,
    ev: Event,
    anchor: str,
    clock: _Clock,
    evidence: _Evidence,
    single_day: bool,
) -> str:
    clip = evidence.media(ev.evidence_clip)
    gif = evidence.media(ev.evidence_gif)
    when = f"{clock.hms(ev.start_time)} – {clock.hms(ev.end_time)}"
    if not single_day:
        when = f"{clock.short_day(clock.local(ev.start_time).date())}, {when}"
    zone = clock.abbreviation(ev.start_time)
    ratios = [
        view.windows[i].activation_ratio
        for i in ev.windows
        if i < len(view.windows) and view.windows[i].activation_ratio is not None
    ]
    facts = [
        ("Duration", _duration(ev.end_time - ev.start_time)),
        ("Frames", f"{ev.start_frame}–{ev.end_frame} ({_windows(len(ev.windows))})"),
    ]
    if ratios:  # RISE's ratio: the share of the view Grad-CAM does not argue against
        facts.append(("Activation ratio", f"up to {max(r for r in ratios if r is not None):.2f}"))
    facts.append(("Event id", ev.id))
    for what, media in (("clip", clip), ("Grad-CAM", gif)):
        if media.kind == "linked":
            facts.append((f"{what} file", "linked, not embedded (keep the folder together)"))
    dl = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts)
    return (
        f'<article class="event" id="{anchor}">'
        f'<div class="when"><h4>{_e(when)} <span class="tz">{_e(zone)}</span></h4>'
        f'<span class="prob"><span class="muted">max probability</span> '
        f"{ev.max_probability:.2f}</span></div>"
        '<div class="media">'
        f'<figure class="clip">{_media_html(clip, "Evidence clip", ev.evidence_clip, video=True)}'
        "<figcaption>Video (hover or tap to play)</figcaption></figure>"
        f'<figure class="cam">{_media_html(gif, "Grad-CAM", ev.evidence_gif, video=False)}'
        "<figcaption>Where the model saw smoke</figcaption></figure>"
        f"</div><dl>{dl}</dl></article>"
    )


def _kv_table(caption: str, data: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td><code>{_e(k)}</code></td><td>{_e(_scalar(v))}</td></tr>"
        for k, v in _flatten(data)
    )
    if not rows:
        rows = '<tr><td colspan="2" class="muted">not recorded</td></tr>'
    return f'<h3>{_e(caption)}</h3><div class="table-scroll"><table class="kv">{rows}</table></div>'


def _run_section(detections: Detections, threshold: float | None) -> str:
    thr = (
        f"<p>Threshold drawn on the timelines: <strong>{threshold:g}</strong>.</p>"
        if threshold is not None
        else ""
    )
    return (
        '<section class="panel" id="run" aria-labelledby="run-h">'
        '<h2 id="run-h">Model and settings used</h2>'
        f"{thr}"
        f"{_kv_table('Event rule and options', detections.settings)}"
        f"{_kv_table('Model', detections.model)}"
        f"{_kv_table('Source', detections.source)}"
        f'<p class="small muted">detections.json schema {_e(detections.schema)}.</p></section>'
    )


# --------------------------------------------------------------------------------------------
# The document


def _asset(name: str) -> str:
    return resources.files("smokewatch.detect").joinpath(name).read_text(encoding="utf-8")


def _sha256(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()


def _document(title: str, body: str, linked: bool) -> str:
    css = base_css() + _asset("report.css")
    script = _asset("report.js")
    # Embedded evidence needs data: only; linked evidence sits beside the file (file: when
    # opened from disk, 'self' when the folder is served).
    media = "data: 'self' file:" if linked else "data:"
    policy = (
        f"default-src 'none'; style-src 'sha256-{_sha256(css)}'; "
        f"script-src 'sha256-{_sha256(script)}'; img-src {media}; media-src {media}; "
        "base-uri 'none'; form-action 'none'"
    )
    return (
        "<!doctype html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="generator" content="smokewatch {_e(__version__)}">\n'
        f"<title>{_e(title)}</title>\n<style>{css}</style>\n</head>\n<body>\n"
        f"{body}\n<script>{script}</script>\n</body>\n</html>\n"
    )
