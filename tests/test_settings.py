"""Settings: where values come from, and that the tests never read a developer's ``.env``."""

from __future__ import annotations

from pathlib import Path

import pytest

from smokewatch.errors import SmokewatchError
from smokewatch.settings import ENV_FILE_VARIABLE, Settings, SettingsError, load_settings


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


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("SMOKEWATCH_DOWNLOAD_WORKERS", "abc", "SMOKEWATCH_DOWNLOAD_WORKERS='abc': "),
        ("SMOKEWATCH_DOWNLOAD_WORKERS", "-3", "greater than or equal to 1"),
        ("SMOKEWATCH_CORS_ORIGINS", "[bad", "SMOKEWATCH_CORS_ORIGINS='[bad': not a JSON list"),
        ("SMOKEWATCH_CORS_ORIGINS", '["https://a.example", 1]', "SMOKEWATCH_CORS_ORIGINS"),
        ("SMOKEWATCH_CORS_ORIGINS", "[" * 100_000, "not a JSON list"),
        ("SMOKEWATCH_PARTIAL_RATIO", "lots", "SMOKEWATCH_PARTIAL_RATIO='lots': "),
    ],
)
def test_a_bad_setting_is_an_error_naming_its_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, says: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert says in message and len(message.splitlines()) == 1, message
    assert isinstance(caught.value, SmokewatchError)


def test_every_bad_setting_gets_a_line_and_secrets_are_not_shown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SMOKEWATCH_DOWNLOAD_WORKERS", "abc")
    monkeypatch.setenv("SMOKEWATCH_PAGE_SIZE", "1")
    with pytest.raises(SettingsError) as caught:
        load_settings(secret_key=12)  # not text: its value must not be printed
    lines = str(caught.value).splitlines()
    assert [line.split("=")[0].split(":")[0] for line in lines] == [
        "SMOKEWATCH_DOWNLOAD_WORKERS",
        "SMOKEWATCH_SECRET_KEY",
        "SMOKEWATCH_PAGE_SIZE",
    ], lines
    assert "12" not in lines[1]


def test_a_dot_env_that_is_not_text_is_an_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = tmp_path / ".env"
    env.write_bytes(b"SMOKEWATCH_PAGE_SIZE=8\n\xff\xfe\x00\x81\n")
    monkeypatch.setenv(ENV_FILE_VARIABLE, str(env))
    with pytest.raises(SettingsError, match=r"\.env: not UTF-8 text"):
        load_settings()


def test_the_cli_prints_a_bad_setting_as_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from smokewatch.cli import app

    monkeypatch.setenv("SMOKEWATCH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SMOKEWATCH_DOWNLOAD_WORKERS", "abc")
    for argv in (["users", "list"], ["crowd", "list"], ["serve"], ["cameras", "list"]):
        r = CliRunner().invoke(app, argv)
        assert r.exit_code == 2 and "Traceback" not in r.output, r.output
        assert r.stderr.startswith("error: SMOKEWATCH_DOWNLOAD_WORKERS='abc': "), r.stderr
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
