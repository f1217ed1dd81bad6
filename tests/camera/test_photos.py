"""Photo times (EXIF, file names), grouping, and bad files reported instead of crashing."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from PIL import Image

from smokewatch.camera.photos import (
    Photo,
    PhotoError,
    PhotoTimeError,
    group_photos,
    list_photos,
    load_photo,
    photo_time,
    scan_photos,
    show_path,
)

EASTERN = ZoneInfo("US/Eastern")
_EXIF_IFD = 0x8769


def write_photo(
    path: Path,
    *,
    taken: str | None = None,
    offset: str | None = None,
    subsec: str | None = None,
    model: str | None = None,
    seed: int = 0,
    size: tuple[int, int] = (48, 32),
) -> Path:
    """A small photo with EXIF written by Pillow, as a camera would."""
    rng = np.random.default_rng(seed)
    image = Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
    exif = Image.Exif()
    if model:
        exif[272] = model
    ifd = exif.get_ifd(_EXIF_IFD)
    if taken:
        ifd[36867] = taken
    if offset:
        ifd[36881] = offset
    if subsec:
        ifd[37521] = subsec
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, exif=exif) if path.suffix.lower() != ".png" else image.save(path)
    return path


@pytest.fixture(autouse=True)
def _other_machine_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    """The machine's own zone must never leak into photo times."""
    monkeypatch.setenv("TZ", "Asia/Kathmandu")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def epoch(text: str, zone: ZoneInfo | None = None) -> float:
    when = datetime.fromisoformat(text)
    return (when if when.tzinfo else when.replace(tzinfo=zone or UTC)).timestamp()


# --- times ------------------------------------------------------------------------------


def test_exif_time_with_offset(tmp_path: Path) -> None:
    p = write_photo(tmp_path / "a.jpg", taken="2026:06:01 10:00:05", offset="+02:00")
    assert photo_time(p, tz=EASTERN) == epoch("2026-06-01T10:00:05+02:00")


def test_exif_time_without_offset_is_local_in_the_given_zone(tmp_path: Path) -> None:
    p = write_photo(tmp_path / "a.jpg", taken="2026:01:15 07:30:00", subsec="25")
    assert photo_time(p, tz=EASTERN) == epoch("2026-01-15T07:30:00", EASTERN) + 0.25
    assert photo_time(p) == epoch("2026-01-15T07:30:00") + 0.25  # UTC by default


def test_exif_wins_over_the_file_name(tmp_path: Path) -> None:
    p = write_photo(tmp_path / "20300101-000000.jpg", taken="2026:06:01 10:00:00", offset="Z0")
    # An offset that does not parse falls back to the zone, never to the name.
    assert photo_time(p, time_pattern="%Y%m%d-%H%M%S") == epoch("2026-06-01T10:00:00")


def test_time_from_the_file_name(tmp_path: Path) -> None:
    p = write_photo(tmp_path / "cam-1_20260601-100000_x.png")
    assert photo_time(p, time_pattern="%Y%m%d-%H%M%S", tz=EASTERN) == epoch(
        "2026-06-01T10:00:00", EASTERN
    )
    q = write_photo(tmp_path / "2026-06-01T10.00.00+0200.jpg")
    assert photo_time(q, time_pattern="%Y-%m-%dT%H.%M.%S%z", tz=EASTERN) == epoch(
        "2026-06-01T10:00:00+02:00"
    )


def test_no_time_is_an_error_naming_the_file(tmp_path: Path) -> None:
    p = write_photo(tmp_path / "IMG_0001.jpg")
    with pytest.raises(PhotoTimeError, match="IMG_0001.jpg: no EXIF DateTimeOriginal"):
        photo_time(p)
    with pytest.raises(PhotoTimeError, match=r"IMG_0001.jpg.*does not match"):
        photo_time(p, time_pattern="%Y%m%d")
    with pytest.raises(PhotoTimeError, match="unsupported directive %Q"):
        photo_time(p, time_pattern="%Q")
    bad = write_photo(tmp_path / "20261399-000000.jpg")
    with pytest.raises(PhotoTimeError, match="bad time in the name"):
        photo_time(bad, time_pattern="%Y%m%d-%H%M%S")


# --- scanning ---------------------------------------------------------------------------


