"""`smokewatch watch sync`, by hand: it takes a camera's watched folder as `watch run` does
(settled photos only), and its summary counts windows per view, as `detect` does.

The CLI's clock is frozen: `time` in :mod:`smokewatch.cli.watch` is a fake whose ``sleep``
moves its monotonic reading on (and can play a writer still writing meanwhile)."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import ModuleType
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner
from watch_helpers import CAMERA, EVERY, START, photo, write_config

from smokewatch.labeling.cameras import INBOX, camera_dir, store_photo

PATTERN = "%Y%m%d-%H%M%S"


class FrozenTime:
    """A monotonic clock that only moves when something sleeps."""

    def __init__(self, during_sleep: Callable[[], None] = lambda: None) -> None:
        self.now = 1000.0
        self.slept: list[float] = []
        self.during_sleep = during_sleep

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.during_sleep()
        self.now += seconds


def watch_cli() -> ModuleType:
    return importlib.import_module("smokewatch.cli.watch")


def sync(config: Path, *args: str) -> tuple[int, list[str]]:
    from smokewatch.cli import app

    result = CliRunner().invoke(app, ["watch", "sync", "-c", str(config), *args])
    return result.exit_code, result.output.strip().splitlines()


def folder_config(tmp_path: Path, model: Path, drop: Path) -> Path:
    config = write_config(tmp_path, tmp_path / "data", model)
    text = config.read_text().replace(
        f"  {CAMERA}: {{}}", f"  {CAMERA}: {{folder: {drop}, time_pattern: '{PATTERN}'}}"
    )
    config.write_text(text)
    return config


def drop_photos(drop: Path, count: int) -> list[Path]:
    zone = ZoneInfo("US/Eastern")
    paths = []
    for i in range(count):
        path = drop / f"{datetime.fromtimestamp(START + i * EVERY, zone).strftime(PATTERN)}.png"
        path.write_bytes(photo(i))
        paths.append(path)
    return paths


def test_sync_takes_the_settled_photos_of_a_watched_folder_and_leaves_one_being_written(
    tmp_path: Path, always_smoke: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    *done, growing = drop_photos(drop, 5)
    data = photo(4)
    growing.write_bytes(data[: len(data) // 2])  # its writer is not done

    def writer_goes_on() -> None:
        with open(growing, "ab") as f:
            f.write(data[len(data) // 2 :])

    clock = FrozenTime(writer_goes_on)
    monkeypatch.setattr(watch_cli(), "time", clock)
    config = folder_config(tmp_path, always_smoke, drop)
    code, lines = sync(config)
    assert code == 0, lines
    assert lines == [
        f"camera {CAMERA}: took 4 photos from {drop} (1 still being written: left for the "
        "next sync)",
        f"camera {CAMERA}: 4 frames, 0 windows, 0 new events",
    ]
    assert clock.slept == [1.0]  # the settle time, once
    assert sorted(drop.iterdir()) == [growing]
    assert not list((camera_dir(tmp_path / "data", CAMERA) / INBOX).iterdir())
    # the next sync takes it, now that it has stopped changing
    clock.during_sleep = lambda: None
    code, lines = sync(config)
    assert lines == [
        f"camera {CAMERA}: took 1 photo from {drop}",
        f"camera {CAMERA}: 1 frame, 0 windows, 0 new events",
    ]
    assert not list(drop.iterdir())


def test_sync_with_an_empty_folder_does_not_wait(
    tmp_path: Path, always_smoke: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    clock = FrozenTime()
    monkeypatch.setattr(watch_cli(), "time", clock)
    code, lines = sync(folder_config(tmp_path, always_smoke, drop))
    assert code == 0 and clock.slept == []
    assert lines[0] == f"camera {CAMERA}: took 0 photos from {drop}"


def test_sync_counts_windows_per_view_as_detect_does(
    tmp_path: Path, always_smoke: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two views, three window positions: six windows scored, as `detect` would report
    three per view (not three in all)."""
    monkeypatch.setattr(watch_cli(), "time", FrozenTime())
    data = tmp_path / "data"
    config = write_config(tmp_path, data, always_smoke, window_frames="6", window_step="3")
    (tmp_path / "views.yaml").write_text(
        f"cameras:\n  {CAMERA}:\n    views:\n      0: [0, 0, 48, 48]\n      1: [16, 16, 64, 64]\n"
    )
    for i in range(12):
        store_photo(data, CAMERA, photo(i), taken=START + i * EVERY, max_bytes=1 << 20)
    code, lines = sync(config)
    assert code == 0, lines
    scan = json.loads(
        (camera_dir(data, CAMERA) / "days" / "2024-06-11" / "detect" / "scan.json").read_text()
    )
    assert {k: len(v) for k, v in scan["windows"].items()} == {"1-0": 3, "1-1": 3}
    assert lines[-1].startswith(f"camera {CAMERA}: 12 frames, 6 windows, ")


def test_a_photo_another_taker_moved_meanwhile_is_passed_over(
    tmp_path: Path, always_smoke: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`watch sync` beside a running `watch run`: both may list the same photo; the one that
    finds it gone says nothing and goes on (no traceback, nothing set aside)."""
    cli = watch_cli()
    monkeypatch.setattr(cli, "time", FrozenTime())
    drop = tmp_path / "drop"
    drop.mkdir()
    (kept,) = drop_photos(drop, 1)
    gone = drop / "20240611-090000.png"

    class Listed:
        def settled(self, folder: Path, now: float) -> list[Path]:
            return [gone, kept]  # listed, then moved by the other taker

    cfg = cli._load(folder_config(tmp_path, always_smoke, drop))
    assert cli._take_folder(cfg, CAMERA, drop, Listed()) == 1
    assert not list(drop.iterdir())
    assert len(list((camera_dir(tmp_path / "data", CAMERA) / INBOX).iterdir())) == 1


def test_sync_help_says_it_takes_the_watched_folders() -> None:
    from smokewatch.cli import app

    result = CliRunner().invoke(app, ["watch", "sync", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())  # as wrapped to any width
    assert "watched `folder:` photos are moved into its inbox" in text
    assert "still being written is left" in text
