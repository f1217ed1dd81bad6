"""Reading and writing RISE metadata: strict validation, byte-for-byte round trips."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from smokewatch.core.clip import DEFAULT_URL_ROOT, ClipName, url_part_for
from smokewatch.core.metadata import (
    METADATA_FIELDS,
    SPLIT_FIELDS,
    dumps_json,
    read_metadata,
    write_metadata,
)
from smokewatch.errors import MetadataError

NAME = "0-3-2019-02-03-3544-899-4026-1381-180-180-9722-1549217375-1549217550"


def record(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "camera_id": 0, "view_id": 3, "id": 22392, "label_state": 23, "label_state_admin": -1,
        "start_time": 1549217375, "url_root": "https://smoke.createlab.org/videos/180/",
        "url_part": f"2019-02-03/0-3/{NAME}.mp4", "file_name": NAME,
    }  # fmt: skip
    base.update(changes)
    return base


def write_json(tmp_path: Path, data: object, name: str = "meta.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def test_round_trip_is_byte_identical(tmp_path: Path) -> None:
    src = write_json(tmp_path, [record(), record(id=1, label_state=-1, label_state_admin=16)])
    clips = read_metadata(src)
    out = tmp_path / "out.json"
    write_metadata(clips, out)
    assert out.read_bytes() == src.read_bytes()


def test_csv_round_trip(tmp_path: Path) -> None:
    clips = read_metadata(write_json(tmp_path, [record(), record(id=2, url_root=None)]))
    csv_path = tmp_path / "meta.csv"
    write_metadata(clips, csv_path)
    assert csv_path.read_text().splitlines()[0] == ",".join(METADATA_FIELDS)
    again = read_metadata(csv_path)
    assert [c.id for c in again] == [22392, 2]
    assert again[0].url_part == clips[0].url_part
    # a record read without a url is written with RISE's derived one, never null
    assert again[1].url_root == DEFAULT_URL_ROOT
    assert again[1].url_part == url_part_for(again[1].name)
    assert again[0].label_state == 23


def test_split_records_written_as_metadata_get_rises_urls(tmp_path: Path) -> None:
    """Finding: a split-file record (no url fields) written in the dataset layout got
    ``"url_root": null``; RISE always writes both strings."""
    src = write_json(tmp_path, [record()])
    data = json.loads(src.read_text())
    for key in ("url_root", "url_part"):
        del data[0][key]
    src.write_text(json.dumps(data))
    out = tmp_path / "out.json"
    write_metadata(read_metadata(src), out)
    written = json.loads(out.read_text())[0]
    assert written["url_root"] == DEFAULT_URL_ROOT
    assert written["url_part"] == url_part_for(ClipName.from_file_name(written["file_name"]))


@pytest.mark.parametrize("cell", ["--23", "²", "２３", "2 3", "+-1"])
def test_csv_integers_are_ascii_digits_or_one_line(tmp_path: Path, cell: str) -> None:
    """Finding: ``--23`` and ``²`` passed an isdigit check and crashed ``int``; full-width
    ``２３`` was read as 23."""
    path = tmp_path / "meta.csv"
    write_metadata(read_metadata(write_json(tmp_path, [record()])), path)
    header, row = path.read_text(encoding="utf-8").splitlines()
    cells = row.split(",")
    cells[header.split(",").index("label_state")] = cell
    path.write_text(header + "\n" + ",".join(cells) + "\n", encoding="utf-8")
    with pytest.raises(MetadataError, match="field 'label_state': expected an integer"):
        read_metadata(path)


def test_csv_with_a_byte_order_mark_reads(tmp_path: Path) -> None:
    """What spreadsheet programs write: the BOM is not part of the first column's name."""
    path = tmp_path / "meta.csv"
    write_metadata(read_metadata(write_json(tmp_path, [record()])), path)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert [c.id for c in read_metadata(path)] == [22392]


