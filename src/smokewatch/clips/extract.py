"""Cut a panorama timelapse into RISE clips: 36 frames, 180x180, one per camera view per window.

The timelapse (a video, or a folder of frame images in natural name order) is decoded
exactly once, front to back: each frame is cropped for every view as it arrives and only the
small crops are buffered (36 x views x 180 x 180 x 3 bytes, ~50 MB for RISE's 15 views),
never the panorama itself, which can be 7000 pixels wide. The windows are cut by
:class:`~smokewatch.clips.windows.WindowCutter` (``smokewatch detect`` cuts the same ones): a
window is ``frames_per_clip`` consecutive daytime frames of one date, with no gap between them.

Clips are named by RISE's convention (:class:`~smokewatch.core.clip.ClipName`) and written
flat as ``<out_dir>/<name>.mp4``, atomically; a clip that already exists (and is not empty)
is not written again, so an interrupted run can simply be started again. The metadata file
(``<out_dir>/metadata.json``) keeps earlier records (ids, label states) and appends new ones,
and is written even when extraction stops on an error, for the clips that were made.
"""

from __future__ import annotations

import fcntl
import itertools
import math
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from smokewatch.clips.daylight import Daylight
from smokewatch.clips.views import split_view_key, square_problem
from smokewatch.clips.windows import GapReport, Window, WindowCutter, check_boxes
from smokewatch.core.atomic import remove_partials
from smokewatch.core.clip import Box, Clip, ClipName, url_part_for
from smokewatch.core.frame_times import (
    DEFAULT_GAP_SECONDS,
    FrameTimes,
    FrameTimesError,
    Gap,
    read_frame_times,
)
from smokewatch.core.metadata import read_metadata, write_metadata
from smokewatch.errors import ClipNameError, SmokewatchError, VideoError, ViewsError

if TYPE_CHECKING:
    from smokewatch.video import LostFrames

__all__ = [
    "IMAGE_SUFFIXES",
    "LOCAL_URL_ROOT",
    "ExtractReport",
    "GapReport",
    "check_boxes",
    "check_square",
    "crop_views",
    "count_frames",
    "extract_clips",
    "iter_timelapse",
    "iter_timelapse_tolerant",
]

#: The url_root of an extraction's records: the labeling service's own clip store (its
#: ``videos_url_root``), where ``clips import`` copies local clips, never RISE's host, which
#: never had them. A path, so the metadata stays valid RISE metadata (``core.metadata``).
LOCAL_URL_ROOT = "/videos/"

#: Frame images accepted in a timelapse folder (in natural name order: frame-9, frame-10).
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})


@dataclass(slots=True)
class ExtractReport:
    """What :func:`extract_clips` did."""

    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    #: This run's clips (written and already present), in window then view order.
    clips: list[Clip] = field(default_factory=list)
    metadata_path: Path | None = None
    frames_read: int = 0
    windows: int = 0
    #: Every gap over the limit in the frame times (none for evenly spaced frames).
    gaps: list[GapReport] = field(default_factory=list)

    @property
    def windows_across_gaps(self) -> int:
        """Windows not made because they would span a gap."""
        return sum(g.windows for g in self.gaps)


def _natural_key(name: str) -> list[object]:
    """Sort key that puts ``frame-9`` before ``frame-10``: the order of ``camera.photos``
    (which ``clips`` may not import: docs/architecture.md), as frame writers do not zero-pad."""
    return [int(p) if p.isdecimal() else p for p in re.split(r"(\d+)", name)]


def _images(folder: Path) -> list[Path]:
    """A folder's frame images in natural name order; two names that order the same way
    (``frame-1.png``, ``frame-01.png``, ``frame-1.jpg``) are an error, as no order is right.

    Hidden files are not frames, as everywhere in the project (``camera.photos``,
    ``detect``'s fingerprint): a killed writer's ``.frame-40.png.1a2b3c4d.part.png`` or
    macOS's ``._frame-0.png`` would otherwise be read as a frame and shift every frame's
    time after it (or no longer match the frame times).
    """
    found = [
        p
        for p in folder.iterdir()
        if not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
    ]
    found.sort(key=lambda p: (_natural_key(p.stem), p.name))
    for a, b in itertools.pairwise(found):
        if _natural_key(a.stem) == _natural_key(b.stem):
            raise VideoError(
                f"{folder}: frames {a.name} and {b.name} have the same number, so their "
                "order is ambiguous; rename one (frames are read in natural name order)"
            )
    return found


