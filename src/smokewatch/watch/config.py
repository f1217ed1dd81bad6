"""The continuous mode's configuration: one YAML file read by the watcher and every worker.

Workers are separate processes (maybe on other machines), so everything a job needs is in
the file a job names, never in a process's memory: the model, the views, the cameras and
their photo sources, the queue, the alert targets and the detection rule.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from smokewatch.clips.daylight import Daylight
from smokewatch.core.files import read_user_text
from smokewatch.detect.options import DetectOptions
from smokewatch.detect.rule import EventRule
from smokewatch.errors import SmokewatchError

__all__ = ["CameraSource", "WatchConfig", "WatchConfigError", "load_watch_config"]


class WatchConfigError(SmokewatchError, ValueError):
    """A watch configuration that cannot work; the message names the file and the key."""


@dataclass(frozen=True, slots=True)
class CameraSource:
    """One camera: its id (the service's camera id, and the views file's camera), a watched
    folder (photos dropped there are taken into the inbox), a registration (several photos
    per instant stitched by :class:`smokewatch.camera.panorama.PanoramaMaker`; none: one photo
    per instant is the frame) and a file-name time pattern for the watched folder."""

    id: int
    folder: Path | None = None
    registration: Path | None = None
    time_pattern: str | None = None


@dataclass(frozen=True, slots=True)
class WatchConfig:
    """See docs/watch.md for every key. ``data_dir`` holds the inboxes, the day folders and
    (SQLite queue) ``watch/queue.db``; ``queue`` is ``sqlite`` or a ``redis://`` URL."""

    path: Path
    data_dir: Path
    model: Path
    views: Path
    cameras: tuple[CameraSource, ...]
    queue: str = "sqlite"
    options: DetectOptions = field(default_factory=DetectOptions)
    gap_seconds: float = 60.0
    tolerance_s: float = 3.0
    notify: tuple[str, ...] = ()
    alert_secret: str | None = None
    device: str = "cpu"
    #: import each raised day's events and uncertain clips into the labeling service
    service: bool = False
    #: tests only: a job waits at each stage while ``pause_dir/armed`` exists
    pause_dir: Path | None = None

    def camera(self, camera_id: int) -> CameraSource:
        for camera in self.cameras:
            if camera.id == camera_id:
                return camera
        raise WatchConfigError(f"{self.path}: no camera {camera_id} in 'cameras'")


#: Every key of the file (docs/watch.md), and of a camera's mapping: any other is a typo
#: that would otherwise be ignored without a word (``notfy:`` sends no alerts).
_TOP_KEYS = (
    "model", "views", "cameras", "queue", "notify", "cam", "timezone", "day_start", "day_end",
    "gap_seconds", "service", "tolerance_s", "rule", "window_frames", "window_step", "size",
    "device", "data_dir",
)  # fmt: skip
#: accepted at the top level but never offered in an error: a hook for the tests only
_TEST_KEYS = ("pause_dir",)
_CAMERA_KEYS = ("folder", "registration", "time_pattern")
#: The event rule's keys, each with its default (whose type a value must have).
_RULE_DEFAULTS = {f.name: f.default for f in dataclasses.fields(EventRule)}


