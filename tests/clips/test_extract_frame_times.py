"""``clips extract`` on a stitched day: clip times are the photos' times, no clip spans a gap.

The day (``camera_day``): 110 photos ~10 s apart with jitter, a 20-minute gap after photo 59,
written through the timelapse writer (real H.264 and its frames.json sidecar). 64 x 48
panoramas, two 32 x 32 views cut at 32 pixels (no resizing: a clip is its box's pixels).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from camera_day import DAY_START, photo_times, write_day
from click.testing import Result
from typer.testing import CliRunner

from smokewatch.cli import app
from smokewatch.clips.extract import extract_clips
from smokewatch.clips.views import dump_views, load_views
from smokewatch.core.clip import Box, ClipName
from smokewatch.core.frame_times import FrameTimes, read_frame_times, sidecar_for
from smokewatch.core.metadata import read_metadata
from smokewatch.core.window_clips import local_day
from smokewatch.video import read_clip
from tests.videos import synthetic_frames

FRAMES, GAP_AFTER, SIZE = 110, 59, 32
VIEWS = {"0-0": Box(0, 0, 32, 32), "0-1": Box(32, 16, 64, 48)}
runner = CliRunner()


@pytest.fixture(autouse=True)
def _settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SMOKEWATCH_CLIP_SIZE", str(SIZE))
    for key in ("SMOKEWATCH_CLIP_FRAMES", "SMOKEWATCH_TIMEZONE"):
        monkeypatch.delenv(key, raising=False)


@pytest.fixture
def day(tmp_path: Path) -> tuple[Path, Path, np.ndarray, list[float]]:
    """(the timelapse, the views file, its panoramas, its photo times)."""
    panoramas = synthetic_frames(FRAMES, (48, 64), seed=5)
    times = photo_times(FRAMES, GAP_AFTER)
    video = write_day(tmp_path / "2024-06-11.mp4", panoramas, times)
    views = tmp_path / "views.yaml"
    dump_views(VIEWS, views)
    return video, views, panoramas, times


def _extract(video: Path, views: Path, out: Path, *extra: str) -> Result:
    args = ["clips", "extract", str(video), "--views", str(views), "--out", str(out), *extra]
    return runner.invoke(app, args)


def test_clip_times_are_the_photo_times_and_no_clip_spans_the_gap(
    day: tuple[Path, Path, np.ndarray, list[float]], tmp_path: Path
) -> None:
    video, views, panoramas, times = day
    out = tmp_path / "clips"
    result = _extract(video, views, out)  # no --start-time: the sidecar beside the video
    assert result.exit_code == 0, result.output
    # windows 0-35 made; 36-71 would span the gap (frames 36-59 in no clip); 60-95 after it
    assert "4 clips written, 0 already there (2 windows x 2 views from 110 frames)" in (
        result.stdout
    )
    assert "1 gap over 60 s" in result.stdout and "(longest 20.2 min)" in result.stdout
    assert "1 window not made across it, 24 frames before it in no clip" in result.stdout
    sidecar = read_frame_times(sidecar_for(video))
    names = sorted((ClipName.parse(p.stem) for p in out.glob("*.mp4")), key=lambda n: n.format())
    assert {(n.view, n.start_frame) for n in names} == {
        (v, f) for v in VIEWS for f in (0, GAP_AFTER + 1)
    }
    for name in names:
        first, last = name.start_frame, name.start_frame + 35
        assert name.start_time == round(times[first])
        assert name.end_time == round(times[last])
        assert name.day == local_day(times[first], "US/Eastern")
        assert not sidecar.spans_gap(first, last)
    # the clip after the gap starts 20 minutes later than an even 10 s clock would say
    after = next(n for n in names if n.start_frame == GAP_AFTER + 1)
    assert after.start_time - (DAY_START + 10 * after.start_frame) > 1190
    # metadata carries the same times; each clip holds its own frames
    records = {c.file_name: c for c in read_metadata(out / "metadata.json")}
    assert {records[n.format()].start_time for n in names} == {n.start_time for n in names}
    box = VIEWS[after.view]
    clip = read_clip(out / f"{after.format()}.mp4", expected_frames=36)
    truth = panoramas[60:96, box.top : box.bottom, box.left : box.right]
    assert np.abs(clip.astype(int) - truth).mean() < 6


def test_the_library_reports_each_gap_with_the_windows_it_cut(
    day: tuple[Path, Path, np.ndarray, list[float]], tmp_path: Path
) -> None:
    video, views, _, times = day
    report = extract_clips(
        video, load_views(views), tmp_path / "o", frame_times=sidecar_for(video), size=SIZE,
        stride=18,
    )  # fmt: skip
    (gap,) = report.gaps
    assert (gap.gap.after_frame, gap.gap.start, gap.gap.end) == (59, times[59], times[60])
    # windows 0, 18 made; 36 and 54 begun and cut (36-71, 54-89); frames 54-59 in no clip
    assert (gap.windows, gap.frames) == (2, 6)
    starts = sorted({c.file_name.split("-")[-3] for c in report.clips}, key=int)
    assert starts == ["0", "18", "60"]  # 78-113 would pass the last frame
    # a limit over the gap: clips span it as before
    wide = extract_clips(
        video, load_views(views), tmp_path / "w", frame_times=FrameTimes(tuple(times)),
        max_gap=GAP_SECONDS_PLUS, size=SIZE,
    )  # fmt: skip
    assert wide.gaps == [] and wide.windows == 3


GAP_SECONDS_PLUS = 20 * 60 + 30.0


def test_explicit_start_time_wins_over_the_sidecar_with_a_warning(
    day: tuple[Path, Path, np.ndarray, list[float]], tmp_path: Path
) -> None:
    video, views, _, _ = day
    result = _extract(video, views, tmp_path / "o", "--start-time", str(int(DAY_START)))
    assert result.exit_code == 0, result.output
    assert "warning:" in result.stderr and "is not used" in result.stderr
    assert "3 windows x 2 views" in result.stdout  # evenly spaced: the gap is not seen
    names = [ClipName.parse(p.stem) for p in (tmp_path / "o").glob("*.mp4")]
    assert {n.start_time - n.start_frame * 5 for n in names} == {int(DAY_START)}


def test_a_frame_times_file_wins_over_the_sidecar(
    day: tuple[Path, Path, np.ndarray, list[float]], tmp_path: Path
) -> None:
    video, views, _, times = day
    even = tmp_path / "even.json"
    even.write_text(json.dumps([DAY_START + 10 * i for i in range(FRAMES)]))
    result = _extract(video, views, tmp_path / "o", "--frame-times", str(even))
    assert result.exit_code == 0, result.output
    assert "3 windows x 2 views" in result.stdout and "gap" not in result.stdout
    assert "warning" not in result.stderr


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda t: t[:-1], ["109 frame times", "has 110 frames"]),
        (lambda t: [*t, t[-1] + 10], ["111 frame times", "has 110 frames"]),
        (lambda t: [t[0], t[0], *t[2:]], ["frames[1]", "not after"]),
    ],
)
def test_a_sidecar_that_does_not_fit_the_video_is_one_error(
    day: tuple[Path, Path, np.ndarray, list[float]],
    tmp_path: Path,
    change: object,
    words: list[str],
) -> None:
    video, views, _, times = day
    sidecar = sidecar_for(video)
    data = json.loads(sidecar.read_text())
    data["frames"] = change(times)  # type: ignore[operator]
    data.pop("gaps")
    sidecar.write_text(json.dumps(data))
    result = _extract(video, views, tmp_path / "o")
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(sidecar) in lines[0], result.stderr
    for word in words:
        assert word in lines[0]
    assert not list((tmp_path / "o").glob("*.mp4"))


def test_no_frame_times_at_all_says_where_the_sidecar_goes(tmp_path: Path) -> None:
    from smokewatch.video import write_clip

    video = tmp_path / "plain.mp4"
    write_clip(synthetic_frames(4, (48, 64)), video)
    views = tmp_path / "views.yaml"
    dump_views(VIEWS, views)
    result = _extract(video, views, tmp_path / "o")
    assert result.exit_code == 2
    assert "--start-time" in result.stderr and "plain.frames.json" in result.stderr
    both = _extract(video, views, tmp_path / "o", "--start-time", "1", "--frame-times", "x.json")
    assert both.exit_code == 2 and "not both" in both.stderr
    with pytest.raises(ValueError, match="start_time"):
        extract_clips(video, VIEWS, tmp_path / "o")


def test_a_folder_of_frames_reads_its_frames_json(tmp_path: Path) -> None:
    from PIL import Image

    from smokewatch.core.frame_times import write_frame_times

    folder = tmp_path / "frames"
    folder.mkdir()
    for i, frame in enumerate(synthetic_frames(40, (48, 64), seed=1)):
        Image.fromarray(frame).save(folder / f"{i:04d}.png")
    times = photo_times(40, 100)
    write_frame_times(folder / "frames.json", times)  # inside the folder: not a frame image
    views = tmp_path / "views.yaml"
    dump_views(VIEWS, views)
    result = _extract(folder, views, tmp_path / "o")
    assert result.exit_code == 0, result.output
    assert "2 clips written" in result.stdout
    for path in (tmp_path / "o").glob("*.mp4"):
        name = ClipName.parse(path.stem)
        assert (name.start_time, name.end_time) == (round(times[0]), round(times[35]))
