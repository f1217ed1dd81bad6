"""Continuous mode's latency: from a camera's photo upload to its window scored and its event
raised, through the real service endpoint, the real queue and a real worker process.

A synthetic camera posts PHOTOS photos (64 x 64 PNG, one view of 48 px) through
``POST /api/v1/cameras/1/photos`` (the app in-process, via Starlette's TestClient), and after
each one queues the camera's job as ``smokewatch watch run`` does when it sees the inbox
change (its --poll, 1 s by default, adds up to that much on top). A ``smokewatch watch
worker`` process (2 workers) takes the jobs. The model is tiny3d forced to P(smoke) ~ 1, so
every window is smoke and the pipeline's own overhead is what is measured; a real model adds
its inference time per window (see bench/detect*.py figures for I3D on this machine).

    PYTHONPATH=src python bench/watch_latency.py [--queue sqlite|redis://127.0.0.1:6379/15]
        [--photos 200] [--interval 0.25]

Prints, per window-completing photo, the seconds from its upload to the window in
``scan.json``, and per event the seconds from the upload of the photo that settled it to the
event in ``detections.json``; median and max.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from watch_helpers import CAMERA, EVERY, START, photo, write_config, write_model  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queue", default="sqlite")
    parser.add_argument("--photos", type=int, default=200)
    parser.add_argument("--interval", type=float, default=0.25, help="seconds between uploads")
    args = parser.parse_args()

    from fastapi.testclient import TestClient

    from smokewatch.labeling.app import create_app
    from smokewatch.labeling.cameras import add_camera
    from smokewatch.labeling.db import open_database
    from smokewatch.settings import Settings
    from smokewatch.watch.jobs import make_huey

    tmp = Path(tempfile.mkdtemp(prefix="watch-latency-"))
    data_dir = tmp / "data"
    settings = Settings(data_dir=data_dir, database_url=f"sqlite:///{tmp / 'labels.db'}")
    db = open_database(settings)
    with db.write() as session:
        _, key = add_camera(session, "bench")
    config = write_config(tmp, data_dir, write_model(tmp / "model"), queue=args.queue)
    huey = make_huey(args.queue, data_dir)
    huey.flush()
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "SMOKEWATCH_DATA_DIR": str(data_dir)}
    env["OMP_NUM_THREADS"] = "1"
    worker = subprocess.Popen(
        [sys.executable, "-m", "smokewatch", "watch", "worker", "-c", str(config), "-w", "2"],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    day = data_dir / "watch" / "cameras" / str(CAMERA) / "days" / "2024-06-11" / "detect"
    posted: dict[int, float] = {}
    window_seen: dict[int, float] = {}
    event_seen: dict[str, float] = {}

    def observe() -> None:
        now = time.monotonic()
        try:
            scan = json.loads((day / "scan.json").read_text())
            for w in scan["windows"]["1-0"]:
                window_seen.setdefault(w["end_frame"], now)
            found = json.loads((day / "detections.json").read_text())
            for v in found["views"]:
                for e in v["events"]:
                    event_seen.setdefault(e["id"], now)
        except (OSError, ValueError, KeyError):
            pass

    try:
        with TestClient(create_app(settings, database=db)) as client:
            time.sleep(3.0)  # let the worker import torch before the clock starts
            for i in range(args.photos):
                r = client.post(
                    f"/api/v1/cameras/{CAMERA}/photos",
                    files={"photo": (f"{i}.png", photo(i), "image/png")},
                    data={"taken": str(START + i * EVERY)},
                    headers={"Authorization": f"Bearer {key}"},
                )
                r.raise_for_status()
                posted[i] = time.monotonic()
                huey.smokewatch_sync(str(config), CAMERA)
                until = posted[i] + args.interval
                while time.monotonic() < until:
                    observe()
                    time.sleep(0.01)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                observe()
                if window_seen and max(window_seen) >= args.photos - 18:
                    break
                time.sleep(0.01)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(30)
        db.dispose()
    windows = [window_seen[f] - posted[f] for f in sorted(window_seen)]
    found = json.loads((day / "detections.json").read_text())
    events = []
    for v in found["views"]:
        for e in v["events"]:
            # settled by the window ending 18 frames after the next piece reaches 36 frames
            settling = max(
                w["end_frame"] for w in v["windows"] if w["start_frame"] <= e["end_frame"] + 18
            )
            settling = min(settling, max(posted))
            events.append(event_seen[e["id"]] - posted[settling])
    print(f"queue {args.queue}, {args.photos} photos every {args.interval:g} s, 2 worker processes")
    print(
        f"upload -> window scored: {len(windows)} windows, "
        f"median {statistics.median(windows):.2f} s, max {max(windows):.2f} s"
    )
    if events:
        print(
            f"upload -> event raised:  {len(events)} events, "
            f"median {statistics.median(events):.2f} s, max {max(events):.2f} s"
        )
    print("add the watcher's --poll (default 1 s) when photos come through `smokewatch watch run`")


if __name__ == "__main__":
    main()
