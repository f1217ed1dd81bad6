"""Is my camera OK? What continuous mode has done for each camera, read from disk only.

A job that fails fails again at every sweep (a corrupt ``alerts.json`` ledger, a model that
outputs NaN) and, until now, said so only in a worker's log. So a failed job leaves a record
in its camera's folder (:data:`FAILURE_RECORD`, written by :func:`record_failure` from
:func:`smokewatch.watch.jobs.run_job`, removed by the next job that ends well), and
:func:`watch_status` puts it beside what the camera's files say: photos waiting in the inbox,
and per day the frames, the windows scored and those the frames allow, the events, whether
they are raised, and the alerts sent. It reads, never writes, and never takes the camera's
lock, so it can run beside the workers; a file it cannot read is that day's "unreadable"
reason, not the end of the report.

The results are plain dataclasses; ``smokewatch watch status`` formats them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smokewatch.clips.views import load_views, select_camera
from smokewatch.clips.windows import count_windows
from smokewatch.core.atomic import atomic_write_text
from smokewatch.core.detections import read_detections
from smokewatch.core.epoch import epoch_problem
from smokewatch.core.files import read_user_json
from smokewatch.core.frame_times import read_frame_times
from smokewatch.detect.alerts import LEDGER_NAME, read_ledger
from smokewatch.errors import SmokewatchError
from smokewatch.labeling.cameras import INBOX, camera_dir
from smokewatch.watch.config import WatchConfig
from smokewatch.watch.pipeline import (
    DETECT,
    FRAMES,
    SCAN,
    day_folders,
    day_is_over,
    inbox_entries,
    load_scan_state,
    scored_positions,
)

__all__ = [
    "ERROR_CHARS",
    "FAILURE_RECORD",
    "CameraStatus",
    "DayStatus",
    "JobFailure",
    "StatusError",
    "WatchStatus",
    "camera_status",
    "clear_failure",
    "describe_error",
    "read_failure",
    "record_failure",
    "watch_status",
]

#: ``<camera dir>/job-failure.json``: the camera's last run of failed jobs, if any
FAILURE_RECORD = "job-failure.json"
#: The longest error a record keeps: a whole traceback's worth of message is not one line.
ERROR_CHARS = 500


class StatusError(SmokewatchError, ValueError):
    """A failure record that cannot be read."""


# --------------------------------------------------------------------------------------------
# the failure record


@dataclass(frozen=True, slots=True)
class JobFailure:
    """A run of failed jobs of one camera: the first (``since``) and latest (``last``) epoch
    seconds, how many, and the latest one's error (one line)."""

    since: float
    last: float
    failures: int
    error: str


def _one_line(text: str, limit: int = ERROR_CHARS) -> str:
    """``text`` on one line (every run of white space, line breaks included, one space),
    other unprintable characters escaped (an ESC from a file name must not reach the
    terminal), at most ``limit`` characters: a table cell, a log line, a monitoring alert."""
    flat = " ".join(text[: limit * 4].split())  # a megabyte of text is cut, not escaped whole
    if flat.isprintable() and len(flat) <= limit:
        return flat
    pieces: list[str] = []
    size = 0
    for c in flat:
        piece = c if c.isprintable() else ascii(c)[1:-1]
        if size + len(piece) > limit - 1:  # an escape is kept whole or left out
            return "".join(pieces) + "…"
        pieces.append(piece)
        size += len(piece)
    return "".join(pieces)


def describe_error(exc: BaseException) -> str:
    """The error of a failed job, one line: a :class:`SmokewatchError`'s message (one line
    already, naming the file and the fix), any other exception's type name and message (a
    bug, whose type says more than its message)."""
    message = str(exc)
    if not isinstance(exc, SmokewatchError) or not message.strip():
        message = f"{type(exc).__name__}: {message}" if message.strip() else type(exc).__name__
    return _one_line(message)


def _failure_path(data_dir: Path, camera_id: int) -> Path:
    return camera_dir(data_dir, camera_id) / FAILURE_RECORD


def _epoch(data: dict[str, Any], key: str, path: Path) -> float:
    """A time of the record: epoch seconds a clock can show (not NaN, not year 30000)."""
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise StatusError(f"{path}: '{key}' must be a number, not {value!r}")
    problem = epoch_problem(float(value))
    if problem is not None:
        raise StatusError(f"{path}: '{key}': {problem}")
    return float(value)


