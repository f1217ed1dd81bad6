"""A camera day: one decode of the panorama timelapse, every view scored window by window.

The timelapse (a video, or a folder of frame images) is decoded once, front to back, and never
re-encoded: each daytime frame is cropped for every view still to do (the same crop as
``clips extract``), the last ``window_frames`` crops per view are buffered, and each window
(every ``window_step`` frames, and one more ending on the last frame of each unbroken stretch
of daytime frames, so its last frames are scored too) goes to the model in batches. A damaged
stretch of the video is recorded as lost frames and skipped; windows never span a lost frame,
the night, midnight or a gap in the frame times longer than the clock's ``max_gap`` (the
frames before such a gap that no window covers, and a stretch too short for a window, are
recorded as skipped, and the gaps are in ``source``); events never join two stretches.
Only windows an event may need are kept (on disk) until the view's evidence is written.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from smokewatch.clips.extract import count_frames, crop_views, iter_timelapse_tolerant
from smokewatch.clips.views import split_view_key
from smokewatch.clips.windows import Window, WindowCutter
from smokewatch.core.clip import Box
from smokewatch.core.detections import Detections, Skipped, ViewDetections
from smokewatch.core.frame_times import DEFAULT_GAP_SECONDS
from smokewatch.detect.clock import FrameClock, read_frame_times
from smokewatch.detect.detector import DetectError, Detector, load_detector
from smokewatch.detect.evidence import WindowStore, write_events, write_window_clips
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
from smokewatch.detect.timings import Timings, timed_detector
from smokewatch.errors import VideoError, ViewsError

__all__ = ["DetectReport", "detect_timelapse", "detect_view_day", "source_fingerprint"]

#: The work folder (inside the output folder) where kept windows wait for their evidence.
WORK_DIR = ".work"
#: In every run's fingerprint: bumped when the same settings cut or join windows otherwise
#: (2: a tail window ends each stretch, events never join two stretches), so a result file
#: of an older version is scored again rather than reused.
WINDOWS_VERSION = 2


@dataclass
class DetectReport:
    """What a detection run did: the merged file's content (``None`` when not merged), each
    view's result, the views scored now and those already done, the model calls it made,
    and (``--clips``) the files it skipped."""

    detections: Detections | None
    views: dict[str, ViewDetections] = field(default_factory=dict)
    scored: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    model_calls: int = 0
    skipped_files: list[str] = field(default_factory=list)


def source_fingerprint(path: Path) -> dict[str, Any]:
    """A timelapse (file or image folder) by place, size and modification time."""
    p = Path(path)
    if p.is_dir():
        listing = sorted(
            (e.name, e.stat().st_size, e.stat().st_mtime_ns)
            for e in os.scandir(p)
            if e.is_file() and not e.name.startswith(".")
        )
        return {"path": str(p.resolve()), "files": fingerprint(listing)}
    st = p.stat()
    return {"path": str(p.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _scan_timelapse(
    timelapse: Path,
    views: Mapping[str, Box],
    *,
    detector: Detector,
    clock: FrameClock,
    options: DetectOptions,
    stores: list[WindowStore],
    batch_size: int,
    label_clips: int,
    on_frame: Callable[[int], None] | None,
    timings: Timings | None = None,
) -> tuple[WindowScan, list[Skipped], int]:
    """Decode once and score every window of ``views``: (the scan, skipped frames, frames)."""
    read, crop = iter_timelapse_tolerant, crop_views
    if timings is not None:
        read, crop = timings.timed_iter("decode", read), timings.timed("crop", crop)
    boxes = list(views.values())
    scan = WindowScan(
        len(boxes),
        detector=detector,
        options=options,
        stores=stores,
        batch_size=batch_size,
        label_clips=label_clips,
    )
    size = options.size
    cutter = WindowCutter(
        timelapse,
        views,
        length=options.window_frames,
        step=options.window_step,
        daylight=options.daylight,
        time_of=clock,
        crop=lambda frame: crop(frame, boxes, size),
        gaps=clock.gaps(),
        tails=True,
    )
    skipped: list[Skipped] = []

    def score(window: Window | None) -> None:
        if window is not None:
            slot = Slot(window.first, window.last, window.start, window.end, stretch=window.stretch)
            for v in range(len(boxes)):
                scan.add(v, slot, window.view(v))

    for item in read(timelapse):
        window = None
        if not isinstance(item, np.ndarray):  # frames that could not be decoded
            first, last = cutter.lose(item.count)
            skipped.append(Skipped(first, last, f"corrupt segment: {item.reason}"))
        else:
            if clock.frames is not None and cutter.frames >= clock.frames:
                raise DetectError(
                    f"{timelapse}: has more frames than the {clock.frames} times in {clock.source}"
                )
            window = cutter.feed(item)
        score(cutter.take_tail())  # the last window of a stretch this frame ended comes first
        score(window)
        if on_frame is not None:
            on_frame(cutter.frames)
    cutter.finish()
    score(cutter.take_tail())
    scan.flush()
    if cutter.frames == 0:
        raise VideoError(f"{timelapse}: no frames")
    for cut in cutter.gaps:  # the frames before a gap that no window covers
        gap = cut.gap
        if cut.frames:
            reason = (
                f"gap: {gap.seconds:.0f} s after frame {gap.after_frame} (over {clock.max_gap:g} s)"
            )
            skipped.append(Skipped(gap.after_frame + 1 - cut.frames, gap.after_frame, reason))
    skipped.extend(Skipped(first, last, "night (outside daytime)") for first, last in cutter.night)
    skipped.extend(
        Skipped(first, last, f"fewer than {options.window_frames} daytime frames before {why}")
        for first, last, why in cutter.uncovered
    )
    return scan, sorted(skipped, key=lambda s: s.start_frame), cutter.frames


def detect_timelapse(
    timelapse: str | os.PathLike[str],
    views: Mapping[str, Box],
    out_dir: str | os.PathLike[str],
    *,
    detector: Detector,
    clock: FrameClock,
    options: DetectOptions | None = None,
    batch_size: int = 8,
    label_clips: int = 50,
    merge: bool = True,
    on_frame: Callable[[int], None] | None = None,
    timings: Timings | None = None,
) -> DetectReport:
    """Detect smoke in every view of a panorama timelapse; write ``out_dir/detections.json``.

    ``views`` maps ``"camera-view"`` to its box in panorama pixels; ``clock`` gives each
    frame's time. Views whose result files already hold this run's fingerprint are not
    scored again (and when all are done, nothing is decoded). ``merge`` False leaves the
    merged file (and the report) to the caller, for runs split over processes. ``on_frame(n)``
    after each frame (``n`` frames read so far), for progress bars. ``timings`` (optional)
    adds the seconds spent decoding, cropping, in the model, Grad-CAM and GIFs.

    For the labeling service, the clips of every event window and of each view's
    ``label_clips`` windows nearest probability 0.5 (outside smoke windows) are written as
    ``out_dir/clips/<RISE name>.mp4`` (:mod:`smokewatch.core.window_clips`), the clips
    ``clips import --from-detections`` takes (its ``--uncertain N`` finds its N among them
    when ``N <= label_clips``). They change no result, so they are not in the fingerprint.

    Raises :class:`VideoError` for a timelapse that cannot be read at all,
    :class:`ViewsError` for a box outside the panorama, :class:`DetectError` when the frame
    times do not match the frames.
    """
    source_path = Path(timelapse)
    out = Path(out_dir)
    opts = options if options is not None else DetectOptions()
    if not views:
        raise ViewsError("no camera views to detect in")
    if not source_path.exists():
        raise VideoError(f"{source_path}: no such file or folder")
    frames = count_frames(source_path)
    if clock.frames is not None and frames and frames != clock.frames:
        raise DetectError(
            f"{clock.source}: {clock.frames} frame times, but {source_path} has {frames} frames"
        )
    source = {"timelapse": str(source_path), "frames": frames, **clock.as_dict()}
    settings = opts.as_dict()
    run = fingerprint(
        detector.model,
        detector.fingerprint,
        settings,
        source,
        source_fingerprint(source_path),
        WINDOWS_VERSION,
    )
    keys = list(views)
    fps = {k: fingerprint(run, k, list(views[k].ltrb)) for k in keys}
    report = DetectReport(detections=None)
    if timings is not None:
        detector = timed_detector(detector, timings)
    remove_partial_files(out, keys)  # a killed run's half-written files of these views
    todo = {}
    for key in keys:
        done = done_view(out, key, fps[key])
        if done is None:
            todo[key] = views[key]
        else:
            report.views[key] = done
            report.reused.append(key)
    if todo:
        stores = [WindowStore(out / WORK_DIR / key) for key in todo]
        scan, skipped, _ = _scan_timelapse(
            source_path,
            todo,
            detector=detector,
            clock=clock,
            options=opts,
            stores=stores,
            batch_size=batch_size,
            label_clips=label_clips,
            on_frame=on_frame,
            timings=timings,
        )
        report.model_calls = scan.model_calls
        for v, (key, box) in enumerate(todo.items()):
            camera_id, view_id = split_view_key(key)
            windows = scan.windows[v]
            events = write_events(
                find_events(windows, opts.rule),
                windows,
                camera_id=camera_id,
                view_id=view_id,
                time_of=clock,
                store=stores[v],
                out_dir=out,
                rule=opts.rule,
                fps=opts.fps,
                write_gif=detector.write_gif,
            )
            view = ViewDetections(
                camera_id=camera_id,
                view_id=view_id,
                windows=tuple(windows),
                events=events,
                skipped=tuple(skipped),
                box=box.ltrb,
            )
            in_events = {j for event in events for j in event.windows}
            write_window_clips(
                view,
                sorted(in_events) + [j for j in scan.uncertain_windows(v) if j not in in_events],
                store=stores[v],
                out_dir=out,
                size=opts.size,
                timezone=opts.daylight.timezone,
                fps=opts.fps,
            )
            write_view(
                out,
                view,
                model=detector.model,
                settings=settings,
                source=source,
                run=run,
                view_fingerprint=fps[key],
            )
            stores[v].remove()
            report.views[key] = view
            report.scored.append(key)
        _remove_empty(out / WORK_DIR)
    if merge:
        report.detections = merge_views(
            out, model=detector.model, settings=settings, source=source, run=run
        )
    return report


def _remove_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass


#: One detector per model folder in this process (a Ray worker scores many views with it).
_DETECTORS: dict[tuple[str, str, bool], Detector] = {}


def detect_view_day(
    model_dir: str,
    timelapse: str,
    views: Mapping[str, tuple[int, int, int, int]],
    out_dir: str,
    *,
    start_time: float = 0.0,
    seconds_per_frame: float = 5.0,
    frame_times: str | None = None,
    max_frame_gap: float | None = DEFAULT_GAP_SECONDS,
    options: DetectOptions | None = None,
    device: str = "cpu",
    batch_size: int = 8,
    label_clips: int = 50,
) -> list[ViewDetections]:
    """:func:`detect_timelapse` from plain arguments, for a worker process (a Ray task).

    Loads the model once per process, scores ``views`` (``"camera-view"`` -> LTRB box) of
    the timelapse whose frame times are ``frame_times`` (a file) or ``start_time`` plus
    ``seconds_per_frame`` (windows never spanning a step over ``max_frame_gap`` seconds
    between a file's times), writes their result files and returns them. It does not write
    ``detections.json``: the caller merges once every task is done, by
    :func:`detect_timelapse` with all the views, which then finds each one done.
    """
    opts = options if options is not None else DetectOptions()
    key = (str(Path(model_dir).resolve()), device, opts.cam)
    detector = _DETECTORS.get(key)
    if detector is None:
        detector = load_detector(Path(model_dir), device=device, cam=opts.cam)
        _DETECTORS[key] = detector
    clock = (
        read_frame_times(frame_times, max_gap=max_frame_gap)
        if frame_times is not None
        else FrameClock(start_time=start_time, seconds_per_frame=seconds_per_frame)
    )
    boxes = {k: Box(*ltrb) for k, ltrb in views.items()}
    report = detect_timelapse(
        timelapse,
        boxes,
        out_dir,
        detector=detector,
        clock=clock,
        options=opts,
        batch_size=batch_size,
        label_clips=label_clips,
        merge=False,
    )
    return [report.views[k] for k in boxes]
