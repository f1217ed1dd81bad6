"""``smokewatch detect``: camera days (or a folder of clips) in, smoke events out.

A thin verb over :mod:`smokewatch.detect`: check the options, build the views, the clocks, the
rule and the model's detector (in this process, or in Ray actors with ``--engine ray``), show
progress on stderr, print one line per view on stdout.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from smokewatch.cli._common import console, err_console, tagged, user_errors
from smokewatch.errors import SmokewatchError, ViewsError

if TYPE_CHECKING:
    from smokewatch.core.clip import Box
    from smokewatch.core.detections import Detections
    from smokewatch.detect import CameraDay, DetectOptions, DetectReport
    from smokewatch.detect.alerts import Notifier

__all__ = ["Engine", "detect_command"]


class Engine(enum.StrEnum):
    """Where the model runs: this process, or Ray actors (a laptop's cores, or a cluster)."""

    local = "local"
    ray = "ray"


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


def _day_dirs(timelapses: list[Path], out: Path) -> list[Path]:
    """OUT for one day; OUT/<name> for each of several (the timelapse's name, no suffix)."""
    if len(timelapses) == 1:
        return [out]
    dirs: dict[str, Path] = {}
    for path in timelapses:
        name = path.stem if path.is_file() else path.name
        if name in dirs:
            raise SmokewatchError(
                f"{dirs[name]} and {path} would both write to {out / name}: give each day's "
                "timelapse its own name"
            )
        dirs[name] = path
    return [out / name for name in dirs]


def _camera_days(
    timelapses: list[Path],
    views: dict[str, Box],
    out: Path,
    *,
    start_times: list[str],
    seconds_per_frame: float | None,
    frame_times: list[Path],
    max_frame_gap: float,
    zone: str,
) -> list[CameraDay]:
    """Each --timelapse with its clock: the --start-time or --frame-times in the same place,
    else its frames.json sidecar. An explicit flag wins over a sidecar, with a warning."""
    from smokewatch.core.frame_times import find_sidecar, sidecar_for
    from smokewatch.detect import CameraDay, FrameClock
    from smokewatch.detect.clock import read_frame_times

    n = len(timelapses)
    if start_times and frame_times:
        raise SmokewatchError(
            "give the frame times as --start-time T [--seconds-per-frame S], "
            "or as --frame-times FILE, not both"
        )
    if seconds_per_frame is not None and not start_times:
        raise SmokewatchError("--seconds-per-frame goes with --start-time")
    given: list[str] | list[Path] = start_times or frame_times
    name = "--start-time" if start_times else "--frame-times"
    if given and len(given) != n:
        raise SmokewatchError(
            f"{n} --timelapse need {n} {name} (one each, in order), got {len(given)}"
        )
    for path in timelapses:
        if not path.exists():
            raise SmokewatchError(f"{path}: no such file or folder")
    days = []
    for i, (path, out_dir) in enumerate(zip(timelapses, _day_dirs(timelapses, out), strict=True)):
        sidecar = find_sidecar(path)
        when: str | Path | None = given[i] if given else sidecar
        if when is None:
            one = "one per --timelapse, in order" if n > 1 else "one of the two"
            raise SmokewatchError(
                f"{path}: no frame times: give --start-time T [--seconds-per-frame S] or "
                f"--frame-times FILE ({one}), or put its sidecar at {sidecar_for(path)}"
            )
        if isinstance(when, Path):
            clock = read_frame_times(when, max_gap=max_frame_gap)
        else:
            from smokewatch.cli.clips import parse_start_time

            if sidecar is not None:
                err_console.print(
                    tagged(
                        "warning:",
                        "yellow",
                        f"{path}: --start-time given, so its sidecar {sidecar} is not used "
                        "(frames timed evenly, gaps not seen); leave --start-time out to use it",
                    ),
                    soft_wrap=True,
                )
            clock = FrameClock(
                start_time=parse_start_time(when, zone),
                seconds_per_frame=5.0 if seconds_per_frame is None else seconds_per_frame,
            )
        days.append(CameraDay(timelapse=path, views=views, out_dir=out_dir, clock=clock))
    return days


def _print_gaps(detections: Detections, source: Path | None) -> None:
    """The gaps no window spans, from the source's clock (a sidecar or --frame-times)."""
    gaps = detections.source.get("gaps") or []
    if not gaps:
        return
    limit = detections.source.get("max_frame_gap")
    longest = max(float(g["seconds"]) for g in gaps)
    frames = sum(
        s.end_frame - s.start_frame + 1
        for s in (detections.views[0].skipped if detections.views else ())
        if s.reason.startswith("gap")
    )
    err_console.print(
        tagged(
            "gaps:",
            "yellow",
            f"{_count(len(gaps), 'gap')} over {limit:g} s in the frame times of {source} "
            f"(longest {_minutes(longest)}): no window spans {'it' if len(gaps) == 1 else 'one'}"
            + (
                f"; {_count(frames, 'frame')} before {'it' if len(gaps) == 1 else 'them'} in no "
                "window"
                if frames
                else ""
            ),
        ),
        soft_wrap=True,
    )


def _print_report(
    report: DetectReport,
    out: Path,
    source: Path | None,
    window_frames: int,
    alerts: Callable[[Detections], None] | None,
) -> None:
    """One line per view, the lost frames, the alerts (``alerts``) and the day's total."""
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
            tagged("skipped:", "yellow", f"frames {start}-{end} of {source}: {reason}"),
            soft_wrap=True,
        )
    detections = report.detections
    assert detections is not None
    _print_gaps(detections, source)
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
    if alerts is not None:
        alerts(detections)
    if source is not None and not any(v.windows for v in detections.views):
        err_console.print(
            tagged(
                "warning:",
                "yellow",
                f"{source}: no daytime window of {window_frames} frames; check --start-time or "
                "--frame-times, --day-start/--day-end and --timezone",
            )
        )
    console.print(
        f"{_count(total_events, 'event')} ({_minutes(total_seconds)} of smoke) in "
        f"{_count(len(detections.views), 'view')} -> {out / 'detections.json'}",
        highlight=False,
    )


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
    timelapse: list[Path] = typer.Option(
        [],
        "--timelapse",
        help="Panorama timelapse: a video, or a folder of frame images. Repeatable: one camera "
        "day each, written to OUT/<its name>/.",
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
    start_time: list[str] = typer.Option(
        [],
        "--start-time",
        help="When the first frame was taken: epoch seconds or ISO 8601 (no offset: local "
        "time in --timezone). One per --timelapse, in order. Default: each timelapse's "
        "frames.json sidecar (DAY.frames.json beside a video, frames.json in a folder); "
        "given, it wins over the sidecar (with a warning).",
    ),
    seconds_per_frame: float | None = typer.Option(
        None, "--seconds-per-frame", min=0.001, help="Seconds between frames (default 5)."
    ),
    frame_times: list[Path] = typer.Option(
        [],
        "--frame-times",
        help="Instead of --start-time: JSON epoch seconds, one per frame (a list, or "
        '{"frames": [...]} as in a frames.json sidecar). One per --timelapse, in order; '
        "wins over each timelapse's own sidecar.",
        dir_okay=False,
    ),
    max_frame_gap: float = typer.Option(
        60.0,
        "--max-frame-gap",
        min=0.001,
        help="Seconds: with frame times (a sidecar or --frame-times), no window spans a longer "
        "step between two frames (a camera that was down); such gaps are reported.",
    ),
    view: list[str] = typer.Option(
        [], "--view", help="Only this view (camera-view, e.g. 0-3); repeatable."
    ),
    camera: int | None = typer.Option(None, "--camera", help="Only this camera's views."),
    window_frames: int = typer.Option(36, "--window-frames", min=1, help="Frames per window."),
    window_step: int = typer.Option(
        18,
        "--window-step",
        min=1,
        help="Frames between window starts; over --window-frames, the frames between windows "
        "are never scored (a sparse, faster watch that can miss short smoke).",
    ),
    size: int | None = typer.Option(
        None,
        "--size",
        help="Pixels: each view is cropped and resized to a square this many pixels on a "
        "side (default: settings, 180).",
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
        None,
        "--latitude",
        help="Degrees north (south negative); with --longitude, daytime is sunrise to sunset.",
    ),
    longitude: float | None = typer.Option(
        None, "--longitude", help="Degrees east (west negative), with --latitude."
    ),
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
    threads: int = typer.Option(
        0,
        "--threads",
        min=0,
        help="torch CPU threads (0: default); --engine ray: CPUs and threads per actor (0: 1).",
    ),
    engine: Engine = typer.Option(
        Engine.local,
        "--engine",
        help="local: in this process; ray: days (or groups of views) as Ray tasks, the model "
        "held by actors (pip install 'smokewatch[ray]'; docs/detections.md).",
    ),
    ray_address: str | None = typer.Option(
        None,
        "--ray-address",
        help="--engine ray: a cluster's address (ray://host:10001, auto); default: RAY_ADDRESS, "
        "else a local Ray on this machine's cores.",
    ),
    ray_actors: int = typer.Option(
        0, "--ray-actors", min=0, help="--engine ray: actors (0: one per free CPU / --threads)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    notify: list[str] = typer.Option(
        [],
        "--notify",
        help="Send each new event once: https://... (a JSON POST signed with "
        "SMOKEWATCH_ALERT_SECRET) or smtp://user:pass@host:port?to=a@b.org&from=c@d.org "
        "(an email with the Grad-CAM GIF). Repeatable; see docs/alerts.md.",
    ),
) -> None:
    """Find smoke events in camera days: per window a probability, per event evidence.

    Each view's daytime frames are cut into windows (36 frames every 18) from one decode of
    the timelapse and scored by the model; Grad-CAM measures how much of a likely window is
    lit. RISE's rule makes events of the smoke windows (probability > 0.85 and ratio > 0.4, a
    one-window gap filled, events of at most 72 frames). Writes OUT/detections.json
    (docs/detections.md), an mp4 and a Grad-CAM GIF per event in OUT/evidence, and one result
    file per view in OUT/views: a view already done is skipped when run again. Several
    --timelapse: one folder per day in OUT; --engine ray scores them on Ray.
    """
    from smokewatch.clips.daylight import Daylight
    from smokewatch.detect import DetectOptions, EventRule
    from smokewatch.settings import load_settings
    from smokewatch.training.progress import Progress

    if bool(timelapse) == (clips is not None):
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
    if engine is Engine.ray and clips is not None:
        raise SmokewatchError(
            "--engine ray scores timelapses (--timelapse); a folder of clips is scored "
            "in-process (--engine local)"
        )
    if engine is Engine.local and (ray_address is not None or ray_actors):
        raise SmokewatchError("--ray-address and --ray-actors go with --engine ray")
    if device is not None:
        from smokewatch.training.device import resolve_device

        # on Ray only the spelling: the actors' nodes have the GPUs, not necessarily this one
        resolve_device(device, check_available=engine is Engine.local)
    days: list[CameraDay] = []
    if timelapse:
        if views_file is None:
            raise SmokewatchError("--timelapse needs --views FILE (the camera views to crop)")
        days = _camera_days(
            timelapse,
            _pick_views(views_file, view, camera),
            out,
            start_times=start_time,
            seconds_per_frame=seconds_per_frame,
            frame_times=frame_times,
            max_frame_gap=max_frame_gap,
            zone=zone,
        )
    elif views_file is not None or start_time or frame_times:
        raise SmokewatchError("--clips takes no --views, --start-time or --frame-times")
    notifiers: dict[Path, Notifier] = {}
    if notify:  # the first built now: a malformed URL or a missing secret stops before scoring
        from smokewatch.detect.alerts import Notifier

        secret = settings.alert_secret.get_secret_value() if settings.alert_secret else None

        def notifier_for(folder: Path) -> Notifier:
            if folder not in notifiers:
                notifiers[folder] = Notifier(notify, secret=secret, out_dir=folder, timezone=zone)
            return notifiers[folder]

        notifier_for(days[0].out_dir if days else out)

    def finish(report: DetectReport, folder: Path, source: Path | None) -> None:
        """A day is scored: its lines, and its alerts sent now, before the next day is scored
        (docs/alerts.md: alerts go out as soon as a day's events are known)."""
        alerts = None
        if notify:

            def alerts(detections: Detections) -> None:
                sent = notifier_for(folder).notify(detections, timeout=120.0)
                console.print(sent.summary(), highlight=False)
                for failure in sent.failed:
                    err_console.print(
                        tagged("alert failed:", "yellow", failure.describe()), soft_wrap=True
                    )

        _print_report(report, folder, source, window_frames, alerts)

    if engine is Engine.ray:
        _detect_on_ray(
            days,
            model,
            options=options,
            device=device or "cpu",
            cam=cam,
            batch_size=batch_size,
            label_clips=label_clips,
            weights_cache_dir=settings.cache_dir,
            threads=threads,
            address=ray_address,
            actors=ray_actors,
            quiet=quiet,
            on_day=lambda d, report: finish(report, days[d].out_dir, days[d].timelapse),
        )
    else:
        from smokewatch.detect import load_detector

        if threads:
            import torch

            torch.set_num_threads(threads)
        detector = load_detector(
            model,
            device=device or "cpu",
            cam=cam,
            batch_size=batch_size,
            weights_cache_dir=settings.cache_dir,
        )
        from smokewatch.clips.extract import count_frames
        from smokewatch.detect import detect_timelapse

        for day in days:
            total = count_frames(day.timelapse)
            with Progress(not quiet, total, f"detect {day.timelapse.name}") as bar:
                report = detect_timelapse(
                    day.timelapse,
                    day.views,
                    day.out_dir,
                    detector=detector,
                    clock=day.clock,
                    options=options,
                    batch_size=batch_size,
                    label_clips=label_clips,
                    on_frame=bar.update,
                )
            finish(report, day.out_dir, day.timelapse)
        if clips is not None:
            from smokewatch.detect import detect_clips
            from smokewatch.detect.clipsdir import find_rise_clips

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
            finish(report, out, None)