@pytest.mark.parametrize(
    ("field", "state"),
    [("label_state", 47), ("label_state", 32), ("label_state_admin", 19),
     ("label_state_admin", 5), ("label_state_admin", 15), ("label_state_admin", 3)],
)  # fmt: skip
def test_a_state_in_the_wrong_column_is_refused(tmp_path: Path, field: str, state: int) -> None:
    """Finding: a researcher's 20 over citizens' 23 was taken, and the clip silently lost its
    label (the final label ignores a researcher's weak state)."""
    src = write_json(tmp_path, [record(**{field: state})])
    with pytest.raises(MetadataError, match=rf"field '{field}': {state} is not a state of the"):
        read_metadata(src)


def test_split_layout_keeps_whole_weights_as_ints(tmp_path: Path) -> None:
    clips = [
        c.with_label()
        for c in read_metadata(
            write_json(tmp_path, [record(), record(id=5, label_state=4, label_state_admin=23)])
        )
    ]
    text = dumps_json(clips, SPLIT_FIELDS)
    assert '"weight": 1}' in text and '"weight": 0.75}' in text
    assert list(json.loads(text)[0]) == list(SPLIT_FIELDS)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"not": "a list"}, "expected a JSON list"),
        ([record(), "x"], r"record 1: expected an object"),
        (
            [record(), record(id=7, start_time="noon")],
            r"record 1, field 'start_time': expected an integer",
        ),
        ([record(camera_id=None)], r"record 0, field 'camera_id': missing"),
        (
            [{k: v for k, v in record().items() if k != "file_name"}],
            r"record 0, field 'file_name': missing",
        ),
        ([record(label_state=7)], r"record 0, field 'label_state': 7 is not a RISE label state"),
        ([record(file_name="clip-1")], r"record 0, field 'file_name': .*not a RISE clip name"),
        (
            [record(view_id=4)],
            r"record 0, field 'file_name': names view 0-3 but the record says 0-4",
        ),
        ([record(), record()], r"record 1, field 'id': duplicate id 22392 \(also record 0\)"),
        ([record(id=True)], r"record 0, field 'id': expected an integer"),
        ([record(label=2)], r"record 0, field 'label': expected 0 or 1"),
        ([record(weight="heavy")], r"record 0, field 'weight'"),
        ([record(url_root=5)], r"record 0, field 'url_root': expected a string"),
        # numbers the database's 32-bit integers cannot hold, and negative ids
        ([record(id=2**31)], r"record 0, field 'id': 2147483648 is outside 0\.\.2147483647"),
        ([record(id=-1)], r"record 0, field 'id': -1 is outside 0\.\.2147483647"),
        (
            [record(start_time=-(2**31) - 1)],
            r"record 0, field 'start_time': -2147483649 is outside",
        ),
        (
            [record(file_name=NAME.replace("-9722-", f"-{2**31}-"))],
            r"record 0, field 'file_name': .*frame 2147483648 is over 2147483647",
        ),
        # file_name is shown in web pages: only a RISE name exactly, never markup before one
        (
            [record(file_name=f"<img src=x onerror=alert(1)>/{NAME}")],
            r"record 0, field 'file_name': '<img src=x onerror=alert\(1\)>/0-3-.*' is not a RISE "
            r"clip name as metadata writes it",
        ),
        (
            [record(file_name=NAME + ".mp4")],
            r"record 0, field 'file_name': .*as metadata writes it",
        ),
        ([record(file_name=NAME + "\n")], r"record 0, field 'file_name': .*not a RISE clip name"),
    ],
)
def test_malformed_records_name_index_and_field(tmp_path: Path, data: object, message: str) -> None:
    path = write_json(tmp_path, data)
    with pytest.raises(MetadataError, match=message) as info:
        read_metadata(path)
    assert str(path) in str(info.value)


