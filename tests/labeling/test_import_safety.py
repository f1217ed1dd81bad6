"""``clips import`` under attack: links, files that are not clips, and records the database
cannot hold are refused with a line naming them, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from service_helpers import make_settings
from sqlalchemy import func, select
from typer.testing import CliRunner

from smokewatch.cli import app
from smokewatch.labeling.app import create_app
from smokewatch.labeling.db import open_database
from smokewatch.labeling.tables import Video
from smokewatch.settings import load_settings
from tests.videos import garbage_file, make_clip, truncate

runner = CliRunner()
SECRET = b"the token signing key, never to be served"


def clip_name(i: int) -> str:
    start = 1549200000 + i * 180
    return f"0-1-2019-02-03-10-20-190-200-180-180-{i}-{start}-{start + 175}"


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str) -> Path:
    """The service's data folder (holding a secret.key), on the database under test."""
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "secret.key").write_bytes(SECRET)
    monkeypatch.setenv("SMOKEWATCH_DATA_DIR", str(folder))
    monkeypatch.setenv("SMOKEWATCH_DATABASE_URL", db_url)
    return folder


def clip_count() -> int:
    db = open_database(load_settings())
    try:
        with db.read() as session:
            return int(session.scalar(select(func.count()).select_from(Video)) or 0)
    finally:
        db.dispose()


def store_holds(data: Path, content: bytes) -> bool:
    return any(p.is_file() and p.read_bytes() == content for p in (data / "videos").rglob("*"))


def test_links_and_other_non_files_in_the_folder_are_skipped(data: Path, tmp_path: Path) -> None:
    folder = tmp_path / "clips"
    make_clip(folder / f"{clip_name(1)}.mp4", size=32)
    (folder / f"{clip_name(2)}.mp4").symlink_to(data / "secret.key")
    elsewhere = tmp_path / "elsewhere"
    make_clip(elsewhere / f"{clip_name(3)}.mp4", size=32)
    (folder / "linked").symlink_to(elsewhere, target_is_directory=True)
    os.mkfifo(folder / f"{clip_name(4)}.mp4")
    r = runner.invoke(app, ["clips", "import", str(folder)])
    assert r.exit_code == 0, r.output
    assert "added 1 clips" in r.stdout and "3 skipped" in r.stdout
    assert f"{clip_name(2)}.mp4: a symbolic link" in r.stderr
    assert f"{folder / 'linked'}: a symbolic link" in r.stderr
    assert f"{clip_name(4)}.mp4: not a regular file" in r.stderr
    assert "Traceback" not in r.output
    assert not store_holds(data, SECRET)
    assert sorted(p.name for p in (data / "videos").rglob("*.mp4")) == [f"{clip_name(1)}.mp4"]
    strict = runner.invoke(app, ["clips", "import", str(folder), "--strict"])
    assert strict.exit_code == 1 and "added 0 clips, 1 already there" in strict.stdout


def test_hidden_files_a_killed_writer_left_are_passed_over(data: Path, tmp_path: Path) -> None:
    folder = tmp_path / "clips"
    make_clip(folder / f"{clip_name(1)}.mp4", size=32)
    # what clips extract killed mid-write leaves (core.atomic's temporary name), and a
    # hidden folder (a sync tool's)
    make_clip(folder / f".{clip_name(2)}.mp4.k3j9x.part.mp4", size=32, seed=2)
    truncate(folder / f".{clip_name(2)}.mp4.k3j9x.part.mp4")
    make_clip(folder / ".sync" / f"{clip_name(3)}.mp4", size=32, seed=3)
    r = runner.invoke(app, ["clips", "import", str(folder), "--strict"])
    assert r.exit_code == 0, r.output
    assert "added 1 clips" in r.stdout and "skipped" not in r.output
    assert clip_count() == 1


