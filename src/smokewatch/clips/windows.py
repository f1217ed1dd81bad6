"""Cut a panorama timelapse into fixed-length windows of daytime frames: the one frame loop.

``clips extract`` (clips to label) and ``smokewatch detect`` (windows to score) read a
timelapse the same way, and must: the windows a model scores follow the rules of the clips it
learnt from. The rules live here, once, so the two cannot drift apart:

* the first frame's size fixes the panorama (every view's box must lie inside it) and a later
  frame of another size is an error;
* a window is ``length`` consecutive daytime frames of one local date; a new window begins
  every ``step`` frames (``step < length`` overlaps them);
* a window never spans the night, local midnight, a gap in the frame times (a step longer
  than the caller's limit, :mod:`smokewatch.core.frame_times`) or frames that could not be
  decoded: the buffer starts again after each. The frames between two such breaks are a
  *stretch*, numbered from 0; each window says which one it is from.
* with ``tails`` (``smokewatch detect``), a stretch whose last frames no window reached
  (windows begin every ``step`` frames, so up to ``step - 1`` frames are left at its end)
  gets one more window: its last ``length`` frames, so a plume at the end of the day is
  scored. ``clips extract`` cuts clips on the step grid only.

Only the crops of the last ``length`` daytime frames are kept, never a panorama. What the
rules cost is recorded for the callers' reports: for each gap the windows it cut and the
frames before it that are in no window (:class:`GapReport`), the night frames, and the
daytime frames that ended a stretch in no window (``uncovered``: a stretch shorter than a
window, or without ``tails`` its last frames).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from itertools import pairwise
from pathlib import Path

import numpy as np

from smokewatch.clips.daylight import Daylight
from smokewatch.core.clip import Box
from smokewatch.core.frame_times import Gap
from smokewatch.errors import VideoError, ViewsError

__all__ = ["GapReport", "Window", "WindowCutter", "check_boxes", "count_windows"]


def check_boxes(views: Mapping[str, Box], width: int, height: int, source: Path) -> None:
    """Every view's box inside the ``width`` x ``height`` panorama, else a :class:`ViewsError`."""
    for key, box in views.items():
        if not isinstance(box, Box):
            raise ViewsError(f"view {key}: no box (got {box!r})")
        if box.right > width or box.bottom > height:
            raise ViewsError(
                f"view {key}: box {list(box.ltrb)} falls outside the {width}x{height} "
                f"panorama of {source}"
            )


@dataclass(frozen=True, slots=True)
class GapReport:
    """A gap in the frame times that no window spans: ``windows`` windows had started before
    it (they would have shown the jump as motion) and were not made; the ``frames`` frames
    just before it are in no window."""

    gap: Gap
    windows: int
    frames: int


@dataclass(frozen=True, slots=True)
class Window:
    """Frames ``first..last`` (inclusive), taken from ``start`` to ``end`` (epoch seconds);
    ``crops[k]`` holds frame ``first + k``'s crop of every view, in the views' order.
    ``stretch``: the number of the unbroken stretch of daytime frames it is cut from."""

    first: int
    last: int
    start: float
    end: float
    crops: tuple[Sequence[np.ndarray], ...]
    stretch: int = 0

    def view(self, v: int) -> np.ndarray:
        """View ``v``'s frames as one array: (frames, height, width, channels)."""
        return np.stack([frame[v] for frame in self.crops])


def count_windows(
    frames: int, gaps_after: Sequence[int], *, length: int, step: int, closed: bool
) -> int:
    """How many windows :class:`WindowCutter` with ``tails`` makes of ``frames`` daytime
    frames of one day with gaps after the frames ``gaps_after``: per unbroken stretch, the
    step grid from its first frame and, once the stretch has ended (a gap follows, or the day
    is ``closed``: ``finish``), its tail (the window ending on its last frame) when the grid
    left that frame out. ``watch status`` compares it with what the jobs scored, so it is
    counted from the rule, not by running the cutter (a test keeps the two equal)."""
    bounds = [-1, *sorted(gaps_after), frames - 1]
    total = 0
    for k, (before, last) in enumerate(pairwise(bounds)):
        size = last - before
        if size < length:
            continue
        ended = k < len(bounds) - 2 or closed
        total += (size - length) // step + 1 + int(ended and (size - length) % step != 0)
    return total


