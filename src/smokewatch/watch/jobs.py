"""The job queue of continuous mode: huey, on SQLite (embedded, no server) or Redis.

Why huey (docs/watch.md has the long version): one small pure-Python dependency whose
embedded storage is a SQLite file (nothing to run, like the labeling service's default) and
whose production storage is Redis, which the deployment runs; its consumer runs several
worker processes and restarts dead ones. procrastinate needs PostgreSQL even on a laptop;
persist-queue is a queue without workers.

huey removes a job from the queue *before* running it, so a worker killed with SIGKILL loses
that job. Nothing is lost for all that, because the job is level-triggered: "bring camera X up
to date" from durable state (:func:`smokewatch.watch.pipeline.sync_camera`), and every
worker's scheduler enqueues it for every camera each minute (the periodic ``sweep``), as does
the watcher on every new photo. One job per camera runs at a time: an ``fcntl`` lock on a
file in the camera's folder, which the kernel releases when its process dies (so a killed
worker never leaves it held); a job that finds it held returns at once (the holder loops
until the camera has nothing left to do).
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from smokewatch.detect.detector import Detector, load_detector
from smokewatch.labeling.cameras import camera_dir
from smokewatch.settings import Settings
from smokewatch.watch.config import WatchConfig, load_watch_config
from smokewatch.watch.pipeline import SyncReport, sync_camera

__all__ = ["QUEUE_NAME", "camera_lock", "make_huey", "run_job", "run_worker"]

QUEUE_NAME = "smokewatch-watch"
_log = logging.getLogger(__name__)


def make_huey(queue: str, data_dir: Path) -> Any:
    """The queue: ``sqlite`` (``data_dir/watch/queue.db``), a ``sqlite:///PATH``, or a
    ``redis://`` URL; its tasks registered (the same names in every process)."""
    from huey import RedisHuey, SqliteHuey, crontab

    if queue.startswith(("redis://", "rediss://", "unix://")):
        huey: Any = RedisHuey(QUEUE_NAME, url=queue, results=False, blocking=True, read_timeout=1)
    else:
        if queue.startswith("sqlite:///"):
            path = Path(queue.removeprefix("sqlite:///"))
        elif queue == "sqlite":
            path = data_dir / "watch" / "queue.db"
        else:
            from smokewatch.watch.config import WatchConfigError

            raise WatchConfigError(f"queue {queue!r}: use sqlite, sqlite:///PATH or redis://HOST")
        path.parent.mkdir(parents=True, exist_ok=True)
        huey = SqliteHuey(QUEUE_NAME, filename=str(path), results=False)

    @huey.task(name="watch.sync")  # type: ignore[untyped-decorator]
    def sync(config_path: str, camera_id: int, env: dict[str, str] | None = None) -> None:
        run_job(config_path, camera_id, env or {})

    @huey.periodic_task(crontab(minute="*"), name="watch.sweep")  # type: ignore[untyped-decorator]
    def sweep() -> None:
        path = os.environ.get("SMOKEWATCH_WATCH_CONFIG")
        if path:
            config = _config(path, {})
            for camera in config.cameras:
                sync(str(config.path), camera.id)

    huey.smokewatch_sync = sync
    return huey


# --------------------------------------------------------------------------------------------
# in the worker


_CONFIGS: dict[tuple[str, int], WatchConfig] = {}
_DETECTORS: dict[tuple[str, str, bool], Detector] = {}


def _overrides(env: dict[str, str]) -> dict[str, Any]:
    """The settings a job was given by the process that queued it (its data folder)."""
    return {"data_dir": env["data_dir"]} if "data_dir" in env else {}


def _config(path: str, env: dict[str, str]) -> WatchConfig:
    """The configuration a job names, read again when the file changes."""
    from smokewatch.settings import load_settings

    mtime = os.stat(path).st_mtime_ns
    found = _CONFIGS.get((path, mtime))
    if found is None:
        settings: Settings = load_settings(**_overrides(env))
        secret = settings.alert_secret.get_secret_value() if settings.alert_secret else None
        found = load_watch_config(
            path,
            data_dir=settings.data_dir,
            timezone=settings.timezone,
            clip_size=settings.clip_size,
            fps=settings.clip_fps,
            alert_secret=secret,
        )
        _CONFIGS[(path, mtime)] = found
    return found


def _publisher(config: WatchConfig, env: dict[str, str]) -> Callable[[Path], None] | None:
    """With ``service: true``, each raised day goes into the labeling service of the worker's
    settings (its database and clip store), as ``clips import --from-detections`` does."""
    if not config.service:
        return None
    from smokewatch.labeling.detection_import import import_detection_run
    from smokewatch.settings import load_settings
    from smokewatch.video import read_clip

    settings = load_settings(**_overrides(env))

    def publish(detections: Path) -> None:
        plan, stored = import_detection_run(detections, settings, read_clip)
        _log.info(
            "%s: %d events added, %d clips added; %d skipped",
            detections,
            stored.events_added,
            stored.clips.added,
            len(plan.skipped),
        )

    return publish


def _detector(config: WatchConfig) -> Detector:
    key = (str(config.model), config.device, config.options.cam)
    if key not in _DETECTORS:
        _DETECTORS[key] = load_detector(config.model, device=config.device, cam=config.options.cam)
    return _DETECTORS[key]


@contextmanager
def camera_lock(data_dir: Path, camera_id: int) -> Iterator[bool]:
    """``True`` while this process holds the camera's lock (``False``: another has it). An
    ``fcntl`` lock: the kernel drops it when the holder dies, however it dies."""
    folder = camera_dir(data_dir, camera_id)
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _pause(config: WatchConfig, stage: str) -> None:
    """Tests only: wait at ``stage`` while ``pause_dir/armed`` exists and names it (saying
    where, and in which process, in ``pause_dir/<stage>.<pid>``), at most two minutes."""
    folder = config.pause_dir
    if folder is None:
        return
    try:
        if (folder / "armed").read_text().strip() != stage:
            return
    except OSError:
        return
    (folder / f"{stage}.{os.getpid()}").write_text(str(time.time()))
    deadline = time.monotonic() + 120
    while (folder / "armed").exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def run_job(
    config_path: str, camera_id: int, env: dict[str, str] | None = None
) -> list[SyncReport]:
    """One job: bring the camera up to date, again and again while that changes something
    (photos that arrived meanwhile). Returns at once when another process holds the camera."""
    config = _config(config_path, env or {})
    reports: list[SyncReport] = []
    publish = _publisher(config, env or {})
    with camera_lock(config.data_dir, camera_id) as held:
        if not held:
            return reports
        while True:
            report = sync_camera(
                config,
                camera_id,
                detector=lambda: _detector(config),
                hook=lambda stage: _pause(config, stage),
                publish=publish,
            )
            reports.append(report)
            if report.events:
                _log.info("camera %s: events %s", camera_id, ", ".join(report.events))
            if not report.changed:
                return reports


def run_worker(huey: Any, *, workers: int, process: bool = True) -> None:
    """Run huey's consumer: ``workers`` processes (or threads), polling the SQLite queue
    every 0.05-0.5 s (Redis: blocking pops), restarting dead workers, scheduling the sweep."""
    consumer = huey.create_consumer(
        workers=workers,
        worker_type="process" if process else "thread",
        initial_delay=0.05,
        backoff=1.5,
        max_delay=0.5,
        periodic=True,
        check_worker_health=True,
        health_check_interval=1,
    )
    consumer.run()
