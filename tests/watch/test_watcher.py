"""`smokewatch watch run`: photos dropped into a watched folder are taken into the inbox,
queued, and turned into an event by the worker it starts (a real subprocess tree)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from watch_helpers import CAMERA, EVERY, START, photo, write_config

from smokewatch.labeling.cameras import INBOX, camera_dir

REPO = Path(__file__).resolve().parents[2]


def test_photos_dropped_in_a_watched_folder_become_an_event(
    tmp_path: Path, always_smoke: Path
) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    zone = ZoneInfo("US/Eastern")
    # Half the photos come from an uploader whose clock runs 3 hours ahead: their mtimes are
    # in the future, which must not hold them back.
    old, ahead = time.time() - 60, time.time() + 3 * 3600
    for i in range(110):
        when = datetime.fromtimestamp(START + i * EVERY, zone)
        path = drop / when.strftime("IMG_%Y%m%d_%H%M%S.png")
        path.write_bytes(photo(i))
        os.utime(path, (ahead, ahead) if i % 2 else (old, old))
    (drop / "notes.png").write_bytes(b"not a photo")
    os.utime(drop / "notes.png", (old, old))
    data_dir = tmp_path / "data"
    config = write_config(tmp_path, data_dir, always_smoke)
    text = config.read_text().replace(
        f"  {CAMERA}: {{}}",
        f"  {CAMERA}: {{folder: {drop}, time_pattern: 'IMG_%Y%m%d_%H%M%S'}}",
    )
    config.write_text(text)
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO / "src"),
        "SMOKEWATCH_DATA_DIR": str(data_dir),
        "OMP_NUM_THREADS": "1",
    }
    log = open(tmp_path / "watch.log", "wb")  # noqa: SIM115 - the child writes it
    proc = subprocess.Popen(
        [sys.executable, "-m", "smokewatch", "watch", "run", "-c", str(config), "-w", "2"]
        + ["--poll", "0.2"],
        env=env,
        start_new_session=True,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    detections = camera_dir(data_dir, CAMERA) / "days" / "2024-06-11" / "detect" / "detections.json"

    def events() -> list[str]:
        try:
            found = json.loads(detections.read_text())
        except (OSError, ValueError):
            return []
        return [e["id"] for v in found["views"] for e in v["events"]]

    try:
        deadline = time.monotonic() + 120
        while not events() and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        log.close()
    assert events() == ["1-0-1718107200-1718107910"], (tmp_path / "watch.log").read_text()
    assert sorted(p.name for p in drop.iterdir()) == [".rejected-notes.png"]
    assert "notes.png" in (tmp_path / "watch.log").read_text()
    assert not list((camera_dir(data_dir, CAMERA) / INBOX).iterdir())
