"""``smokewatch clips extract|views`` and ``cache_command``, through the real Typer app."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import typer
from click.testing import Result
from PIL import Image
from typer.testing import CliRunner

from smokewatch import video
from smokewatch.cli import app
from smokewatch.cli.clips import cache_command, parse_start_time
from smokewatch.clips.views import dump_views, load_views
from smokewatch.core.clip import Box, ClipName
from smokewatch.core.metadata import read_metadata
from smokewatch.errors import SmokewatchError
from tests.videos import garbage_file, make_clips, synthetic_frames

RISE = Path(__file__).resolve().parents[2].parent / "shared" / "rise"
EASTERN = ZoneInfo("US/Eastern")

runner = CliRunner()


def _extract(timelapse: Path, views: Path, out: Path, *extra: str) -> Result:
    """Run ``smokewatch clips extract`` (start time: 2018-06-11 08:00 EDT unless given)."""
    args = ["clips", "extract", str(timelapse), "--views", str(views), "--out", str(out)]
    if "--start-time" not in extra:
        args += ["--start-time", "1528718400"]
    return runner.invoke(app, [*args, *extra])


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No .env or SMOKEWATCH_* from the developer's machine leaks into these runs."""
    monkeypatch.chdir(tmp_path)
    for key in ("SMOKEWATCH_CLIP_FRAMES", "SMOKEWATCH_CLIP_SIZE", "SMOKEWATCH_TIMEZONE"):
        monkeypatch.delenv(key, raising=False)


@pytest.fixture
def timelapse(tmp_path: Path) -> Path:
    """80 frames of a 256x128 scene as a real video: two 36-frame windows."""
    frames = synthetic_frames(80, (128, 256), seed=4)
    path = tmp_path / "day.mp4"
    video.write_clip(frames, path, crf=15)
    return path


@pytest.fixture
def views_file(tmp_path: Path) -> Path:
    path = tmp_path / "views.yaml"
    views = {"0-0": Box(0, 0, 100, 100), "0-1": Box(120, 20, 220, 120), "1-0": Box(8, 8, 64, 64)}
    dump_views(views, path)
    return path


def test_extract_end_to_end(tmp_path: Path, timelapse: Path, views_file: Path) -> None:
    out = tmp_path / "clips"
    extra = ("--start-time", "2018-06-11T07:00:00", "--camera", "0")
    result = _extract(timelapse, views_file, out, *extra)
    assert result.exit_code == 0, result.output
    assert "4 clips written, 0 already there (2 windows x 2 views from 80 frames)" in result.stdout
    names = sorted(p.stem for p in out.glob("*.mp4"))
    assert len(names) == 4
    parsed = [ClipName.parse(n) for n in names]
    start = int(datetime(2018, 6, 11, 7, tzinfo=EASTERN).timestamp())  # naive ISO = US/Eastern
    assert {(p.view, p.start_frame, p.start_time) for p in parsed} == {
        (v, f, start + 5 * f) for v in ("0-0", "0-1") for f in (0, 36)
    }
    assert len(read_metadata(out / "metadata.json")) == 4
    assert video.read_clip(out / f"{names[0]}.mp4", expected_frames=36).shape == (36, 180, 180, 3)

    again = _extract(timelapse, views_file, out, *extra)
    assert again.exit_code == 0
    assert "0 clips written, 4 already there" in again.stdout


