"""Where windows begin and end, and which windows an event may join: the tail window of each
stretch of daytime frames, events that never cross a stretch (midnight, another day of clips)
and never share frames.

The cutter tests use tiny frames (frame ``i`` is a 4 x 4 panorama filled with ``i``); the
others the synthetic camera day of ``detect_helpers`` and its real ``motion3d`` model, or a
stand-in scorer that calls a bright clip smoke.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from detect_helpers import (
    FRAMES,
    SECONDS_PER_FRAME,
    SIZE,
    SMOKY_VIEW,
    START,
    detector_for,
    panorama,
    write_timelapse,
    write_views,
)

from smokewatch.clips.daylight import Daylight
from smokewatch.clips.views import load_views
from smokewatch.clips.windows import Window as CutWindow
from smokewatch.clips.windows import WindowCutter
from smokewatch.core.clip import Box, ClipName
from smokewatch.core.detections import Window
from smokewatch.detect import DetectOptions, Detector, EventRule, FrameClock, detect_timelapse
from smokewatch.detect.clipsdir import detect_clips
from smokewatch.detect.rule import find_events
from smokewatch.video import write_clip

DAY = Daylight(timezone="UTC", start_hour=6, end_hour=20)


def at(hour: int, minute: int = 0) -> float:
    """Epoch seconds of 2024-06-11 ``hour:minute`` UTC."""
    return datetime(2024, 6, 11, hour, minute, tzinfo=UTC).timestamp()


def _cut(
    times: Sequence[float], lost: dict[int, int] | None = None
) -> tuple[list[CutWindow], WindowCutter]:
    """Every window (tails included, in the order a caller gets them) of frames at ``times``,
    and the cutter; ``lost``: frame number -> how many frames could not be decoded there."""
    cutter = WindowCutter(
        Path("day.mp4"),
        {"1-0": Box(0, 0, 2, 2)},
        length=4,
        step=3,
        daylight=DAY,
        time_of=lambda i: times[i],
        crop=lambda f: [f[:2, :2]],
        tails=True,
    )
    out: list[CutWindow] = []
    lost = lost or {}
    while cutter.frames < len(times):
        window = None
        if cutter.frames in lost:
            cutter.lose(lost[cutter.frames])
        else:
            window = cutter.feed(np.full((4, 4, 3), cutter.frames, np.uint8))
        out += [w for w in (cutter.take_tail(), window) if w is not None]
    cutter.finish()
    out += [w for w in (cutter.take_tail(),) if w is not None]
    return out, cutter


def test_each_stretch_ends_with_a_window_on_its_last_frame() -> None:
    # 12 daytime frames, windows of 4 every 3: 0-3, 3-6, 6-9, and 8-11 for the last frames
    windows, cutter = _cut([at(12) + 10 * i for i in range(12)])
    assert [(w.first, w.last) for w in windows] == [(0, 3), (3, 6), (6, 9), (8, 11)]
    assert windows[-1].view(0)[:, 0, 0, 0].tolist() == [8, 9, 10, 11]
    assert windows[-1].end == at(12) + 110
    assert cutter.uncovered == []
    # a stretch the grid ends exactly on gets no extra window
    windows, _ = _cut([at(12) + 10 * i for i in range(10)])
    assert [(w.first, w.last) for w in windows] == [(0, 3), (3, 6), (6, 9)]


def test_night_and_lost_frames_end_a_stretch_and_number_the_next() -> None:
    # frames 0-7 by day, 8-9 at night, 10-19 the next morning with 12-13 lost
    times = [at(19, 50) + 60 * i for i in range(8)] + [at(21), at(22)]
    times += [at(6) + 86400 + 60 * i for i in range(10)]
    windows, cutter = _cut(times, lost={12: 2})
    assert [(w.first, w.last, w.stretch) for w in windows] == [
        (0, 3, 0),
        (3, 6, 0),
        (4, 7, 0),  # the tail before the night
        (14, 17, 2),
        (16, 19, 2),  # the tail before the end
    ]
    # stretch 1 (frames 10-11, then lost frames) is too short for a window: it is said
    assert cutter.uncovered == [(10, 11, "frames that could not be decoded")]
    assert cutter.night == [(8, 9)]


@pytest.fixture(scope="module")
def late_plume(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A day whose plume rises in its last 40 frames (after the last window of the grid)."""
    folder = tmp_path_factory.mktemp("late")
    return write_timelapse(folder / "day.mp4", panorama(FRAMES, (110, FRAMES))), write_views(folder)


