"""The window cutter that ``clips extract`` and ``smokewatch detect`` share, on tiny frames.

Frame ``i`` is a 4 x 4 panorama filled with ``i``; its two "views" are its top-left and
bottom-right 2 x 2 quarters (no resizing), so a window's pixels say which frames it holds.
Daytime is 6:00-20:00 UTC unless a test says otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from smokewatch.clips.daylight import Daylight
from smokewatch.clips.windows import GapReport, Window, WindowCutter, count_windows
from smokewatch.core.clip import Box
from smokewatch.core.frame_times import FrameTimes, Gap
from smokewatch.errors import VideoError, ViewsError

VIEWS = {"1-0": Box(0, 0, 2, 2), "1-1": Box(2, 2, 4, 4)}
SOURCE = Path("day.mp4")
DAY = Daylight(timezone="UTC", start_hour=6, end_hour=20)


def at(hour: int, minute: int = 0, second: int = 0) -> float:
    """Epoch seconds of 2024-06-11 ``hour:minute:second`` UTC."""
    return datetime(2024, 6, 11, hour, minute, second, tzinfo=UTC).timestamp()


def frame(i: int, shape: tuple[int, int] = (4, 4)) -> np.ndarray:
    return np.full((*shape, 3), i, dtype=np.uint8)


def quarters(f: np.ndarray) -> list[np.ndarray]:
    return [f[:2, :2], f[2:, 2:]]


def cutter(
    times: Sequence[float],
    *,
    length: int,
    step: int,
    daylight: Daylight = DAY,
    max_gap: float | None = None,
) -> WindowCutter:
    gaps = FrameTimes(tuple(times)).gaps(max_gap) if max_gap is not None else ()
    return WindowCutter(
        SOURCE,
        VIEWS,
        length=length,
        step=step,
        daylight=daylight,
        time_of=lambda i: times[i],
        crop=quarters,
        gaps=gaps,
    )


def feed_all(cut: WindowCutter, n: int) -> list[Window]:
    return [w for w in (cut.feed(frame(cut.frames)) for _ in range(n)) if w is not None]


def spans(windows: list[Window]) -> list[tuple[int, int]]:
    return [(w.first, w.last) for w in windows]


def test_windows_overlap_when_the_step_is_shorter_than_the_length() -> None:
    times = [at(12) + 10 * i for i in range(8)]
    cut = cutter(times, length=3, step=2)
    windows = feed_all(cut, 8)
    assert spans(windows) == [(0, 2), (2, 4), (4, 6)]
    second = windows[1]
    assert (second.start, second.end) == (times[2], times[4])
    for v in range(len(VIEWS)):
        stacked = second.view(v)
        assert stacked.shape == (3, 2, 2, 3)
        assert stacked[:, 0, 0, 0].tolist() == [2, 3, 4]
    assert (cut.frames, cut.gaps, cut.night) == (8, [], [])


def test_no_window_spans_the_night_and_night_frames_are_ranges() -> None:
    # 19:59:40, 19:59:50 are day; 20:00:00 (the end is exclusive) to 20:00:30 are night
    times = [at(19, 59, 40) + 10 * i for i in range(6)]
    cut = cutter(times, length=2, step=1)
    assert spans(feed_all(cut, 6)) == [(0, 1)]
    assert cut.night == [(2, 5)]


def test_night_ranges_do_not_join_across_lost_frames() -> None:
    times = [at(21) + 10 * i for i in range(5)]
    cut = cutter(times, length=2, step=1)
    feed_all(cut, 2)
    assert cut.lose(1) == (2, 2)
    feed_all(cut, 2)
    assert cut.night == [(0, 1), (3, 4)]


def test_no_window_spans_local_midnight() -> None:
    all_day = Daylight(timezone="UTC", start_hour=0, end_hour=24)
    times = [at(23, 59, 40) + 10 * i for i in range(5)]  # frame 2 is 00:00:00 the next day
    cut = cutter(times, length=2, step=1, daylight=all_day)
    windows = feed_all(cut, 5)
    assert spans(windows) == [(0, 1), (2, 3), (3, 4)]
    assert cut.night == []


def test_a_gap_cuts_the_windows_begun_and_reports_the_frames_in_none() -> None:
    times = [at(12) + 10 * i for i in range(7)] + [at(12, 30) + 10 * i for i in range(4)]
    cut = cutter(times, length=4, step=2, max_gap=60)
    windows = feed_all(cut, 11)
    # 0-3 and 2-5 are made; 4-7 and 6-9 would span the gap after frame 6; frame 6 is in none
    assert spans(windows) == [(0, 3), (2, 5), (7, 10)]
    assert cut.gaps == [GapReport(Gap(6, times[6], times[7]), windows=2, frames=1)]


def test_a_gap_right_after_a_window_leaves_no_frame_out() -> None:
    times = [at(12) + 10 * i for i in range(4)] + [at(13) + 10 * i for i in range(2)]
    cut = cutter(times, length=2, step=2, max_gap=60)
    assert spans(feed_all(cut, 6)) == [(0, 1), (2, 3), (4, 5)]
    assert cut.gaps == [GapReport(Gap(3, times[3], times[4]), windows=0, frames=0)]


def test_lost_frames_start_the_windows_again_and_count_as_frames() -> None:
    times = [at(12) + 10 * i for i in range(7)]
    cut = cutter(times, length=2, step=1)
    assert spans(feed_all(cut, 2)) == [(0, 1)]
    assert cut.lose(2) == (2, 3)
    assert cut.feed(frame(4)) is None  # frame 4 alone: 3 was lost
    window = cut.feed(frame(5))
    assert window is not None and (window.first, window.last) == (4, 5)
    assert window.view(1)[:, 0, 0, 0].tolist() == [4, 5]
    assert cut.frames == 6


def test_a_frame_of_another_size_is_refused() -> None:
    cut = cutter([at(12) + 10 * i for i in range(3)], length=2, step=1)
    feed_all(cut, 2)
    with pytest.raises(VideoError) as err:
        cut.feed(frame(2, shape=(4, 6)))
    assert str(err.value) == "day.mp4: frame 2 is 6x4, the first was 4x4"


def test_a_box_outside_the_first_frame_is_refused() -> None:
    cut = cutter([at(12)], length=1, step=1)
    with pytest.raises(ViewsError, match=r"view 1-1: box \[2, 2, 4, 4\] falls outside the 3x3"):
        cut.feed(frame(0, shape=(3, 3)))


@pytest.mark.parametrize(("length", "step"), [(0, 1), (2, 0)])
def test_windows_need_a_positive_length_and_step(length: int, step: int) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        cutter([at(12)], length=length, step=step)


@pytest.mark.parametrize(
    ("frames", "gaps", "length", "step", "closed", "windows"),
    [
        (35, [], 36, 18, True, 0),  # too few frames for a window
        (36, [], 36, 18, True, 1),  # the grid's window ends on the last frame: no tail
        (60, [], 36, 18, False, 2),  # 0-35, 18-53; the tail 24-59 waits for the day's end
        (60, [], 36, 18, True, 3),
        (80, [39], 36, 18, False, 3),  # 0-35, the tail 4-39 before the gap, 40-75
        (80, [39], 36, 18, True, 4),  # and the day's tail 44-79
        (8, [6], 6, 3, True, 2),  # 0-5 and the tail 1-6, as `detect` scores them
    ],
)
def test_windows_are_counted_by_the_cutters_rule(
    frames: int, gaps: list[int], length: int, step: int, closed: bool, windows: int
) -> None:
    assert count_windows(frames, gaps, length=length, step=step, closed=closed) == windows


@pytest.mark.parametrize("seed", range(4))
def test_the_count_is_what_the_cutter_makes(seed: int) -> None:
    """``count_windows`` (``watch status``) and the cutter (``detect``, ``watch``) agree on
    random days: gaps anywhere, any step up to the length, the day over or not."""
    rng = np.random.default_rng(seed)
    for _ in range(150):
        length = int(rng.integers(2, 9))
        step = int(rng.integers(1, length + 1))
        n = int(rng.integers(0, 40))
        # a gap after frame g < n - 1 (one after the last frame is no gap)
        gaps = sorted(int(g) for g in rng.choice(n, size=min(3, n), replace=False) if g < n - 1)
        times: list[float] = []
        t = at(7)
        for i in range(n):
            times.append(t)
            t += 600.0 if i in gaps else 10.0
        cut = WindowCutter(
            SOURCE,
            VIEWS,
            length=length,
            step=step,
            daylight=DAY,
            time_of=times.__getitem__,
            crop=quarters,
            gaps=FrameTimes(tuple(times)).gaps(60.0) if n > 1 else (),
            tails=True,
        )
        made = 0
        for i in range(n):
            made += cut.feed(frame(i)) is not None
            made += cut.take_tail() is not None
        case = (n, gaps, length, step)
        assert count_windows(n, gaps, length=length, step=step, closed=False) == made, case
        cut.finish()
        made += cut.take_tail() is not None
        assert count_windows(n, gaps, length=length, step=step, closed=True) == made, case
