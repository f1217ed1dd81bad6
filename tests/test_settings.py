"""Settings: where values come from, and that the tests never read a developer's ``.env``."""

from __future__ import annotations

from pathlib import Path

import pytest

from smokewatch.settings import ENV_FILE_VARIABLE, Settings, load_settings


@pytest.fixture
def stray_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory holding a ``.env`` that changes a setting tests rely on."""
    (tmp_path / ".env").write_text("SMOKEWATCH_PAGE_SIZE=8\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_tests_never_read_a_dot_env(stray_env: Path) -> None:
    assert Settings().page_size == 16  # built in code: never a .env
    assert load_settings().page_size == 16  # as the CLI builds them, under the tests


def test_commands_read_dot_env_and_the_environment_wins(
    stray_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_FILE_VARIABLE, raising=False)
    assert load_settings().page_size == 8
    monkeypatch.setenv("SMOKEWATCH_PAGE_SIZE", "12")
    assert load_settings().page_size == 12
    assert load_settings(page_size=10).page_size == 10


def test_another_env_file_can_be_named(
    stray_env: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path_factory.mktemp("conf") / "service.env"
    other.write_text("SMOKEWATCH_PAGE_SIZE=20\n")
    monkeypatch.setenv(ENV_FILE_VARIABLE, str(other))
    assert load_settings().page_size == 20
