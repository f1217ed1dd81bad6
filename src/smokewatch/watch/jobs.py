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
until the camera has nothing left to do, then looks at the inbox once more after letting go).
A job that fails raises as it always did (the worker logs it) and also leaves a record in
its camera's folder, which ``smokewatch watch status`` shows, until a job ends well.

When the queue cannot be reached (Redis down), queueing raises :class:`QueueError`, one line
naming the queue; the workers try again with a growing wait, logging one line per try.
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
from urllib.parse import urlsplit, urlunsplit

from huey.consumer import Consumer, Scheduler, Worker, WorkerRecycle

from smokewatch.detect.detector import Detector, load_detector
from smokewatch.errors import SmokewatchError
from smokewatch.labeling.cameras import INBOX, camera_dir
from smokewatch.settings import Settings
from smokewatch.watch.config import WatchConfig, load_watch_config
from smokewatch.watch.pipeline import SyncReport, inbox_entries, sync_camera
from smokewatch.watch.status import clear_failure, record_failure

__all__ = [
    "QUEUE_NAME",
    "QueueError",
    "Retry",
    "camera_lock",
    "check_queue",
    "enqueue",
    "make_consumer",
    "make_huey",
    "run_job",
    "run_worker",
]

QUEUE_NAME = "smokewatch-watch"
_log = logging.getLogger(__name__)


class QueueError(SmokewatchError):
    """The queue cannot be reached (Redis down, its SQLite file unreadable)."""


def _queue_errors() -> tuple[type[Exception], ...]:
    """What the queue's storage raises when it cannot be reached: any Redis error, any
    SQLite error (never a bug of ours, so never worth a traceback)."""
    import sqlite3

    import redis

    return (redis.RedisError, sqlite3.Error)


def _address(queue: str, path: Path | None) -> str:
    """The queue as a message names it: the Redis URL without its password, or the file."""
    if path is not None:
        return f"sqlite:///{path}"
    parts = urlsplit(queue)
    if parts.password is None:
        return queue
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def make_huey(queue: str, data_dir: Path) -> Any:
    """The queue: ``sqlite`` (``data_dir/watch/queue.db``), a ``sqlite:///PATH``, or a
    ``redis://`` URL; its tasks registered (the same names in every process)."""
    from huey import RedisHuey, SqliteHuey, crontab
    from redis import ConnectionPool

    path: Path | None = None
    if queue.startswith(("redis://", "rediss://", "unix://")):
        # timeouts: a Redis that stops answering (a cut network) is an error to retry, not a
        # call that hangs; the blocking pop waits read_timeout (1 s), well under 10 s
        pool = ConnectionPool.from_url(queue, socket_connect_timeout=5, socket_timeout=10)
        huey: Any = RedisHuey(
            QUEUE_NAME, connection_pool=pool, results=False, blocking=True, read_timeout=1
        )
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
    address = _address(queue, path)

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
    huey.smokewatch_address = address
    return huey


def _unreachable(huey: Any, exc: Exception) -> QueueError:
    return QueueError(f"queue {huey.smokewatch_address} cannot be reached: {exc}")


def enqueue(huey: Any, config_path: str, camera_id: int) -> None:
    """Queue the camera's job; :class:`QueueError`, naming the queue, if it cannot be reached."""
    try:
        huey.smokewatch_sync(config_path, camera_id)
    except _queue_errors() as exc:
        raise _unreachable(huey, exc) from exc


def check_queue(huey: Any) -> None:
    """:class:`QueueError`, naming the queue, unless it answers (a process that only queues
    jobs checks at its start, so a wrong address is one line, not a failure later)."""
    try:
        huey.pending_count()
    except _queue_errors() as exc:
        raise _unreachable(huey, exc) from exc


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


def _inbox(data_dir: Path, camera_id: int) -> frozenset[str]:
    """The names of the photos waiting in the camera's inbox (:func:`inbox_entries`)."""
    return frozenset(e.name for e in inbox_entries(camera_dir(data_dir, camera_id) / INBOX))


