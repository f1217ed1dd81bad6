"""clips.extract: a synthetic timelapse (real RISE panorama when available) cut into clips."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from PIL import Image

from smokewatch import video
from smokewatch.clips import extract as extract_mod
from smokewatch.clips.daylight import Daylight
from smokewatch.clips.extract import LOCAL_URL_ROOT, count_frames, crop_views, extract_clips
from smokewatch.core.clip import DEFAULT_URL_ROOT, Box, ClipName
from smokewatch.core.metadata import read_metadata
from smokewatch.errors import VideoError, ViewsError
from tests.videos import garbage_file

RISE = Path(__file__).resolve().parents[2].parent / "shared" / "rise"
PANORAMA = RISE / "panorama" / "cam_0_raw.png"

EASTERN = ZoneInfo("US/Eastern")
# 05:57:00 EDT: frames 0-35 (5 s apart) are before 6:00, so daytime starts at frame 36.
START = int(datetime(2018, 6, 11, 5, 57, tzinfo=EASTERN).timestamp())
FRAMES = 118  # night 0-35, windows at 36 and 72, 10 frames left over
VIEWS = {
    "0-0": Box(100, 10, 300, 210),  # 200 px: downscaled to 180
    "0-3": Box(500, 30, 650, 180),  # 150 px: upscaled to 180
    "2-1": Box(760, 0, 960, 200),  # touches the right edge
}


def _synthetic_panorama(width: int = 960, height: int = 212, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    pano = np.stack(
        [
            128 + 100 * np.sin(xx / 37.0),
            128 + 100 * np.cos(yy / 23.0 + xx / 91.0),
            60 + 0.15 * xx + 0.3 * yy,
        ],
        axis=-1,
    )
    pano += rng.normal(0, 6, pano.shape)
    return np.clip(pano, 0, 255).astype(np.uint8)


def _real_panorama(width: int = 960, height: int = 212) -> np.ndarray:
    with Image.open(PANORAMA) as img:
        return np.asarray(img.convert("RGB").resize((width, height), Image.Resampling.BOX))


def _animate(pano: np.ndarray, frames: int) -> np.ndarray:
    """Motion: the scene drifts 2 px per frame and a bright blob crosses it."""
    h, w, _ = pano.shape
    out = np.empty((frames, h, w, 3), np.uint8)
    for i in range(frames):
        frame = np.roll(pano, 2 * i, axis=1).copy()
        x = (17 * i) % (w - 24)
        frame[h // 3 : h // 3 + 24, x : x + 24] = 255
        out[i] = frame
    return out


@pytest.fixture(scope="module")
def synthetic_source(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """A frame-folder timelapse (lossless PNG) and its frames."""
    folder = tmp_path_factory.mktemp("frames")
    frames = _animate(_synthetic_panorama(), FRAMES)
    for i, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / f"frame-{i:05d}.png", compress_level=0)
    return folder, frames


@pytest.fixture(scope="module")
def rise_source(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """A real-panorama timelapse video (H.264) and its decoded frames."""
    if not PANORAMA.exists():
        pytest.skip("needs ../shared/rise/panorama/cam_0_raw.png")
    path = tmp_path_factory.mktemp("timelapse") / "cam0-2018-06-11.mp4"
    video.write_clip(_animate(_real_panorama(), FRAMES), path, crf=12)
    return path, video.read_clip(path)


def _check_extraction(source: Path, frames: np.ndarray, out: Path, tolerance: float) -> None:
    report = extract_clips(source, VIEWS, out, start_time=START)
    assert report.frames_read == FRAMES
    assert report.windows == 2
    assert len(report.written) == len(VIEWS) * 2 and report.skipped == []
    mp4s = sorted(out.glob("*.mp4"))
    assert sorted(report.written) == mp4s
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [*(p.name for p in mp4s), "metadata.json"]
    )

    for path in mp4s:
        name = ClipName.parse(path.stem)
        assert name.format() == path.stem
        key = name.view
        assert name.box == VIEWS[key]
        assert (name.height, name.width) == (180, 180)
        assert name.day == date(2018, 6, 11)
        assert name.start_frame in (36, 72)
        assert name.start_time == START + 5 * name.start_frame
        assert name.end_time == name.start_time + 35 * 5  # RISE: 175 s per 36 frames

        clip = video.read_clip(path, expected_frames=36)
        assert clip.shape == (36, 180, 180, 3)
        # The crop is the view's region of the right source frames (H.264 tolerance) ...
        for k in (0, 20, 35):
            expected = crop_views(frames[name.start_frame + k], [VIEWS[key]], 180)[0]
            err = np.abs(clip[k].astype(np.int16) - expected).mean()
            assert err < tolerance, (path.name, k, err)
            # ... and clearly not a neighbouring region or the next frame.
            box = VIEWS[key]
            shifted = Box(box.left - 40, box.top, box.right - 40, box.bottom)
            wrong = crop_views(frames[name.start_frame + k], [shifted], 180)[0]
            assert np.abs(clip[k].astype(np.int16) - wrong).mean() > 4 * err
            nxt = crop_views(frames[name.start_frame + k + 1], [VIEWS[key]], 180)[0]
            assert np.abs(clip[k].astype(np.int16) - nxt).mean() > err

    records = read_metadata(out / "metadata.json")
    assert records == report.clips
    assert len({c.id for c in records}) == len(records) == 6
    assert [c.view for c in records] == list(VIEWS) * 2  # window order, then view order
    for c in records:
        assert (c.label_state, c.label_state_admin) == (-1, -1)
        assert c.start_time == c.name.start_time
        # local files: the service's own clip store, never RISE's host, which never had them
        assert c.url_root == LOCAL_URL_ROOT != DEFAULT_URL_ROOT
        assert c.url_part == f"2018-06-11/{c.view}/{c.file_name}.mp4"
        assert (out / f"{c.file_name}.mp4").exists()


def test_extract_from_frame_folder(synthetic_source, tmp_path: Path) -> None:
    folder, frames = synthetic_source
    assert count_frames(folder) == FRAMES
    _check_extraction(folder, frames, tmp_path / "clips", tolerance=4.0)


@pytest.mark.rise
def test_extract_from_real_panorama_video(rise_source, tmp_path: Path) -> None:
    path, frames = rise_source
    assert count_frames(path) == FRAMES
    _check_extraction(path, frames, tmp_path / "clips", tolerance=6.0)


def test_rerun_skips_existing_and_keeps_metadata(synthetic_source, tmp_path: Path) -> None:
    folder, _ = synthetic_source
    out = tmp_path / "clips"
    first = extract_clips(folder, VIEWS, out, start_time=START)
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("*.mp4")}
    meta = (out / "metadata.json").read_bytes()
    again = extract_clips(folder, VIEWS, out, start_time=START)
    assert again.written == [] and len(again.skipped) == 6
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.mp4")} == before
    assert (out / "metadata.json").read_bytes() == meta
    assert again.clips == first.clips

    # A wider run (overlapping windows) keeps old ids and appends new records.
    more = extract_clips(folder, VIEWS, out, start_time=START, stride=12)
    # daytime frames 36..117: windows start at 36, 48, 60, 72 (84 + 35 > 117)
    assert more.windows == 4
    assert len(more.skipped) == 6 and len(more.written) == 6
    records = read_metadata(out / "metadata.json")
    assert records[:6] == first.clips
    assert [c.id for c in records] == list(range(1, 13))


def test_night_frames_give_no_clips(synthetic_source, tmp_path: Path) -> None:
    folder, _ = synthetic_source
    night = int(datetime(2018, 6, 11, 21, 0, tzinfo=EASTERN).timestamp())
    report = extract_clips(folder, VIEWS, tmp_path, start_time=night)
    assert report.windows == 0 and report.written == []
    assert read_metadata(tmp_path / "metadata.json") == []


def test_windows_do_not_span_midnight(synthetic_source, tmp_path: Path) -> None:
    folder, _ = synthetic_source
    # Frame 50 is local midnight; with an all-day rule the first window must restart there.
    midnight = int(datetime(2018, 6, 12, 0, 0, tzinfo=EASTERN).timestamp())
    rule = Daylight(start_hour=0, end_hour=24)
    report = extract_clips(
        folder, {"0-0": VIEWS["0-0"]}, tmp_path, start_time=midnight - 50 * 5, daylight=rule
    )
    starts = [(c.name.start_frame, c.name.day) for c in report.clips]
    assert starts == [(0, date(2018, 6, 11)), (50, date(2018, 6, 12))]


def test_seconds_per_frame_sets_epochs(synthetic_source, tmp_path: Path) -> None:
    folder, _ = synthetic_source
    noon = int(datetime(2018, 6, 11, 12, 0, tzinfo=EASTERN).timestamp())
    report = extract_clips(
        folder, {"0-0": VIEWS["0-0"]}, tmp_path, start_time=noon, seconds_per_frame=2.5
    )
    assert report.windows == 3
    second = report.clips[1].name
    assert (second.start_frame, second.start_time, second.end_time) == (
        36,
        noon + 90,
        noon + 90 + round(35 * 2.5),
    )


def test_box_outside_panorama_is_a_views_error(synthetic_source, tmp_path: Path) -> None:
    folder, _ = synthetic_source
    views = {**VIEWS, "0-9": Box(900, 0, 1100, 200)}
    message = r"view 0-9: box \[900, 0, 1100, 200\] falls outside the 960x212 panorama"
    with pytest.raises(ViewsError, match=message):
        extract_clips(folder, views, tmp_path / "out", start_time=START)
    assert list((tmp_path / "out").iterdir()) == []


def test_missing_box_and_no_views(synthetic_source, tmp_path: Path) -> None:
    folder, _ = synthetic_source
    with pytest.raises(ViewsError, match="view 0-4: no box"):
        extract_clips(folder, {"0-4": None}, tmp_path, start_time=START)  # type: ignore[dict-item]
    with pytest.raises(ViewsError, match="no camera views"):
        extract_clips(folder, {}, tmp_path, start_time=START)


def test_corrupt_timelapse_names_the_file(tmp_path: Path) -> None:
    bad = garbage_file(tmp_path / "day.mp4")
    with pytest.raises(VideoError, match="day.mp4"):
        extract_clips(bad, VIEWS, tmp_path / "out", start_time=START)
    frames = tmp_path / "frames"
    frames.mkdir()
    (frames / "0001.png").write_bytes(b"not a png")
    with pytest.raises(VideoError, match="0001.png"):
        extract_clips(frames, VIEWS, tmp_path / "out", start_time=START)
    with pytest.raises(VideoError, match="no frame images"):
        extract_clips(tmp_path / "out", VIEWS, tmp_path / "out2", start_time=START)


def test_failure_mid_run_leaves_no_partial_clip(
    synthetic_source, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error in the second window: finished clips stay and are in the metadata; a re-run
    completes the rest with the next ids."""
    folder, _ = synthetic_source
    real = video.write_clip
    calls = {"n": 0}

    def failing(frames, path, **kw):
        calls["n"] += 1
        if calls["n"] == 5:  # window 2, view 2
            raise OSError(28, "No space left on device")
        return real(frames, path, **kw)

    monkeypatch.setattr(video, "write_clip", failing)
    out = tmp_path / "clips"
    with pytest.raises(OSError, match="No space"):
        extract_clips(folder, VIEWS, out, start_time=START)
    names = sorted(p.name for p in out.iterdir())
    assert len([n for n in names if n.endswith(".mp4")]) == 4
    assert all(not n.startswith(".") for n in names)
    assert len(read_metadata(out / "metadata.json")) == 4
    monkeypatch.setattr(video, "write_clip", real)
    report = extract_clips(folder, VIEWS, out, start_time=START)
    assert (len(report.written), len(report.skipped)) == (2, 4)
    assert [c.id for c in read_metadata(out / "metadata.json")] == list(range(1, 7))


