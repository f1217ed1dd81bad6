"""Shared fixtures: where the real RISE data is (``../shared/rise``), and settings isolation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
RISE_DIR = REPO.parent / "shared" / "rise"

# Tests must never pick up a developer's own environment or .env: no SMOKEWATCH_* variable,
# and no .env file for load_settings (commands run in-process or as subprocesses inherit it).
for _key in [k for k in os.environ if k.startswith("SMOKEWATCH_")]:
    del os.environ[_key]
os.environ["SMOKEWATCH_ENV_FILE"] = ""


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
