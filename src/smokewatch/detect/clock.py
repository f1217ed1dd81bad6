"""When each timelapse frame was taken: a start and a fixed interval, or one time per frame.

A stitched timelapse (``camera/`` writes a ``frames.json`` sidecar beside it) knows each
frame's real time; a timelapse from elsewhere is described as ``clips extract`` describes it,
by its first frame's time and the seconds between frames. The sidecar's format, its reader
and its gap rule live in :mod:`smokewatch.core.frame_times`; this module only turns them into
the clock a detection run reads, and its errors into :class:`DetectError`.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smokewatch.core.frame_times import DEFAULT_GAP_SECONDS, FrameTimes, FrameTimesError, Gap
from smokewatch.core.frame_times import read_frame_times as read_times
from smokewatch.detect.detector import DetectError

__all__ = ["FrameClock", "read_frame_times"]


@dataclass(frozen=True, slots=True)
class FrameClock:
    """Frame ``i`` was taken at ``times[i]``, or at ``start_time + i * seconds_per_frame``.

    With ``times``, ``max_gap`` (seconds) is the longest step a window may span: a window is
    never made across a longer one (a camera that was down for 20 minutes would otherwise
    show a jump as if it were motion). An evenly spaced clock has no gaps.
    """

    start_time: float = 0.0
    seconds_per_frame: float = 5.0
    times: tuple[float, ...] | None = None
    source: str | None = None  #: the frame-times file, when there is one
    max_gap: float | None = None

    def __post_init__(self) -> None:
        if self.times is None and not self.seconds_per_frame > 0:
            raise DetectError(f"seconds per frame must be positive, got {self.seconds_per_frame}")
        if self.times is not None:
            try:
                FrameTimes(self.times, self.max_gap)
            except (FrameTimesError, ValueError) as exc:
                raise DetectError(f"{self.source or 'frame times'}: {exc}") from None

    @classmethod
    def from_frame_times(
        cls,
        times: FrameTimes,
        *,
        source: str | None = None,
        max_gap: float | None = DEFAULT_GAP_SECONDS,
    ) -> FrameClock:
        """The clock of a sidecar's times, windows kept off steps over ``max_gap``."""
        return cls(times=times.times, source=source, max_gap=max_gap)

    @property
    def frames(self) -> int | None:
        """How many frames the clock knows (``None``: any number)."""
        return None if self.times is None else len(self.times)

    def __call__(self, frame: int) -> float:
        if self.times is not None:
            return self.times[frame]
        return self.start_time + frame * self.seconds_per_frame

    def gaps(self) -> list[Gap]:
        """Every step longer than ``max_gap`` (none without one, or without times)."""
        if self.times is None or self.max_gap is None:
            return []
        return FrameTimes(self.times).gaps(self.max_gap)

    def as_dict(self) -> dict[str, Any]:
        """The clock as written in ``detections.json`` (a digest stands for a list of times;
        with a gap limit, the limit and the gaps it finds)."""
        if self.times is None:
            return {"start_time": self.start_time, "seconds_per_frame": self.seconds_per_frame}
        digest = hashlib.sha256(repr(self.times).encode()).hexdigest()[:16]
        out: dict[str, Any] = {"frame_times": self.source, "frames": len(self.times)}
        out["sha256"] = digest
        if self.max_gap is not None:
            out["max_frame_gap"] = self.max_gap
            out["gaps"] = [g.as_dict() for g in self.gaps()]
        return out


def read_frame_times(
    path: str | os.PathLike[str], *, max_gap: float | None = DEFAULT_GAP_SECONDS
) -> FrameClock:
    """A clock from a JSON file of epoch seconds, one per frame, in frame order.

    Either a list (``[1528711020, 1528711025.2, ...]``) or an object with a ``frames`` list
    (the ``frames.json`` sidecar a stitched timelapse has; :mod:`smokewatch.core.frame_times`
    reads it). Times must be finite and strictly increase; errors name the file and the entry.
    ``max_gap``: windows never span a longer step (``None``: no limit).
    """
    p = Path(path)
    try:
        times = read_times(p)
    except FrameTimesError as exc:
        raise DetectError(str(exc)) from None
    return FrameClock.from_frame_times(times, source=str(p), max_gap=max_gap)
