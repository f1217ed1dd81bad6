"""clips.views: both file shapes, errors naming file and view, boxes from RISE metadata."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smokewatch.clips.views import (
    dump_views,
    dumps_views,
    load_views,
    parse_views,
    select_camera,
    split_view_key,
    views_from_metadata,
)
from smokewatch.core.clip import Box, Clip
from smokewatch.core.metadata import read_metadata
from smokewatch.errors import ViewsError

RISE = Path(__file__).resolve().parents[2].parent / "shared" / "rise"

NESTED_YAML = """\
cameras:
  0:
    views:
      1: [5776, 952, 6279, 1455]
      0: [6304, 964, 6807, 1467]
  2:
    views:
      0: {left: 10, top: 20, right: 30, bottom: 40}
"""


def test_load_nested_yaml(tmp_path: Path) -> None:
    path = tmp_path / "views.yaml"
    path.write_text(NESTED_YAML)
    views = load_views(path)
    assert list(views) == ["0-0", "0-1", "2-0"]  # camera/view order, not file order
    assert views["0-0"] == Box(6304, 964, 6807, 1467)
    assert views["2-0"].ltrb == (10, 20, 30, 40)


def test_load_flat_json(tmp_path: Path) -> None:
    path = tmp_path / "views.json"
    path.write_text(json.dumps({"0-10": [1, 2, 3, 4], "0-2": [5, 6, 7, 8]}))
    assert load_views(path) == {"0-2": Box(5, 6, 7, 8), "0-10": Box(1, 2, 3, 4)}
    assert list(load_views(path)) == ["0-2", "0-10"]


@pytest.mark.parametrize("fmt, suffix", [("yaml", ".yaml"), ("json", ".json")])
def test_dump_round_trips(tmp_path: Path, fmt: str, suffix: str) -> None:
    views = {"0-0": Box(1, 2, 3, 4), "0-14": Box(10, 20, 30, 40), "2-1": Box(0, 0, 9, 9)}
    path = tmp_path / f"v{suffix}"
    dump_views(views, path)
    assert load_views(path) == views
    assert parse_views(json.loads(dumps_views(views, fmt="json"))) == views
    with pytest.raises(ValueError):
        dumps_views(views, fmt="toml")


@pytest.mark.parametrize(
    "text, message",
    [
        ("cameras:\n  0:\n    views:\n      3:\n", r"view 0-3: no box"),
        ("cameras:\n  0:\n    views:\n      3: [1, 2, 3]\n", r"view 0-3: box \[1, 2, 3\] is not"),
        ("cameras:\n  0:\n    views:\n      3: [1, 2, a, 4]\n", r"view 0-3: box .* 4 integers"),
        ("cameras:\n  0:\n    views:\n      3: [5, 2, 3, 4]\n", r"view 0-3: box .* is empty"),
        ("cameras:\n  0:\n    views:\n      3: [-1, 2, 3, 4]\n", r"view 0-3: box .* negative"),
        ("cameras:\n  0:\n    views:\n      3: {left: 1, top: 2}\n", r"0-3: box lacks .right."),
        ("cameras:\n  0:\n    boxes: {}\n", r"camera 0: expected 'views'"),
        ("cameras:\n  0:\n    views: {}\n", r"camera 0: has no views"),
        ("cameras:\n  x:\n    views: {0: [1, 2, 3, 4]}\n", r"camera id 'x'"),
        ("cameras:\n  0:\n    views: {v: [1, 2, 3, 4]}\n", r"camera 0: view id 'v'"),
        ("cameras: {}\nextra: 1\n", r"unknown top-level keys \['extra'\]"),
        ("'0_1': [1, 2, 3, 4]\n", r"'0_1' is not a camera view"),
        ("- [1, 2, 3, 4]\n", r"expected a mapping"),
        ("", r"expected a mapping"),
        ("cameras: [\n", r"cannot parse"),
    ],
)
def test_malformed_views_name_file_and_view(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad-views.yaml"
    path.write_text(text)
    with pytest.raises(ViewsError, match=message) as info:
        load_views(path)
    assert str(path) in str(info.value)


def test_duplicate_view_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "v.json"
    path.write_text('{"cameras": {"0": {"views": {"1": [1,2,3,4], "01": [1,2,3,4]}}}}')
    with pytest.raises(ViewsError, match="view 0-1 is listed twice"):
        load_views(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ViewsError, match=r"nope.yaml: no such views file"):
        load_views(tmp_path / "nope.yaml")


def test_select_camera() -> None:
    views = {"0-0": Box(1, 2, 3, 4), "0-1": Box(1, 2, 3, 4), "2-0": Box(1, 2, 3, 4)}
    assert list(select_camera(views, 0)) == ["0-0", "0-1"]
    assert select_camera(views, None) == views
    with pytest.raises(ViewsError, match=r"no views for camera 1 \(cameras: \[0, 2\]\)"):
        select_camera(views, 1)
    assert split_view_key("0-14") == (0, 14)


def _clip(i: int, name: str) -> Clip:
    cam, view = (int(x) for x in name.split("-")[:2])
    return Clip(i, cam, view, -1, -1, int(name.split("-")[-2]), name)


def test_views_from_metadata_takes_most_common_box_and_warns() -> None:
    a = "0-0-2018-06-11-6304-964-6807-1467-180-180-3470-1528712115-1528712290"
    a2 = "0-0-2018-06-12-6304-964-6807-1467-180-180-3470-1528798515-1528798690"
    b = "0-0-2018-07-01-6300-960-6803-1463-180-180-3470-1530442115-1530442290"
    c = "2-1-2018-07-01-874-1602-1380-2108-180-180-3470-1530442115-1530442290"
    with pytest.warns(UserWarning, match=r"0-0 \[6304, 964, 6807, 1467\] \(2 of 3 clips"):
        views = views_from_metadata([_clip(1, a), _clip(2, b), _clip(3, a2), _clip(4, c)])
    assert views == {"0-0": Box(6304, 964, 6807, 1467), "2-1": Box(874, 1602, 1380, 2108)}


def test_views_from_metadata_single_box_is_silent(recwarn: pytest.WarningsRecorder) -> None:
    c = "2-1-2018-07-01-874-1602-1380-2108-180-180-3470-1530442115-1530442290"
    assert views_from_metadata([_clip(1, c)]) == {"2-1": Box(874, 1602, 1380, 2108)}
    assert len(recwarn) == 0


@pytest.mark.rise
@pytest.mark.skipif(not RISE.is_dir(), reason="needs ../shared/rise")
def test_views_from_real_rise_metadata(tmp_path: Path) -> None:
    clips = read_metadata(RISE / "metadata_02242020.json")
    with pytest.warns(UserWarning, match="several boxes"):
        views = views_from_metadata(clips)
    # The README's facts: 19 views, camera 0 views 0-14, camera 1 view 0, camera 2 views 0-2.
    expected = [f"0-{v}" for v in range(15)] + ["1-0"] + [f"2-{v}" for v in range(3)]
    assert list(views) == expected
    assert all(b.width > 400 and abs(b.width - b.height) <= 1 for b in views.values())
    dump_views(views, tmp_path / "rise.yaml")
    assert load_views(tmp_path / "rise.yaml") == views


@pytest.mark.parametrize("cam", ["²", "١٢", "２"])
def test_ids_in_digits_that_are_not_ascii_are_one_error(cam: str) -> None:
    """``'²'.isdigit()`` is true but ``int`` refuses it (a traceback), and ``int`` reads
    ``'١٢'`` as 12: ids are ASCII digits, as in metadata files."""
    data = {"cameras": {cam: {"views": {0: [0, 0, 10, 10]}}}}
    with pytest.raises(ViewsError, match="camera id .* is not a non-negative integer"):
        parse_views(data)
