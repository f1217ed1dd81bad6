"""A camera day's panoramas into one H.264 timelapse, with the true time of every frame.

RISE's timelapse plays at 12 fps whatever the camera's rhythm; a camera that takes a photo
about every 10 s, with gaps when the network drops, cannot be described by a start time and
an interval. So the writer keeps each frame's epoch and writes it into the sidecar
(``DAY.frames.json``, :mod:`smokewatch.core.frame_times`) that ``clips extract`` and
``smokewatch detect`` read: clip times and names then come from the photos, and no clip
spans a gap.

Frames are streamed into the encoder as they are appended (:class:`smokewatch.video.
VideoWriter`), never held: a day of 7000-pixel panoramas is a few hundred MB of video but tens
of GB of pixels. Both files appear only when the day is finished: the video from a temporary
file renamed into place, then the sidecar written atomically; after an error neither is
there.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

import numpy as np

from smokewatch.core.atomic import atomic_path, remove_partials
from smokewatch.core.frame_times import (
    DEFAULT_GAP_SECONDS,
    FrameTimes,
    FrameTimesError,
    Gap,
    check_gap_seconds,
    sidecar_for,
    write_frame_times,
)
from smokewatch.errors import SmokewatchError, VideoError
from smokewatch.video import VideoWriter

__all__ = ["TimelapseSummary", "TimelapseWriter", "build_timelapse"]

#: RISE's timelapse frame rate.
FPS = 12


class TimelapseWriter:
    """``with TimelapseWriter(path) as out: out.append(frame, epoch)`` for each panorama.

    ``frame``: uint8 ``(H, W, 3)`` RGB, every frame the first one's size (an odd height or
    width is padded by one repeated row/column: H.264 needs even ones). ``epoch``: when the
    photos were taken, strictly after the frame before. On a clean exit the video is moved
    into place at ``video_path`` and its sidecar (:func:`~smokewatch.core.frame_times.
    sidecar_for`) written beside it, its ``gaps`` those over ``gap_seconds``; on an
    exception neither file is there. A ``gap_seconds`` that is not a finite, positive number
    is a :class:`~smokewatch.core.frame_times.FrameTimesError` here, before any frame. One
    writer at a time per video: another one writing it (this process or another) is a
    :class:`~smokewatch.errors.SmokewatchError` at ``with``.
    """

    def __init__(
        self,
        video_path: str | os.PathLike[str],
        *,
        fps: float = FPS,
        gap_seconds: float = DEFAULT_GAP_SECONDS,
        crf: int = 23,
    ) -> None:
        self.video_path = Path(video_path)
        self.sidecar_path = sidecar_for(self.video_path)
        try:  # now, not when the sidecar is written after a whole day of encoding
            self.gap_seconds = check_gap_seconds(gap_seconds)
        except ValueError as exc:
            raise FrameTimesError(f"{self.video_path}: gap_seconds: {exc}") from None
        self._video = VideoWriter(self.video_path, fps=fps, crf=crf, pad_odd=True)
        self._times: list[float] = []
        self._lock: int | None = None

    @property
    def frames(self) -> int:
        """Frames appended so far."""
        return len(self._times)

    @property
    def times(self) -> tuple[float, ...]:
        """The epochs appended so far, one per frame."""
        return tuple(self._times)

    def __enter__(self) -> Self:
        self.video_path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = _lock_output(self.video_path)
        try:
            # only now, holding the day: another build's temporary files are not a leftover
            remove_partials(self.video_path.parent, {self.video_path.name, self.sidecar_path.name})
            self._video.open()
        except BaseException:
            self._unlock()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc is None:
                self.close()
            else:
                self._video.abort()
        finally:
            self._unlock()

    def _unlock(self) -> None:
        """Give the day back to other builds: the lock file goes (while still held, so no
        one can lock it in between), then the lock."""
        fd, self._lock = self._lock, None
        if fd is not None:
            with contextlib.suppress(OSError):
                _lock_file(self.video_path).unlink()
            os.close(fd)

    def append(self, frame: np.ndarray, epoch: float) -> None:
        """Encode ``frame``, taken at ``epoch`` (seconds since 1970, UTC)."""
        t = float(epoch)
        if not np.isfinite(t):
            raise FrameTimesError(
                f"{self.video_path}: frame {self.frames}: time {epoch!r} is not a finite epoch"
            )
        if self._times and t <= self._times[-1]:
            raise FrameTimesError(
                f"{self.video_path}: frame {self.frames}: time {t} is not after the frame "
                f"before it ({self._times[-1]}); frames must come in the order they were taken"
            )
        self._video.write(frame)
        self._times.append(t)

    def close(self) -> None:
        """Finish: the video into place, then its sidecar (``with`` calls it)."""
        placed = False
        try:
            with atomic_path(self.sidecar_path) as tmp:
                if not self._times:
                    raise VideoError(f"{self.video_path}: no frames to write")
                write_frame_times(tmp, self._times, gap_seconds=self.gap_seconds)
                # A rebuild's old sidecar goes first: killed between the two renames, the new
                # video must not be left paired with the old times (a later build would skip
                # the pair as done); a video without a sidecar is built again.
                self.sidecar_path.unlink(missing_ok=True)
                self._video.close()  # the video's rename; the sidecar's follows
                placed = True
        except BaseException:
            if placed:  # the video made it but its sidecar did not: its times would be lost
                self.video_path.unlink(missing_ok=True)
            else:
                self._video.abort()
            raise


def _lock_file(video_path: Path) -> Path:
    """The hidden file a build of ``video_path`` holds its lock on (frame readers, photo
    scans and fingerprints skip hidden files)."""
    return video_path.with_name(f".{video_path.name}.lock")


def _lock_output(video_path: Path) -> int | None:
    """Hold an exclusive ``flock`` on ``video_path``'s lock file, or refuse (as ``clips
    extract`` holds its folder): two builds of one day would each sweep the other's
    temporary video as a killed run's and fail, or rename over each other.

    The lock is per output (other days in the folder build at the same time) and on a file,
    as the video does not exist yet; the holder deletes the file when done, so a lock won
    on a file deleted meanwhile is dropped and taken again on the new one. The kernel drops
    the lock when the process ends, however it ends. A filesystem without locks gets none.
    """
    path = _lock_file(video_path)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise SmokewatchError(
                f"{video_path}: another `timelapse build` is writing this day; wait for it "
                "to finish, or give another --out"
            ) from None
        except OSError:
            os.close(fd)
            with contextlib.suppress(OSError):
                path.unlink()
            return None  # no locks on this filesystem: one build per day is up to you
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)  # the holder before us deleted it as we opened it: lock the new one


@dataclass(frozen=True, slots=True)
class TimelapseSummary:
    """What :func:`build_timelapse` wrote: the files, the frames, the night frames it left
    out, and the gaps over the writer's ``gap_seconds`` between the frames it wrote."""

    video_path: Path
    sidecar_path: Path
    frames_written: int
    night_frames: int
    gaps: tuple[Gap, ...]
    first_time: float
    last_time: float


