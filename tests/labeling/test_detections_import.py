"""``clips import --from-detections``: a detection run's event clips and most uncertain
windows into the queue with a priority, and its events with their evidence, on SQLite and
PostgreSQL; idempotent; missing files listed and skipped; bad files refused in one line."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from detection_runs import GIF, RunView, write_run
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from smokewatch.cli import app
from smokewatch.labeling.app import create_app
from smokewatch.labeling.db import open_database
from smokewatch.labeling.tables import Event, EventClip, Video
from smokewatch.settings import load_settings

runner = CliRunner()
SECRET = b"the token signing key, never to be served"
HOSTILE_ID = '<img src=x onerror="alert(1)">[red]e2[/red]'
#: view 0: an event over windows 2-4; outside it, nearest 0.5: window 1 (0.02), 6 (0.05),
#: then 7 (0.1), 5 (0.2), 0 (0.4); view 1: an event over windows 1-2, window 0 at 0.25
VIEWS = [
    RunView(0, 1, [0.1, 0.52, 0.9, 0.95, 0.97, 0.3, 0.45, 0.6], [("e1", [2, 3, 4])]),
    RunView(0, 2, [0.25, 0.91, 0.99], [(HOSTILE_ID, [1, 2])]),
]


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "secret.key").write_bytes(SECRET)
    monkeypatch.setenv("SMOKEWATCH_DATA_DIR", str(folder))
    monkeypatch.setenv("SMOKEWATCH_DATABASE_URL", db_url)
    monkeypatch.setenv("SMOKEWATCH_TIMEZONE", "US/Eastern")
    return folder


def imported(*args: str) -> Any:
    return runner.invoke(app, ["clips", "import", *args])


def clips() -> dict[str, int]:
    """file name -> priority of every clip in the database."""
    db = open_database(load_settings())
    try:
        with db.read() as s:
            return {str(n): int(p) for n, p in s.execute(select(Video.file_name, Video.priority))}
    finally:
        db.dispose()


def events() -> list[tuple[str, int, list[str]]]:
    """(detection id, view, the file names of its clips) of every event, by view and start."""
    db = open_database(load_settings())
    try:
        with db.read() as s:
            out = []
            for e in s.scalars(select(Event).order_by(Event.view_id, Event.start_time)):
                names = s.scalars(
                    select(Video.file_name)
                    .join(EventClip, EventClip.video_id == Video.id)
                    .where(EventClip.event_id == e.id)
                    .order_by(Video.start_time)
                )
                out.append((e.detection_id, e.view_id, list(names)))
            return out
    finally:
        db.dispose()


def test_a_timelapse_run_imports_its_event_clips_and_the_most_uncertain(
    data: Path, tmp_path: Path
) -> None:
    run = write_run(tmp_path / "run", VIEWS)
    r = imported("--from-detections", str(run.path), "--uncertain", "2", "--priority", "5")
    assert r.exit_code == 0, r.output
    # the convention, written out once: DIR/clips/<RISE name>.mp4, the camera's local day
    assert run.names[(0, 2)] == "0-1-2019-01-01-100-50-280-230-180-180-36-1546351380-1546351555"
    events_0 = [run.names[(0, k)] for k in (2, 3, 4)]
    events_1 = [run.names[(1, k)] for k in (1, 2)]
    uncertain = [run.names[(0, 1)], run.names[(0, 6)]]  # not 1-0 (0.2 from 0.5) nor 0-7
    assert clips() == {n: 5 for n in events_0 + events_1 + uncertain}
    assert events() == [("e1", 1, events_0), (HOSTILE_ID, 2, events_1)]
    assert "added 7 clips, 0 already there, 0 conflicts; priority 5 given to 7 clips" in r.stdout
    assert "events: 2 added, 0 already there" in r.stdout
    # the clips are in the store where the service serves them; the evidence in its own
    for name in clips():
        view = name[: name.index("-2019")]
        assert (data / "videos" / "2019-01-01" / view / f"{name}.mp4").is_file()
    stored = sorted(p.suffix for p in (data / "evidence").iterdir())
    assert stored == [".gif", ".mp4", ".mp4"]  # the two events' GIFs are the same bytes
    assert not [p for p in (data / "evidence").iterdir() if p.name.startswith(".")]

    # again: nothing new, and a lower priority never lowers one
    again = imported("--from-detections", str(run.path), "--uncertain", "2", "--priority", "3")
    assert again.exit_code == 0, again.output
    assert "added 0 clips, 7 already there" in again.stdout and "given to 0 clips" in again.stdout
    assert "events: 0 added, 2 already there" in again.stdout
    assert clips() == {n: 5 for n in events_0 + events_1 + uncertain}
    assert len(events()) == 2 and len(list((data / "evidence").iterdir())) == 3
    # a higher one raises it; more uncertain windows are added (0-7 at 0.1, 0-5 at 0.2; not
    # 1-0 at 0.25)
    higher = imported("--from-detections", str(run.path), "--uncertain", "4", "--priority", "9")
    assert higher.exit_code == 0, higher.output
    more = [run.names[(0, 7)], run.names[(0, 5)]]
    assert clips() == {n: 9 for n in events_0 + events_1 + uncertain + more}
    assert len(events()) == 2


def test_a_clips_run_imports_the_files_its_windows_name(data: Path, tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", VIEWS, clips_mode=True)
    assert not (run.folder / "clips").exists()
    detections = json.loads(run.path.read_text())
    assert detections["views"][0]["windows"][2]["file"] == f"scored/{run.names[(0, 2)]}.mp4"
    # an absolute path is taken as it is
    detections["views"][1]["windows"][1]["file"] = str(run.files[(1, 1)])
    run.path.write_text(json.dumps(detections))
    r = imported("--from-detections", str(run.path), "--uncertain", "0")
    assert r.exit_code == 0, r.output
    wanted = [run.names[(0, k)] for k in (2, 3, 4)] + [run.names[(1, k)] for k in (1, 2)]
    assert clips() == {n: 1 for n in wanted}
    assert [len(names) for _, _, names in events()] == [3, 2]


def test_clips_are_named_in_the_runs_zone_not_the_services(data: Path, tmp_path: Path) -> None:
    # 14:00 UTC on 1 January 2019 is already 2 January in Kiritimati (UTC+14): the run named
    # its clips with that date, and the service (US/Eastern, 1 January) must find them
    run = write_run(tmp_path / "run", VIEWS, zone="Pacific/Kiritimati")
    assert run.detections.time_zone == "Pacific/Kiritimati"
    assert run.names[(0, 2)].startswith("0-1-2019-01-02-")
    r = imported("--from-detections", str(run.path), "--uncertain", "0")
    assert r.exit_code == 0, r.output
    assert "missing" not in r.output
    wanted = [run.names[(0, k)] for k in (2, 3, 4)] + [run.names[(1, k)] for k in (1, 2)]
    assert clips() == {n: 1 for n in wanted}
    assert (data / "videos" / "2019-01-02" / "0-1").is_dir()


def test_missing_clip_files_are_listed_and_skipped(data: Path, tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", VIEWS, evidence=False)
    run.files[(0, 3)].unlink()  # a window of event e1
    run.files[(0, 6)].unlink()  # an uncertain one
    r = imported("--from-detections", str(run.path), "--uncertain", "2")
    assert r.exit_code == 0, r.output
    missing = [line for line in r.stderr.splitlines() if line.startswith("skipped:")]
    assert len(missing) == 2, r.stderr
    assert f"{run.files[(0, 3)]}: missing (the clip of views[0].windows[3]" in missing[0]
    assert "event e1" in missing[0]
    assert f"{run.files[(0, 6)]}: missing" in missing[1] and "uncertain" in missing[1]
    assert r.stdout.rstrip().endswith("; 2 skipped")
    assert run.names[(0, 3)] not in clips() and len(clips()) == 5
    assert [len(names) for _, _, names in events()] == [2, 2]  # e1 without its missing clip
    strict = imported("--from-detections", str(run.path), "--uncertain", "2", "--strict")
    assert strict.exit_code == 1 and "2 skipped" in strict.stdout


def test_a_file_that_is_not_a_clip_or_a_link_is_skipped(data: Path, tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", VIEWS[:1], evidence=False)
    run.files[(0, 2)].write_bytes(b"not a video")
    run.files[(0, 3)].unlink()
    run.files[(0, 3)].symlink_to(data / "secret.key")
    r = imported("--from-detections", str(run.path), "--uncertain", "0")
    assert r.exit_code == 0, r.output
    assert f"{run.files[(0, 3)]}: a symbolic link" in r.stderr
    assert str(run.files[(0, 2)]) in r.stderr and "2 skipped" in r.stdout
    assert list(clips()) == [run.names[(0, 4)]]
    assert not any(p.read_bytes() == SECRET for p in (data / "videos").rglob("*.mp4"))


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("{not json", "detections.json"),
        ('{"schema": 1, "model": {}, "views": [{"camera_id": 0, "view_id": 1, "windows": '
         '[{"start_frame": 0, "end_frame": 35, "start_time": 0, "end_time": 175, '
         '"probability": 1.5}], "events": []}]}', "views[0].windows[0].probability"),
        ('{"schema": 1, "model": {}, "views": [{"camera_id": 0, "view_id": 1, "windows": [], '
         '"events": [{"id": "e", "windows": [3], "start_time": 0, "end_time": 1, '
         '"start_frame": 0, "end_frame": 1, "max_probability": 0.9}]}]}', "views[0].events[0]"),
    ],
)  # fmt: skip
def test_a_malformed_detections_file_is_one_line_and_exit_2(
    data: Path, tmp_path: Path, text: str, field: str
) -> None:
    path = tmp_path / "detections.json"
    path.write_text(text)
    r = imported("--from-detections", str(path))
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and field in lines[0], r.stderr
    assert "Traceback" not in r.output
    assert clips() == {}


def test_a_database_that_is_not_one_is_one_line(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = write_run(tmp_path / "run", VIEWS)
    bad = tmp_path / "bad.db"
    bad.write_text("not a database")
    monkeypatch.setenv("SMOKEWATCH_DATABASE_URL", f"sqlite:///{bad}")
    r = imported("--from-detections", str(run.path))
    assert r.exit_code == 2, r.output
    assert "cannot open the database" in r.stderr and "bad.db" in r.stderr
    assert "Traceback" not in r.output and r.stderr.count("\n") == 1
    assert bad.read_text() == "not a database"


def test_source_and_from_detections_are_one_or_the_other(data: Path, tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", VIEWS[:1], evidence=False)
    both = imported(str(tmp_path), "--from-detections", str(run.path))
    neither = imported()
    for r in (both, neither):
        assert r.exit_code == 2 and "either SOURCE or --from-detections" in r.stderr


def test_evidence_is_copied_into_its_store_and_served_safely(data: Path, tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", VIEWS[:1])
    outside = tmp_path / "outside.gif"
    outside.write_bytes(GIF)
    gif = run.folder / "evidence" / "0-1-0.gif"
    gif.unlink()
    gif.symlink_to(outside)  # evidence must be a file of the run's own folder
    r = imported("--from-detections", str(run.path), "--uncertain", "0")
    assert r.exit_code == 0, r.output
    assert f"{gif}: leads outside the detections folder" in r.stderr
    stored = list((data / "evidence").iterdir())
    assert [p.suffix for p in stored] == [".mp4"]
    clip = stored[0]
    # a link planted in the store, named as the store names files, is not served either
    planted = data / "evidence" / ("0" * 64 + ".mp4")
    planted.symlink_to(data / "secret.key")
    settings = load_settings()
    db = open_database(settings)
    try:
        with TestClient(create_app(settings, database=db)) as c:
            served = c.get(f"/evidence/{clip.name}")
            assert served.status_code == 200 and served.content == clip.read_bytes()
            assert served.headers["content-type"] == "video/mp4"
            for path in [
                f"/evidence/{planted.name}",
                "/evidence/../secret.key",
                "/evidence/%2e%2e/secret.key",
                "/evidence/..%2fsecret.key",
                f"/evidence/{clip.name}/..",
                "/evidence/" + "0" * 63 + ".mp4",
            ]:
                refused = c.get(path)
                assert refused.status_code == 404, path
                assert SECRET not in refused.content
    finally:
        db.dispose()
    assert os.readlink(planted)  # still there: refused, not removed


def test_too_long_an_event_id_is_refused_by_name(data: Path, tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", [RunView(0, 1, [0.9, 0.9], [("x" * 300, [0, 1])])])
    r = imported("--from-detections", str(run.path))
    assert r.exit_code == 2 and "views[0].events[0].id: 300 characters" in r.stderr
    assert clips() == {}


def test_event_ids_with_markup_are_kept_as_text(data: Path, tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", VIEWS, evidence=False)
    run.files[(1, 1)].unlink()  # the skipped line names the hostile id: as plain text
    r = imported("--from-detections", str(run.path), "--uncertain", "0")
    assert r.exit_code == 0, r.output
    assert f"event {HOSTILE_ID})" in r.stderr
    assert [e[0] for e in events()] == ["e1", HOSTILE_ID]
    db = open_database(load_settings())
    try:
        with db.read() as s:
            assert s.scalar(select(func.count()).select_from(Event)) == 2
    finally:
        db.dispose()
