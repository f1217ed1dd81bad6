"""Continuous mode end to end: photos posted through the API, worker processes on the real
queue, a clip and an event appear; a worker killed with -9 mid-job loses nothing and doubles
nothing. On SQLite and PostgreSQL (the service), the SQLite queue and Redis."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from watch_helpers import CAMERA, EVERY, SIZE, START, photo, write_config

from smokewatch.labeling.app import create_app
from smokewatch.labeling.cameras import INBOX, add_camera, camera_dir
from smokewatch.labeling.db import open_database
from smokewatch.labeling.tables import Event, EventClip, Video
from smokewatch.settings import Settings
from smokewatch.watch.jobs import camera_lock, make_huey, run_job

REPO = Path(__file__).resolve().parents[2]
PHOTOS = 126  # six windows of 36 frames every 18: the first event (frames 0-71) is settled
SECRET = "test-alert-secret"


def wait_for(what: str, check: Callable[[], bool], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.1)


def start_worker(config: Path, data_dir: Path, db_url: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "SMOKEWATCH_DATABASE_URL": db_url,
        "SMOKEWATCH_CLIP_SIZE": str(SIZE),
        "PYTHONPATH": str(REPO / "src"),
        "SMOKEWATCH_DATA_DIR": str(data_dir),
        "SMOKEWATCH_ALERT_SECRET": SECRET,
        "OMP_NUM_THREADS": "1",
    }
    log = open(data_dir.parent / "worker.log", "ab")  # noqa: SIM115 - the child keeps it
    return subprocess.Popen(
        [sys.executable, "-m", "smokewatch", "watch", "worker", "-c", str(config), "-w", "2"],
        env=env,
        start_new_session=True,  # its own process group: killed as a whole below
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def stop(worker: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if worker.poll() is None:
        os.killpg(worker.pid, sig)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(10)


def test_photos_posted_become_a_clip_and_an_event_and_a_kill_loses_nothing(
    tmp_path: Path,
    db_url: str,
    queue_url: str,
    receiver,
    always_smoke: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data_dir = tmp_path / "data"
    settings = Settings(data_dir=data_dir, database_url=db_url)
    db = open_database(settings)
    with db.write() as session:
        camera, key = add_camera(session, "roof")
        assert camera.id == CAMERA
    pause = tmp_path / "pause"
    pause.mkdir()
    config = write_config(
        tmp_path,
        data_dir,
        always_smoke,
        queue=queue_url,
        pause_dir=str(pause),
        notify=f"[{receiver.url}]",
        service="true",
    )
    huey = make_huey(queue_url, data_dir)
    huey.flush()
    with TestClient(create_app(settings, database=db)) as client:
        for i in range(PHOTOS):
            r = client.post(
                f"/api/v1/cameras/{CAMERA}/photos",
                files={"photo": (f"{i}.png", photo(i), "image/png")},
                data={"taken": str(START + i * EVERY)},
                headers={"Authorization": f"Bearer {key}"},
            )
            assert r.status_code == 201, r.text
    db.dispose()
    assert len(list((camera_dir(data_dir, CAMERA) / INBOX).iterdir())) == PHOTOS

    (pause / "armed").write_text("scored")  # the first job stops after scoring its first window
    worker = start_worker(config, data_dir, db_url)
    try:
        huey.smokewatch_sync(str(config), CAMERA)
        wait_for("the job to pause mid-way", lambda: any(pause.glob("scored.*")))
        stop(worker, signal.SIGKILL)  # kill -9 the whole worker, mid-job
    finally:
        stop(worker)
    day = camera_dir(data_dir, CAMERA) / "days" / "2024-06-11"
    assert json.loads((day / "frames" / "frames.json").read_text())["frames"][-1] == (
        START + (PHOTOS - 1) * EVERY
    )
    assert not (day / "detect" / "detections.json").exists()

    def lock_free() -> bool:
        with camera_lock(data_dir, CAMERA) as held:
            return held

    wait_for("the killed job's lock to die with it", lock_free, timeout=30)

    (pause / "armed").unlink()
    worker = start_worker(config, data_dir, db_url)
    try:
        huey.smokewatch_sync(str(config), CAMERA)  # what the watcher's sweep does
        detections = day / "detect" / "detections.json"
        scan = day / "detect" / "scan.json"
        wait_for(
            "the event, alerted and imported",
            lambda: receiver.events != [] and json.loads(scan.read_text()).get("raised"),
        )
    finally:
        stop(worker)
    # once more, in-process: nothing new to do, nothing doubled (the workers' alert secret:
    # without it, the configuration's webhook target is refused as it is read)
    monkeypatch.setenv("SMOKEWATCH_ALERT_SECRET", SECRET)
    assert [r.events for r in run_job(str(config), CAMERA)] == [[]]

    frames = sorted((day / "frames").glob("*.png"))
    assert len(frames) == PHOTOS
    assert not list((day / "frames").glob(".*"))
    scan = json.loads((day / "detect" / "scan.json").read_text())
    windows = scan["windows"]["1-0"]
    assert [w["start_frame"] for w in windows] == [0, 18, 36, 54, 72, 90]
    clips = sorted(p.name for p in (day / "detect" / "clips").glob("*.mp4"))
    assert len(clips) == len(windows) == len(set(clips))
    found = json.loads(detections.read_text())
    (view,) = found["views"]
    ids = [e["id"] for e in view["events"]]
    assert len(ids) == 1 and (view["events"][0]["start_frame"], view["events"][0]["end_frame"]) == (
        0,
        71,
    )
    assert (day / "detect" / view["events"][0]["evidence_clip"]).is_file()
    assert receiver.events == ids  # each event alerted once
    assert not list((camera_dir(data_dir, CAMERA) / INBOX).iterdir())
    # the event and its clips are in the service (imported once, by the job that raised it)
    db = open_database(settings)
    try:
        with db.read() as session:
            events = session.scalars(select(Event)).all()
            assert [e.detection_id for e in events] == ids
            linked = session.scalars(select(EventClip)).all()
            names = set(session.scalars(select(Video.file_name)).all())
    finally:
        db.dispose()
    assert len(linked) == len(view["events"][0]["windows"])  # the event's windows' clips
    assert names == {name.removesuffix(".mp4") for name in clips}  # events' and uncertain ones