def test_scan_reports_and_skips_bad_files(tmp_path: Path) -> None:
    cam = tmp_path / "cam"
    good = [
        write_photo(cam / f"p{i}.jpg", taken=f"2026:06:01 10:00:{10 * i:02d}", seed=i)
        for i in range(1, 4)
    ]
    truncated = cam / "p4.jpg"
    truncated.write_bytes(good[0].read_bytes()[:-300])
    (cam / "p5.jpg").write_bytes(os.urandom(2000))
    (cam / "p6.png").write_bytes(b"")
    (cam / "p7.jpg").write_bytes(good[1].read_bytes())  # same bytes as p2
    write_photo(cam / "p8.jpg", taken="2026:06:01 10:00:30", seed=99)  # same camera+time as p3
    write_photo(cam / "p9.jpg", taken="2026:06:01 09:00:00", seed=9)  # clock went back
    write_photo(cam / "p10.jpg", seed=10)  # no time at all
    (cam / "notes.txt").write_text("not a photo")

    scan = scan_photos([cam])

    assert [p.path for p in scan.photos] == good
    reasons = {p.path.name: p.reason for p in scan.problems}
    assert "truncated JPEG" in reasons["p4.jpg"]
    assert "not a readable image" in reasons["p5.jpg"]
    assert reasons["p6.png"] == "empty file"
    assert reasons["p7.jpg"].startswith("duplicate of ") and "p2.jpg" in reasons["p7.jpg"]
    assert "same camera and time" in reasons["p8.jpg"]
    assert reasons["p9.jpg"].startswith("out of order")
    assert "no EXIF DateTimeOriginal" in reasons["p10.jpg"]
    assert "notes.txt" not in reasons
    assert [p.time for p in scan.photos] == sorted(p.time for p in scan.photos)


def test_scan_sorts_by_time_and_keeps_folders_apart(tmp_path: Path) -> None:
    # Two cameras of one site: cam-b's photos are earlier than cam-a's last, not out of order.
    a = [
        write_photo(tmp_path / "cam-a" / f"{i}.jpg", taken=f"2026:06:01 10:0{i}:00", seed=i)
        for i in range(3)
    ]
    b = [
        write_photo(tmp_path / "cam-b" / f"{i}.jpg", taken=f"2026:06:01 10:0{i}:01", seed=9 + i)
        for i in range(3)
    ]
    scan = scan_photos([tmp_path])
    assert scan.problems == []
    assert [p.path for p in scan.photos] == [a[0], b[0], a[1], b[1], a[2], b[2]]


def test_cameras_sharing_a_folder_keep_their_own_order(tmp_path: Path) -> None:
    # one folder, two cameras that say who they are (EXIF model): all of cam0's photos are
    # listed before cam1's first, which is earlier than cam0's last, and is not out of order
    rig = tmp_path / "rig"
    for c in range(2):
        for i in range(3):
            write_photo(
                rig / f"cam{c}_img{i}.jpg",
                taken=f"2026:06:01 10:0{i}:0{c}",
                model=f"rig-{c}",
                seed=10 * c + i,
            )
    scan = scan_photos([rig])
    assert scan.problems == [] and len(scan.photos) == 6
    # the same camera going back in time still is
    write_photo(rig / "cam1_img9.jpg", taken="2026:06:01 09:00:00", model="rig-1", seed=99)
    again = scan_photos([rig])
    assert [(p.path.name, p.reason.split(":")[0]) for p in again.problems] == [
        ("cam1_img9.jpg", "out of order")
    ]


def test_the_hour_a_dst_change_repeats_is_read_twice_in_photo_order(tmp_path: Path) -> None:
    # New York, 1 November 2026: 01:00-02:00 happens twice (EDT, then EST). A camera naming
    # its photos by its local clock every 10 minutes from 00:50 EDT to 02:10 EST: the second
    # pass has the same local times as the first, and only the photo order tells them apart.
    ny = ZoneInfo("America/New_York")
    start = datetime(2026, 11, 1, 4, 50, tzinfo=UTC)  # 00:50 EDT
    truth = {}
    for k in range(15):
        when = start.timestamp() + 600 * k
        local = datetime.fromtimestamp(when, ny)
        path = write_photo(tmp_path / f"cam_{k:02d}_{local:%Y%m%d-%H%M%S}.png", seed=k)
        truth[path.name] = when
    scan = scan_photos([tmp_path], time_pattern="%Y%m%d-%H%M%S", tz=ny)
    assert scan.problems == []
    assert {p.path.name: p.time for p in scan.photos} == truth
    # one photo alone is read as the first pass; EXIF without an offset the same way
    assert photo_time(
        tmp_path / "cam_08_20261101-011000.png", time_pattern="%Y%m%d-%H%M%S", tz=ny
    ) == epoch("2026-11-01T01:10:00-04:00")
    a = write_photo(tmp_path / "exif" / "a.jpg", taken="2026:11:01 01:30:00", seed=20)
    b = write_photo(tmp_path / "exif" / "b.jpg", taken="2026:11:01 01:20:00", seed=21)
    c = write_photo(tmp_path / "exif" / "c.jpg", taken="2026:11:01 01:20:00", seed=22)
    exif = scan_photos([tmp_path / "exif"], tz=ny)
    # b's first pass would be before a (out of order): its second pass; c fits neither (its
    # first pass is before b, its second the same time as b) and is reported, by its first
    assert [(p.path, p.time) for p in exif.photos] == [
        (a, epoch("2026-11-01T01:30:00-04:00")),
        (b, epoch("2026-11-01T01:20:00-05:00")),
    ]
    assert [(p.path, p.reason.split(",")[0]) for p in exif.problems] == [
        (c, "out of order: taken 2026-11-01T05:20:00+00:00")
    ]