def test_extract_stride_epoch_and_night_warning(
    tmp_path: Path, timelapse: Path, views_file: Path
) -> None:
    noon = int(datetime(2018, 6, 11, 12, tzinfo=EASTERN).timestamp())
    result = _extract(
        timelapse, views_file, tmp_path / "a", "--start-time", str(noon),
        "--stride", "20", "--seconds-per-frame", "2",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "(3 windows x 3 views from 80 frames)" in result.stdout  # starts 0, 20, 40

    result = _extract(
        timelapse, views_file, tmp_path / "b", "--start-time", str(noon),
        "--day-start", "6", "--day-end", "12",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "0 clips written" in result.stdout
    assert "no daytime window" in result.stderr


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--camera", "7"], "no views for camera 7"),
        (["--start-time", "yesterday"], "expected epoch seconds or ISO 8601"),
        (["--timezone", "Nowhere/Land"], "unknown time zone"),
        (["--views", "missing.yaml"], "missing.yaml: no such views file"),
    ],
)
def test_extract_user_errors_are_one_line(
    tmp_path: Path, timelapse: Path, views_file: Path, extra: list[str], message: str
) -> None:
    result = _extract(timelapse, views_file, tmp_path / "o", *extra)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_extract_box_outside_and_corrupt_timelapse(tmp_path: Path, timelapse: Path) -> None:
    views = tmp_path / "v.json"
    views.write_text(json.dumps({"0-0": [200, 0, 300, 100]}))
    result = _extract(timelapse, views, tmp_path / "o")
    assert result.exit_code == 2
    assert "view 0-0: box [200, 0, 300, 100] falls outside the 256x128 panorama" in result.stderr
    bad = garbage_file(tmp_path / "bad.mp4")
    views.write_text(json.dumps({"0-0": [0, 0, 100, 100]}))
    result = _extract(bad, views, tmp_path / "o")
    assert result.exit_code == 2
    assert "bad.mp4" in result.stderr and "Traceback" not in result.output


