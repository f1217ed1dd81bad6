"""``smokewatch timelapse register|build``: camera photos -> registration -> a day's timelapse.

Thin calls into the ``camera`` wing: read photo times (``camera.photos``), register a camera
once (``camera.registration``), compose each instant with it and stream the day into an
H.264 timelapse with its ``frames.json`` sidecar (``camera.timelapse``). Which frames are
daytime comes from ``clips.daylight``, built here as for ``clips extract`` and passed down.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer

from smokewatch.cli._common import console, err_console, refuse_overwrite, tagged, user_errors
from smokewatch.errors import SmokewatchError

if TYPE_CHECKING:
    import numpy as np

    from smokewatch.camera.photos import PhotoScan

__all__ = ["app", "build_command", "register_command"]

app = typer.Typer(
    help="Camera photos -> stitched panoramas -> a timelapse per camera-day, with true times.",
    no_args_is_help=True,
)

_MAX_LISTED = 20


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SmokewatchError(
            f"unknown time zone {name!r} (use an IANA name, e.g. US/Eastern)"
        ) from None


def _report(problems: list[object], what: str = "skipped:") -> None:
    """One warning line per skipped file, at most ``_MAX_LISTED``, then a count."""
    for problem in problems[:_MAX_LISTED]:
        err_console.print(tagged(what, "yellow", problem), soft_wrap=True)
    if len(problems) > _MAX_LISTED:
        err_console.print(
            tagged(what, "yellow", f"... and {len(problems) - _MAX_LISTED} more"), soft_wrap=True
        )


def _require_photos(paths: list[Path], scan: PhotoScan, purpose: str) -> None:
    """Stop when no photo is usable, saying whether none was found or all were skipped
    (the reasons were listed above); "no daytime photos among 0" explained nothing."""
    from smokewatch.camera.photos import show_path

    if scan.photos:
        return
    if not scan.problems:
        where = ", ".join(show_path(p) for p in paths)
        raise SmokewatchError(f"no photos found in {where} (.jpg, .jpeg, .png)")
    raise SmokewatchError(
        f"no usable photos {purpose}: {len(scan.problems)} skipped (listed above)"
    )


class _ConsoleHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        tag, style = (
            ("error:", "bold red")
            if record.levelno >= logging.ERROR
            else (
                "warning:",
                "yellow",
            )
        )
        err_console.print(tagged(tag, style, record.getMessage()), soft_wrap=True)


@contextmanager
def _camera_log() -> Iterator[None]:
    """The camera wing's warnings (drift, re-registration) as console lines, not tracebacks."""
    logger = logging.getLogger("smokewatch.camera")
    handler = _ConsoleHandler(logging.WARNING)
    logger.addHandler(handler)
    propagate, logger.propagate = logger.propagate, False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


PHOTOS_ARG = typer.Argument(
    ...,
    metavar="PHOTOS",
    help="Photo files or folders (searched recursively for .jpg/.jpeg/.png).",
    show_default=False,
)
TIME_PATTERN = typer.Option(
    None,
    "--time-pattern",
    help="strftime-style pattern of the time in file names without EXIF "
    "(e.g. %Y%m%d-%H%M%S); local time in --timezone unless it has %z.",
)
TIMEZONE = typer.Option(
    None, "--timezone", help="Camera time zone (default: settings, US/Eastern)."
)
TOLERANCE = typer.Option(
    3.0, "--tolerance", min=0.0, help="Seconds within which photos form one panorama instant."
)