def count_frames(timelapse: str | os.PathLike[str]) -> int:
    """Frames in a timelapse video or image folder (for progress bars); 0 if unknown."""
    p = Path(timelapse)
    if p.is_dir():
        return len(_images(p))
    from smokewatch.video import probe

    return probe(p).frames


def _read_image(path: Path, shown: str) -> np.ndarray:
    """One frame image as RGB uint8; anything Pillow cannot decode is a :class:`VideoError`
    naming the file as ``shown`` (the strict reader raises it, the tolerant one counts a
    lost frame), never a traceback from deep inside Pillow."""
    from smokewatch.video import IMAGE_ERRORS

    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))
    except IMAGE_ERRORS as exc:
        raise VideoError(f"{shown}: cannot read frame image ({exc})") from None


def _iter_images(folder: Path) -> Iterator[np.ndarray]:
    paths = _images(folder)
    if not paths:
        raise VideoError(f"{folder}: no frame images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    for path in paths:
        yield _read_image(path, str(path))


def iter_timelapse(timelapse: str | os.PathLike[str]) -> Iterator[np.ndarray]:
    """RGB uint8 frames of a timelapse video, or of a folder of images in natural name order."""
    p = Path(timelapse)
    if p.is_dir():
        return _iter_images(p)
    from smokewatch.video import iter_frames

    return iter_frames(p)


def _iter_images_tolerant(folder: Path) -> Iterator[np.ndarray | LostFrames]:
    from smokewatch.video import LostFrames

    paths = _images(folder)
    if not paths:
        raise VideoError(f"{folder}: no frame images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    for path in paths:
        try:
            frame = _read_image(path, path.name)
        except VideoError as exc:
            yield LostFrames(1, str(exc))
            continue
        yield frame


def iter_timelapse_tolerant(timelapse: str | os.PathLike[str]) -> Iterator[np.ndarray | LostFrames]:
    """:func:`iter_timelapse` for a whole day: damaged frames are reported, not fatal.

    Yields uint8 frames and :class:`smokewatch.video.LostFrames` in order (see
    :func:`smokewatch.video.iter_frames_tolerant`); in an image folder each unreadable image
    is one lost frame.
    """
    p = Path(timelapse)
    if p.is_dir():
        return _iter_images_tolerant(p)
    from smokewatch.video import iter_frames_tolerant

    return iter_frames_tolerant(p)


def crop_views(frame: np.ndarray, boxes: Sequence[Box], size: int) -> list[np.ndarray]:
    """Each box of a panorama frame, resized to ``size`` x ``size`` (antialiased bilinear).

    The frame becomes a Pillow image once for all views (converting a 7000-pixel-wide
    panorama per view would cost more than the resizing itself).
    """
    img = Image.fromarray(frame)
    return [
        np.asarray(img.resize((size, size), Image.Resampling.BILINEAR, box=box.ltrb))
        for box in boxes
    ]


def _ours(target: str, metadata_name: str, ids: Sequence[tuple[int, int]], size: int) -> bool:
    """Whether ``target`` is a file this extraction writes: its metadata, or a clip of one of
    its views at its size. Only those partials are a killed run's to sweep."""
    if target == metadata_name:
        return True
    if not target.endswith(".mp4"):
        return False
    try:
        name = ClipName.parse(target)
    except ClipNameError:
        return False
    return (name.camera_id, name.view_id) in ids and name.width == name.height == size


def _done(clip: Path) -> bool:
    """Whether a clip is already written, so a resumed run skips it: a file with bytes in
    it. An empty one (a disk that filled, a file system that lost an unsynced rename's data)
    is written again; clips are not decoded here, which would cost a resume its speed."""
    try:
        return clip.stat().st_size > 0
    except OSError:
        return False


def _existing(path: Path) -> list[Clip]:
    return read_metadata(path) if path.exists() else []


def check_square(views: Mapping[str, Box]) -> None:
    """Refuse a view whose box is not square (:func:`~smokewatch.clips.views.square_problem`):
    its clips would be stretched to ``size`` x ``size`` without a word. Views read from a
    file are checked there; this catches boxes built in code."""
    for key, box in views.items():
        if not isinstance(box, Box):
            continue  # no box at all: check_boxes names that
        if (problem := square_problem(box)) is not None:
            raise ViewsError(f"view {key}: {problem}")


@contextmanager
def _only_writer(out: Path) -> Iterator[None]:
    """Hold an exclusive lock on the folder ``out`` while extracting into it, or refuse.

    Two runs into one folder both number their clips from the same metadata and each
    sweeps the other's half-written files as a killed run's. The lock is ``flock`` on the
    folder itself (no lock file to leave behind); the kernel drops it when the process ends,
    however it ends. A filesystem that cannot lock a folder (some NFS mounts) gets none.
    """
    fd = os.open(out, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SmokewatchError(
                f"{out}: another `clips extract` is writing there; wait for it to finish, or "
                "give another --out"
            ) from None
        except OSError:
            pass  # no locks on this filesystem: as before, one run at a time is up to you
        yield
    finally:
        os.close(fd)


def extract_clips(
    timelapse: str | os.PathLike[str],
    views: Mapping[str, Box],
    out_dir: str | os.PathLike[str],
    *,
    start_time: float | None = None,
    seconds_per_frame: float = 5.0,
    frame_times: FrameTimes | str | os.PathLike[str] | None = None,
    max_gap: float = DEFAULT_GAP_SECONDS,
    stride: int | None = None,
    daylight: Daylight | None = None,
    frames_per_clip: int = 36,
    size: int = 180,
    fps: int = 12,
    crf: int = 23,
    url_root: str = LOCAL_URL_ROOT,
    metadata_name: str = "metadata.json",
    on_frame: Callable[[int], None] | None = None,
) -> ExtractReport:
    """Write one clip per view per daytime window of ``timelapse`` into ``out_dir``.

    Frame times: either ``frame_times`` (a ``frames.json`` sidecar, a file of that format, or
    :class:`~smokewatch.core.frame_times.FrameTimes`), frame ``i`` taken at ``times[i]``; or
    ``start_time``, the epoch second of the first frame, frame ``i`` taken at
    ``start_time + i * seconds_per_frame`` (RISE's timelapse: about 5 s per frame, so a
    36-frame clip spans 175 s). A clip's name and metadata carry the times of its first and
    last frames. Windows start every ``stride`` frames (default ``frames_per_clip``: back to
    back, no overlap) and never span night, midnight, or (with frame times) a step over
    ``max_gap`` seconds: windows begin again after such a gap, and the report lists it with
    the windows it cut (:class:`GapReport`). The frame times must count the timelapse's
    frames, else :class:`~smokewatch.core.frame_times.FrameTimesError` before anything is
    written.
    ``daylight`` (default 6:00-20:00 US/Eastern) also gives the time zone of the date in clip
    names. ``on_frame(i)`` is called after each decoded frame (progress bars). New records
    get ``url_root`` (default :data:`LOCAL_URL_ROOT`: the clips are local files, served once
    ``clips import`` has copied them into the service's store) and RISE's ``url_part``.

    Bad views (a box outside the panorama, or not square) raise :class:`ViewsError` before
    anything is written; a corrupt timelapse raises :class:`VideoError` (clips made so far
    are kept and listed in the metadata). One run at a time writes into ``out_dir``: another
    run's lock on it is a :class:`~smokewatch.errors.SmokewatchError`.
    """
    if not views:
        raise ViewsError("no camera views to extract")
    if frames_per_clip < 1:
        raise ValueError(f"frames_per_clip must be positive, got {frames_per_clip}")
    if seconds_per_frame <= 0:
        raise ValueError(f"seconds_per_frame must be positive, got {seconds_per_frame}")
    if (start_time is None) == (frame_times is None):
        raise ValueError("give the frame times as start_time (+ seconds_per_frame) or frame_times")
    if not max_gap > 0:
        raise ValueError(f"max_gap must be positive, got {max_gap}")
    step = frames_per_clip if stride is None else stride
    if step < 1:
        raise ValueError(f"stride must be positive, got {step}")
    if size % 2:
        raise ValueError(f"clip size must be even for H.264, got {size}")
    check_square(views)
    from smokewatch.video import write_clip

    rule = daylight if daylight is not None else Daylight()
    source = Path(timelapse)
    times: tuple[float, ...] | None = None
    gaps: list[Gap] = []
    if frame_times is not None:
        times_name = "the frame times"
        if not isinstance(frame_times, FrameTimes):
            times_name = str(frame_times)
            frame_times = read_frame_times(frame_times)
        times = frame_times.times
        frames = count_frames(source)
        if frames and frames != len(times):
            raise FrameTimesError(
                f"{times_name}: {len(times)} frame times, but {source} has {frames} frames"
            )
        # an infinite limit has no gaps (FrameTimes takes finite limits only)
        gaps = frame_times.gaps(max_gap) if math.isfinite(max_gap) else []
    out = Path(out_dir)
    keys = list(views)
    ids = [split_view_key(k) for k in keys]
    boxes = [views[k] for k in keys]
    out.mkdir(parents=True, exist_ok=True)
    with _only_writer(out):  # until the metadata is written
        metadata_path = out / metadata_name
        previous = _existing(metadata_path)
        by_name = {c.file_name: c for c in previous}
        next_id = max((c.id for c in previous), default=0) + 1
        new_records: list[Clip] = []
        report = ExtractReport(metadata_path=metadata_path)

        def frame_time(i: int) -> float:
            if times is not None:
                if i >= len(times):
                    raise FrameTimesError(
                        f"{times_name}: {len(times)} frame times, but {source} has more frames"
                    )
                return times[i]
            assert start_time is not None
            return start_time + i * seconds_per_frame

        def emit(window: Window) -> None:
            nonlocal next_id
            first = window.first
            t0 = round(window.start)
            t1 = round(window.end)
            day = rule.local_date(window.start)
            for v, ((cam, view), box) in enumerate(zip(ids, boxes, strict=True)):
                name = ClipName(cam, view, day, box, size, size, first, t0, t1)
                file_name = name.format()
                path = out / f"{file_name}.mp4"
                if _done(path):
                    report.skipped.append(path)
                else:
                    write_clip(window.view(v), path, fps=fps, crf=crf)
                    report.written.append(path)
                clip = by_name.get(file_name)
                if clip is None:
                    clip = Clip(
                        id=next_id,
                        camera_id=cam,
                        view_id=view,
                        label_state=-1,
                        label_state_admin=-1,
                        start_time=t0,
                        file_name=file_name,
                        url_root=url_root,
                        url_part=url_part_for(name),
                    )
                    next_id += 1
                    by_name[file_name] = clip
                    new_records.append(clip)
                report.clips.append(clip)
            report.windows += 1

        cutter = WindowCutter(
            source,
            views,
            length=frames_per_clip,
            step=step,
            daylight=rule,
            time_of=frame_time,
            crop=lambda frame: crop_views(frame, boxes, size),
            gaps=gaps,
        )
        # clips and metadata a killed run of ours left half-written; not another job's
        # temporary files (a `timelapse build` writing its day into the same folder)
        remove_partials(out, lambda target: _ours(target, metadata_name, ids, size))
        try:
            for i, frame in enumerate(iter_timelapse(source)):
                report.frames_read += 1
                window = cutter.feed(frame)
                if window is not None:
                    emit(window)
                if on_frame is not None:
                    on_frame(i)
        except BaseException:
            if new_records:  # keep the clips made so far findable
                write_metadata([*previous, *new_records], metadata_path)
            raise
        report.gaps = cutter.gaps
        if report.frames_read == 0:
            raise VideoError(f"{source}: no frames")
        if times is not None and report.frames_read != len(times):
            if new_records:
                write_metadata([*previous, *new_records], metadata_path)
            raise FrameTimesError(
                f"{times_name}: {len(times)} frame times, but {source} has "
                f"{report.frames_read} frames"
            )
        if new_records or not metadata_path.exists():
            write_metadata([*previous, *new_records], metadata_path)
        return report
