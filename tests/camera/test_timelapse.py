"""The timelapse writer: a real H.264 video decoded back, its sidecar, and nothing after errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from smokewatch.camera.timelapse import TimelapseWriter, build_timelapse
from smokewatch.core.frame_times import FrameTimesError, read_frame_times
from smokewatch.errors import SmokewatchError, VideoError
from smokewatch.video import probe, read_clip

H, W = 48, 64
T0 = 1_718_107_200.0


def _panorama(i: int) -> np.ndarray:
    """A smooth scene with a bright square that moves: frame order is visible after H.264."""
    yy, xx = np.mgrid[0:H, 0:W]
    frame = np.stack([xx * 3, yy * 4, np.full_like(xx, 90)], axis=-1).astype(np.uint8)
    x = (4 * i) % (W - 8)
    frame[10:18, x : x + 8] = 255
    return frame


def _day(n: int, gap_after: int | None = None) -> Iterator[tuple[float, np.ndarray]]:
    for i in range(n):
        t = T0 + 10 * i + (1200 if gap_after is not None and i > gap_after else 0)
        yield t, _panorama(i)


def test_frames_stream_into_a_real_video_with_its_sidecar(tmp_path: Path) -> None:
    video = tmp_path / "2024-06-11.mp4"
    summary = build_timelapse(_day(30, gap_after=9), video)
    info = probe(video)
    assert (info.frames, info.width, info.height, info.codec) == (30, W, H, "h264")
    assert info.fps == 12
    decoded = read_clip(video)
    assert decoded.shape == (30, H, W, 3)
    truth = np.stack([f for _, f in _day(30)])
    assert np.abs(decoded.astype(int) - truth).mean() < 4  # H.264 loses a little
    times = read_frame_times(tmp_path / "2024-06-11.frames.json")
    assert times.times == tuple(t for t, _ in _day(30, gap_after=9))
    assert times.gap_seconds == 60.0
    assert [g.after_frame for g in times.gaps()] == [9]
    assert summary.frames_written == 30 and summary.night_frames == 0
    assert [(g.after_frame, g.seconds) for g in summary.gaps] == [(9, 1210.0)]
    assert summary.sidecar_path == tmp_path / "2024-06-11.frames.json"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2024-06-11.frames.json", video.name]


def test_night_frames_are_skipped_and_counted(tmp_path: Path) -> None:
    video = tmp_path / "day.mp4"
    summary = build_timelapse(_day(20), video, is_daylight=lambda t: t >= T0 + 50)
    assert summary.night_frames == 5 and summary.frames_written == 15
    assert probe(video).frames == 15
    assert read_frame_times(tmp_path / "day.frames.json").times[0] == T0 + 50
    with pytest.raises(VideoError, match="no frames to write.*20 frames outside daylight"):
        build_timelapse(_day(20), tmp_path / "night.mp4", is_daylight=lambda t: False)
    assert not (tmp_path / "night.mp4").exists()
    assert not (tmp_path / "night.frames.json").exists()


def test_an_odd_panorama_is_padded_to_even(tmp_path: Path) -> None:
    video = tmp_path / "odd.mp4"
    with TimelapseWriter(video) as out:
        for i in range(3):
            out.append(_panorama(i)[:47, :63], T0 + i)
    assert (probe(video).width, probe(video).height) == (64, 48)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_an_exception_mid_write_leaves_nothing(tmp_path: Path) -> None:
    def broken() -> Iterator[tuple[float, np.ndarray]]:
        yield from _day(5)
        raise RuntimeError("the stitcher failed")

    with pytest.raises(RuntimeError, match="stitcher"):
        build_timelapse(broken(), tmp_path / "day.mp4")
    assert _leftovers(tmp_path) == []  # no video, no sidecar, no temporary file


@pytest.mark.parametrize(
    ("bad", "error", "words"),
    [
        ((_panorama(9), T0 + 4), FrameTimesError, "not after the frame before"),
        ((_panorama(9), T0 + 2), FrameTimesError, "not after the frame before"),
        ((_panorama(9), float("nan")), FrameTimesError, "finite"),
        ((_panorama(9)[:40], T0 + 10), VideoError, "the first was 64x48"),
        ((_panorama(9).astype(np.float32), T0 + 10), VideoError, "uint8"),
    ],
)
def test_bad_frames_are_clear_errors_and_leave_nothing(
    tmp_path: Path, bad: tuple[np.ndarray, float], error: type[Exception], words: str
) -> None:
    video = tmp_path / "day.mp4"
    with pytest.raises(error, match=words) as caught:
        with TimelapseWriter(video) as out:
            for i in range(5):
                out.append(_panorama(i), T0 + i)
            out.append(*bad)
    assert str(video) in str(caught.value)
    assert _leftovers(tmp_path) == []


def test_a_failed_sidecar_takes_the_video_with_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import smokewatch.camera.timelapse as timelapse

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(timelapse, "write_frame_times", refuse)
    with pytest.raises(OSError, match="disk full"):
        build_timelapse(_day(5), tmp_path / "day.mp4")
    assert _leftovers(tmp_path) == []


def test_a_rerun_replaces_both_files(tmp_path: Path) -> None:
    video = tmp_path / "day.mp4"
    build_timelapse(_day(5), video)
    build_timelapse(_day(8), video)
    assert probe(video).frames == 8
    assert len(read_frame_times(tmp_path / "day.frames.json")) == 8
    with pytest.raises(RuntimeError):
        with TimelapseWriter(video) as out:
            out.append(_panorama(0), T0)
            raise RuntimeError("interrupted")
    assert probe(video).frames == 8  # the finished day is untouched by a failed rewrite
    assert _leftovers(tmp_path) == ["day.frames.json", "day.mp4"]


_KILLED_REBUILD = """
import os, sys
from pathlib import Path
sys.path.insert(0, {tests!r})
import smokewatch.core.atomic as atomic
from test_timelapse import _day
from smokewatch.camera.timelapse import build_timelapse