def read_failure(data_dir: Path, camera_id: int) -> JobFailure | None:
    """The camera's failure record, or ``None`` when its last job ended well (or none ran);
    :class:`StatusError` for a record that cannot be read."""
    path = _failure_path(data_dir, camera_id)
    try:
        data = read_user_json(path, what="job failure record", error=StatusError)
    except StatusError:
        if not path.exists():  # none, or a job that ended well removed it as it was read
            return None
        raise
    if not isinstance(data, dict):
        raise StatusError(f"{path}: expected an object")
    failures, error = data.get("failures"), data.get("error")
    if isinstance(failures, bool) or not isinstance(failures, int) or failures < 1:
        raise StatusError(f"{path}: 'failures' must be a whole number from 1, not {failures!r}")
    if not isinstance(error, str):
        raise StatusError(f"{path}: 'error' must be a string, not {error!r}")
    since, last = _epoch(data, "since", path), _epoch(data, "last", path)
    return JobFailure(since=since, last=last, failures=failures, error=_one_line(error))


def record_failure(data_dir: Path, camera_id: int, exc: BaseException, now: float) -> JobFailure:
    """Record that a job of the camera failed at ``now`` with ``exc`` (atomically: a reader
    sees the old record or the new one): the run of failures it continues keeps its
    ``since`` and counts one more; a record that cannot be read starts a new run. The
    caller holds the camera's lock, so two jobs never count over each other."""
    try:
        before = read_failure(data_dir, camera_id)
    except StatusError:
        before = None
    record = JobFailure(
        since=before.since if before is not None else now,
        last=now,
        failures=before.failures + 1 if before is not None else 1,
        error=describe_error(exc),
    )
    text = json.dumps(
        {
            "since": record.since,
            "last": record.last,
            "failures": record.failures,
            "error": record.error,
        },
        indent=1,
    )
    atomic_write_text(_failure_path(data_dir, camera_id), text + "\n")
    return record


def clear_failure(data_dir: Path, camera_id: int) -> None:
    """A job ended well: the camera is not blocked any more."""
    _failure_path(data_dir, camera_id).unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------
# the camera's files


@dataclass(frozen=True, slots=True)
class DayStatus:
    """One day folder. ``windows_scored``: window positions in ``scan.json`` (each scored
    once per view, ``views``); ``windows_allowed``: those the frames allow so far
    (:func:`~smokewatch.clips.windows.count_windows`). ``events``: ``None`` without a
    ``detections.json``.
    ``raised``: the day's events are raised for the windows scored and the day's state, as
    ``sync_camera`` records it. ``alerts_sent``: deliveries in the day's alerts ledger (an
    event sent to two targets counts twice). ``unreadable``: why a file of the day could not
    be read (then the numbers are not known, and left at zero)."""

    day: str
    frames: int = 0
    last_frame: float | None = None
    windows_scored: int = 0
    windows_allowed: int = 0
    views: int = 0
    closed: bool = False
    raised: bool = False
    events: int | None = None
    alerts_sent: int = 0
    unreadable: str | None = None


@dataclass(frozen=True, slots=True)
class CameraStatus:
    """One camera: the photos waiting in its inbox (how many, the oldest one's mtime and age
    in seconds), its latest days (``day_count`` in all), and its failure record, or why that
    record could not be read (``failure_unreadable``: a job failed, but the rest is lost)."""

    camera_id: int
    inbox: int = 0
    oldest_photo: float | None = None
    oldest_age: float | None = None
    days: tuple[DayStatus, ...] = ()
    day_count: int = 0
    failure: JobFailure | None = None
    failure_unreadable: str | None = None

    @property
    def blocked(self) -> bool:
        """Its last job failed: every later one will likely fail the same way."""
        return self.failure is not None or self.failure_unreadable is not None

    @property
    def no_data(self) -> bool:
        """Nothing has come yet: no photo waiting, no day folder, no failure."""
        return not (self.inbox or self.day_count or self.blocked)


@dataclass(frozen=True, slots=True)
class WatchStatus:
    """Every camera of a configuration, as of ``now`` (epoch seconds); ``timezone`` is the
    zone the cameras' days and local times are in (the configuration's, else the
    settings')."""

    timezone: str
    now: float
    cameras: tuple[CameraStatus, ...]

    @property
    def blocked(self) -> bool:
        return any(c.blocked for c in self.cameras)


