"""clips.extract: a folder of frames in natural order, one writer per folder, square boxes."""

from __future__ import annotations

import fcntl
import os
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from PIL import Image

from smokewatch.clips.extract import count_frames, extract_clips, iter_timelapse
from smokewatch.core.clip import Box
from smokewatch.errors import SmokewatchError, VideoError, ViewsError

START = datetime(2018, 6, 11, 12, tzinfo=ZoneInfo("US/Eastern")).timestamp()
VIEWS = {"0-0": Box(0, 0, 16, 16)}


def _frames(folder: Path, names: list[str]) -> Path:
    """One tiny frame per name, its first pixel the frame's place in ``names``."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        frame = np.zeros((16, 24, 3), np.uint8)
        frame[0, 0] = i
        Image.fromarray(frame).save(folder / name)
    return folder


def test_frames_are_read_in_natural_order(tmp_path: Path) -> None:
    # frame-10 sorted before frame-2 as text: the frames were shuffled without a word
    folder = _frames(tmp_path / "day", [f"frame-{i}.png" for i in range(12)])
    assert [int(frame[0, 0, 0]) for frame in iter_timelapse(folder)] == list(range(12))


@pytest.mark.parametrize("twin", ["frame-01.png", "frame-1.jpg"])
def test_two_frames_with_one_number_are_refused(tmp_path: Path, twin: str) -> None:
    folder = _frames(tmp_path / "day", ["frame-0.png", "frame-1.png", "frame-2.png", twin])
    with pytest.raises(
        VideoError, match=r"frames frame-0?1\.\w+ and frame-0?1\.\w+ have the same number"
    ):
        count_frames(folder)
    with pytest.raises(VideoError, match="order is ambiguous"):
        extract_clips(folder, VIEWS, tmp_path / "out", start_time=START, frames_per_clip=2)


def test_a_second_extract_into_the_same_folder_is_refused(tmp_path: Path) -> None:
    folder = _frames(tmp_path / "day", [f"{i}.png" for i in range(4)])
    out = tmp_path / "out"
    out.mkdir()
    fd = os.open(out, os.O_RDONLY)  # another run, holding the folder
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(SmokewatchError, match="another `clips extract` is writing there"):
            extract_clips(folder, VIEWS, out, start_time=START, frames_per_clip=2)
        assert list(out.iterdir()) == []  # nothing read, swept or written
    finally:
        os.close(fd)  # that run ends: the folder is free
    report = extract_clips(folder, VIEWS, out, start_time=START, frames_per_clip=2)
    assert len(report.written) == 2
    # and this run let go of it when it finished
    fd = os.open(out, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)


def test_a_box_that_is_not_square_is_refused(tmp_path: Path) -> None:
    folder = _frames(tmp_path / "day", [f"{i}.png" for i in range(2)])
    wide = {"0-0": Box(0, 0, 16, 16), "0-7": Box(0, 0, 24, 12)}
    with pytest.raises(ViewsError, match=r"view 0-7: box \[0, 0, 24, 12\] is 24x12 px, not square"):
        extract_clips(folder, wide, tmp_path / "out", start_time=START, frames_per_clip=2)
    assert not (tmp_path / "out").exists()
    # RISE's boxes are square to a pixel: that is still square
    near = {"0-0": Box(0, 0, 16, 15)}
    report = extract_clips(folder, near, tmp_path / "out", start_time=START, frames_per_clip=2)
    assert len(report.written) == 1
