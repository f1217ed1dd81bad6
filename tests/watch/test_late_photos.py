"""A photo that arrives after its day is over (a delayed upload, a retry) is dropped with a
logged reason: the day's events were raised whole, and appending a frame would raise them
again, grown, under another id, and alert twice."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from watch_helpers import CAMERA, EVERY, START, photo, write_config

from smokewatch.detect import load_detector
from smokewatch.labeling.cameras import INBOX, camera_dir, store_photo
from smokewatch.watch.config import load_watch_config
from smokewatch.watch.pipeline import sync_camera

#: 19:48 local on START's date: 12 minutes of daylight left (day_end 20)
EVENING = START + 11 * 3600 + 48 * 60


def post(data_dir: Path, times: list[float]) -> None:
    for t in times:
        store_photo(data_dir, CAMERA, photo(int(t)), taken=t, max_bytes=1 << 20)


def frames_of(day: Path) -> list[float]:
    return list(json.loads((day / "frames" / "frames.json").read_text())["frames"])


def event_ids(day: Path) -> list[str]:
    found = json.loads((day / "detect" / "detections.json").read_text())
    return [e["id"] for v in found["views"] for e in v["events"]]


def test_photos_for_a_day_already_over_are_dropped_and_nothing_is_raised_twice(
    tmp_path: Path, always_smoke: Path, receiver, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_config(tmp_path, tmp_path / "data", always_smoke, notify=f"[{receiver.url}]")
    config = load_watch_config(
        path, data_dir=tmp_path / "data", timezone="US/Eastern", alert_secret="s3cret"
    )
    detector = load_detector(always_smoke, cam=False)
    day = camera_dir(config.data_dir, CAMERA) / "days" / "2024-06-11"
    post(config.data_dir, [EVENING + i * EVERY for i in range(50)])  # 19:48:00-19:56:10
    post(config.data_dir, [EVENING + 730])  # 20:00:10, night: the day is over
    first = sync_camera(config, CAMERA, detector=lambda: detector)
    assert first.events == ["1-0-1718149680-1718150170"] and receiver.events == first.events
    evidence = sorted(p.name for p in (day / "detect").rglob("*") if p.is_file())

    # 19:56:20-19:59:50, delayed past the night photo (an upload retried late)
    post(config.data_dir, [EVENING + i * EVERY for i in range(50, 72)])
    with caplog.at_level(logging.INFO, logger="smokewatch.watch.pipeline"):
        late = sync_camera(config, CAMERA, detector=lambda: detector)
    assert (late.frames_added, late.photos_dropped, late.events) == (0, 22, [])
    assert receiver.events == first.events  # alerted once
    assert len(frames_of(day)) == 50
    assert event_ids(day) == first.events
    assert sorted(p.name for p in (day / "detect").rglob("*") if p.is_file()) == evidence
    assert not list((camera_dir(config.data_dir, CAMERA) / INBOX).iterdir())
    dropped = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert len(dropped) == 22 and all("day 2024-06-11 is over" in m for m in dropped)
    assert all(r.levelno == logging.WARNING for r in caplog.records if "dropped" in r.message)


def test_a_photo_for_a_day_after_which_a_later_day_began_is_dropped(
    tmp_path: Path, always_smoke: Path
) -> None:
    """The other way a day is over: the next day's first frame came (no night photo)."""
    path = write_config(tmp_path, tmp_path / "data", always_smoke)
    config = load_watch_config(path, data_dir=tmp_path / "data", timezone="US/Eastern")
    detector = load_detector(always_smoke, cam=False)
    post(config.data_dir, [START + i * EVERY for i in range(5)])
    post(config.data_dir, [START + 24 * 3600])  # 08:00 the next morning
    sync_camera(config, CAMERA, detector=lambda: detector)
    post(config.data_dir, [START + 5 * EVERY])  # the first day's, after its last frame
    late = sync_camera(config, CAMERA, detector=lambda: detector)
    assert (late.frames_added, late.photos_dropped) == (0, 1)
    days = camera_dir(config.data_dir, CAMERA) / "days"
    assert len(frames_of(days / "2024-06-11")) == 5 and len(frames_of(days / "2024-06-12")) == 1