def test_a_plume_in_the_last_frames_of_the_day_is_in_its_event(
    late_plume: tuple[Path, Path], motion_model: Path, tmp_path: Path
) -> None:
    detector, _ = detector_for(motion_model)
    report = detect_timelapse(
        late_plume[0],
        load_views(late_plume[1]),
        tmp_path / "out",
        detector=detector,
        clock=FrameClock(START, SECONDS_PER_FRAME),
        options=DetectOptions(size=SIZE),
    )
    view = report.views[SMOKY_VIEW]
    assert (view.windows[-1].start_frame, view.windows[-1].end_frame) == (FRAMES - 36, FRAMES - 1)
    (event,) = view.events
    assert event.end_frame == FRAMES - 1  # up to the day's last frame, not the grid's 143
    assert event.end_time == START + SECONDS_PER_FRAME * (FRAMES - 1)
    assert view.skipped == ()


def test_an_event_never_runs_across_local_midnight(motion_model: Path, tmp_path: Path) -> None:
    """Daytime 0-24 h: frames and times follow each other over midnight, but the day ends."""
    zone = ZoneInfo("US/Eastern")
    midnight = datetime(2024, 6, 12, tzinfo=zone).timestamp()
    # midnight at frame 72, on the window grid; the plume from frame 50 to 110
    timelapse = write_timelapse(tmp_path / "day.mp4", panorama(FRAMES, (50, 110)))
    detector, _ = detector_for(motion_model)
    report = detect_timelapse(
        timelapse,
        load_views(write_views(tmp_path)),
        tmp_path / "out",
        detector=detector,
        clock=FrameClock(midnight - 72 * SECONDS_PER_FRAME, SECONDS_PER_FRAME),
        options=DetectOptions(
            size=SIZE, daylight=Daylight(timezone="US/Eastern", start_hour=0, end_hour=24)
        ),
    )
    view = report.views[SMOKY_VIEW]
    assert len(view.events) == 2
    for event in view.events:
        days = {datetime.fromtimestamp(t, zone).date() for t in (event.start_time, event.end_time)}
        assert len(days) == 1, event
    assert view.events[0].end_frame == 71 and view.events[1].start_frame == 72


def test_windows_of_two_stretches_never_join_even_when_they_follow_each_other() -> None:
    smoke = [Window(18 * k, 18 * k + 35, 90.0 * k, 90.0 * k + 175, 0.95, 0.6) for k in range(4)]
    assert len(find_events(smoke, EventRule())) == 1
    events = find_events(smoke, EventRule(), [0, 0, 1, 1])
    assert [(e.start_frame, e.end_frame, e.windows) for e in events] == [
        (0, 53, (0, 1)),
        (36, 89, (2, 3)),
    ]
    with pytest.raises(ValueError, match="3 stretches for 4 windows"):
        find_events(smoke, EventRule(), [0, 0, 1])
    # the windows' own stretches (as detections.json keeps them) by default
    kept = [dataclasses.replace(w, stretch=k // 2) for k, w in enumerate(smoke)]
    assert find_events(kept, EventRule()) == events


def _bright_is_smoke(clips: np.ndarray) -> np.ndarray:
    return np.where(clips.reshape(len(clips), -1).mean(axis=1) > 128, 0.95, 0.05)


def test_clips_of_two_days_give_each_event_its_own_days_times(tmp_path: Path) -> None:
    """Frame numbers start again every day: day 2's event is timed by day 2's clips."""
    folder = tmp_path / "clips"
    folder.mkdir()
    start = datetime(2024, 6, 11, 9, tzinfo=ZoneInfo("US/Eastern"))
    for d, smoky in ((0, ()), (1, (12, 24))):
        t0 = (start + timedelta(days=d)).timestamp()
        for first in (0, 12, 24):
            name = ClipName(
                0,
                0,
                date(2024, 6, 11) + timedelta(days=d),
                Box(0, 0, 32, 32),
                32,
                32,
                first,
                round(t0 + 5 * first),
                round(t0 + 5 * (first + 11)),
            )
            level = 220 if first in smoky else 30
            write_clip(np.full((12, 32, 32, 3), level, np.uint8), folder / f"{name.format()}.mp4")
    report = detect_clips(
        folder,
        tmp_path / "out",
        detector=Detector(scorer=_bright_is_smoke),
        options=DetectOptions(cam=False, window_frames=12, window_step=12),
    )
    (view,) = report.views.values()
    (event,) = view.events
    day2 = (start + timedelta(days=1)).timestamp()
    assert (event.start_frame, event.end_frame) == (12, 35)
    assert (event.start_time, event.end_time) == (day2 + 60, day2 + 175)
    assert event.id == f"0-0-{round(day2 + 60)}-{round(day2 + 175)}"