def test_hostile_file_names_are_reported_not_crashed_on(tmp_path: Path) -> None:
    names = ["new\nline.jpg", "[bold red]x[\\].jpg", "-rf.jpg", "ünïcödé 空.jpg"]
    for name in names:
        (tmp_path / name).write_bytes(b"\xff\xd8 not really")
    raw = os.fsencode(tmp_path) + b"/bad\xffbyte.jpg"
    with open(raw, "wb") as f:
        f.write(b"junk")
    scan = scan_photos([tmp_path])
    assert scan.photos == []
    assert len(scan.problems) == 5
    for problem in scan.problems:
        line = str(problem)
        assert "\n" not in line
        line.encode("utf-8")  # printable on any UTF-8 terminal (no lone surrogates)
    assert any("bad\\udcffbyte.jpg" in str(p) for p in scan.problems)
    assert show_path(Path("new\nline.jpg")) == "new\\nline.jpg"


def test_list_photos_takes_files_and_folders_in_natural_order(tmp_path: Path) -> None:
    for name in ["img-10.jpg", "img-9.JPG", ".hidden.jpg", "x.gif"]:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / ".thumbs").mkdir()
    (tmp_path / ".thumbs" / "t.jpg").write_bytes(b"x")
    explicit = tmp_path / "x.gif"
    found = list_photos([tmp_path, explicit])
    assert [p.name for p in found] == ["img-9.JPG", "img-10.jpg", "x.gif"]


# --- grouping and loading ---------------------------------------------------------------


def test_group_photos_within_a_tolerance_anchored_on_the_first() -> None:
    photos = [Photo(Path(f"{t}.jpg"), t) for t in [0.0, 1.0, 2.5, 10.0, 12.0, 14.0, 16.5, 30.0]]
    groups = group_photos(list(reversed(photos)), tolerance_s=3.0)
    assert [[p.time for p in g.photos] for g in groups] == [
        [0.0, 1.0, 2.5],
        [10.0, 12.0],
        [14.0, 16.5],
        [30.0],
    ]
    assert [g.time for g in groups] == [0.0, 10.0, 14.0, 30.0]
    assert group_photos([]) == []
    with pytest.raises(ValueError):
        group_photos(photos, tolerance_s=-1)


def test_a_camera_clock_a_second_off_keeps_its_slot() -> None:
    # three cameras, each in its own folder; at the second instant camera 0's clock runs a
    # second late: by time it would take camera 1's slot (and be warped with its pose)
    photos = [
        Photo(Path(f"rig/cam{c}/img{i}.jpg"), 100.0 * i + (1.0 if (c, i) == (0, 1) else 0.0))
        for i in range(3)
        for c in range(3)
    ]
    groups = group_photos(photos, tolerance_s=3.0)
    assert len(groups) == 3
    for g in groups:
        assert [p.path.parent.name for p in g.photos] == ["cam0", "cam1", "cam2"]
    assert groups[1].time == 100.0  # the instant is still at its first photo's time
    # cam10 after cam9 (natural order), as the registration was made
    many = [Photo(Path(f"rig/cam{c}/a.jpg"), 5.0 - c / 10) for c in (10, 9, 2)]
    assert [p.path.parent.name for p in group_photos(many)[0].photos] == ["cam2", "cam9", "cam10"]


