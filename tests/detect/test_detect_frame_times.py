"""``smokewatch detect --timelapse`` on a stitched day: windows timed by the photos, none
across the 20-minute gap.

The day is ``detect_helpers``' (150 frames, the plume in view 0-1 during frames 60-109) written
through the timelapse writer with ``camera_day``'s photo times: ~10 s apart with jitter, a
20-minute gap after frame 79. The model is the tests' ``motion3d`` (``motion_model``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from camera_day import photo_times, write_day
from cli_helpers import run_cli
from detect_helpers import FRAMES, SIZE, START, panorama, write_views

from smokewatch.core.clip import ClipName
from smokewatch.core.detections import read_detections
from smokewatch.core.frame_times import read_frame_times, sidecar_for

GAP_AFTER = 79


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[float]]:
    """(the timelapse with its sidecar, the views file, the photo times)."""
    folder = tmp_path_factory.mktemp("stitched")
    times = photo_times(FRAMES, GAP_AFTER)
    return write_day(folder / "day.mp4", panorama(), times), write_views(folder), times


def _detect(model: Path, video: Path, views: Path, out: Path, *extra: str) -> Any:
    return run_cli(
        "detect", str(model), "--timelapse", str(video), "--views", str(views), "--out",
        str(out), "--size", str(SIZE), "--no-cam", "--quiet", *extra,
    )  # fmt: skip


def test_windows_are_timed_by_the_photos_and_none_spans_the_gap(
    day: tuple[Path, Path, list[float]], motion_model: Path, tmp_path: Path
) -> None:
    video, views, times = day
    out = tmp_path / "out"
    proc = _detect(motion_model, video, views, out)  # no --start-time: the sidecar
    assert proc.exit_code == 0, proc.output
    assert "1 gap over 60 s" in proc.stderr and "in no window" not in proc.stderr
    detections = read_detections(out / "detections.json")
    sidecar = read_frame_times(sidecar_for(video))
    for view in detections.views:
        # 0, 18, 36 before the gap (54-89 would span it), and 44-79 ending on its last frame;
        # 80, 98 after it (116-151 too long), and 114-149 ending on the day's last frame
        assert [w.start_frame for w in view.windows] == [0, 18, 36, 44, 80, 98, 114]
        for w in view.windows:
            assert (w.start_time, w.end_time) == (times[w.start_frame], times[w.end_frame])
            assert not sidecar.spans_gap(w.start_frame, w.end_frame)
        # every frame is in a window: none skipped
        assert view.skipped == ()
    # the gaps in the source, with the limit
    source = detections.source
    assert source["frame_times"] == str(sidecar_for(video)) and source["max_frame_gap"] == 60
    assert [g["after_frame"] for g in source["gaps"]] == [GAP_AFTER]
    # events never run across the gap, and carry the photo times in their ids
    smoky = {v.key: v for v in detections.views}["0-1"]
    assert smoky.events
    for event in smoky.events:
        assert not sidecar.spans_gap(event.start_frame, event.end_frame)
        assert event.id == f"0-1-{round(times[event.start_frame])}-{round(times[event.end_frame])}"
    # the labeling clips are named with the photo times (RISE names)
    clips = sorted((out / "clips").glob("*.mp4"))
    assert clips
    for path in clips:
        name = ClipName.parse(path.stem)
        assert name.start_time == round(times[name.start_frame])
        assert name.end_time == round(times[name.start_frame + 35])


def test_explicit_start_time_wins_with_a_warning_and_counts_must_match(
    day: tuple[Path, Path, list[float]], motion_model: Path, tmp_path: Path
) -> None:
    video, views, _ = day
    proc = _detect(motion_model, video, views, tmp_path / "a", "--start-time", str(START))
    assert proc.exit_code == 0, proc.output
    assert "warning:" in proc.stderr and "is not used" in proc.stderr
    detections = read_detections(tmp_path / "a" / "detections.json")
    assert detections.source["start_time"] == START and "gaps" not in detections.source
    assert len(detections.views[0].windows) == 8  # evenly spaced: no gap seen

    # a wider limit: windows run across the gap again
    proc = _detect(motion_model, video, views, tmp_path / "b", "--max-frame-gap", "1300")
    assert proc.exit_code == 0, proc.output
    wide = read_detections(tmp_path / "b" / "detections.json")
    assert len(wide.views[0].windows) == 8 and wide.source["gaps"] == []

    # a sidecar whose count differs from the video's: one line naming it
    short = tmp_path / "copy"
    short.mkdir()
    (short / "day.mp4").write_bytes(video.read_bytes())
    data = json.loads(sidecar_for(video).read_text())
    data["frames"] = data["frames"][:-3]
    data.pop("gaps")
    (short / "day.frames.json").write_text(json.dumps(data))
    proc = _detect(motion_model, short / "day.mp4", views, tmp_path / "c")
    assert proc.exit_code == 2, proc.output
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and str(short / "day.frames.json") in lines[0]
    assert f"{FRAMES - 3} frame times" in lines[0] and f"{FRAMES} frames" in lines[0]