def test_extract_from_frame_folder(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, frame in enumerate(synthetic_frames(36, (64, 96), seed=2)):
        Image.fromarray(frame).save(folder / f"{i:04d}.png")
    views = tmp_path / "views.json"
    views.write_text(json.dumps({"cameras": {"3": {"views": {"2": [10, 10, 60, 60]}}}}))
    result = _extract(folder, views, tmp_path / "o", "--start-time", "2018-06-11T08:00:00-04:00")
    assert result.exit_code == 0, result.output
    (clip,) = (tmp_path / "o").glob("*.mp4")
    assert clip.name.startswith("3-2-2018-06-11-10-10-60-60-180-180-0-1528718400-1528718575")


def test_views_command(tmp_path: Path) -> None:
    meta = tmp_path / "meta.json"
    names = [
        "0-0-2018-06-11-6304-964-6807-1467-180-180-3470-1528712115-1528712290",
        "0-0-2018-06-12-6304-964-6807-1467-180-180-3470-1528798515-1528798690",
        "0-0-2018-06-13-6300-960-6803-1463-180-180-3470-1528884915-1528885090",
        "2-1-2018-06-13-874-1602-1380-2108-180-180-3470-1528884915-1528885090",
    ]
    records = [
        {
            "camera_id": int(n[0]),
            "view_id": int(n[2]),
            "id": i,
            "label_state": -1,
            "label_state_admin": -1,
            "start_time": int(n.split("-")[-2]),
            "file_name": n,
        }
        for i, n in enumerate(names)
    ]
    meta.write_text(json.dumps(records))
    result = runner.invoke(app, ["clips", "views", str(meta), "--out", str(tmp_path / "v.yaml")])
    assert result.exit_code == 0, result.output
    assert "2 views from 4 clips" in result.stdout
    assert "0-0 [6304, 964, 6807, 1467] (2 of 3 clips" in result.stderr
    assert load_views(tmp_path / "v.yaml") == {
        "0-0": Box(6304, 964, 6807, 1467),
        "2-1": Box(874, 1602, 1380, 2108),
    }
    bad = tmp_path / "bad.json"
    bad.write_text("[{}]")
    result = runner.invoke(app, ["clips", "views", str(bad), "--out", str(tmp_path / "w.yaml")])
    assert result.exit_code == 2 and "record 0" in result.stderr
    assert not (tmp_path / "w.yaml").exists()


@pytest.mark.rise
@pytest.mark.skipif(not RISE.is_dir(), reason="needs ../shared/rise")
def test_views_command_on_rise_metadata(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["clips", "views", str(RISE / "metadata_02242020.json"), "-o", str(tmp_path / "rise.json")],
    )
    assert result.exit_code == 0, result.output
    assert "19 views from 12,567 clips" in result.stdout
    assert len(load_views(tmp_path / "rise.json")) == 19


def _cache_app() -> typer.Typer:
    """cache_command as the dataset wing registers it (``smokewatch dataset cache``)."""
    sub = typer.Typer()
    sub.command("cache")(cache_command)

    @sub.callback()
    def _root() -> None:
        """Group, so the verb is addressed by name as in the real CLI."""

    return sub


def test_cache_command(tmp_path: Path) -> None:
    videos = tmp_path / "videos"
    make_clips(videos, ["a", "b"], frames=6, size=32)
    garbage_file(videos / "bad.mp4")
    cache_app = _cache_app()
    result = runner.invoke(cache_app, ["cache", str(videos), "--out", str(tmp_path / "c")])
    assert result.exit_code == 0, result.output
    assert "2 written, 0 reused, 1 failed" in result.stdout
    assert "bad.mp4" in result.stderr
    assert np.load(tmp_path / "c" / "a.npy").shape == (6, 32, 32, 3)

    strict = runner.invoke(cache_app, ["cache", str(videos), "-o", str(tmp_path / "c"), "--strict"])
    assert strict.exit_code == 1
    assert "0 written, 2 reused, 1 failed" in strict.stdout

    (videos / "bad.mp4").unlink()
    ok = runner.invoke(
        cache_app, ["cache", str(videos), "-o", str(tmp_path / "c"), "--strict", "--frames", "6"]
    )
    assert ok.exit_code == 0 and "0 written, 2 reused, 0 failed" in ok.stdout

    missing = runner.invoke(cache_app, ["cache", str(tmp_path / "nope"), "-o", str(tmp_path / "c")])
    assert missing.exit_code == 2 and "not a folder" in missing.stderr
    assert "Traceback" not in missing.output


def test_every_verb_has_help() -> None:
    for args in (["clips", "--help"], ["clips", "extract", "--help"], ["clips", "views", "--help"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0
        assert "Usage" in result.stdout
    assert "--start-time" in runner.invoke(app, ["clips", "extract", "--help"]).stdout
    help_text = runner.invoke(_cache_app(), ["cache", "--help"]).stdout
    assert "--strict" in help_text and "npy" in help_text


def test_parse_start_time() -> None:
    assert parse_start_time("1528712115", "US/Eastern") == 1528712115
    assert parse_start_time("2018-06-11T06:15:15", "US/Eastern") == 1528712115
    assert parse_start_time("2018-06-11T10:15:15+00:00", "Asia/Tokyo") == 1528712115
    with pytest.raises(SmokewatchError):
        parse_start_time("noon", "UTC")
    for bad, why in [
        ("nan", "not a finite time"),
        ("inf", "not a finite time"),
        ("1e20", "between 1970 and 2100"),
        ("1528712115000", "milliseconds?"),
        ("-5", "between 1970 and 2100"),
        ("2200-01-01T00:00:00", "between 1970 and 2100"),
    ]:
        with pytest.raises(SmokewatchError, match=why):
            parse_start_time(bad, "UTC")


def test_extract_bad_frame_times_and_frame_images_are_one_line(
    tmp_path: Path, timelapse: Path, views_file: Path
) -> None:
    # a 401-digit integer in the frame times: float() overflowed into a traceback
    huge = tmp_path / "huge.json"
    huge.write_text("[1" + "0" * 400 + "]")
    args = ["clips", "extract", str(timelapse), "--views", str(views_file), "--out", "o"]
    result = runner.invoke(app, [*args, "--frame-times", str(huge)])
    assert result.exit_code == 2
    assert "huge.json: frames[0]: an integer of about 401 digits is not epoch seconds" in (
        result.stderr
    )
    assert "Traceback" not in result.output
    # a frame image with a broken PNG chunk: Pillow's SyntaxError was a traceback
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, frame in enumerate(synthetic_frames(3, (128, 256), seed=2)):
        Image.fromarray(frame).save(folder / f"frame-{i}.png")
    data = (folder / "frame-1.png").read_bytes()
    at = data.index(b"IDAT")
    length = int.from_bytes(data[at - 4 : at], "big")
    (folder / "frame-1.png").write_bytes(
        data[: at - 4] + (length // 2).to_bytes(4, "big") + data[at:]
    )
    result = _extract(folder, views_file, tmp_path / "o2")
    assert result.exit_code == 2
    assert "frame-1.png: cannot read frame image (broken PNG file" in result.stderr
    assert "Traceback" not in result.output
