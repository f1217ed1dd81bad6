"""``detect_timelapse(..., timings=)``: each stage of a run is counted where it happens."""

from __future__ import annotations

from pathlib import Path

from detect_helpers import (
    FRAMES,
    SECONDS_PER_FRAME,
    SIZE,
    START,
    detector_for,
    write_timelapse,
    write_views,
)

from smokewatch.clips.views import load_views
from smokewatch.detect import DetectOptions, FrameClock, detect_timelapse
from smokewatch.detect.timings import Timings


def test_a_timed_run_counts_each_frame_and_each_model_call(
    motion_model: Path, tmp_path: Path
) -> None:
    timelapse = write_timelapse(tmp_path / "day.mp4")
    detector, counted = detector_for(motion_model)
    timings = Timings()
    report = detect_timelapse(
        timelapse, load_views(write_views(tmp_path)), tmp_path / "out", detector=detector,
        clock=FrameClock(START, SECONDS_PER_FRAME), options=DetectOptions(size=SIZE),
        timings=timings,
    )  # fmt: skip
    assert timings.calls["crop"] == FRAMES  # the whole day is daytime: every frame cropped
    assert timings.calls["decode"] == FRAMES + 1  # and the step that found the end
    assert timings.calls["model"] == counted.calls == report.model_calls
    assert timings.calls["gradcam"] >= 1 and timings.calls["gif"] == 1  # the plume's event
    assert set(timings.seconds) == set(timings.calls)
    assert all(s >= 0 for s in timings.seconds.values())
    shares = timings.shares(sum(timings.seconds.values()))
    assert abs(sum(shares.values()) - 1) < 1e-9