def run_job(
    config_path: str,
    camera_id: int,
    env: dict[str, str] | None = None,
    *,
    clock: Callable[[], float] = time.time,
) -> list[SyncReport]:
    """One job: bring the camera up to date, again and again while that changes something
    (photos that arrived meanwhile). Returns at once when another process holds the camera.

    A photo that comes while the holder makes its last pass (which read the inbox before
    it came) has its job find the camera busy; so the holder, once it has let go, looks at
    the inbox again and starts over if it changed since that pass read it: the photo waits
    seconds, not until the next sweep.

    A failure is recorded in the camera's folder for ``watch status`` (at ``clock()``, see
    :func:`_passes`) and raised as it came, so the worker logs it as before."""
    config = _config(config_path, env or {})
    reports: list[SyncReport] = []
    try:  # the worker's own settings (for the service import) fail every job too
        publish = _publisher(config, env or {})
    except Exception as exc:
        with camera_lock(config.data_dir, camera_id) as held:
            if held:  # else the holder's own outcome is the record
                _note_failure(config.data_dir, camera_id, exc, clock)
        raise
    while True:
        with camera_lock(config.data_dir, camera_id) as held:
            if not held:
                return reports  # the holder takes what is in the inbox now
            seen = _passes(config, camera_id, publish, reports, clock)
        # a pass that changed nothing took nothing from the inbox: a difference is a photo
        # that came after the pass read it (and a photo it keeps, e.g. an instant still
        # missing photos, is in both, so this does not loop)
        if _inbox(config.data_dir, camera_id) == seen:
            return reports


def _passes(
    config: WatchConfig,
    camera_id: int,
    publish: Callable[[Path], None] | None,
    reports: list[SyncReport],
    clock: Callable[[], float],
) -> frozenset[str]:
    """Sync passes, the caller holding the camera's lock, until one changes nothing; the
    inbox as that last pass read it. Each report goes into ``reports`` as it comes.

    A job that fails fails again at every sweep (a corrupt alerts ledger, a broken model),
    and its log lines are in a worker's journal, where nobody looks: so the failure is
    recorded in the camera's folder (:func:`smokewatch.watch.status.record_failure`, one
    more in the run of failures, at ``clock()``), and passes that end well remove the
    record. The exception itself goes on unchanged; a record that cannot be written (a full
    disk) is a warning, never in the way of the job's own error or result."""
    try:
        while True:
            seen = _inbox(config.data_dir, camera_id)
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
                break
    except Exception as exc:
        _note_failure(config.data_dir, camera_id, exc, clock)
        raise
    try:
        clear_failure(config.data_dir, camera_id)
    except OSError as exc:
        _log.warning("camera %s: the job failure record could not be removed: %s", camera_id, exc)
    return seen


def _note_failure(
    data_dir: Path, camera_id: int, exc: Exception, clock: Callable[[], float]
) -> None:
    """Record the job's failure; any problem doing so is a warning (the job's own exception
    is the one to raise)."""
    try:
        record_failure(data_dir, camera_id, exc, clock())
    except Exception as problem:  # noqa: BLE001 - never hide the job's own error
        _log.warning(
            "camera %s: the job failure record could not be written: %s", camera_id, problem
        )


# --------------------------------------------------------------------------------------------
# the consumer


