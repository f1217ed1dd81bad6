"""``detect --clips``: a folder of RISE clips scored as windows, grouped into their views.

Each clip is one window: its RISE name gives the camera view, its day, its first frame in
that day's timelapse and the times of its first and last frame. Clips are scored exactly as
``evaluate`` scores them (same frame selection and transform), view by view in time order,
and the event rule runs over each view's clips as over a timelapse's windows, each day a
stretch of its own. Frame numbers start again at 0 every day, so an event is timed from its
own windows only. Files whose names are not RISE names, and clips that do not decode, are
skipped and listed. Each window records its clip's path relative to the output folder (as
``clips import --from-detections`` reads it), or absolute where no relative path leads there.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from smokewatch.core.clip import ClipName
from smokewatch.core.detections import ViewDetections, Window
from smokewatch.detect.detector import DetectError, Detector
from smokewatch.detect.evidence import WindowStore, write_events
from smokewatch.detect.options import DetectOptions
from smokewatch.detect.results import (
    done_view,
    fingerprint,
    merge_views,
    remove_partial_files,
    write_view,
)
from smokewatch.detect.rule import find_events
from smokewatch.detect.scan import Slot, WindowScan
from smokewatch.detect.timelapse import WINDOWS_VERSION, WORK_DIR, DetectReport
from smokewatch.errors import ClipNameError, VideoError

__all__ = ["detect_clips", "find_rise_clips", "interpolated_time", "recorded_path"]


def find_rise_clips(folder: Path) -> tuple[dict[str, list[tuple[ClipName, Path]]], list[str]]:
    """The ``.mp4`` clips of ``folder`` by view (in time order), and the names skipped, each
    with why: not a RISE name, or not a file (a link to nothing, a folder)."""
    if not folder.is_dir():
        raise DetectError(f"{folder}: no such folder of clips")
    views: dict[str, list[tuple[ClipName, Path]]] = {}
    skipped: list[str] = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.suffix.lower() != ".mp4":
            continue
        if not path.is_file():  # a link is followed: only one that leads to no file is skipped
            why = "a symbolic link to no file" if path.is_symlink() else "not a file"
            skipped.append(f"{path.name}: {why}")
            continue
        try:
            name = ClipName.parse(path.name)
        except ClipNameError:
            skipped.append(f"{path.name}: not a RISE clip name")
            continue
        views.setdefault(name.view, []).append((name, path))
    for clips in views.values():
        clips.sort(key=lambda c: (c[0].start_time, c[0].start_frame))
    ordered = dict(
        sorted(views.items(), key=lambda kv: (kv[1][0][0].camera_id, kv[1][0][0].view_id))
    )
    return ordered, skipped


def _no_clips(folder: Path, skipped: Sequence[str]) -> str:
    """Why a folder gave no clip, saying what was passed over: a folder of .mp4 files with
    other names (or of links to nothing) is not an empty folder."""
    message = f"{folder}: no clips with RISE names (cam-view-Y-M-D-...-end.mp4)"
    if not skipped:
        return message
    reasons: dict[str, list[str]] = {}
    for line in skipped:
        name, why = line.split(": ", 1)
        reasons.setdefault(why, []).append(name)
    what = "; ".join(f"{len(names)} {why} (e.g. {names[0]})" for why, names in reasons.items())
    files = "file" if len(skipped) == 1 else "files"
    return f"{message}; skipped {len(skipped)} .mp4 {files}: {what}"


def interpolated_time(windows: Sequence[Window]) -> Callable[[int], float]:
    """Frame -> time, linear within the first window holding the frame (clips carry only
    their first and last frame's time). ``windows`` must be of one day (frame numbers start
    again every day): give an event's own windows."""

    def time_of(frame: int) -> float:
        for w in windows:
            if w.start_frame <= frame <= w.end_frame:
                span = w.end_frame - w.start_frame
                share = (frame - w.start_frame) / span if span else 0.0
                return w.start_time + share * (w.end_time - w.start_time)
        raise ValueError(f"frame {frame} is in no window")

    return time_of


def recorded_path(path: Path, out: Path) -> str:
    """How a window records its clip: relative to the output folder, where
    ``clips import --from-detections`` resolves it (so the two folders can move together),
    or absolute when they are on different drives."""
    try:
        return os.path.relpath(path.resolve(), out.resolve())
    except ValueError:  # Windows: another drive has no relative path
        return str(path.resolve())


def _listing(clips: Sequence[tuple[ClipName, Path]]) -> list[tuple[str, int, int]]:
    return [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for _, p in clips]