def _events(path: Path) -> int | None:
    if not path.exists():
        return None
    return sum(len(view.events) for view in read_detections(path).views)


def _alerts(path: Path) -> int:
    return sum(len(ids) for views in read_ledger(path).values() for ids in views.values())


def _read_day(
    config: WatchConfig, day: Path, days: Sequence[Path], keys: Sequence[str] | None
) -> DayStatus:
    sidecar = day / FRAMES / "frames.json"
    times = read_frame_times(sidecar) if sidecar.exists() else None
    count = len(times) if times is not None else 0
    closed = day_is_over(day, days)  # the rule sync_camera raises a day's events by
    options = config.options
    gaps = [g.after_frame for g in times.gaps(config.gap_seconds)] if times is not None else []
    state = load_scan_state(day / DETECT / SCAN)
    windows = state.get("windows", {})
    scored = scored_positions(state, list(windows) if keys is None else keys)
    return DayStatus(
        day=day.name,
        frames=count,
        last_frame=times.times[-1] if times is not None and count else None,
        windows_scored=scored,
        windows_allowed=count_windows(
            count, gaps, length=options.window_frames, step=options.window_step, closed=closed
        ),
        views=len(windows),
        closed=closed,
        raised=state.get("raised") == [scored, closed],
        events=_events(day / DETECT / "detections.json"),
        alerts_sent=_alerts(day / DETECT / LEDGER_NAME),
    )


def _reason(exc: Exception, day: Path) -> str:
    """Why a day could not be read, one line, its files named from the day folder."""
    text = str(exc) if isinstance(exc, SmokewatchError) else describe_error(exc)
    return _one_line(text.replace(f"{day}{os.sep}", ""))


def _day(
    config: WatchConfig, day: Path, days: Sequence[Path], keys: Sequence[str] | None
) -> DayStatus:
    try:
        return _read_day(config, day, days, keys)
    except (SmokewatchError, OSError, ValueError) as exc:
        return DayStatus(day=day.name, unreadable=_reason(exc, day))


def _inbox(folder: Path) -> tuple[int, float | None]:
    """The photos waiting (:func:`inbox_entries`) and the oldest one's mtime."""
    count, oldest = 0, None
    for entry in inbox_entries(folder):
        try:
            mtime = entry.stat().st_mtime
        except FileNotFoundError:
            continue  # taken by a job between listing and stat
        count += 1
        oldest = mtime if oldest is None else min(oldest, mtime)
    return count, oldest


def _view_keys(config: WatchConfig, camera_id: int) -> list[str] | None:
    """The camera's views as its jobs score them now; None when the views file cannot be
    read (every job fails on it then, and says why; the days count every view on disk)."""
    try:
        return list(select_camera(load_views(config.views), camera_id, source=str(config.views)))
    except (SmokewatchError, OSError):
        return None


def camera_status(
    config: WatchConfig, camera_id: int, *, now: float, days: int | None = None
) -> CameraStatus:
    """One camera as its files say now: its inbox, its latest ``days`` day folders (``None``
    or 0: all) and its failure record. ``now`` (epoch seconds) dates the inbox's oldest photo."""
    folders = day_folders(config.data_dir, camera_id)
    shown = folders[-days:] if days else folders
    count, oldest = _inbox(camera_dir(config.data_dir, camera_id) / INBOX)
    keys = _view_keys(config, camera_id)
    failure, unreadable = None, None
    try:
        failure = read_failure(config.data_dir, camera_id)
    except (SmokewatchError, OSError) as exc:
        unreadable = _one_line(str(exc))
    return CameraStatus(
        camera_id=camera_id,
        inbox=count,
        oldest_photo=oldest,
        oldest_age=None if oldest is None else max(0.0, now - oldest),
        days=tuple(_day(config, day, folders, keys) for day in shown),
        day_count=len(folders),
        failure=failure,
        failure_unreadable=unreadable,
    )


def watch_status(config: WatchConfig, *, now: float, days: int | None = None) -> WatchStatus:
    """Every camera of ``config``, in its order (see :func:`camera_status`)."""
    return WatchStatus(
        timezone=config.options.daylight.timezone,
        now=now,
        cameras=tuple(
            camera_status(config, camera.id, now=now, days=days) for camera in config.cameras
        ),
    )
