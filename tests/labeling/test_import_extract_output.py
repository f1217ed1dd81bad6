"""``clips import`` of what ``clips extract`` leaves: clips flat beside a metadata.json that
numbers them from 1. Importing the folder and then its metadata.json is the same clips twice,
so the second import finds them all already there, whatever numbers each gave them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from smokewatch.cli import app
from smokewatch.core.clip import Clip, ClipName, url_part_for
from smokewatch.core.metadata import write_metadata
from tests.videos import make_clip

runner = CliRunner()


def clip_name(i: int) -> ClipName:
    start = 1549200000 + i * 180
    return ClipName.parse(f"0-1-2019-02-03-10-20-190-200-180-180-{i}-{start}-{start + 175}")


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str) -> Path:
    folder = tmp_path / "data"
    monkeypatch.setenv("SMOKEWATCH_DATA_DIR", str(folder))
    monkeypatch.setenv("SMOKEWATCH_DATABASE_URL", db_url)
    return folder


def extract_output(out: Path, numbers: dict[int, int]) -> Path:
    """An extraction's folder: clip ``i`` numbered ``numbers[i]`` in its metadata.json."""
    records = []
    for i, vid in numbers.items():
        name = clip_name(i)
        make_clip(out / f"{name.format()}.mp4", size=32, seed=i)
        records.append(
            Clip(vid, name.camera_id, name.view_id, -1, -1, name.start_time, name.format(),
                 "/videos/", url_part_for(name))
        )  # fmt: skip
    write_metadata(records, out / "metadata.json")
    return out / "metadata.json"


def test_a_folder_then_its_metadata_is_the_same_clips(data: Path, tmp_path: Path) -> None:
    metadata = extract_output(tmp_path / "clips", {2: 1, 1: 2})  # window then view order
    first = runner.invoke(app, ["clips", "import", str(metadata.parent)])
    assert first.exit_code == 0, first.output
    assert "added 2 clips" in first.stdout  # numbered by the service, by name: 1 then 2
    again = runner.invoke(app, ["clips", "import", str(metadata)])
    assert again.exit_code == 0, again.output
    assert "added 0 clips, 2 already there, 0 conflicts" in again.stdout
    assert "conflict" not in again.stderr


def test_an_extracts_metadata_is_its_folders_import(data: Path, tmp_path: Path) -> None:
    day1 = extract_output(tmp_path / "day1", {1: 1, 2: 2})
    day2 = extract_output(tmp_path / "day2", {3: 1, 4: 2})  # numbered from 1 again
    for metadata in (day1, day2):
        r = runner.invoke(app, ["clips", "import", str(metadata)])
        assert r.exit_code == 0, r.output
        assert "added 2 clips, 0 already there, 0 conflicts" in r.stdout
        assert f"imported as `clips import {metadata.parent}`" in " ".join(r.stderr.split())
    stored = sorted(p.name for p in (data / "videos").rglob("*.mp4"))
    assert stored == sorted(f"{clip_name(i).format()}.mp4" for i in (1, 2, 3, 4))
    again = runner.invoke(app, ["clips", "import", str(day1.parent)])
    assert "added 0 clips, 2 already there, 0 conflicts" in again.stdout
    out = tmp_path / "export.json"
    assert runner.invoke(app, ["labels", "export", "--out", str(out)]).exit_code == 0
    exported = json.loads(out.read_text())
    assert [(c["id"], c["url_root"]) for c in exported] == [(i, "/videos/") for i in (1, 2, 3, 4)]


def test_metadata_without_its_files_beside_it_is_imported_as_records(
    data: Path, tmp_path: Path
) -> None:
    metadata = extract_output(tmp_path / "clips", {1: 1})
    (tmp_path / "clips" / f"{clip_name(1).format()}.mp4").unlink()
    r = runner.invoke(app, ["clips", "import", str(metadata)])
    assert r.exit_code == 0 and "added 1 clips" in r.stdout and "note:" not in r.stderr
    assert not (data / "videos").exists() or not any((data / "videos").rglob("*.mp4"))


def test_records_with_a_remote_address_then_their_folder_play_from_the_store(
    data: Path, tmp_path: Path
) -> None:
    # a database that took an older extract's metadata.json (RISE's remote url_root) as records
    metadata = extract_output(tmp_path / "clips", {1: 1, 2: 2})
    old = json.loads(metadata.read_text())
    for record in old:
        record["url_root"] = "https://smoke.createlab.org/videos/180/"
    remote = tmp_path / "old-metadata.json"
    remote.write_text(json.dumps(old))
    first = runner.invoke(app, ["clips", "import", str(remote)])
    assert first.exit_code == 0 and "added 2 clips" in first.stdout, first.output

    r = runner.invoke(app, ["clips", "import", str(metadata.parent)])
    assert r.exit_code == 0, r.output
    assert "added 0 clips, 2 already there (2 repointed to the files just imported)" in r.stdout
    out = tmp_path / "export.json"
    assert runner.invoke(app, ["labels", "export", "--out", str(out)]).exit_code == 0
    exported = {c["file_name"]: c for c in json.loads(out.read_text())}
    for i in (1, 2):
        clip = exported[clip_name(i).format()]
        assert (clip["url_root"], clip["url_part"]) == ("/videos/", url_part_for(clip_name(i)))
        assert (data / "videos" / clip["url_part"]).is_file()
    again = runner.invoke(app, ["clips", "import", str(metadata.parent)])
    assert "added 0 clips, 2 already there, 0 conflicts" in again.stdout