class WindowCutter:
    """Feed it a timelapse's frames in order; it says when a window is complete.

    ``feed(frame)`` for each decoded frame returns the :class:`Window` that frame completes,
    if any; ``lose(count)`` stands for frames that could not be decoded. Frame numbers count
    both. With ``tails``, a frame that ends a stretch (and ``lose``, and ``finish()`` after
    the last frame) may also complete the stretch's tail window, which ``take_tail()`` hands
    over (call it after each ``feed``/``lose`` and after ``finish``: it comes before the
    window ``feed`` returned). ``time_of(i)`` is frame ``i``'s epoch time, ``gaps`` the
    steps in the frame times over the caller's limit (none for evenly spaced frames),
    ``crop(frame)`` the crops of every view a daytime frame is kept as. ``views`` and
    ``source`` are for checking the boxes against the first frame and for error messages.

    After (or during) the run: ``frames`` (fed so far), ``gaps`` (a :class:`GapReport` per
    gap met), ``night`` (inclusive ranges of frames outside daytime) and ``uncovered``
    ((first, last, why) of the daytime frames at the end of a stretch ended by night,
    midnight, lost frames or the end that no window covers; before a gap the
    :class:`GapReport` counts them).
    """

    def __init__(
        self,
        source: Path,
        views: Mapping[str, Box],
        *,
        length: int,
        step: int,
        daylight: Daylight,
        time_of: Callable[[int], float],
        crop: Callable[[np.ndarray], Sequence[np.ndarray]],
        gaps: Iterable[Gap] = (),
        tails: bool = False,
    ) -> None:
        if length < 1 or step < 1:
            raise ValueError(f"window length and step must be positive, got {length}, {step}")
        self.source = source
        self.views = views
        self.length = length
        self.step = step
        self.daylight = daylight
        self.time_of = time_of
        self.crop = crop
        self._gap_before = {g.after_frame + 1: g for g in gaps}
        self.frames = 0
        self.gaps: list[GapReport] = []
        self.night: list[tuple[int, int]] = []
        self.uncovered: list[tuple[int, int, str]] = []
        self.tails = tails
        self._tail: Window | None = None  # a tail window not taken yet
        self._stretch = -1  # the number of the stretch being buffered
        self._buffer: deque[tuple[int, float, Sequence[np.ndarray]]] = deque(maxlen=length)
        self._next_start: int | None = None  # the first frame of the next window
        self._day: date | None = None  # the local date of the buffered frames
        self._covered = -1  # the last frame of the last window made
        self._shape: tuple[int, ...] | None = None

    def _reset(self) -> None:
        self._buffer.clear()
        self._next_start = None

    def _window(self) -> Window:
        (first, start, _), (last, end, _) = self._buffer[0], self._buffer[-1]
        crops = tuple(crops for _, _, crops in self._buffer)
        return Window(first, last, start, end, crops, self._stretch)

    def _close(self, why: str | None) -> None:
        """The stretch ends: its tail window (with ``tails``, when the step grid left its last
        frames out and it holds a window's frames), or (``why``: what ended it, None for a
        gap, whose report counts them) its frames in no window recorded."""
        if not self._buffer or self._buffer[-1][0] <= self._covered:
            return
        if self.tails and len(self._buffer) == self.length:
            self._tail = self._window()
            self._covered = self._tail.last
        elif why is not None:
            first = max(self._covered + 1, self._buffer[0][0])
            self.uncovered.append((first, self._buffer[-1][0], why))

    def take_tail(self) -> Window | None:
        """The tail window the last ``feed``/``lose``/``finish`` completed, once."""
        tail, self._tail = self._tail, None
        return tail

    def finish(self) -> None:
        """After the last frame: the last stretch ends (its tail, if any, to ``take_tail``)."""
        self._close("the end of the video")
        self._reset()

    def lose(self, count: int) -> tuple[int, int]:
        """``count`` frames that could not be decoded: no window spans them. Returns their
        numbers (first, last)."""
        first = self.frames
        self._close("frames that could not be decoded")
        self._reset()
        self.frames += count
        return first, self.frames - 1

    def feed(self, frame: np.ndarray) -> Window | None:
        """The next frame; the window it completes, if any.

        Raises :class:`ViewsError` (on the first frame) for a box outside the panorama and
        :class:`VideoError` for a frame whose size is not the first one's.
        """
        i = self.frames
        if self._shape is None:
            self._shape = frame.shape
            check_boxes(self.views, frame.shape[1], frame.shape[0], self.source)
        elif frame.shape != self._shape:
            raise VideoError(
                f"{self.source}: frame {i} is {frame.shape[1]}x{frame.shape[0]}, "
                f"the first was {self._shape[1]}x{self._shape[0]}"
            )
        t = self.time_of(i)
        day = self.daylight.local_date(t)
        daytime = self.daylight.contains(t)
        gap = self._gap_before.get(i)
        if gap is not None:  # a window never spans a gap in the photos
            nxt, buffer = self._next_start, self._buffer
            begun = 0 if nxt is None else len(range(nxt, i, self.step))
            self._close(None)
            unused = 0 if not buffer else i - max(self._covered + 1, buffer[0][0])
            self.gaps.append(GapReport(gap, begun, unused))
            self._reset()
        if not daytime or day != self._day:  # a window never spans night or midnight
            self._close("night" if not daytime else "midnight")
            self._reset()
            self._day = day
        self.frames = i + 1
        if not daytime:
            if self.night and self.night[-1][1] == i - 1:
                self.night[-1] = (self.night[-1][0], i)
            else:
                self.night.append((i, i))
            return None
        if self._next_start is None:
            self._next_start = i
            self._stretch += 1
        self._buffer.append((i, t, self.crop(frame)))
        if i - self.length + 1 != self._next_start:
            return None
        self._next_start += self.step
        self._covered = i
        return self._window()