def test_interrupted_clip_encode_leaves_nothing(
    synthetic_source, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C inside the real encoder: no partial .mp4 (the atomic temp file is removed)."""
    folder, _ = synthetic_source
    import av

    real = av.VideoFrame.from_ndarray
    calls = {"n": 0}

    def interrupt(array, format="rgb24"):
        calls["n"] += 1
        if calls["n"] == 36 + 10:  # inside the second clip
            raise KeyboardInterrupt
        return real(array, format=format)

    monkeypatch.setattr(av.VideoFrame, "from_ndarray", staticmethod(interrupt))
    out = tmp_path / "clips"
    with pytest.raises(KeyboardInterrupt):
        extract_clips(folder, VIEWS, out, start_time=START)
    assert sorted(p.suffix for p in out.iterdir()) == [".json", ".mp4"]
    (clip,) = out.glob("*.mp4")
    assert video.read_clip(clip).shape == (36, 180, 180, 3)


def test_bad_parameters(synthetic_source, tmp_path: Path) -> None:
    folder, _ = synthetic_source
    for kwargs in ({"stride": 0}, {"seconds_per_frame": 0}, {"size": 181}):
        with pytest.raises(ValueError):
            extract_clips(folder, VIEWS, tmp_path, start_time=START, **kwargs)
    assert extract_mod.IMAGE_SUFFIXES >= {".png", ".jpg"}
