"""One job per camera: a photo that comes while the holder makes its last pass is not left
for the next sweep (its own job found the camera busy and returned)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from watch_helpers import CAMERA, EVERY, START, photo, write_config

import smokewatch.watch.jobs as jobs
from smokewatch.labeling.cameras import INBOX, camera_dir, store_photo
from smokewatch.watch.pipeline import SyncReport
from smokewatch.watch.pipeline import sync_camera as real


def test_a_photo_that_comes_during_the_holders_last_pass_is_taken_by_the_holder(
    tmp_path: Path, always_smoke: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    config = write_config(tmp_path, data, always_smoke)
    for i in range(3):
        store_photo(data, CAMERA, photo(i), taken=START + i * EVERY, max_bytes=1 << 20)
    at_end, go = threading.Event(), threading.Event()

    def sync_camera(*args: object, **kwargs: object) -> SyncReport:
        report = real(*args, **kwargs)  # type: ignore[arg-type]
        if not report.changed and threading.current_thread().name == "A" and not go.is_set():
            at_end.set()  # the holder, after its last pass read the inbox, before it lets go
            go.wait(30)
        return report

    monkeypatch.setattr(jobs, "sync_camera", sync_camera)
    holder: list[list[SyncReport]] = []
    a = threading.Thread(target=lambda: holder.append(jobs.run_job(str(config), CAMERA)), name="A")
    a.start()
    try:
        assert at_end.wait(30)
        store_photo(data, CAMERA, photo(99), taken=START + 10 * EVERY, max_bytes=1 << 20)
        assert jobs.run_job(str(config), CAMERA) == []  # the new photo's job: camera busy
    finally:
        go.set()
        a.join(30)
    assert sum(r.frames_added for r in holder[0]) == 4  # the holder took it
    assert not list((camera_dir(data, CAMERA) / INBOX).iterdir())


def test_a_photo_the_last_pass_keeps_does_not_make_the_holder_loop(
    tmp_path: Path, always_smoke: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a registration, the newest instant's photos wait in the inbox for the rest of
    their group: the holder's look after letting go must not take them for new ones."""
    data = tmp_path / "data"
    config = write_config(tmp_path, data, always_smoke)
    store_photo(data, CAMERA, photo(0), taken=START, max_bytes=1 << 20)
    passes: list[SyncReport] = []

    def keeps_it(*args: object, **kwargs: object) -> SyncReport:
        passes.append(SyncReport())
        assert len(passes) < 3, "the holder loops"
        return passes[-1]

    monkeypatch.setattr(jobs, "sync_camera", keeps_it)
    assert jobs.run_job(str(config), CAMERA) == passes and len(passes) == 1