def test_a_photo_too_large_to_decode_is_listed_not_fatal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_photo(tmp_path / "20260601-100000.png", size=(48, 32))
    write_photo(tmp_path / "20260601-100010.png", size=(400, 300), seed=1)
    # Pillow refuses images over twice this many pixels as decompression bombs (a header
    # claiming 20000 x 20000 px does it at the default limit): it crashed scan and build
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 30_000)
    scan = scan_photos([tmp_path], time_pattern="%Y%m%d-%H%M%S")
    assert [p.path.name for p in scan.photos] == ["20260601-100000.png"]
    assert [p.path.name for p in scan.problems] == ["20260601-100010.png"]
    assert "too large" in scan.problems[0].reason
    with pytest.raises(PhotoError, match="too large"):
        load_photo(tmp_path / "20260601-100010.png")


def test_a_16_bit_grey_photo_keeps_its_tones(tmp_path: Path) -> None:
    values = (np.arange(32 * 48).reshape(32, 48) * 40).astype(np.uint16)  # 0 ... 61400
    Image.fromarray(values).save(tmp_path / "grey16.png")
    rgb = load_photo(tmp_path / "grey16.png")  # Pillow's own RGB: all 255 but the darkest
    assert rgb.shape == (32, 48, 3) and rgb.dtype == np.uint8
    assert np.array_equal(rgb[..., 0], (values >> 8).astype(np.uint8))
    assert np.array_equal(rgb[..., 0], rgb[..., 2])


def test_load_photo(tmp_path: Path) -> None:
    p = write_photo(tmp_path / "a.png", size=(40, 20))
    rgb = load_photo(p)
    assert rgb.shape == (20, 40, 3) and rgb.dtype == np.uint8
    gray = tmp_path / "g.png"
    Image.new("L", (8, 4), 7).save(gray)
    assert load_photo(gray).shape == (4, 8, 3)
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 garbage")
    with pytest.raises(PhotoError, match="bad.jpg: cannot decode"):
        load_photo(tmp_path / "bad.jpg")
    with pytest.raises(PhotoError, match="missing.jpg: no such file"):
        load_photo(tmp_path / "missing.jpg")


# --- the order of a camera's photos ------------------------------------------------------


def _series(folder: Path, names: list[str], seconds: list[int]) -> list[Path]:
    """A camera's photos: ``names[i]`` taken ``seconds[i]`` after 2026-06-01 10:00 (EXIF)."""
    start = datetime(2026, 6, 1, 10)
    return [
        write_photo(
            folder / name, taken=f"{start + timedelta(seconds=s):%Y:%m:%d %H:%M:%S}", seed=i
        )
        for i, (name, s) in enumerate(zip(names, seconds, strict=True))
    ]


def test_a_clock_that_jumps_forward_loses_that_photo_not_the_rest(tmp_path: Path) -> None:
    seconds = [10 * i for i in range(8)]
    seconds[3] = 9 * 3600  # one photo's clock jumped to 19:00; the photos after it are right
    paths = _series(tmp_path, [f"img-{i}.jpg" for i in range(8)], seconds)
    scan = scan_photos([tmp_path])
    assert [p.path for p in scan.photos] == paths[:3] + paths[4:]
    assert [(p.path, p.reason) for p in scan.problems] == [
        (paths[3], f"out of order: taken 2026-06-01T19:00:00+00:00, after {paths[4]} listed later")
    ]


def test_a_name_that_sorts_first_loses_only_itself(tmp_path: Path) -> None:
    names = ["0-copy.jpg"] + [f"img-{i}.jpg" for i in range(6)]
    paths = _series(tmp_path, names, [2 * 3600] + [10 * i for i in range(6)])
    scan = scan_photos([tmp_path])
    assert [p.path for p in scan.photos] == paths[1:]
    assert [p.path for p in scan.problems] == paths[:1]
    assert scan.problems[0].reason.startswith("out of order: taken 2026-06-01T12:00:00")


def test_a_counter_that_wraps_keeps_the_photos_on_both_sides(tmp_path: Path) -> None:
    # IMG_9996 ... IMG_9999, then the counter starts again at IMG_0000: name order lists the
    # later photos first; their times go on from the others', 10 s apart across the wrap
    names = [f"IMG_{n:04d}.JPG" for n in (9996, 9997, 9998, 9999, 0, 1, 2, 3)]
    paths = _series(tmp_path / "wrap", names, [10 * i for i in range(8)])
    scan = scan_photos([tmp_path / "wrap"])
    assert scan.problems == []
    assert [p.path for p in scan.photos] == paths
    # no wrap: the IMG_99xx photos are an hour before the others, not the step before them
    early = _series(tmp_path / "early", names, [10 * i - 3600 * (i < 4) for i in range(8)])
    again = scan_photos([tmp_path / "early"])
    assert [p.path for p in again.photos] == early[4:]
    assert [p.path for p in again.problems] == early[:4]
    assert all(p.reason.endswith(f"before {early[7]} listed earlier") for p in again.problems)


