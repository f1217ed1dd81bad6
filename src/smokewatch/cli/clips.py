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

from smokewatch.cli._common import console, err_console, refuse_overwrite, tagged, user_errors
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
    from smokewatch.core.epoch import epoch_problem

    value = text.strip()
    try:
        epoch = float(value)
    except ValueError:
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            raise SmokewatchError(
                f"--start-time {text!r}: expected epoch seconds or ISO 8601, "
                "e.g. 2018-06-11T05:57:00"
            ) from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=ZoneInfo(timezone))
        epoch = when.timestamp()
    problem = epoch_problem(epoch)
    if problem is not None:
        raise SmokewatchError(f"--start-time {text!r}: {problem}")
    return epoch


@app.command("extract")
@user_errors
def extract_command(
    timelapse: Path = typer.Argument(
        ...,
        help="Panorama timelapse: a video file, or a folder of frame images (natural name "
        "order: frame-9 before frame-10).",
        show_default=False,
    ),
    views_file: Path = typer.Option(
        ...,
        "--views",
        help="Camera views file (YAML/JSON): cameras: {ID: {views: {ID: [L, T, R, B]}}}.",
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the clips and metadata.json."),
    start_time: str | None = typer.Option(
        None,
        "--start-time",
        help="When the first frame was taken: epoch seconds, or ISO 8601 "
        "(without an offset: local time in --timezone); frames then evenly spaced. "
        "Default: the timelapse's frames.json sidecar (DAY.frames.json beside a video, "
        "frames.json in a folder); given, it wins over the sidecar (with a warning).",
    ),
    seconds_per_frame: float | None = typer.Option(
        None,
        "--seconds-per-frame",
        min=0.001,
        max=86400.0,
        help="With --start-time: seconds between frames (default 5, RISE's timelapse).",
    ),
    frame_times: Path | None = typer.Option(
        None,
        "--frame-times",
        help="Instead of --start-time: a JSON file of epoch seconds, one per frame (a list, "
        "or a frames.json sidecar); wins over the timelapse's own sidecar.",
        dir_okay=False,
    ),
    max_frame_gap: float = typer.Option(
        60.0,
        "--max-frame-gap",
        min=0.001,
        help="Seconds: with frame times, no clip spans a longer step between two frames "
        "(a camera that was down); such gaps and the windows they cut are reported.",
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
    clip per camera view. Frame times come from the timelapse's frames.json sidecar (a
    stitched timelapse has one; docs/frame-times.md), or from --start-time and
    --seconds-per-frame; no clip spans a gap over --max-frame-gap. Clips are named by RISE's
    convention
    (cam-view-Y-M-D-L-T-R-B-h-w-startFrame-startEpoch-endEpoch.mp4), plus a RISE
    metadata.json (unlabeled: label states -1; url_root the service's own /videos/, not
    RISE's host, as the clips are local files: `clips import DIR` copies them into the
    service and numbers them there). Existing clips are kept, so an interrupted run can
    simply be started again; one run at a time writes into an --out folder (a second one is
    refused). View boxes must be square, as clips are.
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
    views = select_camera(load_views(views_file), camera, source=str(views_file))
    if not timelapse.exists():
        raise SmokewatchError(f"{timelapse}: no such file or folder")
    start, times_file = _frame_times(timelapse, start_time, seconds_per_frame, frame_times, zone)
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
            seconds_per_frame=5.0 if seconds_per_frame is None else seconds_per_frame,
            frame_times=times_file,
            max_gap=max_frame_gap,
            stride=stride,
            daylight=rule,
            frames_per_clip=settings.clip_frames,
            size=settings.clip_size,
            fps=settings.clip_fps,
            url_root=settings.videos_url_root,
            on_frame=lambda i: progress.update(task, completed=i + 1),
        )
    console.print(
        f"{len(report.written)} clips written, {len(report.skipped)} already there "
        f"({report.windows} windows x {len(views)} views from {report.frames_read} frames); "
        f"metadata: {report.metadata_path}",
        highlight=False,
    )
    if report.gaps:
        longest = max(g.gap.seconds for g in report.gaps)
        gaps, cut = len(report.gaps), report.windows_across_gaps
        console.print(
            f"{gaps} gap{'s' * (gaps != 1)} over {max_frame_gap:g} s in the frame times of "
            f"{times_file} (longest {longest / 60:.1f} min): {cut} window{'s' * (cut != 1)} "
            f"not made across {'them' if gaps != 1 else 'it'}, "
            f"{sum(g.frames for g in report.gaps)} frames before "
            f"{'them' if gaps != 1 else 'it'} in no clip",
            highlight=False,
            soft_wrap=True,
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


def _frame_times(
    timelapse: Path,
    start_time: str | None,
    seconds_per_frame: float | None,
    frame_times: Path | None,
    zone: str,
) -> tuple[float | None, Path | None]:
    """(start time, None) or (None, frame-times file): the flags, else the sidecar.

    An explicit --start-time wins over a sidecar, with a warning (the user asked for evenly
    spaced frames, e.g. to redo an old run); two explicit sources are an error.
    """
    from smokewatch.core.frame_times import find_sidecar, sidecar_for

    if start_time is not None and frame_times is not None:
        raise SmokewatchError("give --start-time or --frame-times, not both")
    if seconds_per_frame is not None and start_time is None:
        raise SmokewatchError("--seconds-per-frame goes with --start-time")
    if frame_times is not None:
        return None, frame_times
    sidecar = find_sidecar(timelapse)
    if start_time is not None:
        if sidecar is not None:
            err_console.print(
                tagged(
                    "warning:",
                    "yellow",
                    f"--start-time given, so the sidecar {sidecar} is not used (frames timed "
                    "evenly, gaps not seen); leave --start-time out to use it",
                ),
                soft_wrap=True,
            )
        return parse_start_time(start_time, zone), None
    if sidecar is None:
        raise SmokewatchError(
            f"{timelapse}: no frame times: give --start-time T [--seconds-per-frame S] or "
            f"--frame-times FILE, or put its sidecar at {sidecar_for(timelapse)}"
        )
    return None, sidecar


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

    refuse_overwrite(out, metadata)
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