def _detect_on_ray(
    days: list[CameraDay],
    model: Path,
    *,
    options: DetectOptions,
    device: str,
    cam: bool,
    batch_size: int,
    label_clips: int,
    weights_cache_dir: Path,
    threads: int,
    address: str | None,
    actors: int,
    quiet: bool,
    on_day: Callable[[int, DetectReport], None],
) -> list[DetectReport]:
    """The days as Ray tasks, the model held by actors; progress per view finished;
    ``on_day(index, report)`` as soon as each day is merged."""
    from smokewatch.detect import RayEngine, model_loader
    from smokewatch.training.progress import Progress

    gpus = 0.0
    if device.startswith("cuda"):
        if device != "cuda":
            raise SmokewatchError(
                f"--device {device}: with --engine ray, Ray gives each actor its GPU; "
                "give --device cuda"
            )
        gpus = 1.0
    load = model_loader(
        model, device=device, cam=cam, batch_size=batch_size, weights_cache_dir=weights_cache_dir
    )
    with RayEngine(
        load,
        actors=actors or None,
        cpus_per_actor=threads or 1,
        gpus_per_actor=gpus,
        address=address,
    ) as ray_engine:
        total = sum(len(d.views) for d in days)
        title = f"detect {_count(len(days), 'day')} on Ray ({_count(ray_engine.actors, 'actor')})"
        with Progress(not quiet, total, title) as bar:
            return ray_engine.run(
                days,
                options=options,
                batch_size=batch_size,
                label_clips=label_clips,
                on_views=bar.advance,
                on_day=on_day,
            )
