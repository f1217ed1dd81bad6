"""``smokewatch timelapse register|build`` end to end on tiny synthetic photos."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import cv2
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from smokewatch import video
from smokewatch.camera.registration import load_registration
from smokewatch.cli import app
from smokewatch.core.frame_times import read_frame_times

EASTERN = ZoneInfo("US/Eastern")
runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SMOKEWATCH_TIMEZONE", raising=False)


def scene(seed: int = 3, size: tuple[int, int] = (360, 160)) -> np.ndarray:
    """A textured scene (blobs and edges) for features to hold on to."""
    rng = np.random.default_rng(seed)
    width, height = size
    image = np.full((height, width, 3), 90, np.uint8)
    for _ in range(160):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        color = tuple(int(c) for c in rng.integers(0, 255, 3))
        if rng.random() < 0.5:
            cv2.circle(image, (x, y), int(rng.integers(3, 14)), color, -1)
        else:
            cv2.rectangle(image, (x, y), (x + int(rng.integers(4, 24)), y + 9), color, -1)
    return cv2.GaussianBlur(image, (3, 3), 0)


def shoot(folder: Path, when: datetime, crops: list[tuple[int, int]], name: str) -> None:
    """One instant: a JPEG per crop of the scene, EXIF times a second apart (local)."""
    world = scene()
    for k, (x0, x1) in enumerate(crops):
        exif = Image.Exif()
        taken = when + timedelta(seconds=k)
        exif.get_ifd(0x8769)[36867] = taken.strftime("%Y:%m:%d %H:%M:%S")
        Image.fromarray(world[:, x0:x1]).save(folder / f"{name}-{k}.jpg", exif=exif, quality=95)


CROPS = [(0, 220), (140, 360)]
DAY = datetime(2026, 6, 1, 5, 59, 30)  # local US/Eastern; 6:00 is daybreak for the default rule


def instants() -> list[datetime]:
    """3 night instants, 19 by day every 10 s, then 20 minutes without photos, 7 more."""
    first = [DAY + timedelta(seconds=10 * i) for i in range(22)]
    after = first[-1] + timedelta(minutes=20)
    return first + [after + timedelta(seconds=10 * i) for i in range(7)]


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, when in enumerate(instants()):
        shoot(folder, when, CROPS, f"img{i:03d}")
    (folder / "img999-0.jpg").write_bytes((folder / "img005-0.jpg").read_bytes()[:500])
    return folder


def test_register_then_build_a_day(tmp_path: Path, photos: Path) -> None:
    camera = tmp_path / "camera.yaml"
    first = sorted(photos.glob("img010-*.jpg"))
    result = runner.invoke(
        app, ["timelapse", "register", *map(str, first), "--out", str(camera), "--mode", "scans"]
    )
    assert result.exit_code == 0, result.output
    assert "registered 2 photos" in result.stdout
    reg = load_registration(camera)
    assert reg.mode == "scans" and len(reg.cameras) == 2

    out = tmp_path / "out"
    args = ["timelapse", "build", str(photos), "--camera", str(camera)]
    args += ["--date", "2026-06-01", "--out", str(out), "--timezone", "US/Eastern"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "img999-0.jpg: truncated JPEG" in result.stderr
    assert "26 frames written (3 night instants left out, 0 instants skipped" in result.stdout
    assert "1 gaps over 60 s" in result.stdout

    video_path = out / "2026-06-01.mp4"
    times = read_frame_times(out / "2026-06-01.frames.json")
    expected = [t.replace(tzinfo=EASTERN).timestamp() for t in instants()[3:]]
    assert list(times.times) == expected  # each frame's time is its first photo's
    assert [round(g.seconds) for g in times.gaps(60)] == [20 * 60]
    info = video.probe(video_path)
    assert info.frames == 26 and info.fps == 12
    assert (info.width, info.height) == (
        reg.output_size[0] + reg.output_size[0] % 2,
        reg.output_size[1] + reg.output_size[1] % 2,
    )

    # Resumable: a finished day is skipped, untouched.
    stamp = video_path.stat().st_mtime_ns
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert "already built; skipped" in again.stdout
    assert video_path.stat().st_mtime_ns == stamp


def test_build_one_camera_without_exif_by_file_name(tmp_path: Path) -> None:
    folder = tmp_path / "cam"
    folder.mkdir()
    world = scene()
    start = datetime(2026, 6, 1, 12, 0, 0)
    for i in range(5):
        when = start + timedelta(seconds=10 * i)
        frame = world.copy()
        frame[0, 0] = i  # never the same bytes twice (those are duplicates)
        Image.fromarray(frame).save(folder / f"cam0_{when:%Y%m%d-%H%M%S}.png")
    pattern = ["--time-pattern", "%Y%m%d-%H%M%S", "--timezone", "UTC"]
    camera = tmp_path / "camera.yaml"
    result = runner.invoke(
        app, ["timelapse", "register", str(folder), "--out", str(camera), *pattern]
    )
    assert result.exit_code == 0, result.output
    assert load_registration(camera).mode == "identity"
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        [
            "timelapse",
            "build",
            str(folder),
            "--camera",
            str(camera),
            "--date",
            "2026-06-01",
            "--out",
            str(out),
            *pattern,
        ],
    )
    assert result.exit_code == 0, result.output
    assert list(read_frame_times(out / "2026-06-01.frames.json").times) == [
        (start + timedelta(seconds=10 * i)).replace(tzinfo=ZoneInfo("UTC")).timestamp()
        for i in range(5)
    ]


def test_clear_errors(tmp_path: Path, photos: Path) -> None:
    base = ["timelapse", "build", str(photos), "--out", str(tmp_path / "o")]
    bad_date = runner.invoke(app, [*base, "--camera", "c.yaml", "--date", "2026-13-01"])
    assert bad_date.exit_code == 2 and "--date '2026-13-01': expected YYYY-MM-DD" in bad_date.stderr
    missing = runner.invoke(app, [*base, "--camera", "c.yaml", "--date", "2026-06-01"])
    assert missing.exit_code == 2 and "c.yaml: no such registration file" in missing.stderr
    no_exif = tmp_path / "noexif"
    no_exif.mkdir()
    Image.fromarray(scene()).save(no_exif / "x.png")
    result = runner.invoke(app, ["timelapse", "register", str(no_exif), "--out", "c.yaml"])
    assert result.exit_code == 2
    assert "x.png: no EXIF DateTimeOriginal" in result.stderr
    assert "no usable photos to register" in result.stderr
    camera = tmp_path / "camera.yaml"
    runner.invoke(app, ["timelapse", "register", str(photos), "--out", str(camera)])
    other_day = runner.invoke(app, [*base, "--camera", str(camera), "--date", "2026-06-02"])
    assert other_day.exit_code == 2 and "no daytime photos on 2026-06-02" in other_day.stderr
    # every instant fails (one camera's photos for a two-camera registration): the error
    # comes with each instant's reason, which used to be lost with the build
    one_camera = tmp_path / "one-camera"
    one_camera.mkdir()
    for photo in sorted(photos.glob("img0[12]?-0.jpg")):
        (one_camera / photo.name).write_bytes(photo.read_bytes())
    args = ["timelapse", "build", str(one_camera), "--out", str(tmp_path / "o1")]
    none_made = runner.invoke(app, [*args, "--camera", str(camera), "--date", "2026-06-01"])
    assert none_made.exit_code == 2 and "no frames to write" in none_made.stderr
    skipped = [line for line in none_made.stderr.splitlines() if "skipped instant:" in line]
    assert skipped and all("1 photos" in line or "registration" in line for line in skipped)


def test_build_re_registers_a_camera_bumped_during_the_day(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    start = datetime(2026, 6, 1, 12, 0, 0)
    for i in range(6):
        crops = CROPS if i < 3 else [CROPS[0], (128, 348)]  # the second camera turned
        shoot(folder, start + timedelta(seconds=10 * i), crops, f"img{i:03d}")
    camera = tmp_path / "camera.yaml"
    first = sorted(folder.glob("img000-*.jpg"))
    register = ["timelapse", "register", *map(str, first), "--out", str(camera), "--mode", "scans"]
    assert runner.invoke(app, register).exit_code == 0
    before = camera.read_text()
    result = runner.invoke(
        app,
        [
            "timelapse",
            "build",
            str(folder),
            "--camera",
            str(camera),
            "--date",
            "2026-06-01",
            "--out",
            str(tmp_path / "out"),
            "--check-every",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "registration drift at" in result.stderr and "re-registering" in result.stderr
    assert "6 frames written" in result.stdout and "1 re-registrations" in result.stdout
    assert camera.read_text() != before
    # a re-registration that fails (fog, say) is not counted as one: it is said apart
    import smokewatch.camera.panorama as panorama
    from smokewatch.camera.reg_model import RegistrationError

    def fails(*args: object, **kwargs: object) -> None:
        raise RegistrationError("too few features")

    camera.write_text(before)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(panorama, "register", fails)
        again = runner.invoke(
            app,
            [
                "timelapse", "build", str(folder), "--camera", str(camera), "--date",
                "2026-06-01", "--out", str(tmp_path / "out2"), "--check-every", "1",
            ],
        )  # fmt: skip
    assert again.exit_code == 0, again.output
    assert "0 re-registrations, 3 failed" in again.stdout
    assert camera.read_text() == before


def test_build_refuses_another_rigs_registration_and_keeps_it(tmp_path: Path) -> None:
    """Same camera count, photos of another shape: not re-registered over, each instant
    skipped with the reason (the file is another rig's, not a drifted one)."""
    rig_a, rig_b = tmp_path / "a", tmp_path / "b"
    rig_a.mkdir()
    rig_b.mkdir()
    start = datetime(2026, 6, 1, 12, 0, 0)
    for i in range(3):
        shoot(rig_a, start + timedelta(seconds=10 * i), CROPS, f"img{i:03d}")
        shoot(rig_b, start + timedelta(seconds=10 * i), [(0, 160), (120, 280)], f"img{i:03d}")
    camera = tmp_path / "camera.yaml"
    first = sorted(rig_a.glob("img000-*.jpg"))
    register = ["timelapse", "register", *map(str, first), "--out", str(camera), "--mode", "scans"]
    assert runner.invoke(app, register).exit_code == 0
    before = camera.read_bytes()
    args = ["timelapse", "build", str(rig_b), "--camera", str(camera), "--date", "2026-06-01"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "out"), "--check-every", "1"])
    assert result.exit_code != 0
    assert "160x160 px, but camera 1 of the registration takes 220x160 photos" in result.stderr
    assert "is the registration file this rig's?" in result.stderr
    assert "re-register" not in result.stderr
    assert camera.read_bytes() == before