def test_files_that_are_not_whole_clips_are_skipped_and_listed(data: Path, tmp_path: Path) -> None:
    folder = tmp_path / "clips"
    make_clip(folder / f"{clip_name(1)}.mp4", size=32)
    make_clip(folder / f"{clip_name(2)}.mp4", size=32, seed=2)
    truncate(folder / f"{clip_name(2)}.mp4")
    garbage_file(folder / f"{clip_name(3)}.mp4")
    make_clip(folder / f"{clip_name(4)}.mp4", frames=4, size=32)
    (folder / f"{clip_name(5)}.mp4").write_bytes(b"")
    r = runner.invoke(app, ["clips", "import", str(folder)])
    assert r.exit_code == 0, r.output
    assert "added 1 clips" in r.stdout and "4 skipped" in r.stdout
    skipped = [line for line in r.stderr.splitlines() if line.startswith("skipped: ")]
    assert len(skipped) == 4
    for i in (2, 3, 4, 5):
        assert sum(f"{folder / clip_name(i)}.mp4: " in line for line in skipped) == 1
    assert "has 4 frames, expected 36" in r.stderr
    assert ".part" not in r.stderr  # the lines name the user's files, not the staging copies
    assert clip_count() == 1
    assert [p.name for p in (data / "videos").rglob("*") if p.is_file()] == [f"{clip_name(1)}.mp4"]
    strict = runner.invoke(app, ["clips", "import", str(folder), "--strict"])
    assert strict.exit_code == 1 and "4 skipped" in strict.stdout
    assert clip_count() == 1


def test_a_link_in_the_clip_store_to_a_file_outside_it_is_not_served(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'labels.db'}")
    secret = tmp_path / "data" / "secret.key"
    secret.parent.mkdir(parents=True)
    secret.write_bytes(SECRET)
    store = settings.videos_dir / "2019-02-03" / "0-1"
    store.mkdir(parents=True)
    (store / "real.mp4").write_bytes(b"a clip")
    (store / "key.mp4").symlink_to(secret)
    (settings.videos_dir / "up").symlink_to(tmp_path, target_is_directory=True)
    with TestClient(create_app(settings)) as client:
        assert client.get("/videos/2019-02-03/0-1/real.mp4").content == b"a clip"
        for url in ("/videos/2019-02-03/0-1/key.mp4", "/videos/up/data/secret.key"):
            r = client.get(url)
            assert r.status_code == 404 and SECRET not in r.content


def record(i: int, **changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "camera_id": 0, "view_id": 1, "id": i, "label_state": -1, "label_state_admin": -1,
        "start_time": 1549200000 + i * 180, "url_root": "https://cdn.example/180/",
        "url_part": f"2019-02-03/0-1/{clip_name(i)}.mp4", "file_name": clip_name(i),
    }  # fmt: skip
    base.update(changes)
    return base


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        # 32-bit ids: SQLite stored them (and pages holding them could never be sent),
        # PostgreSQL died with a traceback
        (record(2, id=2**31), "record 1, field 'id': 2147483648 is outside 0..2147483647"),
        (record(2, start_time=2**40), "record 1, field 'start_time': 1099511627776 is outside"),
        (
            record(2, file_name=clip_name(2).replace("-2-1549", f"-{2**31}-1549"), camera_id=0),
            "record 1, field 'file_name': ",
        ),
        # markup in front of a real name, which the gallery once put into innerHTML
        (
            record(2, file_name=f"<img src=x onerror=alert(1)>/{clip_name(2)}"),
            "record 1, field 'file_name': '<img src=x onerror=alert(1)>/0-1-2019",
        ),
        # text PostgreSQL's column cannot hold
        (record(2, url_part="x" * 800), "clip 2 (0-1-2019-02-03-"),
    ],
)
def test_records_the_database_cannot_hold_are_refused_by_name(
    data: Path, tmp_path: Path, bad: dict[str, object], message: str
) -> None:
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps([record(1), bad]))
    r = runner.invoke(app, ["clips", "import", str(meta)])
    assert r.exit_code == 2, r.output
    assert r.stderr.startswith("error: ") and message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.output
    assert clip_count() == 0


def test_deeply_nested_metadata_is_one_error_line(data: Path, tmp_path: Path) -> None:
    meta = tmp_path / "deep.json"
    meta.write_text("[" * 50_000 + "]" * 50_000)
    r = runner.invoke(app, ["clips", "import", str(meta)])
    assert r.exit_code == 2, r.output
    assert r.stderr.strip() == f"error: {meta}: JSON nested too deeply to be a metadata file"
