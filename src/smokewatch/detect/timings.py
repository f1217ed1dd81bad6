"""Where detection's time goes: an optional accumulator of seconds per stage.

Detection times itself only when given a :class:`Timings` (``bench/detect.py``, the Ray engine
when asked): ``detect_timelapse(..., timings=)`` times each frame's decode and crop and wraps
the :class:`Detector` with :func:`timed_detector` (model, Grad-CAM, GIF calls). One
``perf_counter`` pair per frame and per call: negligible next to decoding a frame.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ParamSpec, TypeVar

import numpy as np

from smokewatch.detect.detector import Detector

__all__ = ["Timings", "timed_detector"]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


@dataclass
class Timings:
    """Seconds and calls per stage (``model``, ``gradcam``, ``gif``, ...), summed."""

    seconds: dict[str, float] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)

    @contextmanager
    def measure(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(stage, time.perf_counter() - start)

    def add(self, stage: str, seconds: float, calls: int = 1) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds
        self.calls[stage] = self.calls.get(stage, 0) + calls

    def timed(self, stage: str, func: Callable[P, R]) -> Callable[P, R]:
        """``func`` with each call's seconds added to ``stage``."""

        def call(*args: P.args, **kwargs: P.kwargs) -> R:
            with self.measure(stage):
                return func(*args, **kwargs)

        return call

    def timed_iter(self, stage: str, func: Callable[P, Iterable[T]]) -> Callable[P, Iterator[T]]:
        """``func``'s iterable with the seconds of each step (``next``) added to ``stage``."""

        def steps(*args: P.args, **kwargs: P.kwargs) -> Iterator[T]:
            items = iter(func(*args, **kwargs))
            while True:
                start = time.perf_counter()
                try:
                    item = next(items)
                except StopIteration:
                    return
                finally:
                    self.add(stage, time.perf_counter() - start)
                yield item

        return steps

    def merge(self, other: Timings) -> None:
        """Add another accumulator's figures (a worker's) to these."""
        for stage, seconds in other.seconds.items():
            self.add(stage, seconds, other.calls.get(stage, 0))

    def shares(self, total: float) -> Mapping[str, float]:
        """Each stage's share of ``total`` seconds (a run's wall time)."""
        return {stage: s / total if total > 0 else 0.0 for stage, s in self.seconds.items()}


def timed_detector(detector: Detector, timings: Timings) -> Detector:
    """``detector`` with its model, Grad-CAM and GIF calls timed into ``timings``."""
    scorer, cam, write_gif = detector.scorer, detector.cam, detector.write_gif

    def timed_scorer(clips: np.ndarray) -> np.ndarray:
        with timings.measure("model"):
            return scorer(clips)

    timed = replace(detector, scorer=timed_scorer)
    if cam is not None:

        def timed_cam(clips: np.ndarray) -> np.ndarray:
            with timings.measure("gradcam"):
                return cam(clips)

        timed.cam = timed_cam
    if write_gif is not None:

        def timed_gif(frames: np.ndarray, volume: np.ndarray, path: Path, fps: int) -> None:
            with timings.measure("gif"):
                write_gif(frames, volume, path, fps)

        timed.write_gif = timed_gif
    return timed