def build_timelapse(
    frames: Iterable[tuple[float, np.ndarray]],
    video_path: str | os.PathLike[str],
    *,
    fps: float = FPS,
    gap_seconds: float = DEFAULT_GAP_SECONDS,
    is_daylight: Callable[[float], bool] | None = None,
    crf: int = 23,
) -> TimelapseSummary:
    """Write ``(epoch, panorama)`` pairs, in time order, as a timelapse and its sidecar.

    ``frames`` is consumed lazily (a generator that stitches one panorama at a time keeps
    memory flat). Frames for which ``is_daylight(epoch)`` is false are skipped and counted
    (``clips.daylight.Daylight.contains`` is the usual predicate; the command line builds it,
    this wing does not import ``clips``). No daytime frame at all is a
    :class:`~smokewatch.errors.VideoError` naming the video, and writes nothing.
    """
    night = 0
    with TimelapseWriter(video_path, fps=fps, gap_seconds=gap_seconds, crf=crf) as out:
        for epoch, frame in frames:
            if is_daylight is not None and not is_daylight(epoch):
                night += 1
                continue
            out.append(frame, epoch)
        if out.frames == 0:
            raise VideoError(
                f"{out.video_path}: no frames to write"
                + (f" ({night} frames outside daylight skipped)" if night else "")
            )
        times = FrameTimes(out.times, gap_seconds)
    return TimelapseSummary(
        video_path=out.video_path,
        sidecar_path=out.sidecar_path,
        frames_written=len(times),
        night_frames=night,
        gaps=tuple(times.gaps()),
        first_time=times.times[0],
        last_time=times.times[-1],
    )
