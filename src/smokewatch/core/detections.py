"""The detections file (``detections.json``): what ``smokewatch detect`` found on a camera day.

It is a format shared by wings that must not import each other: detection writes it, the report,
the alerts and the labeling service's ``clips import --from-detections`` read it. So, like the
metadata format, it lives in the spine, as plain dataclasses with a strict reader whose errors
name the file and the field. The schema is documented in ``docs/detections.md``; a change that
breaks a reader bumps :data:`SCHEMA`.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from smokewatch.core.atomic import atomic_write_text
from smokewatch.core.epoch import epoch_problem
from smokewatch.core.files import read_user_json
from smokewatch.errors import SmokewatchError

__all__ = [
    "SCHEMA",
    "Detections",
    "DetectionsError",
    "Event",
    "Skipped",
    "ViewDetections",
    "Window",
    "parse_detections",
    "read_detections",
    "write_detections",
]

#: The schema version this module reads and writes.
SCHEMA = 1


class DetectionsError(SmokewatchError, ValueError):
    """A detections file that is malformed; the message names the file and the field."""


@dataclass(frozen=True, slots=True)
class Window:
    """One scored window of a view: frames ``start_frame..end_frame`` (inclusive) of the day.

    ``activation_ratio`` is the share of Grad-CAM pixels over the CAM threshold, computed only
    when the probability passed the CAM gate (``None`` otherwise, or for a model without one).
    ``file`` is the clip file a window came from (``detect --clips``), else ``None``.
    ``stretch`` numbers the unbroken stretch of frames the window was cut from: windows of two
    stretches never join into one event, even when their frames and times follow each other
    (local midnight with daytime 0-24 h); ``None`` in files written before it was kept.
    """

    start_frame: int
    end_frame: int
    start_time: float
    end_time: float
    probability: float
    activation_ratio: float | None = None
    file: str | None = None
    stretch: int | None = None


@dataclass(frozen=True, slots=True)
class Event:
    """A run of smoke windows: when, which windows (indices into the view's ``windows``), how
    sure, and its evidence files (paths relative to the detections file's folder)."""

    id: str
    start_time: float
    end_time: float
    start_frame: int
    end_frame: int
    windows: tuple[int, ...]
    max_probability: float
    evidence_clip: str | None = None
    evidence_gif: str | None = None


@dataclass(frozen=True, slots=True)
class Skipped:
    """Frames of the view that were not scored, and why (a corrupt segment, a gap)."""

    start_frame: int
    end_frame: int
    reason: str


@dataclass(frozen=True, slots=True)
class ViewDetections:
    """Everything found in one camera view. ``box`` is the view in panorama pixels (LTRB), when
    the source was a timelapse."""

    camera_id: int
    view_id: int
    windows: tuple[Window, ...] = ()
    events: tuple[Event, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    box: tuple[int, int, int, int] | None = None

    @property
    def key(self) -> str:
        """The view as RISE writes it: ``"camera-view"``."""
        return f"{self.camera_id}-{self.view_id}"


@dataclass(frozen=True, slots=True)
class Detections:
    """A whole detections file. ``model`` describes the model (path, preset, kind, threshold);
    ``settings`` the rules and options the run used; ``source`` what was scored."""

    model: dict[str, Any]
    views: tuple[ViewDetections, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)
    schema: int = SCHEMA

    @property
    def time_zone(self) -> str | None:
        """The camera's zone the run used (local dates in clip names, times in the report):
        ``settings.timezone`` (a run over clips) or ``settings.daylight.timezone`` (a run over
        timelapse, whose daytime rule is in that zone); None for a file that has neither."""
        daylight = self.settings.get("daylight")
        for zone in (
            self.settings.get("timezone"),
            daylight.get("timezone") if isinstance(daylight, dict) else None,
        ):
            if isinstance(zone, str) and zone:
                return zone
        return None

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape: lists where the dataclasses hold tuples, ``schema`` first."""
        out = _lists(asdict(self))
        return {"schema": self.schema, **{k: v for k, v in out.items() if k != "schema"}}


def _lists(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_lists(v) for v in value]
    return value


# --------------------------------------------------------------------------------------------
# Reading


class _Reader:
    """Field access that names where a bad value is: ``views[2].windows[5].probability``."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, message: str) -> DetectionsError:
        return DetectionsError(f"{self.source}: {where}: {message}")

    def obj(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, f"expected an object, got {type(value).__name__}")
        return value

    def items(self, value: Any, where: str) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(where, f"expected a list, got {type(value).__name__}")
        return value

    def get(self, data: dict[str, Any], key: str, where: str) -> Any:
        if key not in data:
            raise self.fail(where, f"missing field {key!r}")
        return data[key]

    def integer(self, value: Any, where: str, *, minimum: int = 0) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(where, f"expected an integer >= {minimum}, got {value!r}")
        return value

    def number(self, value: Any, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(where, f"expected a number, got {value!r}")
        if not math.isfinite(value):
            raise self.fail(where, f"expected a finite number, got {value!r}")
        return float(value)

    def time(self, value: Any, where: str) -> float:
        number = self.number(value, where)
        problem = epoch_problem(number)
        if problem is not None:
            raise self.fail(where, problem)
        return number

    def unit(self, value: Any, where: str) -> float:
        number = self.number(value, where)
        if not 0.0 <= number <= 1.0:
            raise self.fail(where, f"expected a number in [0, 1], got {value!r}")
        return number

    def text(self, value: Any, where: str, *, optional: bool = False) -> str | None:
        if value is None and optional:
            return None
        if not isinstance(value, str) or not value:
            raise self.fail(where, f"expected a non-empty string, got {value!r}")
        return value

    def relative(self, value: Any, where: str) -> str | None:
        """An evidence path: relative, inside the detections folder (never ``..`` or absolute)."""
        text = self.text(value, where, optional=True)
        if text is None:
            return None
        parts = Path(text).parts
        if Path(text).is_absolute() or ".." in parts or "\\" in text:
            raise self.fail(where, f"must be a path inside the detections folder, got {text!r}")
        return text


def _window(r: _Reader, data: Any, where: str) -> Window:
    d = r.obj(data, where)
    start = r.integer(r.get(d, "start_frame", where), f"{where}.start_frame")
    end = r.integer(r.get(d, "end_frame", where), f"{where}.end_frame")
    if end < start:
        raise r.fail(where, f"end_frame {end} is before start_frame {start}")
    t0 = r.time(r.get(d, "start_time", where), f"{where}.start_time")
    t1 = r.time(r.get(d, "end_time", where), f"{where}.end_time")
    if t1 < t0:
        raise r.fail(where, f"end_time {t1} is before start_time {t0}")
    ratio = d.get("activation_ratio")
    return Window(
        start_frame=start,
        end_frame=end,
        start_time=t0,
        end_time=t1,
        probability=r.unit(r.get(d, "probability", where), f"{where}.probability"),
        activation_ratio=None if ratio is None else r.unit(ratio, f"{where}.activation_ratio"),
        file=r.text(d.get("file"), f"{where}.file", optional=True),
        stretch=None if d.get("stretch") is None else r.integer(d["stretch"], f"{where}.stretch"),
    )


def _event(r: _Reader, data: Any, where: str, n_windows: int) -> Event:
    d = r.obj(data, where)
    indices = r.items(r.get(d, "windows", where), f"{where}.windows")
    windows = tuple(r.integer(i, f"{where}.windows[{k}]") for k, i in enumerate(indices))
    for k, i in enumerate(windows):
        if i >= n_windows:
            raise r.fail(f"{where}.windows[{k}]", f"window {i} does not exist ({n_windows})")
    t0 = r.time(r.get(d, "start_time", where), f"{where}.start_time")
    t1 = r.time(r.get(d, "end_time", where), f"{where}.end_time")
    if t1 < t0:
        raise r.fail(where, f"end_time {t1} is before start_time {t0}")
    return Event(
        id=str(r.text(r.get(d, "id", where), f"{where}.id")),
        start_time=t0,
        end_time=t1,
        start_frame=r.integer(r.get(d, "start_frame", where), f"{where}.start_frame"),
        end_frame=r.integer(r.get(d, "end_frame", where), f"{where}.end_frame"),
        windows=windows,
        max_probability=r.unit(r.get(d, "max_probability", where), f"{where}.max_probability"),
        evidence_clip=r.relative(d.get("evidence_clip"), f"{where}.evidence_clip"),
        evidence_gif=r.relative(d.get("evidence_gif"), f"{where}.evidence_gif"),
    )


def _view(r: _Reader, data: Any, where: str) -> ViewDetections:
    d = r.obj(data, where)
    windows = tuple(
        _window(r, w, f"{where}.windows[{i}]")
        for i, w in enumerate(r.items(r.get(d, "windows", where), f"{where}.windows"))
    )
    events = tuple(
        _event(r, e, f"{where}.events[{i}]", len(windows))
        for i, e in enumerate(r.items(r.get(d, "events", where), f"{where}.events"))
    )
    skipped = []
    for i, s in enumerate(r.items(d.get("skipped", []), f"{where}.skipped")):
        sd = r.obj(s, f"{where}.skipped[{i}]")
        skipped.append(
            Skipped(
                start_frame=r.integer(r.get(sd, "start_frame", where), f"{where}.skipped[{i}]"),
                end_frame=r.integer(r.get(sd, "end_frame", where), f"{where}.skipped[{i}]"),
                reason=str(r.text(r.get(sd, "reason", where), f"{where}.skipped[{i}].reason")),
            )
        )
    box = d.get("box")
    if box is not None:
        items = r.items(box, f"{where}.box")
        if len(items) != 4:
            raise r.fail(f"{where}.box", f"expected [left, top, right, bottom], got {box!r}")
        box = tuple(r.integer(v, f"{where}.box") for v in items)
    return ViewDetections(
        camera_id=r.integer(r.get(d, "camera_id", where), f"{where}.camera_id"),
        view_id=r.integer(r.get(d, "view_id", where), f"{where}.view_id"),
        windows=windows,
        events=events,
        skipped=tuple(skipped),
        box=box,
    )


def parse_detections(data: Any, *, source: str = "detections") -> Detections:
    """Validate parsed JSON as a detections file; :class:`DetectionsError` names the field."""
    r = _Reader(source)
    d = r.obj(data, "top level")
    schema = d.get("schema")
    if schema != SCHEMA:
        raise r.fail("schema", f"version {schema!r} is not supported (this reads {SCHEMA})")
    views = tuple(
        _view(r, v, f"views[{i}]")
        for i, v in enumerate(r.items(r.get(d, "views", "top level"), "views"))
    )
    return Detections(
        model=r.obj(r.get(d, "model", "top level"), "model"),
        views=views,
        settings=r.obj(d.get("settings", {}), "settings"),
        source=r.obj(d.get("source", {}), "source"),
    )


def read_detections(path: str | os.PathLike[str]) -> Detections:
    """Read and validate ``detections.json``; every problem is one error naming the file."""
    data = read_user_json(path, what="detections file", error=DetectionsError)
    return parse_detections(data, source=str(path))


def write_detections(detections: Detections, path: str | os.PathLike[str]) -> None:
    """Write atomically (a reader never sees half a file), sorted keys left as built."""
    text = json.dumps(detections.to_dict(), indent=1, allow_nan=False)
    atomic_write_text(path, text + "\n")