@app.command("register")
@user_errors
def register_command(
    photos: list[Path] = PHOTOS_ARG,
    out: Path = typer.Option(..., "--out", "-o", help="Registration file to write (YAML)."),
    mode: str = typer.Option(
        "panorama",
        "--mode",
        help="panorama: photos turned from one point (pan head, cameras side by side); "
        "scans: flat, shifted views.",
    ),
    scale: float = typer.Option(
        1.0, "--scale", min=0.01, max=4.0, help="Size of the panoramas relative to the photos."
    ),
    time_pattern: str | None = TIME_PATTERN,
    timezone: str | None = TIMEZONE,
    tolerance: float = TOLERANCE,
) -> None:
    """Register a camera once: stitch one instant's photos and save how (camera.yaml).

    Give the photos of one instant (or more: the instant with the most photos, the middle
    one of those, is used). Every later frame is then only warped and blended with this
    registration; `timelapse build` re-checks it now and then and re-registers a camera
    that was bumped or re-aimed.
    """
    from smokewatch.camera.photos import group_photos, load_photo, scan_photos, show_path
    from smokewatch.camera.registration import register, save_registration
    from smokewatch.settings import load_settings

    zone = _zone(timezone or load_settings().timezone)
    scan = scan_photos(photos, time_pattern=time_pattern, tz=zone)
    refuse_overwrite(out, *photos, *(p.path for p in scan.photos), *(p.path for p in scan.problems))
    _report(list(scan.problems))
    _require_photos(photos, scan, "to register")
    groups = group_photos(scan.photos, tolerance_s=tolerance)
    most = max(len(g.photos) for g in groups)
    full = [g for g in groups if len(g.photos) == most]
    group = full[len(full) // 2]
    images = [load_photo(p.path) for p in group.photos]
    names = [show_path(p.path) for p in group.photos]
    reg = register(images, mode=mode, compose_scale=scale, names=names)
    save_registration(reg, out)
    width, height = reg.output_size
    kind = "panorama" if reg.mode == "panorama" else f"{reg.mode} panorama"
    console.print(
        f"registered {len(images)} photos ({', '.join(names)}) as a {width}x{height} {kind}: {out}",
        highlight=False,
        soft_wrap=True,
    )


@app.command("build")
@user_errors
def build_command(
    photos: list[Path] = PHOTOS_ARG,
    camera: Path = typer.Option(..., "--camera", help="Registration file from `register`."),
    day: str = typer.Option(..., "--date", help="Camera-local date to build, YYYY-MM-DD."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for DATE.mp4 and DATE.frames.json."),
    time_pattern: str | None = TIME_PATTERN,
    timezone: str | None = TIMEZONE,
    tolerance: float = TOLERANCE,
    check_every: int = typer.Option(
        100, "--check-every", min=1, help="Check the registration for drift every N frames."
    ),
    fps: float = typer.Option(
        12.0, "--fps", min=1.0, max=240.0, help="Timelapse frame rate (RISE: 12)."
    ),
    gap_seconds: float = typer.Option(
        60.0, "--gap-seconds", min=1.0, help="Steps longer than this are listed as gaps."
    ),
    day_start: float = typer.Option(6.0, "--day-start", help="Local hour daytime starts."),
    day_end: float = typer.Option(20.0, "--day-end", help="Local hour daytime ends."),
    latitude: float | None = typer.Option(
        None, "--latitude", help="With --longitude: use computed sunrise-sunset instead of hours."
    ),
    longitude: float | None = typer.Option(
        None, "--longitude", help="East-positive degrees (Pittsburgh: -79.99)."
    ),
    force: bool = typer.Option(False, "--force", help="Rebuild a day that is already built."),
) -> None:
    """Build one camera-day's timelapse (daylight frames only) with its frame-times sidecar.

    Photos are read with their true times and grouped into instants; each daytime instant
    of DATE becomes one panorama, warped and blended with the registration, and is streamed
    into OUT/DATE.mp4 (H.264) while OUT/DATE.frames.json keeps every frame's time and the
    gaps. Bad, duplicate and out-of-order photos are listed and skipped. Both files appear
    only when the day is done, so an interrupted build is simply run again; a finished day
    is skipped unless --force.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from smokewatch.camera.photos import PhotoError, group_photos, scan_photos
    from smokewatch.camera.registration import PanoramaMaker, RegistrationError
    from smokewatch.camera.timelapse import build_timelapse
    from smokewatch.clips.daylight import Daylight
    from smokewatch.core.frame_times import check_gap_seconds, sidecar_for
    from smokewatch.settings import load_settings

    try:
        wanted = date.fromisoformat(day)
    except ValueError:
        raise SmokewatchError(f"--date {day!r}: expected YYYY-MM-DD") from None
    try:  # before the day is read and encoded, not when its sidecar is written (`inf`)
        check_gap_seconds(gap_seconds)
    except ValueError as exc:
        raise SmokewatchError(f"--gap-seconds: {exc}") from None
    zone_name = timezone or load_settings().timezone
    zone = _zone(zone_name)
    rule = Daylight(
        timezone=zone_name,
        start_hour=day_start,
        end_hour=day_end,
        latitude=latitude,
        longitude=longitude,
    )
    video_path = out / f"{wanted.isoformat()}.mp4"
    if video_path.is_file() and sidecar_for(video_path).is_file() and not force:
        console.print(f"{video_path} already built; skipped (--force rebuilds it)", soft_wrap=True)
        return
    maker = PanoramaMaker(camera, check_every=check_every)

    with err_console.status("reading photo times"):
        scan = scan_photos(photos, time_pattern=time_pattern, tz=zone)
    _report(list(scan.problems))
    _require_photos(photos, scan, "to build from")
    on_day = [p for p in scan.photos if rule.local_date(p.time) == wanted]
    groups = group_photos(on_day, tolerance_s=tolerance)
    daytime = [g for g in groups if rule.contains(g.time)]
    if not daytime:
        raise SmokewatchError(
            f"no daytime photos on {wanted} ({zone_name}) among {len(scan.photos)} photos "
            f"({len(groups)} instants that day); check --date, --timezone and --day-start/--day-end"
        )
    failed: list[str] = []
    with (
        _camera_log(),
        Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=err_console,
            transient=True,
        ) as progress,
    ):
        task = progress.add_task(f"{wanted} panoramas", total=len(daytime))

        def frames() -> Iterator[tuple[float, np.ndarray]]:
            for group in daytime:
                try:
                    frame = maker.make(group)
                except (PhotoError, RegistrationError) as exc:
                    failed.append(str(exc))
                    continue
                finally:
                    progress.advance(task)
                yield group.time, frame

        try:
            summary = build_timelapse(frames(), video_path, fps=fps, gap_seconds=gap_seconds)
        finally:  # also when no instant made a frame: the reasons are what the user needs
            _report(list(failed), "skipped instant:")
    redone = sum(r.registered for r in maker.reregistrations)
    tried = len(maker.reregistrations) - redone
    console.print(
        f"{summary.frames_written} frames written ({len(groups) - len(daytime)} night "
        f"instants left out, {len(failed)} instants skipped, {redone} re-registrations"
        f"{f', {tried} failed' if tried else ''}), {len(summary.gaps)} gaps over "
        f"{gap_seconds:g} s; "
        f"video: {summary.video_path}; frame times: {summary.sidecar_path}",
        highlight=False,
        soft_wrap=True,
    )
