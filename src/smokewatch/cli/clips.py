"""``smokewatch clips ...``: timelapse -> clips; also ``cache_command`` (``dataset cache``).

Each verb is a thin call into a wing (``clips.extract``, ``clips.views``, ``dataset.cache``):
parse options, build the objects, show progress on stderr, print a short summary on stdout.
"""

from __future__ import annotations

import warnings
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import typer

from smokewatch.cli._common import console, err_console, tagged, user_errors
from smokewatch.errors import SmokewatchError
from smokewatch.settings import load_settings

__all__ = ["app", "cache_command", "extract_command", "parse_start_time", "views_command"]

app = typer.Typer(
    help="Cut 36-frame clips from panorama timelapse, per camera view.", no_args_is_help=True
)


def parse_start_time(text: str, timezone: str) -> float:
    """Epoch seconds from ``1528711020`` or ISO 8601 (``2018-06-11T05:57:00[-04:00]``).

    An ISO time without an offset is the camera's local time in ``timezone``, because that is
    how people read a timelapse's clock.
    """
    value = text.strip()
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise SmokewatchError(
            f"--start-time {text!r}: expected epoch seconds or ISO 8601, e.g. 2018-06-11T05:57:00"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=ZoneInfo(timezone))
    return when.timestamp()


@app.command("extract")
@user_errors
def extract_command(
    timelapse: Path = typer.Argument(
        ...,
        help="Panorama timelapse: a video file, or a folder of frame images sorted by name.",
        show_default=False,
    ),
    views_file: Path = typer.Option(
        ...,
        "--views",
        help="Camera views file (YAML/JSON): cameras: {ID: {views: {ID: [L, T, R, B]}}}.",
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the clips and metadata.json."),
    start_time: str = typer.Option(
        ...,
        "--start-time",
        help="When the first frame was taken: epoch seconds, or ISO 8601 "
        "(without an offset: local time in --timezone).",
    ),
    seconds_per_frame: float = typer.Option(
        5.0, "--seconds-per-frame", min=0.001, help="Seconds between frames (RISE: about 5)."
    ),
    stride: int | None = typer.Option(
        None,
        "--stride",
        min=1,
        help="Frames between clip starts; default: the clip length (back to back). "
        "Smaller values overlap clips.",
    ),
    day_start: float = typer.Option(6.0, "--day-start", help="Local hour daytime starts."),
    day_end: float = typer.Option(20.0, "--day-end", help="Local hour daytime ends."),
    latitude: float | None = typer.Option(
        None, "--latitude", help="With --longitude: use computed sunrise-sunset instead of hours."
    ),
    longitude: float | None = typer.Option(
        None, "--longitude", help="East-positive degrees (Pittsburgh: -79.99)."
    ),
    camera: int | None = typer.Option(
        None, "--camera", help="Only this camera's views (default: every view in the file)."
    ),
    timezone: str | None = typer.Option(
        None, "--timezone", help="Camera time zone (default: settings, US/Eastern)."
    ),
) -> None:
    """Cut a panorama timelapse into 36-frame 180x180 H.264 clips, one per view per window.

    The timelapse is decoded once; every daytime window of consecutive frames becomes one
    clip per camera view, named by RISE's convention
    (cam-view-Y-M-D-L-T-R-B-h-w-startFrame-startEpoch-endEpoch.mp4), plus a RISE
    metadata.json (unlabeled: label states -1). Existing clips are kept, so an interrupted
    run can simply be started again.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from smokewatch.clips.daylight import Daylight
    from smokewatch.clips.extract import count_frames, extract_clips
    from smokewatch.clips.views import load_views, select_camera

    settings = load_settings()
    zone = timezone or settings.timezone
    rule = Daylight(
        timezone=zone,
        start_hour=day_start,
        end_hour=day_end,
        latitude=latitude,
        longitude=longitude,
    )
    start = parse_start_time(start_time, zone)
    views = select_camera(load_views(views_file), camera, source=str(views_file))
    if not timelapse.exists():
        raise SmokewatchError(f"{timelapse}: no such file or folder")
    total = count_frames(timelapse) or None
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    ) as progress:
        task = progress.add_task(f"{len(views)} views", total=total)
        report = extract_clips(
            timelapse,
            views,
            out,
            start_time=start,
            seconds_per_frame=seconds_per_frame,
            stride=stride,
            daylight=rule,
            frames_per_clip=settings.clip_frames,
            size=settings.clip_size,
            fps=settings.clip_fps,
            on_frame=lambda i: progress.update(task, completed=i + 1),
        )
    console.print(
        f"{len(report.written)} clips written, {len(report.skipped)} already there "
        f"({report.windows} windows x {len(views)} views from {report.frames_read} frames); "
        f"metadata: {report.metadata_path}",
        highlight=False,
    )
    if report.windows == 0:
        err_console.print(
            tagged(
                "warning:",
                "yellow",
                f"no daytime window of {settings.clip_frames} frames; check --start-time, "
                "--day-start/--day-end and --timezone",
            )
        )


@app.command("views")
@user_errors
def views_command(
    metadata: Path = typer.Argument(
        ..., help="RISE metadata file (.json or .csv) whose clip names hold the boxes."
    ),
    out: Path = typer.Option(
        ..., "--out", "-o", help="Views file to write (.yaml/.yml, or .json)."
    ),
) -> None:
    """Derive a camera views file from a RISE metadata file's clip names.

    RISE published no views file: each view's box (left, top, right, bottom in panorama
    pixels) lives only in its clip names. Where a view's clips disagree (the camera was
    re-aimed), the most common box is used and a warning says so.
    """
    from smokewatch.clips.views import dump_views, views_from_metadata
    from smokewatch.core.metadata import read_metadata

    clips = read_metadata(metadata)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        views = views_from_metadata(clips)
    for w in caught:
        err_console.print(tagged("warning:", "yellow", w.message), soft_wrap=True)
    if not views:
        raise SmokewatchError(f"{metadata}: no clips, so no views")
    dump_views(views, out)
    console.print(f"{len(views)} views from {len(clips):,} clips written to {out}", highlight=False)


@user_errors
def cache_command(
    video_dir: Path = typer.Argument(..., help="Folder of .mp4 clips (searched recursively)."),
    out: Path = typer.Option(..., "--out", "-o", help="Cache folder for the <stem>.npy arrays."),
    strict: bool = typer.Option(
        False, "--strict", help="Exit with status 1 if any clip could not be cached."
    ),
    frames: int | None = typer.Option(
        None, "--frames", min=1, help="Count clips without exactly this many frames as failed."
    ),
) -> None:
    """Decode every clip once into a uint8 .npy cache (reused while newer than its video).

    Corrupt, truncated or unreadable clips are skipped and listed; they never stop the batch.
    With --strict the command still caches everything it can, then exits 1 if any failed.
    """
    from smokewatch.dataset.cache import build_cache

    report = build_cache(video_dir, out, progress=True, expected_frames=frames)
    for _, message in report.failed:
        err_console.print(tagged("skipped:", "yellow", message), soft_wrap=True)
    console.print(
        f"{report.written} written, {report.reused} reused, {len(report.failed)} failed "
        f"(cache: {out})",
        highlight=False,
    )
    if strict and report.failed:
        raise typer.Exit(1)
