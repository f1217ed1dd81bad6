"""A synthetic camera day with a hole in it, written the way the camera pipeline writes it.

Photos every ~10 s with a few seconds of jitter, and one 20-minute gap (the camera rebooted);
the panoramas go through :class:`~smokewatch.camera.timelapse.TimelapseWriter`, so the
timelapse is a real H.264 video with its ``frames.json`` sidecar. The clips and detection
tests cut it and check that times come from the photos and no window spans the gap.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from smokewatch.camera.timelapse import TimelapseWriter

#: 2024-06-11 09:00 in Pittsburgh: the whole day is daytime
DAY_START = datetime(2024, 6, 11, 9, 0, tzinfo=ZoneInfo("US/Eastern")).timestamp()
GAP_SECONDS = 20 * 60


def photo_times(frames: int, gap_after: int, *, seed: int = 3) -> list[float]:
    """Epoch times: ~10 s apart (jitter of up to +-2 s), plus 20 minutes after ``gap_after``."""
    rng = np.random.default_rng(seed)
    jitter = rng.uniform(-2.0, 2.0, frames)
    return [
        round(DAY_START + 10 * i + float(jitter[i]) + (GAP_SECONDS if i > gap_after else 0), 3)
        for i in range(frames)
    ]


def write_day(path: Path, panoramas: np.ndarray, times: list[float]) -> Path:
    """The panoramas as a timelapse through the writer; returns the video's path."""
    with TimelapseWriter(path) as out:
        for frame, t in zip(panoramas, times, strict=True):
            out.append(frame, t)
    return path
