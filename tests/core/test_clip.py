"""RISE's clip file-name convention and the Clip record."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smokewatch.core.clip import Box, Clip, ClipName, url_part_for
from smokewatch.errors import ClipNameError

NAME = "0-0-2018-06-11-6304-964-6807-1467-180-180-3470-1528712115-1528712290"


def test_parse_a_real_name() -> None:
    n = ClipName.parse(NAME)
    assert (n.camera_id, n.view_id, n.view) == (0, 0, "0-0")
    assert n.day == date(2018, 6, 11)
    assert n.box.ltrb == (6304, 964, 6807, 1467)
    assert (n.box.width, n.box.height) == (503, 503)
    assert (n.height, n.width, n.start_frame) == (180, 180, 3470)
    assert (n.start_time, n.end_time) == (1528712115, 1528712290)
    assert n.format() == NAME


def test_extension_and_folders_are_ignored() -> None:
    assert ClipName.parse(f"2018-06-11/0-0/{NAME}.mp4") == ClipName.parse(NAME)


@pytest.mark.parametrize(
    "bad",
    [f"<img src=x onerror=alert(1)>/{NAME}", f"2018-06-11/0-0/{NAME}", NAME + ".mp4",
     NAME.replace("-3470-", "-03470-")],
)  # fmt: skip
def test_a_file_name_is_the_name_exactly(bad: str) -> None:
    assert ClipName.from_file_name(NAME) == ClipName.parse(NAME)
    with pytest.raises(ClipNameError, match="not a RISE clip name as metadata writes it"):
        ClipName.from_file_name(bad)


def test_url_part_is_rises() -> None:
    assert url_part_for(ClipName.parse(NAME)) == f"2018-06-11/0-0/{NAME}.mp4"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "clip.mp4",
        NAME.replace("-180-180-", "-180-"),  # a field missing
        NAME.replace("2018-06-11", "2018-13-11"),  # no 13th month
        NAME.replace("6304-964-6807", "6807-964-6304"),  # right < left
        "0-0-2018-06-11-6304-964-6807-1467-180-180-3470-1528712290-1528712115",  # ends first
        NAME + "-1",
        NAME.replace("0-0-", "a-0-", 1),
        NAME + "\n",  # a regex's $ would let the newline through
        NAME.replace("3470", "\u0663\u0664\u0667\u0660"),  # Arabic-Indic digits are digits too
        NAME.replace("3470", str(2**31)),  # no 32-bit integer holds it
    ],
)
def test_malformed_names_are_rejected(bad: str) -> None:
    with pytest.raises(ClipNameError, match="RISE clip name|box|month|before|day|over"):
        ClipName.parse(bad)


@given(
    camera=st.integers(0, 99),
    view=st.integers(0, 99),
    day=st.dates(date(2000, 1, 1), date(2099, 12, 31)),
    left=st.integers(0, 10_000),
    top=st.integers(0, 10_000),
    w=st.integers(1, 2000),
    h=st.integers(1, 2000),
    size=st.integers(1, 1000),
    frame=st.integers(0, 10**6),
    start=st.integers(0, 2 * 10**9),
    span=st.integers(0, 10**4),
)
def test_format_parse_round_trip(
    camera: int, view: int, day: date, left: int, top: int, w: int, h: int,
    size: int, frame: int, start: int, span: int,
) -> None:  # fmt: skip
    name = ClipName(
        camera, view, day, Box(left, top, left + w, top + h), size, size, frame, start, start + span
    )
    assert ClipName.parse(name.format()) == name


def test_empty_box_is_rejected() -> None:
    with pytest.raises(ValueError, match="empty"):
        Box(10, 10, 10, 20)


def test_clip_derives_label_url_and_day() -> None:
    clip = Clip(id=6, camera_id=0, view_id=0, label_state=4, label_state_admin=23,
                start_time=1528712115, file_name=NAME, url_part=None)  # fmt: skip
    assert clip.day == date(2018, 6, 11)
    assert clip.url == f"https://smoke.createlab.org/videos/180/2018-06-11/0-0/{NAME}.mp4"
    labeled = clip.with_label()
    assert (labeled.label, labeled.weight) == (1, 0.75)
    assert clip.label is None  # with_label returns a copy
