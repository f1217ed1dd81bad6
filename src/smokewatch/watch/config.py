"""The continuous mode's configuration: one YAML file read by the watcher and every worker.

Workers are separate processes (maybe on other machines), so everything a job needs is in
the file a job names, never in a process's memory: the model, the views, the cameras and
their photo sources, the queue, the alert targets and the detection rule.
"""

from __future__ import annotations

import math
import os
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


def _path(base: Path, value: Any, key: str, source: Path) -> Path:
    if not isinstance(value, str) or not value:
        raise WatchConfigError(f"{source}: '{key}' must be a path")
    p = Path(os.path.expanduser(value))
    return p if p.is_absolute() else base / p


def _flag(value: Any, key: str, source: Path) -> bool:
    if not isinstance(value, bool):
        raise WatchConfigError(f"{source}: '{key}' must be true or false")
    return value


def _number(raw: dict[str, Any], key: str, default: float, source: Path) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise WatchConfigError(f"{source}: '{key}' must be a number, not {value!r}")
    return float(value)


def _camera_id(value: Any, source: Path) -> int:
    """A camera id as YAML gives it: 0, or "0"; never "abc", -1 or a huge number."""
    text = str(value)
    if not (text.isascii() and text.isdecimal() and int(text) < 2**31):
        raise WatchConfigError(f"{source}: camera id {value!r} in 'cameras' is not a number")
    return int(text)


def load_watch_config(
    path: str | os.PathLike[str],
    *,
    data_dir: Path,
    timezone: str,
    clip_size: int = 180,
    fps: int = 12,
    alert_secret: str | None = None,
) -> WatchConfig:
    """Read ``path`` (YAML); relative paths in it are relative to its folder. ``data_dir``,
    ``timezone``, the clip size and the alert secret come from the settings (the CLI passes
    them in; a ``data_dir`` key in the file wins)."""
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
    for key in ("model", "views", "cameras"):
        if key not in raw:
            raise WatchConfigError(f"{source}: missing '{key}'")
    cams = raw["cameras"]
    if not isinstance(cams, dict) or not cams:
        raise WatchConfigError(f"{source}: 'cameras' must map camera ids to their sources")
    cameras = []
    for cid, spec in cams.items():
        spec = spec or {}
        if not isinstance(spec, dict):
            raise WatchConfigError(f"{source}: cameras.{cid} must be a mapping")
        cameras.append(
            CameraSource(
                id=_camera_id(cid, source),
                folder=_path(base, spec["folder"], f"cameras.{cid}.folder", source)
                if spec.get("folder")
                else None,
                registration=_path(
                    base, spec["registration"], f"cameras.{cid}.registration", source
                )
                if spec.get("registration")
                else None,
                time_pattern=spec.get("time_pattern"),
            )
        )
    rule = raw.get("rule") or {}
    cam = bool(raw.get("cam", False))
    try:
        options = DetectOptions(
            rule=EventRule(**rule),
            window_frames=int(raw.get("window_frames", 36)),
            window_step=int(raw.get("window_step", 18)),
            size=int(raw.get("size", clip_size)),
            fps=fps,
            cam=cam,
            daylight=Daylight(
                timezone=str(raw.get("timezone", timezone)),
                start_hour=float(raw.get("day_start", 6.0)),
                end_hour=float(raw.get("day_end", 20.0)),
            ),
        )
    except (TypeError, ValueError) as exc:
        raise WatchConfigError(f"{source}: {exc}") from None
    notify = raw.get("notify") or []
    if isinstance(notify, str):
        notify = [notify]
    return WatchConfig(
        path=source.resolve(),
        data_dir=_path(base, raw["data_dir"], "data_dir", source)
        if raw.get("data_dir")
        else data_dir.resolve(),
        model=_path(base, raw["model"], "model", source),
        views=_path(base, raw["views"], "views", source),
        cameras=tuple(cameras),
        queue=str(raw.get("queue", "sqlite")),
        options=options,
        gap_seconds=_number(raw, "gap_seconds", 60.0, source),
        tolerance_s=_number(raw, "tolerance_s", 3.0, source),
        notify=tuple(str(n) for n in notify),
        alert_secret=alert_secret,
        device=str(raw.get("device", "cpu")),
        service=_flag(raw.get("service", False), "service", source),
        pause_dir=_path(base, raw["pause_dir"], "pause_dir", source)
        if raw.get("pause_dir")
        else None,
    )