real = os.replace
def replace(src, dst):  # SIGKILL right after the new video is in place
    real(src, dst)
    if str(dst).endswith(".mp4"):
        os._exit(9)
atomic.os.replace = replace
build_timelapse(_day(8), Path({video!r}))
"""


def test_a_rebuild_killed_between_its_renames_leaves_no_mismatched_pair(
    tmp_path: Path,
) -> None:
    import subprocess
    import sys

    video = tmp_path / "day.mp4"
    build_timelapse(_day(5), video)
    script = _KILLED_REBUILD.format(tests=str(Path(__file__).parent), video=str(video))
    killed = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert killed.returncode == 9, killed.stderr.decode()
    # the new 8-frame video is in place and its sidecar was never written: the old 5-frame
    # sidecar must be gone with it, or a later build would skip the pair as done
    assert probe(video).frames == 8
    assert not (tmp_path / "day.frames.json").exists()
    assert any(n.endswith(".part.json") for n in _leftovers(tmp_path))  # the kill's leftover
    build_timelapse(_day(8), video)  # a plain rebuild; its start sweeps the leftover
    assert len(read_frame_times(tmp_path / "day.frames.json")) == probe(video).frames == 8
    assert _leftovers(tmp_path) == ["day.frames.json", "day.mp4"]


@pytest.mark.parametrize(
    "gap", [float("inf"), float("nan"), 0.0, -5.0, pytest.param(10**400, id="huge")]
)
def test_a_gap_limit_that_is_no_number_of_seconds_is_refused_before_any_frame(
    tmp_path: Path, gap: float
) -> None:
    # `--gap-seconds inf` encoded the whole day, then failed writing the sidecar: all lost
    frames_made = 0

    def day() -> Iterator[tuple[float, np.ndarray]]:
        nonlocal frames_made
        for item in _day(3):
            frames_made += 1
            yield item

    with pytest.raises(FrameTimesError, match="gap_seconds: a gap limit must be a finite, posi"):
        build_timelapse(day(), tmp_path / "day.mp4", gap_seconds=gap)
    assert frames_made == 0
    assert _leftovers(tmp_path) == []


def test_two_builds_of_one_day_cannot_collide(tmp_path: Path) -> None:
    # the second build swept the first one's temporary video as a killed run's leftover,
    # and the first then failed at its rename, losing the day
    video = tmp_path / "day.mp4"
    with TimelapseWriter(video) as first:
        first.append(_panorama(0), T0)
        with pytest.raises(SmokewatchError, match=r"day\.mp4: another `timelapse build` is wri"):
            with TimelapseWriter(video) as second:
                second.append(_panorama(1), T0 + 1)  # pragma: no cover - never reached
        # another day in the same folder is no collision
        build_timelapse(_day(2), tmp_path / "other.mp4")
        first.append(_panorama(1), T0 + 10)
    assert probe(video).frames == 2
    assert _leftovers(tmp_path) == ["day.frames.json", "day.mp4", "other.frames.json", "other.mp4"]
    build_timelapse(_day(3), video)  # the day is free again once the first build ended
    assert probe(video).frames == 3