class Retry:
    """One line per failed attempt at the queue (no traceback: the queue is down, not our
    code) and the wait before the next, growing from ``first`` by doubling to ``most``
    seconds; once the queue answers, one line saying so, and the next failure waits
    ``first`` again."""

    def __init__(
        self, address: str, warn: Callable[[str], None], first: float = 1.0, most: float = 30.0
    ) -> None:
        self.address, self.warn, self.first, self.most = address, warn, first, most
        self.wait = 0.0  # the last wait; 0: the last attempt worked

    def failed(self, what: str, exc: BaseException) -> float:
        """Say that ``what`` failed; the seconds to wait before trying again."""
        self.wait = min(self.most, self.wait * 2) if self.wait else self.first
        self.warn(
            f"{what}: queue {self.address} cannot be reached ({type(exc).__name__}: {exc});"
            f" trying again in {self.wait:g} s"
        )
        return self.wait

    def worked(self) -> None:
        if self.wait:
            self.warn(f"queue {self.address} answers again")
            self.wait = 0.0


class _Worker(Worker):  # type: ignore[misc]
    """huey's worker (its 3.5 ``loop``), but a queue that cannot be reached is one line per
    attempt and a growing wait (:class:`Retry`), not a traceback every 0.5 s."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.retry = Retry(self.huey.smokewatch_address, self._logger.warning)

    def loop(self, now: Any = None) -> None:
        try:
            task = self.huey.dequeue()
        except _queue_errors() as exc:
            self.stop_flag.wait(self.retry.failed("reading the queue", exc))
            return
        except Exception:
            self._logger.exception("Error reading from queue")
            self.sleep()
            return
        self.retry.worked()
        if task is None:
            if not self.huey.storage.blocking:
                self.sleep()
            return
        self.delay = self.default_delay
        self.task_count += 1
        try:
            self.huey.execute(task, now)
        except Exception:
            self._logger.exception("Unhandled error during execution of task %s.", task.id)
        if self.max_tasks and self.task_count >= self.max_tasks:
            self._logger.info("Worker reached max tasks (%d), exiting.", self.max_tasks)
            raise WorkerRecycle()


class _Scheduler(Scheduler):  # type: ignore[misc]
    """huey's scheduler (its 3.5 ``loop``), but a queue that cannot be reached is one line per
    attempt and a growing wait; the periodic sweep waits until the queue answers."""

    _next_loop: float
    _next_periodic: float

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.retry = Retry(self.huey.smokewatch_address, self._logger.warning)

    def loop(self, now: Any = None) -> None:
        current = self._next_loop
        self._next_loop += self.interval
        if self._next_loop < time.monotonic():
            self._next_loop = time.monotonic()  # a stall (suspend): skip, as huey does
            return
        try:
            for task in self.huey.read_schedule(now):
                self.huey.enqueue(task)
            if self.periodic and self._next_periodic <= time.monotonic():
                for task in self.huey.read_periodic(now):
                    self._logger.info("Enqueueing periodic task %s.", task)
                    self.huey.enqueue(task)
                while self._next_periodic <= time.monotonic():
                    self._next_periodic += self.periodic_task_seconds
        except _queue_errors() as exc:
            self.stop_flag.wait(self.retry.failed("scheduling", exc))
            self._next_loop = time.monotonic()
            return
        self.retry.worked()
        self.sleep_for_interval(current, self.interval)


class _Consumer(Consumer):  # type: ignore[misc]
    worker_class = _Worker
    scheduler_class = _Scheduler


def make_consumer(huey: Any, *, workers: int, process: bool = True) -> Any:
    """huey's consumer: ``workers`` processes (or threads), polling the SQLite queue every
    0.05-0.5 s (Redis: blocking pops), restarting dead workers, scheduling the sweep; a
    queue that cannot be reached is retried after 1, 2, 4 ... 30 s, one line each time."""
    return _Consumer(
        huey,
        workers=workers,
        worker_type="process" if process else "thread",
        initial_delay=0.05,
        backoff=1.5,
        max_delay=0.5,
        periodic=True,
        check_worker_health=True,
        health_check_interval=1,
    )


def run_worker(huey: Any, *, workers: int, process: bool = True) -> None:
    """Run :func:`make_consumer`'s consumer until SIGINT/SIGTERM."""
    make_consumer(huey, workers=workers, process=process).run()