def test_no_photos_at_all_says_so_and_names_the_folder(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(app, ["timelapse", "register", str(empty), "--out", "c.yaml"])
    assert result.exit_code == 2 and f"no photos found in {empty}" in result.stderr
    one = tmp_path / "one"
    one.mkdir()
    shoot(one, datetime(2026, 6, 1, 12), CROPS[:1], "img")
    camera = tmp_path / "camera.yaml"
    done = runner.invoke(app, ["timelapse", "register", str(one), "--out", str(camera)])
    assert done.exit_code == 0, done.output
    build = ["timelapse", "build", str(empty), "--camera", str(camera), "--date", "2026-06-01"]
    result = runner.invoke(app, [*build, "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert f"no photos found in {empty}" in result.stderr
    assert "no daytime photos" not in result.stderr


def test_a_clock_never_set_is_skipped_not_a_crash(tmp_path: Path) -> None:
    # a camera named by time; one photo's EXIF says 9999-12-31 23:59:59: its local date in
    # US/Eastern would be in year 10000, which crashed the build
    folder = tmp_path / "cam"
    folder.mkdir()
    world = scene(size=(64, 48))
    for i in range(3):
        frame = world.copy()
        frame[0, 0] = i
        Image.fromarray(frame).save(folder / f"cam0_20260601-1200{10 * i:02d}.jpg", quality=95)
    exif = Image.Exif()
    exif.get_ifd(0x8769)[36867] = "9999:12:31 23:59:59"
    Image.fromarray(world).save(folder / "cam0_20260601-120030.jpg", exif=exif, quality=95)
    camera = tmp_path / "camera.yaml"
    pattern = ["--time-pattern", "%Y%m%d-%H%M%S", "--timezone", "US/Eastern"]
    done = runner.invoke(
        app,
        ["timelapse", "register", str(folder / "cam0_20260601-120000.jpg"), "-o", str(camera)]
        + pattern,
    )
    assert done.exit_code == 0, done.output
    args = ["timelapse", "build", str(folder), "--camera", str(camera), "--date", "2026-06-01"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "o"), *pattern])
    assert result.exit_code == 0, result.output
    assert "cam0_20260601-120030.jpg: EXIF time '9999:12:31 23:59:59' is not between" in (
        result.stderr
    )
    assert "3 frames written" in result.stdout


def test_a_photo_that_cannot_be_registered_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "rig"
    folder.mkdir()
    shoot(folder, datetime(2026, 6, 1, 12), CROPS[:1], "textured")
    blank = np.full((160, 220, 3), 90, np.uint8)
    exif = Image.Exif()
    exif.get_ifd(0x8769)[36867] = "2026:06:01 12:00:01"
    Image.fromarray(blank).save(folder / "zz-blank.jpg", exif=exif, quality=95)
    result = runner.invoke(app, ["timelapse", "register", str(folder), "--out", "c.yaml"])
    assert result.exit_code == 2
    assert f"{folder / 'zz-blank.jpg'}: too few features to register" in result.stderr


def test_build_refuses_an_infinite_gap_limit_before_reading_anything(tmp_path: Path) -> None:
    # typer's min=1.0 let `inf` through: the whole day was built, then lost at its sidecar
    args = ["timelapse", "build", "photos", "--camera", "c.yaml", "--date", "2026-06-01"]
    result = runner.invoke(app, [*args, "--out", "o", "--gap-seconds", "inf"])
    assert result.exit_code == 2, result.output
    assert "--gap-seconds: a gap limit must be a finite, positive number of seconds" in (
        result.stderr
    )
    assert "Traceback" not in result.output
    assert not (tmp_path / "o").exists()