def test_invalid_json_names_the_position(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('[{"camera_id": 0,,}]')
    with pytest.raises(MetadataError, match=r"broken.json: invalid JSON at line 1, column 18"):
        read_metadata(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[" * 100_000 + "]" * 100_000, "JSON nested too deeply to be a metadata file"),
        ("[" + "1" * 5000 + "]", "invalid JSON: holds a number too long to read"),
    ],
)
def test_json_the_parser_refuses_is_one_error_naming_the_file(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "deep.json"
    path.write_text(text)
    with pytest.raises(MetadataError, match=f"deep.json: {message}$"):
        read_metadata(path)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(MetadataError, match="nope.json: no such metadata file"):
        read_metadata(tmp_path / "nope.json")
    with pytest.raises(MetadataError, match="is a folder"):
        read_metadata(tmp_path)


def test_csv_header_must_have_the_fields(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text("id,file_name\n1,x\n")
    with pytest.raises(MetadataError, match="CSV header lacks camera_id"):
        read_metadata(path)


def test_csv_bad_cell_names_row_and_field(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    clips = read_metadata(write_json(tmp_path, [record(), record(id=3)]))
    write_metadata(clips, path)
    lines = path.read_text().splitlines()
    lines[2] = lines[2].replace(",1549217375,", ",soon,")
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(MetadataError, match=r"record 1, field 'start_time'"):
        read_metadata(path)


def test_failed_write_leaves_no_partial_file(tmp_path: Path) -> None:
    clips = read_metadata(write_json(tmp_path, [record()]))
    out = tmp_path / "out" / "meta.json"
    write_metadata(clips, out)
    before = out.read_bytes()
    with pytest.raises(ValueError, match="unknown metadata field"):
        write_metadata(clips, out, fields=("id", "nonsense"))
    assert out.read_bytes() == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["meta.json"]


@pytest.mark.rise
def test_the_real_dataset_round_trips(rise_dir: Path, tmp_path: Path) -> None:
    src = rise_dir / "metadata_02242020.json"
    clips = read_metadata(src)
    assert len(clips) == 12567
    out = tmp_path / "export.json"
    write_metadata(clips, out)
    assert out.read_bytes() == src.read_bytes()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("url_root", "javascript:alert(document.cookie)//"),
        ("url_root", "=cmd|' /C calc'!A0"),
        ("url_root", "//evil.example/"),
        ("url_root", "https://x.example/a b/"),
        ("url_part", "x'><img src=x onerror=alert(1)>.mp4"),
        ("url_part", "../outside.mp4"),
        ("url_part", "-2+3.mp4"),
        ("url_part", '2019/"a".mp4'),
    ],
)
def test_hostile_clip_addresses_are_refused(tmp_path: Path, field: str, value: str) -> None:
    """Finding: a url with a javascript: scheme or markup was imported as given, and RISE's
    own gallery builds links from it by string concatenation (its script then ran)."""
    src = write_json(tmp_path, [record(**{field: value})])
    with pytest.raises(MetadataError, match=rf"record 0, field '{field}': expected"):
        read_metadata(src)


@pytest.mark.parametrize(
    ("root", "part"),
    [
        ("https://smoke.createlab.org/videos/180/", f"2019-02-03/0-3/{NAME}.mp4"),
        ("/videos/", f"{NAME}.mp4"),
        ("http://127.0.0.1:8000", f"/{NAME}.mp4"[1:]),
        # RISE's older thumbnail-server form: the part is a query
        (
            "https://thumbnails-v2.createlab.org/thumbnail",
            "?root=https://tiles.cmucreatelab.org/ecam/timemachines/clairton1/"
            "2019-02-03.timemachine/&boundsLTRB=3544,899,4026,1381&width=180&height=180"
            "&startFrame=9722&format=mp4&fps=12&tileFormat=mp4&nframes=36",
        ),
    ],
)
def test_real_clip_addresses_are_taken(tmp_path: Path, root: str, part: str) -> None:
    clips = read_metadata(write_json(tmp_path, [record(url_root=root, url_part=part)]))
    assert clips[0].url == root + part


def test_csv_cells_a_spreadsheet_would_run_are_quoted(tmp_path: Path) -> None:
    """An address stored before addresses were checked still cannot become a formula."""
    clip = read_metadata(write_json(tmp_path, [record()]))[0]
    clip.url_root = "=cmd|' /C calc'!A0"
    clip.url_part = "@SUM(1+1)"
    path = tmp_path / "out.csv"
    write_metadata([clip], path)
    header, row = path.read_text().splitlines()
    cells = dict(zip(header.split(","), next(csv.reader([row])), strict=True))
    assert cells["url_root"] == "'=cmd|' /C calc'!A0" and cells["url_part"] == "'@SUM(1+1)"
    assert cells["label_state"] == "23" and cells["label_state_admin"] == "-1"  # numbers stay
