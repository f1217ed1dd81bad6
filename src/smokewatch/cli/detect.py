"""``smokewatch detect``: a camera day (or a folder of clips) in, smoke events out.

A thin verb over :mod:`smokewatch.detect`: check the options, build the views, the clock, the
rule and the model's detector, show progress on stderr, print one line per view on stdout.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from smokewatch.cli._common import console, err_console, tagged, user_errors
from smokewatch.errors import SmokewatchError, ViewsError

if TYPE_CHECKING:
    from smokewatch.core.clip import Box

__all__ = ["detect_command"]


def _pick_views(views_file: Path, keys: list[str], camera: int | None) -> dict[str, Box]:
    from smokewatch.clips.views import load_views, select_camera, split_view_key, view_key

    views = select_camera(load_views(views_file), camera, source=str(views_file))
    if not keys:
        return dict(views)
    picked = {}
    for key in keys:
        norm = view_key(*split_view_key(key))
        if norm not in views:
            raise ViewsError(f"{views_file}: no view {norm} (it has {', '.join(views)})")
        picked[norm] = views[norm]
    return picked


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


@user_errors
def detect_command(
    model: Path = typer.Argument(
        ..., help="A trained model folder (train's OUT/model, or the run folder)."
    ),
    out: Path = typer.Option(
        ...,
        "--out",
        "-o",
        help="Folder for detections.json, views/, evidence/ (and report.html).",
        file_okay=False,
    ),
    timelapse: Path | None = typer.Option(
        None, "--timelapse", help="Panorama timelapse: a video, or a folder of frame images."
    ),
    views_file: Path | None = typer.Option(
        None, "--views", help="Camera views file (YAML/JSON), as for clips extract."
    ),
    clips: Path | None = typer.Option(
        None,
        "--clips",
        help="Instead of a timelapse: a folder of RISE-named clips.",
        file_okay=False,
    ),
    start_time: str | None = typer.Option(
        None,
        "--start-time",
        help="When the first frame was taken: epoch seconds or ISO 8601 (no offset: local "
        "time in --timezone).",
    ),
    seconds_per_frame: float | None = typer.Option(
        None, "--seconds-per-frame", min=0.001, help="Seconds between frames (default 5)."
    ),
    frame_times: Path | None = typer.Option(
        None,
        "--frame-times",
        help="Instead of --start-time: JSON epoch seconds, one per frame (a list, or "
        '{"frames": [...]} as in a frames.json sidecar).',
        dir_okay=False,
    ),
    view: list[str] = typer.Option(
        [], "--view", help="Only this view (camera-view, e.g. 0-3); repeatable."
    ),
    camera: int | None = typer.Option(None, "--camera", help="Only this camera's views."),
    window_frames: int = typer.Option(36, "--window-frames", min=1, help="Frames per window."),
    window_step: int = typer.Option(18, "--window-step", min=1, help="Frames between windows."),
    size: int | None = typer.Option(
        None, "--size", help="Crop size of each view (default: settings, 180)."
    ),
    smoke_probability: float = typer.Option(
        0.85, "--smoke-probability", help="A smoke window's probability is over this."
    ),
    smoke_ratio: float = typer.Option(
        0.4, "--smoke-ratio", help="... and its Grad-CAM activation ratio over this."
    ),
    max_gap: int = typer.Option(
        1, "--max-gap", min=0, help="Non-smoke windows between smoke windows that still join."
    ),
    max_event_frames: int = typer.Option(
        72, "--max-event-frames", min=1, help="Longer runs are cut into events of this length."
    ),
    min_event_frames: int = typer.Option(
        36, "--min-event-frames", min=1, help="A shorter last piece joins the event before it."
    ),
    cam: bool = typer.Option(
        True, "--cam/--no-cam", help="Grad-CAM ratios and GIFs; --no-cam: probability only."
    ),
    cam_probability: float = typer.Option(
        0.6, "--cam-probability", help="Grad-CAM for windows over this probability."
    ),
    cam_threshold: float = typer.Option(
        0.85, "--cam-threshold", help="The activation ratio counts pixels over this."
    ),
    day_start: float = typer.Option(6.0, "--day-start", help="Local hour daytime starts."),
    day_end: float = typer.Option(20.0, "--day-end", help="Local hour daytime ends."),
    latitude: float | None = typer.Option(
        None, "--latitude", help="With --longitude: daytime from sunrise to sunset."
    ),
    longitude: float | None = typer.Option(None, "--longitude", help="East-positive degrees."),
    timezone: str | None = typer.Option(
        None, "--timezone", help="Camera time zone (default: settings, US/Eastern)."
    ),
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="Windows per model call."),
    label_clips: int = typer.Option(
        50,
        "--label-clips",
        min=0,
        help="--timelapse: per view, write the clips of this many windows nearest probability "
        "0.5 (and of every event window) to OUT/clips, for `clips import --from-detections`.",
    ),
    device: str | None = typer.Option(None, "--device", help="cpu, cuda, cuda:1 ..."),
    threads: int = typer.Option(0, "--threads", min=0, help="torch CPU threads (0: default)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    notify: list[str] = typer.Option(
        [],
        "--notify",
        help="Send each new event once: https://... (a JSON POST signed with "
        "SMOKEWATCH_ALERT_SECRET) or smtp://user:pass@host:port?to=a@b.org&from=c@d.org "
        "(an email with the Grad-CAM GIF). Repeatable; see docs/alerts.md.",
    ),
) -> None:
    """Find smoke events in a camera day: per window a probability, per event evidence.

    Each view's daytime frames are cut into windows (36 frames every 18) from one decode of
    the timelapse and scored by the model; Grad-CAM measures how much of a likely window is
    lit. RISE's rule makes events of the smoke windows (probability > 0.85 and ratio > 0.4, a
    one-window gap filled, events of at most 72 frames). Writes OUT/detections.json
    (docs/detections.md), an mp4 and a Grad-CAM GIF per event in OUT/evidence, and one result
    file per view in OUT/views: a view already done is skipped when run again.
    """
    from smokewatch.clips.daylight import Daylight
    from smokewatch.detect import DetectOptions, EventRule, FrameClock, load_detector
    from smokewatch.detect.clock import read_frame_times
    from smokewatch.settings import load_settings
    from smokewatch.training.progress import Progress

    if (timelapse is None) == (clips is None):
        raise SmokewatchError("give either --timelapse VIDEO_OR_DIR --views FILE, or --clips DIR")
    settings = load_settings()
    zone = timezone or settings.timezone
    options = DetectOptions(
        rule=EventRule(
            smoke_probability=smoke_probability,
            smoke_ratio=smoke_ratio,
            max_gap=max_gap,
            max_frames=max_event_frames,
            min_frames=min_event_frames,
        ),
        window_frames=window_frames,
        window_step=window_step,
        size=size if size is not None else settings.clip_size,
        fps=settings.clip_fps,
        cam=cam,
        cam_probability=cam_probability,
        cam_threshold=cam_threshold,
        daylight=Daylight(
            timezone=zone,
            start_hour=day_start,
            end_hour=day_end,
            latitude=latitude,
            longitude=longitude,
        ),
    )
    if threads:
        import torch

        torch.set_num_threads(threads)
    if timelapse is not None:
        if views_file is None:
            raise SmokewatchError("--timelapse needs --views FILE (the camera views to crop)")
        if (start_time is None) == (frame_times is None):
            raise SmokewatchError(
                "give the frame times as --start-time T [--seconds-per-frame S], "
                "or as --frame-times FILE (one of the two)"
            )
        if seconds_per_frame is not None and start_time is None:
            raise SmokewatchError("--seconds-per-frame goes with --start-time")
        if not timelapse.exists():
            raise SmokewatchError(f"{timelapse}: no such file or folder")
        views = _pick_views(views_file, view, camera)
        if frame_times is not None:
            clock = read_frame_times(frame_times)
        else:
            from smokewatch.cli.clips import parse_start_time

            assert start_time is not None
            clock = FrameClock(
                start_time=parse_start_time(start_time, zone),
                seconds_per_frame=5.0 if seconds_per_frame is None else seconds_per_frame,
            )
    elif views_file is not None or start_time is not None or frame_times is not None:
        raise SmokewatchError("--clips takes no --views, --start-time or --frame-times")
    notifier = None
    if notify:  # built first: a malformed URL or a missing secret stops before any scoring
        from smokewatch.detect.alerts import Notifier

        secret = settings.alert_secret.get_secret_value() if settings.alert_secret else None
        notifier = Notifier(notify, secret=secret, out_dir=out, timezone=zone)
    detector = load_detector(
        model,
        device=device or "cpu",
        cam=cam,
        batch_size=batch_size,
        weights_cache_dir=settings.cache_dir,
    )
    if timelapse is not None:
        from smokewatch.clips.extract import count_frames
        from smokewatch.detect import detect_timelapse

        total = count_frames(timelapse)
        with Progress(not quiet, total, f"detect {timelapse.name}") as bar:
            report = detect_timelapse(
                timelapse,
                views,
                out,
                detector=detector,
                clock=clock,
                options=options,
                batch_size=batch_size,
                label_clips=label_clips,
                on_frame=bar.update,
            )
    else:
        from smokewatch.detect import detect_clips
        from smokewatch.detect.clipsdir import find_rise_clips

        assert clips is not None
        found, _ = find_rise_clips(clips)
        with Progress(not quiet, sum(map(len, found.values())), f"detect {clips}") as bar:
            report = detect_clips(
                clips,
                out,
                detector=detector,
                options=options,
                batch_size=batch_size,
                on_clip=bar.advance,
            )
    for line in report.skipped_files:
        err_console.print(tagged("skipped:", "yellow", line), soft_wrap=True)
    lost = {
        (s.start_frame, s.end_frame, s.reason)
        for v in report.views.values()
        for s in v.skipped
        if s.reason.startswith("corrupt")
    }
    for start, end, reason in sorted(lost):
        err_console.print(
            tagged("skipped:", "yellow", f"frames {start}-{end} of {timelapse}: {reason}"),
            soft_wrap=True,
        )
    detections = report.detections
    assert detections is not None
    total_events, total_seconds = 0, 0.0
    for v in detections.views:
        seconds = sum(e.end_time - e.start_time for e in v.events)
        total_events += len(v.events)
        total_seconds += seconds
        state = "already done" if v.key in report.reused else "scored"
        console.print(
            f"{v.key}: {_count(len(v.windows), 'window')}, {_count(len(v.events), 'event')} "
            f"({_minutes(seconds)} of smoke), {state}",
            highlight=False,
        )
    if notifier is not None:
        sent = notifier.notify(detections, timeout=120.0)
        console.print(f"alerts: {sent.summary()}", highlight=False)
        for failure in sent.failed:
            err_console.print(tagged("alert failed:", "yellow", failure.describe()), soft_wrap=True)
    if timelapse is not None and not any(v.windows for v in detections.views):
        err_console.print(
            tagged(
                "warning:",
                "yellow",
                f"no daytime window of {window_frames} frames; check --start-time or "
                "--frame-times, --day-start/--day-end and --timezone",
            )
        )
    console.print(
        f"{_count(total_events, 'event')} ({_minutes(total_seconds)} of smoke) in "
        f"{_count(len(detections.views), 'view')} -> {out / 'detections.json'}",
        highlight=False,
    )
