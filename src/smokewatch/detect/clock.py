"""When each timelapse frame was taken: a start and a fixed interval, or one time per frame.

A stitched timelapse (``camera/`` writes a ``frames.json`` sidecar beside it) knows each
frame's real time; a timelapse from elsewhere is described as ``clips extract`` describes it,
by its first frame's time and the seconds between frames.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smokewatch.core.files import read_user_json
from smokewatch.detect.detector import DetectError

__all__ = ["FrameClock", "read_frame_times"]


@dataclass(frozen=True, slots=True)
class FrameClock:
    """Frame ``i`` was taken at ``times[i]``, or at ``start_time + i * seconds_per_frame``."""

    start_time: float = 0.0
    seconds_per_frame: float = 5.0
    times: tuple[float, ...] | None = None
    source: str | None = None  #: the frame-times file, when there is one

    def __post_init__(self) -> None:
        if self.times is None and not self.seconds_per_frame > 0:
            raise DetectError(f"seconds per frame must be positive, got {self.seconds_per_frame}")

    @property
    def frames(self) -> int | None:
        """How many frames the clock knows (``None``: any number)."""
        return None if self.times is None else len(self.times)

    def __call__(self, frame: int) -> float:
        if self.times is not None:
            return self.times[frame]
        return self.start_time + frame * self.seconds_per_frame

    def as_dict(self) -> dict[str, Any]:
        """The clock as written in ``detections.json`` (a digest stands for a list of times)."""
        if self.times is None:
            return {"start_time": self.start_time, "seconds_per_frame": self.seconds_per_frame}
        digest = hashlib.sha256(repr(self.times).encode()).hexdigest()[:16]
        return {"frame_times": self.source, "frames": len(self.times), "sha256": digest}


def read_frame_times(path: str | os.PathLike[str]) -> FrameClock:
    """A clock from a JSON file of epoch seconds, one per frame, in frame order.

    Either a list (``[1528711020, 1528711025.2, ...]``) or an object with a ``frames`` list
    (the ``frames.json`` sidecar a stitched timelapse has; its other keys are not needed
    here). Times must be finite and never go back; errors name the file and the entry.
    """
    p = Path(path)
    data = read_user_json(p, what="frame-times file", error=DetectError)
    times = data.get("frames") if isinstance(data, dict) else data
    if not isinstance(times, list):
        raise DetectError(
            f"{p}: expected a list of epoch seconds, or an object with a 'frames' list"
        )
    if not times:
        raise DetectError(f"{p}: no frame times")
    out: list[float] = []
    for i, value in enumerate(times):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise DetectError(f"{p}: frames[{i}]: expected epoch seconds, got {value!r}")
        t = float(value)
        if not math.isfinite(t):
            raise DetectError(f"{p}: frames[{i}]: expected a finite time, got {value!r}")
        if out and t < out[-1]:
            raise DetectError(f"{p}: frames[{i}]: {t} is before the frame before it ({out[-1]})")
        out.append(t)
    return FrameClock(times=tuple(out), source=str(p))