def _score_view(
    clips: Sequence[tuple[ClipName, Path]],
    scan: WindowScan,
    skipped: list[str],
    on_clip: Callable[[int], None] | None,
    min_frames: int,
    out: Path,
) -> None:
    from smokewatch.video import read_clip

    shape: tuple[int, ...] | None = None
    for name, path in clips:
        try:
            frames = read_clip(path)
        except VideoError as exc:
            skipped.append(f"{path.name}: {exc}".replace(f"{path}: ", ""))
            frames = None
        if frames is not None and len(frames) < min_frames:
            skipped.append(f"{path.name}: {len(frames)} frames, the model needs {min_frames}")
            frames = None
        if frames is not None and shape is not None and frames.shape != shape:
            skipped.append(f"{path.name}: {frames.shape} differs from its view's {shape}")
            frames = None
        if frames is not None:
            shape = frames.shape
            slot = Slot(
                name.start_frame,
                name.start_frame + len(frames) - 1,
                float(name.start_time),
                float(name.end_time),
                file=recorded_path(path, out),
                stretch=name.day.toordinal(),  # a day of its own: frames start again at 0
            )
            scan.add(0, slot, np.ascontiguousarray(frames))
        if on_clip is not None:
            on_clip(1)
    scan.flush()


def detect_clips(
    clips_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    detector: Detector,
    options: DetectOptions | None = None,
    batch_size: int = 8,
    merge: bool = True,
    on_clip: Callable[[int], None] | None = None,
) -> DetectReport:
    """Score a folder of RISE clips; events per view; ``out_dir/detections.json``.

    Resumable like :func:`~smokewatch.detect.timelapse.detect_timelapse`: a view whose clips
    (names, sizes, times) and settings are unchanged is not scored again. ``on_clip(1)`` after
    each clip of a view scored now.
    """
    folder = Path(clips_dir)
    out = Path(out_dir)
    opts = options if options is not None else DetectOptions()
    views, skipped = find_rise_clips(folder)
    if not views:
        raise DetectError(_no_clips(folder, skipped))
    settings = {k: v for k, v in opts.as_dict().items() if k in ("fps", "cam", "rule")}
    settings |= {k: v for k, v in opts.as_dict().items() if k.startswith("cam_")}
    # No daytime rule (the clips are cut already), but the camera's zone names window clips
    # and times the report: recorded, so a rerun in another zone scores again.
    settings["timezone"] = opts.daylight.timezone
    source = {"clips": str(folder), "files": sum(len(c) for c in views.values())}
    run = fingerprint(
        detector.model,
        detector.fingerprint,
        settings,
        str(folder.resolve()),
        str(out.resolve()),  # the windows' clip paths are relative to it
        WINDOWS_VERSION,
    )
    report = DetectReport(detections=None, skipped_files=list(skipped))
    min_frames = int(detector.model.get("frames") or 1)
    remove_partial_files(out, views)  # a killed run's half-written files of these views
    for key, clips in views.items():
        view_fp = fingerprint(run, key, _listing(clips))
        done = done_view(out, key, view_fp)
        if done is not None:
            report.views[key] = done
            report.reused.append(key)
            continue
        store = WindowStore(out / WORK_DIR / key)
        scan = WindowScan(1, detector=detector, options=opts, stores=[store], batch_size=batch_size)
        _score_view(clips, scan, report.skipped_files, on_clip, min_frames, out)
        report.model_calls += scan.model_calls
        windows = scan.windows[0]
        first = clips[0][0]
        events = tuple(
            event
            for span in find_events(windows, opts.rule)
            for event in write_events(
                [span],
                windows,
                camera_id=first.camera_id,
                view_id=first.view_id,
                # its own windows: another day's clips hold the same frame numbers
                time_of=interpolated_time([windows[j] for j in span.windows]),
                store=store,
                out_dir=out,
                rule=opts.rule,
                fps=opts.fps,
                write_gif=detector.write_gif,
            )
        )
        view = ViewDetections(
            camera_id=first.camera_id,
            view_id=first.view_id,
            windows=tuple(windows),
            events=events,
            box=first.box.ltrb,
        )
        write_view(
            out,
            view,
            model=detector.model,
            settings=settings,
            source=source,
            run=run,
            view_fingerprint=view_fp,
        )
        store.remove()
        report.views[key] = view
        report.scored.append(key)
    try:
        (out / WORK_DIR).rmdir()
    except OSError:
        pass
    if merge:
        report.detections = merge_views(
            out,
            model=detector.model,
            settings=settings,
            source={**source, "skipped_files": report.skipped_files},
            run=run,
        )
    return report
