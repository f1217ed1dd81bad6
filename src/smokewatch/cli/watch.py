"""``smokewatch watch``: continuous mode, as a watcher and a pool of queue workers.

Thin verbs over :mod:`smokewatch.watch`: read the configuration (settings give the data dir,
zone and alert secret), then run the watcher loop, the workers, or one job in this process,
or report what each camera's files say (`watch status`).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import typer
from rich.table import Column, Table
from rich.text import Text

from smokewatch.cli._common import console, err_console, tagged, user_errors
from smokewatch.core.epoch import local_time

if TYPE_CHECKING:
    from collections.abc import Sequence

    from smokewatch.watch.config import CameraSource, WatchConfig
    from smokewatch.watch.folder import FolderSettler
    from smokewatch.watch.status import CameraStatus, DayStatus, WatchStatus

__all__ = ["app"]

app = typer.Typer(
    help="""Continuous mode: camera photos in, smoke events out, within minutes.

Photos arrive through the service (POST /api/v1/cameras/{id}/photos, keys from `smokewatch
cameras add`) or in a watched folder; `watch run` notices them and queues a job per camera
(`watch sync` takes the folders' photos and runs the jobs once, by hand);
`watch worker` processes (as many as you like on this machine)
make panoramas, append them to the day's frame folder, score each complete 36-frame window
and raise events and alerts. A killed worker loses nothing: jobs are redone from what is on
disk. As a service: one `smokewatch serve`, one `smokewatch watch run --config C` and one
`smokewatch watch worker --config C --workers N` under systemd (unit files in docs/watch.md).
`watch status` says whether each camera is OK (exit 1 when a camera's jobs fail).
Queue: SQLite in the data dir (no server) or Redis (`queue: redis://127.0.0.1:6379/0`).""",
    no_args_is_help=True,
)


def _load(config: Path, *, sends: bool = True):  # type: ignore[no-untyped-def]
    """The watch configuration; ``sends=False`` for a command that sends no alert (its
    targets and the secret they need are not checked: a monitor may not hold the secret)."""
    from smokewatch.settings import load_settings
    from smokewatch.watch.config import load_watch_config

    settings = load_settings()
    secret = settings.alert_secret.get_secret_value() if settings.alert_secret else None
    return load_watch_config(
        config,
        data_dir=settings.data_dir,
        timezone=settings.timezone,
        clip_size=settings.clip_size,
        fps=settings.clip_fps,
        alert_secret=secret,
        check_notify=sends,
    )


CONFIG = typer.Option(..., "--config", "-c", help="The watch configuration (YAML, docs/watch.md).")


@app.command("worker")
@user_errors
def worker(
    config: Path = CONFIG,
    workers: int = typer.Option(2, "--workers", "-w", min=1, help="Worker processes."),
    threads: bool = typer.Option(False, "--threads", help="Threads instead of processes."),
) -> None:
    """Run queue workers until SIGINT/SIGTERM (the consumer restarts a worker that dies)."""
    from smokewatch.watch.jobs import make_huey, run_worker

    _log_lines()
    cfg = _load(config)
    os.environ["SMOKEWATCH_WATCH_CONFIG"] = str(cfg.path)  # the periodic sweep reads it
    run_worker(make_huey(cfg.queue, cfg.data_dir), workers=workers, process=not threads)


def _log_lines() -> None:
    """A long-running command's log: each line with its time and level, info and up (a
    service log is read hours later; Python's fallback shows warnings only, bare)."""
    import logging

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


@app.command("sync")
@user_errors
def sync(
    config: Path = CONFIG,
    camera: list[int] = typer.Option([], "--camera", help="Only this camera (repeatable)."),
    queue: bool = typer.Option(False, "--queue", help="Queue the jobs instead of running them."),
) -> None:
    """Bring the cameras up to date now (in this process), or queue their jobs.

    First, as `watch run` does, each camera's watched `folder:` photos are moved into its
    inbox, once their size and mtime have stayed the same for 1 s (sync looks, waits 1 s,
    looks again); a photo still being written is left for the next sync or `watch run`."""
    from smokewatch.watch.jobs import enqueue, make_huey, run_job

    cfg = _load(config)
    ids = camera or [c.id for c in cfg.cameras]
    cameras = [cfg.camera(cid) for cid in ids]  # an unknown one: one line, before any photo
    if queue:
        huey = make_huey(cfg.queue, cfg.data_dir)
        _take_folders(cfg, cameras)
        for cid in ids:
            enqueue(huey, str(cfg.path), cid)
        console.print(f"queued {len(ids)} camera job(s) on {huey.smokewatch_address}")
        return
    _take_folders(cfg, cameras)
    for cid in ids:
        reports = run_job(str(cfg.path), cid)
        frames = sum(r.frames_added for r in reports)
        windows = sum(r.windows_scored for r in reports)  # per view, as `detect` counts them
        events = [e for r in reports for e in r.events]
        console.print(
            f"camera {cid}: {_count(frames, 'frame')}, {_count(windows, 'window')}, "
            f"{_count(len(events), 'new event')}"
            + (" (busy: another process holds it)" if not reports else ""),
            highlight=False,
        )


def _count(n: int, noun: str) -> str:
    """``1 window``, ``2 windows``: the wording of `detect`'s summary."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _take_folders(cfg: WatchConfig, cameras: Sequence[CameraSource]) -> None:
    """`watch sync`'s take of the cameras' watched folders, with the very code and settle
    rule of `watch run`'s poll (:func:`_take_folder`, :class:`FolderSettler`), so a folder
    camera needs no watcher to be brought up to date by hand: one look at every folder, one
    wait of the settle time (only if a file was seen), one more look that takes what stayed
    the same. A photo still being written is left (taken half-written, it would be refused
    as truncated). One line per folder says how many were taken, and how many were left."""
    from smokewatch.watch.folder import FolderSettler

    watched = [(c.id, c.folder, FolderSettler()) for c in cameras if c.folder is not None]
    for _, folder, settler in watched:
        settler.settled(folder, time.monotonic())  # first seen now: nothing settled yet
    if any(settler.watching for _, _, settler in watched):
        time.sleep(max(settler.settle for _, _, settler in watched))
    for cid, folder, settler in watched:
        taken = _take_folder(cfg, cid, folder, settler)
        settler.settled(folder, time.monotonic())  # what is left: still changing, or new
        left = (
            f" ({settler.watching} still being written: left for the next sync)"
            if settler.watching
            else ""
        )
        console.print(
            f"camera {cid}: took {_count(taken, 'photo')} from {folder}{left}",
            highlight=False,
            soft_wrap=True,
        )


def _take_folder(  # type: ignore[no-untyped-def]
    cfg, camera_id: int, folder: Path, settler: FolderSettler
) -> int:
    """Move photos dropped in a watched folder into the camera's inbox (checked, named),
    each once it has stopped changing (:class:`FolderSettler`). A photo gone meanwhile was
    taken by another taker (a `watch sync` beside `watch run`): passed over, not an error."""
    from smokewatch.camera.photos import photo_time
    from smokewatch.errors import SmokewatchError
    from smokewatch.labeling.cameras import CameraError, store_photo

    source = cfg.camera(camera_id)
    taken = 0
    for path in settler.settled(folder, time.monotonic()):
        try:
            when = photo_time(path, time_pattern=source.time_pattern, tz=cfg.options.daylight.zone)
            store_photo(cfg.data_dir, camera_id, path.read_bytes(), taken=when, max_bytes=1 << 30)
        except FileNotFoundError:
            continue  # another taker moved it
        except (SmokewatchError, CameraError) as exc:
            if not path.exists():
                continue  # another taker moved it while this one read it
            message = exc.message if isinstance(exc, CameraError) else str(exc)
            err_console.print(tagged("skipped:", "yellow", f"{path}: {message}"), soft_wrap=True)
            path.rename(path.with_name(f".rejected-{path.name}"))
            continue
        path.unlink(missing_ok=True)
        taken += 1
    return taken


class _Watcher:
    """What `watch run` does every --poll seconds (:meth:`poll`): take watched folders'
    photos into the inboxes, queue a job for each camera whose inbox changed, and every
    camera every ``sweep`` seconds. A queue that cannot be reached (Redis restarting) is one
    line and a growing wait, not the end of the watcher; once it answers, every camera is
    queued again (a queue restarted empty lost its jobs)."""

    def __init__(self, cfg: WatchConfig, huey: Any, sweep: float) -> None:
        from smokewatch.watch.folder import FolderSettler
        from smokewatch.watch.jobs import Retry

        self.cfg, self.huey, self.sweep = cfg, huey, sweep
        self.seen: dict[int, tuple[str, ...]] = {}
        self.settlers = {cam.id: FolderSettler() for cam in cfg.cameras}
        self.next_sweep = -math.inf  # the first poll queues every camera
        self.retry = Retry(huey.smokewatch_address, _warn)

    def poll(self, now: float) -> float:
        """One round at ``now`` (monotonic seconds); the seconds to wait before trying the
        queue again, 0 when it answered."""
        from smokewatch.labeling.cameras import INBOX, camera_dir
        from smokewatch.watch.jobs import QueueError, enqueue

        cfg = self.cfg
        sweep = now >= self.next_sweep
        for cam in cfg.cameras:
            if cam.folder is not None:
                _take_folder(cfg, cam.id, cam.folder, self.settlers[cam.id])
            inbox = camera_dir(cfg.data_dir, cam.id) / INBOX
            names = tuple(sorted(p.name for p in inbox.iterdir())) if inbox.is_dir() else ()
            if (names and names != self.seen.get(cam.id)) or sweep:
                try:
                    enqueue(self.huey, str(cfg.path), cam.id)
                except QueueError as exc:
                    self.next_sweep = now  # every camera again once it answers
                    return self.retry.failed("queueing", exc.__cause__ or exc)
            self.seen[cam.id] = names
        self.retry.worked()
        if sweep:
            self.next_sweep = now + self.sweep
        return 0.0


def _warn(message: str) -> None:
    err_console.print(tagged("warning:", "yellow", message), soft_wrap=True)


@app.command("run")
@user_errors
def run(
    config: Path = CONFIG,
    workers: int = typer.Option(
        0, "--workers", "-w", min=0, help="Also start a worker with this many processes."
    ),
    poll: float = typer.Option(1.0, "--poll", min=0.05, help="Seconds between inbox checks."),
    sweep: float = typer.Option(
        30.0, "--sweep", min=1.0, help="Queue every camera this often, new photos or not."
    ),
) -> None:
    """The watcher: take watched folders' photos into the inboxes and queue a job for each
    camera with new photos (and every camera every --sweep seconds, which redoes the work
    of a killed worker). Until SIGINT/SIGTERM. A queue that cannot be reached at the start
    is an error; one that goes away later is waited for."""
    from smokewatch.watch.jobs import check_queue, make_huey

    _log_lines()
    cfg = _load(config)
    huey = make_huey(cfg.queue, cfg.data_dir)
    check_queue(huey)
    watcher = _Watcher(cfg, huey, sweep)
    child = None
    if workers:
        child = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "smokewatch",
                "watch",
                "worker",
                "-c",
                str(config),
                "-w",
                str(workers),
            ]
        )
    try:
        while True:
            time.sleep(max(poll, watcher.poll(time.monotonic())))
    finally:
        if child is not None:
            child.terminate()
            child.wait(30)


@app.command("status")
@user_errors
def status(
    config: Path = CONFIG,
    as_json: bool = typer.Option(
        False, "--json", help="Print one JSON document (stable keys) instead of tables."
    ),
    days: int = typer.Option(7, "--days", min=0, help="Each camera's latest N days (0: all)."),
) -> None:
    """Is each camera OK? Photos waiting in its inbox; per day, the frames, the last frame's
    time, the windows scored of those the frames allow, the events, whether they are raised,
    the alerts sent; and, in red, BLOCKED since when and why, if its last job failed.

    Reads the files only, beside running workers. Exit status 1 when a camera is blocked
    (for a cron job or a monitor), else 0."""
    from smokewatch.watch.status import watch_status

    cfg = _load(config, sends=False)
    report = watch_status(cfg, now=time.time(), days=days or None)
    if as_json:
        typer.echo(json.dumps(_status_json(report), indent=1))
    else:
        for camera in report.cameras:
            _print_camera(camera, ZoneInfo(report.timezone))
    if report.blocked:
        raise typer.Exit(1)


def _clock(epoch: float, zone: ZoneInfo, pattern: str = "%Y-%m-%d %H:%M:%S %Z") -> str:
    """``epoch`` in the cameras' zone (never the machine's), as the rest of watch shows it."""
    return local_time(epoch, zone).strftime(pattern)


def _iso(epoch: float | None, zone: ZoneInfo) -> str | None:
    if epoch is None:
        return None
    return local_time(epoch, zone).isoformat(timespec="seconds")


def _age(seconds: float) -> str:
    """``45 s``, ``12 min``, ``3 h 5 min``, ``2 d 4 h``: how long a photo has waited."""
    total = int(seconds)
    if total < 60:
        return f"{total} s"
    minutes, hours, days = total // 60, total // 3600, total // 86400
    if hours < 1:
        return f"{minutes} min"
    if days < 1:
        return f"{hours} h {minutes % 60} min"
    return f"{days} d {hours % 24} h"


def _camera_line(camera: CameraStatus) -> Text:
    """``camera 1: 3 photos waiting in the inbox, the oldest 2 min old`` (or no data)."""
    head = f"camera {camera.camera_id}: "
    if camera.no_data:
        return Text(head + "no data yet (no photo received, no day folder)")
    if not camera.inbox:
        return Text(head + "no photo waiting in the inbox")
    oldest = f", the oldest {_age(camera.oldest_age)} old" if camera.oldest_age is not None else ""
    return Text(head + f"{_count(camera.inbox, 'photo')} waiting in the inbox{oldest}")


def _day_row(day: DayStatus, zone: ZoneInfo) -> list[Text]:
    name = Text(day.day + ("*" if day.closed else ""))
    if day.unreadable is not None:
        return [name, Text("unreadable", style="yellow"), *(Text("") for _ in range(5))]
    behind = day.windows_scored < day.windows_allowed
    return [
        name,
        Text(str(day.frames)),
        Text("" if day.last_frame is None else _clock(day.last_frame, zone, "%H:%M:%S")),
        Text(f"{day.windows_scored}/{day.windows_allowed}", style="yellow" if behind else ""),
        Text("-" if day.events is None else str(day.events)),
        Text("yes") if day.raised else Text("no", style="yellow"),
        Text(str(day.alerts_sent)),
    ]


def _blocked_line(camera: CameraStatus, zone: ZoneInfo) -> Text | None:
    """The red line of a blocked camera: since when, how many failed jobs, why. Its text
    comes from a file: a Text, never markup (an error holding ``[red]`` prints as is)."""
    failure = camera.failure
    if failure is not None:
        return Text(
            f"BLOCKED since {_clock(failure.since, zone)} ({_count(failure.failures, 'failed job')}"
            f", last {_clock(failure.last, zone)}): {failure.error}",
            style="bold red",
        )
    if camera.failure_unreadable is not None:
        return Text(
            f"BLOCKED: a job failed; its record cannot be read: {camera.failure_unreadable}",
            style="bold red",
        )
    return None


def _days_table(camera: CameraStatus, zone: ZoneInfo) -> Table:
    """The table of a camera's days, in 80 columns (a cron mail, a narrow terminal): the
    zone and what ``*`` means in its caption, not in every row."""
    over = "; *: the day is over (no more frames)" if any(d.closed for d in camera.days) else ""
    return Table(
        "day",
        Column("frames", justify="right"),
        "last frame",
        Column("windows", justify="right"),
        Column("events", justify="right"),
        "raised",
        Column("alerts", justify="right"),
        caption=f"times in {zone.key}{over}",
    )


def _print_camera(camera: CameraStatus, zone: ZoneInfo) -> None:
    """One camera: its inbox line, a table of its latest days, what could not be read, and
    the BLOCKED line."""
    console.print(_camera_line(camera), soft_wrap=True)
    if camera.days:
        table = _days_table(camera, zone)
        for day in camera.days:
            table.add_row(*_day_row(day, zone))
        console.print(table)
        if camera.day_count > len(camera.days):
            console.print(
                Text(f"  (the latest {len(camera.days)} of {camera.day_count} days; --days 0: all)")
            )
    for day in camera.days:
        if day.unreadable is not None:
            console.print(
                Text(f"  {day.day}: unreadable: {day.unreadable}", style="yellow"), soft_wrap=True
            )
    blocked = _blocked_line(camera, zone)
    if blocked is not None:
        console.print(blocked, soft_wrap=True)


def _status_json(report: WatchStatus) -> dict[str, Any]:
    """``watch status --json``: every key always there (``null`` when not known)."""
    zone = ZoneInfo(report.timezone)
    return {
        "timezone": report.timezone,
        "now": report.now,
        "blocked": report.blocked,
        "cameras": [_camera_json(camera, zone) for camera in report.cameras],
    }


def _camera_json(camera: CameraStatus, zone: ZoneInfo) -> dict[str, Any]:
    failure = camera.failure
    return {
        "camera": camera.camera_id,
        "blocked": camera.blocked,
        "no_data": camera.no_data,
        "inbox": {
            "photos": camera.inbox,
            "oldest_mtime": camera.oldest_photo,
            "oldest_age_s": camera.oldest_age,
        },
        "days_total": camera.day_count,
        "days": [_day_json(day, zone) for day in camera.days],
        "failure": None
        if failure is None
        else {
            "since": failure.since,
            "since_local": _iso(failure.since, zone),
            "last": failure.last,
            "last_local": _iso(failure.last, zone),
            "failures": failure.failures,
            "error": failure.error,
        },
        "failure_unreadable": camera.failure_unreadable,
    }


def _day_json(day: DayStatus, zone: ZoneInfo) -> dict[str, Any]:
    return {
        "day": day.day,
        "unreadable": day.unreadable,
        "frames": day.frames,
        "last_frame": day.last_frame,
        "last_frame_local": _iso(day.last_frame, zone),
        "windows_scored": day.windows_scored,
        "windows_allowed": day.windows_allowed,
        "views": day.views,
        "closed": day.closed,
        "raised": day.raised,
        "events": day.events,
        "alerts_sent": day.alerts_sent,
    }
