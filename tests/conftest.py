"""Shared fixtures: where the real RISE data is (``../shared/rise``), settings isolation, and
Debian's Chromium driven by Playwright for every page test (never a downloaded browser; its
absence is a failure, not a skip)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
RISE_DIR = REPO.parent / "shared" / "rise"

# Tests must never pick up a developer's own environment or .env: no SMOKEWATCH_* variable,
# and no .env file for load_settings (commands run in-process or as subprocesses inherit it).
for _key in [k for k in os.environ if k.startswith("SMOKEWATCH_")]:
    del os.environ[_key]
os.environ["SMOKEWATCH_ENV_FILE"] = ""


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--clock-at",
        metavar="WHEN",
        default=None,
        help=(
            "run the suite with the wall clock starting at WHEN (ISO 8601 with an offset, e.g. "
            "2026-12-06T23:59:30+00:00) and ticking on from there: the 'green at any hour' "
            "check. time-machine moves time.time, datetime.now and the like in the pytest "
            "process only; subprocesses, Chromium and the databases keep the real clock, and "
            "monotonic clocks are untouched. (libfaketime 0.9.10 cannot run this suite: Python "
            "threads hang under it, and with FAKETIME_DONT_FAKE_MONOTONIC=1 every time.sleep "
            "fails with EINVAL.)"
        ),
    )


def pytest_configure(config: pytest.Config) -> None:
    when = config.getoption("--clock-at")
    if when is None:
        return
    from datetime import datetime

    import time_machine

    try:
        start = datetime.fromisoformat(when)
    except ValueError as e:
        raise pytest.UsageError(f"--clock-at {when!r}: not an ISO 8601 date and time") from e
    if start.utcoffset() is None:
        raise pytest.UsageError(f"--clock-at {when!r}: give an offset, e.g. +00:00")
    traveller = time_machine.travel(start, tick=True)
    traveller.start()
    config.add_cleanup(traveller.stop)


@pytest.fixture(scope="session")
def rise_dir() -> Path:
    """The real RISE data; tests that use it skip cleanly on a user's fresh clone."""
    if not (RISE_DIR / "metadata_02242020.json").is_file():
        pytest.skip("real RISE data (../shared/rise) is not present")
    return RISE_DIR


@pytest.fixture(scope="session")
def rise_clips(rise_dir: Path) -> list:
    from smokewatch.core.metadata import read_metadata

    return read_metadata(rise_dir / "metadata_02242020.json")


@pytest.fixture(autouse=True)
def _isolated_dirs(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Point data and cache dirs at temp folders so no test writes into the user's home."""
    base = tmp_path_factory.getbasetemp()
    monkeypatch.setenv("SMOKEWATCH_DATA_DIR", str(base / "data"))
    monkeypatch.setenv("SMOKEWATCH_CACHE_DIR", str(base / "cache"))


#: Debian's Chromium (``make test`` installs it); another with ``SMOKEWATCH_CHROMIUM``.
CHROMIUM = Path(os.environ.get("SMOKEWATCH_CHROMIUM", "/usr/bin/chromium"))


@pytest.fixture(scope="session")
def chromium() -> Path:
    if not CHROMIUM.is_file():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests drive Debian's Chromium. Install it with "
            "'apt-get install -y chromium' (make test does this when run as root).",
            pytrace=False,
        )
    return CHROMIUM


@pytest.fixture(scope="module")
def fake_kinetics() -> dict[str, Any]:
    """A seeded random 400-way I3D, the stand-in for its Kinetics-400 weights (nothing is
    downloaded in the tests)."""
    import torch

    from smokewatch.models.i3d import I3D

    torch.manual_seed(0)
    return I3D(num_classes=400).state_dict()


@pytest.fixture
def kinetics_loads(monkeypatch: pytest.MonkeyPatch, fake_kinetics: dict[str, Any]) -> list[Any]:
    """I3D's Kinetics-400 weights are ``fake_kinetics``; the list gets the cache folder of each
    load (one per network built from them), for tests that count networks or check where
    weights are kept."""
    from smokewatch.models import i3d_weights

    loads: list[Any] = []

    def load(cache_dir: Any, *, progress: bool = True) -> dict[str, Any]:
        loads.append(cache_dir)
        return fake_kinetics

    monkeypatch.setattr(i3d_weights, "load_kinetics400", load)
    return loads


@pytest.fixture(scope="module")
def fake_imagenet() -> dict[str, Any]:
    """A seeded random EfficientNet-Lite0 with ImageNet's 1000 classes, the stand-in for its
    ImageNet weights (nothing is downloaded in the tests)."""
    import torch

    from smokewatch.models.efficientnet_tsm import EfficientNetLite0TSM

    torch.manual_seed(0)
    return EfficientNetLite0TSM(num_classes=1000).state_dict()


@pytest.fixture
def no_imagenet_download(monkeypatch: pytest.MonkeyPatch, fake_imagenet: dict[str, Any]) -> None:
    """Lite0's ImageNet weights are ``fake_imagenet``, loaded through the real loader."""
    from smokewatch.models import efficientnet_weights

    monkeypatch.setattr(efficientnet_weights, "load_imagenet", lambda *a, **k: fake_imagenet)


@pytest.fixture(scope="module")
def browser(chromium: Path) -> Iterator[Any]:
    """One Chromium per test module, not per session.

    Playwright's sync API keeps an asyncio loop running in the main thread while it is started,
    so a session-wide browser would make every later ``asyncio.run`` in the suite fail with
    "cannot be called from a running event loop".
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=str(chromium),
            headless=True,
            args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
        )
        yield b
        b.close()


@pytest.fixture
def disk_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int, str]]:
    """os.fsync and os.replace calls, in order: each with the inode of the file it took, and
    for a rename the target's name (``""`` for a sync): writes that must reach the disk
    before they are renamed into place are checked on it."""
    calls: list[tuple[str, int, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        calls.append(("fsync", os.fstat(fd).st_ino, ""))
        real_fsync(fd)

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        calls.append(("replace", os.stat(src).st_ino, Path(dst).name))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    return calls