def _known_keys(
    raw: dict[Any, Any],
    known: Sequence[str],
    where: str,
    source: Path,
    *,
    quiet: Sequence[str] = (),
) -> None:
    """Refuse a key that is not in ``known`` (or ``quiet``: accepted, never suggested), naming
    it, where it is, and the closest."""
    for key in raw:
        if key in known or key in quiet:
            continue
        close = difflib.get_close_matches(str(key), known, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise WatchConfigError(
            f"{source}: unknown key '{key}' {where}{hint}; known keys: {', '.join(sorted(known))}"
        )


def _path(base: Path, value: Any, key: str, source: Path) -> Path:
    if not isinstance(value, str) or not value:
        raise WatchConfigError(f"{source}: '{key}' must be a path")
    p = Path(os.path.expanduser(value))
    return p if p.is_absolute() else base / p


def _flag(value: Any, key: str, source: Path) -> bool:
    """A YAML boolean: a quoted "false" is a string, and would be true if taken as one."""
    if not isinstance(value, bool):
        quoted = isinstance(value, str) and value.strip().lower() in ("true", "false")
        hint = " (write it without quotes)" if quoted else ""
        raise WatchConfigError(f"{source}: '{key}' must be true or false, not {value!r}{hint}")
    return value


def _number(value: Any, key: str, source: Path) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise WatchConfigError(f"{source}: '{key}' must be a number, not {value!r}")
    return float(value)


def _integer(value: Any, key: str, source: Path) -> int:
    """A whole number as YAML gives it: never 36.5 (cut to 36), "36" or true (taken as 1)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise WatchConfigError(f"{source}: '{key}' must be a whole number, not {value!r}")
    return value


def _text(value: Any, key: str, source: Path) -> str:
    if not isinstance(value, str) or not value.strip():
        raise WatchConfigError(f"{source}: '{key}' must be a non-empty string, not {value!r}")
    return value


def _typed(value: Any, default: Any, key: str, source: Path) -> Any:
    """``value`` checked against the type of ``default``: a flag, a whole number or a number."""
    if isinstance(default, bool):
        return _flag(value, key, source)
    if isinstance(default, int):
        return _integer(value, key, source)
    return _number(value, key, source)


def _camera_id(value: Any, source: Path) -> int:
    """A camera id as YAML gives it: 0, or "0"; never "abc", -1 or a huge number."""
    text = str(value)
    if not (text.isascii() and text.isdecimal() and int(text) < 2**31):
        raise WatchConfigError(f"{source}: camera id {value!r} in 'cameras' is not a number")
    return int(text)


def _camera(cid: Any, spec: Any, base: Path, source: Path) -> CameraSource:
    spec = spec or {}
    if not isinstance(spec, dict):
        raise WatchConfigError(f"{source}: cameras.{cid} must be a mapping")
    _known_keys(spec, _CAMERA_KEYS, f"in cameras.{cid}", source)
    pattern = spec.get("time_pattern")
    return CameraSource(
        id=_camera_id(cid, source),
        folder=_path(base, spec["folder"], f"cameras.{cid}.folder", source)
        if spec.get("folder")
        else None,
        registration=_path(base, spec["registration"], f"cameras.{cid}.registration", source)
        if spec.get("registration")
        else None,
        time_pattern=None
        if pattern is None
        else _text(pattern, f"cameras.{cid}.time_pattern", source),
    )


def _rule(raw: Any, source: Path) -> EventRule:
    rule = raw or {}
    if not isinstance(rule, dict):
        raise WatchConfigError(f"{source}: 'rule' must be a mapping of the event rule's keys")
    _known_keys(rule, tuple(_RULE_DEFAULTS), "in rule", source)
    values = {k: _typed(v, _RULE_DEFAULTS[k], f"rule.{k}", source) for k, v in rule.items()}
    return EventRule(**values)


def _notify(
    raw: Any, source: Path, secret: str | None, timezone: str, *, check: bool = True
) -> tuple[str, ...]:
    """The alert targets: one URL, or a list of them, each one a target the notifier takes.

    A job builds its :class:`~smokewatch.detect.alerts.Notifier` only when an event is raised,
    maybe hours after startup; a target it refuses then (a malformed URL, a webhook with no
    signing secret) would fail that job and every later one at the same day, whose events
    would never count as raised, so later days would never be scored. So the targets are
    checked here, with the secret and time zone a job's notifier gets, as ``detect`` checks
    them before scoring: every target problem is a :class:`WatchConfigError` when
    ``watch run``, ``watch worker`` or ``watch sync`` starts. ``check=False`` (``watch
    status``, which sends nothing) takes them as they are.
    """
    notify = raw or []
    if isinstance(notify, str):
        notify = [notify]
    if not isinstance(notify, list):
        raise WatchConfigError(f"{source}: 'notify' must be a URL or a list of URLs")
    targets = tuple(_text(n, "notify", source) for n in notify)
    if targets and check:
        from smokewatch.detect.alerts import AlertsError, check_targets

        try:
            check_targets(list(targets), secret=secret, timezone=timezone)
        except AlertsError as exc:
            raise WatchConfigError(f"{source}: 'notify': {exc}") from None
    return targets


def load_watch_config(
    path: str | os.PathLike[str],
    *,
    data_dir: Path,
    timezone: str,
    clip_size: int = 180,
    fps: int = 12,
    alert_secret: str | None = None,
    check_notify: bool = True,
) -> WatchConfig:
    """Read ``path`` (YAML); relative paths in it are relative to its folder. ``data_dir``,
    ``timezone``, the clip size and the alert secret come from the settings (the CLI passes
    them in; a ``data_dir`` key in the file wins). ``check_notify=False`` skips checking
    the alert targets (and the secret they need), for a reader that sends nothing."""
    source = Path(path)
    try:
        raw = yaml.safe_load(
            read_user_text(source, what="watch configuration", error=WatchConfigError)
        )
    except yaml.YAMLError as exc:
        raise WatchConfigError(f"{source}: cannot read the watch configuration ({exc})") from None
    if not isinstance(raw, dict):
        raise WatchConfigError(f"{source}: expected a mapping of keys")
    base = source.resolve().parent
    _known_keys(raw, _TOP_KEYS, "at the top level", source, quiet=_TEST_KEYS)
    for key in ("model", "views", "cameras"):
        if key not in raw:
            raise WatchConfigError(f"{source}: missing '{key}'")
    cams = raw["cameras"]
    if not isinstance(cams, dict) or not cams:
        raise WatchConfigError(f"{source}: 'cameras' must map camera ids to their sources")
    cameras = [_camera(cid, spec, base, source) for cid, spec in cams.items()]
    try:
        options = DetectOptions(
            rule=_rule(raw.get("rule"), source),
            window_frames=_integer(raw.get("window_frames", 36), "window_frames", source),
            window_step=_integer(raw.get("window_step", 18), "window_step", source),
            size=_integer(raw.get("size", clip_size), "size", source),
            fps=fps,
            cam=_flag(raw.get("cam", False), "cam", source),
            daylight=Daylight(
                timezone=_text(raw.get("timezone", timezone), "timezone", source),
                start_hour=_number(raw.get("day_start", 6.0), "day_start", source),
                end_hour=_number(raw.get("day_end", 20.0), "day_end", source),
            ),
        )
    except WatchConfigError:
        raise
    except (TypeError, ValueError) as exc:  # the rule's and the options' own checks
        raise WatchConfigError(f"{source}: {exc}") from None
    if options.window_step > options.window_frames:
        # frames between windows would be seen by no window: a plume there is never scored
        # (and the watched grid, which restarts after each gap, relies on windows touching)
        raise WatchConfigError(
            f"{source}: window_step {options.window_step} is over window_frames "
            f"{options.window_frames}: frames between windows would never be scored (a "
            "watch scores every frame; 'detect --window-step' allows a sparse one-off scan)"
        )
    for key in ("model", "views"):  # now, not when the first frames come (maybe hours later)
        if not _path(base, raw[key], key, source).exists():
            raise WatchConfigError(
                f"{source}: '{key}' {_path(base, raw[key], key, source)} does not exist"
            )
    return WatchConfig(
        path=source.resolve(),
        data_dir=_path(base, raw["data_dir"], "data_dir", source)
        if raw.get("data_dir")
        else data_dir.resolve(),
        model=_path(base, raw["model"], "model", source),
        views=_path(base, raw["views"], "views", source),
        cameras=tuple(cameras),
        queue=_text(raw.get("queue", "sqlite"), "queue", source),
        options=options,
        gap_seconds=_number(raw.get("gap_seconds", 60.0), "gap_seconds", source),
        tolerance_s=_number(raw.get("tolerance_s", 3.0), "tolerance_s", source),
        notify=_notify(
            raw.get("notify"),
            source,
            alert_secret,
            options.daylight.timezone,
            check=check_notify,
        ),
        alert_secret=alert_secret,
        device=_text(raw.get("device", "cpu"), "device", source),
        service=_flag(raw.get("service", False), "service", source),
        pause_dir=_path(base, raw["pause_dir"], "pause_dir", source)
        if raw.get("pause_dir")
        else None,
    )
