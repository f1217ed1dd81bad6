"""clips.extract: a folder of frames in natural order, one writer per folder, square boxes."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from PIL import Image

from smokewatch.camera.timelapse import TimelapseWriter
from smokewatch.clips.extract import (
    count_frames,
    extract_clips,
    iter_timelapse,
    iter_timelapse_tolerant,
)
from smokewatch.core.clip import Box
from smokewatch.core.frame_times import write_frame_times
from smokewatch.core.metadata import read_metadata
from smokewatch.errors import SmokewatchError, VideoError, ViewsError
from smokewatch.video import LostFrames, probe, read_clip

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


def _values(items: Iterable[np.ndarray | LostFrames]) -> list[int | str]:
    """Each frame's first pixel, or ``"lost"`` for a :class:`LostFrames`."""
    return [int(x[0, 0, 0]) if isinstance(x, np.ndarray) else "lost" for x in items]


def test_hidden_files_in_a_frame_folder_are_not_frames(tmp_path: Path) -> None:
    # a killed atomic writer's temporary frame and macOS's resource fork: both hidden, both
    # were read as frames (the partial sorted first), shifting every frame's time after them
    folder = _frames(tmp_path / "day", [f"frame-{i}.png" for i in range(4)])
    leftover = np.full((16, 24, 3), 250, np.uint8)
    Image.fromarray(leftover).save(folder / ".frame-4.png.1a2b3c4d.part.png")
    Image.fromarray(leftover).save(folder / "._frame-0.png")
    assert count_frames(folder) == 4
    assert _values(iter_timelapse(folder)) == [0, 1, 2, 3]
    assert _values(iter_timelapse_tolerant(folder)) == [0, 1, 2, 3]
    times = write_frame_times(folder / "frames.json", [START + 10 * i for i in range(4)])
    report = extract_clips(folder, VIEWS, tmp_path / "out", frame_times=times, frames_per_clip=4)
    assert len(report.written) == 1 and report.frames_read == 4
    assert int(read_clip(report.written[0])[0, 0, 0, 0]) < 20  # frame 0, not the leftover


def _broken_chunk(path: Path) -> None:
    """A PNG whose IDAT length is cut in half: Pillow reads data as the next chunk's header
    and raises SyntaxError ("broken PNG file"), not OSError."""
    image = np.random.default_rng(0).integers(0, 255, (16, 24, 3), dtype=np.uint8)
    Image.fromarray(image).save(path)
    data = path.read_bytes()
    at = data.index(b"IDAT")
    length = int.from_bytes(data[at - 4 : at], "big")
    path.write_bytes(data[: at - 4] + (length // 2).to_bytes(4, "big") + data[at:])


def _too_large(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An image over Pillow's decompression-bomb limit (lowered, so that it stays tiny):
    DecompressionBombError, which is not an OSError either."""
    Image.fromarray(np.zeros((64, 96, 3), np.uint8)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # the 16 x 24 frames stay under it


@pytest.mark.parametrize("damage", ["broken chunk", "too large"])
def test_an_unreadable_frame_image_is_an_error_or_a_lost_frame(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    folder = _frames(tmp_path / "day", [f"frame-{i}.png" for i in range(4)])
    bad = folder / "frame-2.png"
    if damage == "broken chunk":
        _broken_chunk(bad)
    else:
        _too_large(bad, monkeypatch)
    with pytest.raises(VideoError, match=r"frame-2\.png: cannot read frame image \("):
        extract_clips(folder, VIEWS, tmp_path / "out", start_time=START, frames_per_clip=2)
    # the clips before it are kept, as for any corrupt timelapse
    assert len(read_metadata(tmp_path / "out" / "metadata.json")) == 1
    # the whole-day reader (detect) counts it as one lost frame and goes on
    items = list(iter_timelapse_tolerant(folder))
    assert _values(items) == [0, 1, "lost", 3]
    lost = items[2]
    assert isinstance(lost, LostFrames) and lost.count == 1
    assert lost.reason.startswith("frame-2.png: cannot read frame image (")


def test_extract_sweeps_only_its_own_partials(tmp_path: Path) -> None:
    # a `timelapse build` writing its day into the same folder: its temporary video was
    # swept as a killed extraction's, and the build failed at its rename
    folder = _frames(tmp_path / "day", [f"{i}.png" for i in range(2)])
    out = tmp_path / "out"
    out.mkdir()
    report = extract_clips(folder, VIEWS, out, start_time=START, frames_per_clip=2)
    clip = report.written[0]
    ours = [
        out / f".{clip.name}.1a2b3c4d.part.mp4",
        out / ".metadata.json.1a2b3c4d.part.json",
    ]
    other_view = clip.name.replace("0-0-", "0-1-", 1)
    theirs = [
        out / ".2024-06-11.mp4.1a2b3c4d.part.mp4",  # the build's video
        out / ".2024-06-11.frames.json.1a2b3c4d.part.json",
        out / f".{other_view}.1a2b3c4d.part.mp4",  # a clip of a view this run does not cut
    ]
    for path in [*ours, *theirs]:
        path.write_bytes(b"x")
    extract_clips(folder, VIEWS, out, start_time=START, frames_per_clip=2)
    assert [p.exists() for p in ours] == [False, False]
    assert [p.exists() for p in theirs] == [True, True, True]


def test_extract_beside_a_running_timelapse_build(tmp_path: Path) -> None:
    # the auditor's race: the build's temporary video must survive the extraction
    folder = _frames(tmp_path / "day", [f"{i}.png" for i in range(2)])
    out = tmp_path / "out"
    noise = np.random.default_rng(0)
    with TimelapseWriter(out / "2024-06-12.mp4") as build:
        # past the encoder's lookahead (10), so that packets reach the temporary file
        for i in range(12):
            build.append(noise.integers(0, 255, (16, 24, 3), dtype=np.uint8), START + 10 * i)
        extract_clips(folder, VIEWS, out, start_time=START, frames_per_clip=2)
    assert probe(out / "2024-06-12.mp4").frames == 12


def test_an_empty_clip_is_written_again_on_resume(tmp_path: Path) -> None:
    # a clip renamed into place whose data never reached the disk (power cut) is empty:
    # a resumed run took it as done, for good
    folder = _frames(tmp_path / "day", [f"{i}.png" for i in range(4)])
    out = tmp_path / "out"
    first = extract_clips(folder, VIEWS, out, start_time=START, frames_per_clip=2)
    empty, kept = first.written
    empty.write_bytes(b"")
    again = extract_clips(folder, VIEWS, out, start_time=START, frames_per_clip=2)
    assert again.written == [empty] and again.skipped == [kept]
    assert read_clip(empty).shape == (2, 180, 180, 3)
    assert len(read_metadata(out / "metadata.json")) == 2  # the same records, not new ones