# --- times no clock can have, files the scan used to drop or refuse ----------------------


@pytest.mark.parametrize("offset", ["+99:00", "+24:00", "-15:00", "+02:60"])
def test_an_impossible_exif_offset_skips_the_photo_with_its_reason(
    tmp_path: Path, offset: str
) -> None:
    good = write_photo(tmp_path / "a.jpg", taken="2026:06:01 10:00:00", offset="+14:00")
    bad = write_photo(tmp_path / "b.jpg", taken="2026:06:01 10:00:10", offset=offset, seed=1)
    scan = scan_photos([tmp_path])
    assert [p.path for p in scan.photos] == [good]
    assert [(p.path, p.reason) for p in scan.problems] == [
        (bad, f"EXIF OffsetTimeOriginal '{offset}' is not a UTC offset (-14:00 to +14:00)")
    ]
    with pytest.raises(PhotoTimeError, match=r"b\.jpg: EXIF OffsetTimeOriginal"):
        photo_time(bad)


def test_a_clock_never_set_skips_the_photo_with_its_reason(tmp_path: Path) -> None:
    # years a build cannot make a date of (9999 + 1 h is year 10000): they crashed it
    good = write_photo(tmp_path / "a.jpg", taken="2026:06:01 10:00:00")
    late = write_photo(tmp_path / "b.jpg", taken="9999:12:31 23:59:59", offset="-01:00", seed=1)
    early = write_photo(tmp_path / "c.jpg", taken="0001:01:01 00:00:00", offset="+01:00", seed=2)
    named = write_photo(tmp_path / "d_00010101-000000.png", seed=3)
    scan = scan_photos([tmp_path], time_pattern="%Y%m%d-%H%M%S", tz=EASTERN)
    assert [p.path for p in scan.photos] == [good]
    assert [(p.path, p.reason) for p in scan.problems] == [
        (late, "EXIF time '9999:12:31 23:59:59' is not between 1970 and 2100 (a clock never set?)"),
        (
            early,
            "EXIF time '0001:01:01 00:00:00' is not between 1970 and 2100 (a clock never set?)",
        ),
        (
            named,
            "the time in the name ('00010101-000000') is not between 1970 and 2100 "
            "(a clock never set?)",
        ),
    ]


def test_hidden_photos_are_listed_as_skipped(tmp_path: Path) -> None:
    good = write_photo(tmp_path / "img-1.jpg", taken="2026:06:01 10:00:00")
    hidden = [
        write_photo(tmp_path / name, taken="2026:06:01 10:00:10", seed=i)
        for i, name in enumerate(["..img-45.jpg", ".img.jpg", ".thumbs/t.jpg"])
    ]
    scan = scan_photos([tmp_path])
    assert [p.path for p in scan.photos] == [good]
    assert sorted(p.path for p in scan.problems) == sorted(hidden)
    assert all(p.reason.startswith("hidden") for p in scan.problems)
    # named on the command line, a hidden photo is read like any other
    assert [p.path for p in scan_photos([hidden[1]]).photos] == [hidden[1]]


def test_a_jpeg_with_bytes_after_its_end_is_read_and_a_cut_one_is_not(tmp_path: Path) -> None:
    whole = write_photo(tmp_path / "a.jpg", taken="2026:06:01 10:00:00")
    trailer = write_photo(tmp_path / "b.jpg", taken="2026:06:01 10:00:10", seed=1)
    trailer.write_bytes(trailer.read_bytes() + b"TRAILER\x00" * 1000)  # after the end marker
    # an end-of-image marker inside a segment (as in an EXIF thumbnail) is not the end
    cut = tmp_path / "c.jpg"
    rng = np.random.default_rng(2)
    noise = Image.fromarray(rng.integers(0, 255, (32, 48, 3), dtype=np.uint8))
    noise.save(cut, comment=b"\xff\xd9" * 8)
    cut.write_bytes(cut.read_bytes()[:-100])
    scan = scan_photos([whole, trailer, cut])
    assert [p.path for p in scan.photos] == [whole, trailer]
    assert [(p.path, p.reason) for p in scan.problems] == [
        (cut, "truncated JPEG (no end-of-image marker)")
    ]
