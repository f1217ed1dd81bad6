"""Bad input to the service's command line: one error line naming what is wrong, exit 2.

A corrupt database file or a URL no driver reads, ids beyond SQLite's 64-bit integers or
written in digits that are not ASCII (``'²'.isdigit()`` is true), a clips file that is not
text, an unknown log level: none of them may end in a traceback.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import one_line_error
from service_helpers import make_settings, seed
from typer.testing import CliRunner

from smokewatch.cli import app
from smokewatch.labeling.cameras import CameraError, add_camera, find_camera
from smokewatch.labeling.crowd import work
from smokewatch.labeling.db import open_database
from smokewatch.labeling.users import AccountError, find_user, get_or_create_volunteer

runner = CliRunner()

HUGE = "99999999999999999999999"  # beyond SQLite's INTEGER (int64)
INT64_MAX = 2**63 - 1


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data folder whose database holds clips (gold standards too) and a camera."""
    data = tmp_path / "data"
    monkeypatch.setenv("SMOKEWATCH_DATA_DIR", str(data))
    monkeypatch.delenv("SMOKEWATCH_DATABASE_URL", raising=False)
    db = open_database(make_settings(tmp_path, f"sqlite:///{data / 'smokewatch.db'}"))
    seed(db, plain=12)
    with db.write() as session:
        add_camera(session, "roof")
    db.dispose()
    return data


# --- 1. the database ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv", [["users", "list"], ["cameras", "list"], ["crowd", "list"], ["serve", "--port", "1"]]
)
def test_a_corrupt_database_file_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    data = tmp_path / "bad"
    data.mkdir()
    (data / "smokewatch.db").write_text("x\n")
    monkeypatch.setenv("SMOKEWATCH_DATA_DIR", str(data))
    monkeypatch.delenv("SMOKEWATCH_DATABASE_URL", raising=False)
    r = runner.invoke(app, argv)
    one_line_error(r, "cannot open the database", "smokewatch.db", "file is not a database")


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("nonsense://", "no database driver for 'nonsense'"),
        ("not a url", "not a database URL"),
        ("postgresql+nosuchdriver://u@h/db", "no database driver for 'postgresql+nosuchdriver'"),
    ],
)
@pytest.mark.parametrize("argv", [["users", "list"], ["crowd", "report", "1"]])
def test_a_bad_database_url_is_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, url: str, says: str, argv: list[str]
) -> None:
    monkeypatch.setenv("SMOKEWATCH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SMOKEWATCH_DATABASE_URL", url)
    one_line_error(runner.invoke(app, argv), "cannot open the database", says)


@pytest.mark.parametrize(
    "url", ["postgresql+nosuchdriver://u:s3cret@h/db", "postgresql+nosuchdriver://u:s3c@ret@h/db"]
)
def test_the_database_password_is_never_printed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, url: str
) -> None:
    monkeypatch.setenv("SMOKEWATCH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SMOKEWATCH_DATABASE_URL", url)
    r = runner.invoke(app, ["users", "list"])
    one_line_error(r, "cannot open the database", "'postgresql+nosuchdriver://u:***@h/db'")
    assert "s3c" not in r.output and "ret@" not in r.output


# --- 2. ids ---------------------------------------------------------------------------------


@pytest.mark.parametrize("who", [HUGE, str(INT64_MAX + 1), "²", "١٢"])
def test_ids_beyond_int64_or_not_ascii_match_nothing(site: Path, who: str) -> None:
    one_line_error(runner.invoke(app, ["cameras", "rotate", who]), f"no camera {who!r}")
    one_line_error(runner.invoke(app, ["users", "ban", who]), f"no user {who!r}")
    one_line_error(runner.invoke(app, ["users", "set-role", who, "expert"]), f"no user {who!r}")


def test_a_huge_study_id_is_no_such_study(site: Path) -> None:
    one_line_error(runner.invoke(app, ["crowd", "report", HUGE]), f"no crowd study {HUGE}")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (f"1001\n{HUGE}\n", f"no clip named {HUGE!r}"),
        (f"[1001, {HUGE}]", f"no clip named {HUGE!r}"),
        ("1001\n²\n", "no clip named '²'"),
    ],
)
def test_huge_or_unicode_clip_ids_in_a_clips_file(
    site: Path, tmp_path: Path, text: str, says: str
) -> None:
    clips = tmp_path / "clips.txt"
    clips.write_text(text, encoding="utf-8")
    r = runner.invoke(app, ["crowd", "create", "--name", "s", "--clips", str(clips)])
    one_line_error(r, says)


def test_ids_are_bounded_in_the_service_functions(site: Path, tmp_path: Path) -> None:
    db = open_database(make_settings(tmp_path, f"sqlite:///{site / 'smokewatch.db'}"))
    try:
        with db.write() as session:
            volunteer = get_or_create_volunteer(session, "someone")
            assert find_user(session, str(volunteer.id)) is volunteer
            assert find_camera(session, "1").name == "roof"
            for who in (HUGE, "²", str(INT64_MAX + 1)):
                with pytest.raises(AccountError, match="no user"):
                    find_user(session, who)
                with pytest.raises(CameraError, match="no camera"):
                    find_camera(session, who)
            assert work.clip_ids(session, ["1001", "1002"]) == [1001, 1002]
            with pytest.raises(work.CrowdError, match="no clip named '²'"):
                work.clip_ids(session, ["²"])
            for bad in (2**70, -(2**70)):
                with pytest.raises(work.CrowdError, match=f"no such clip: {bad}"):
                    work.create_study(session, name="s", video_ids=[1001, bad], assignments=1)
                with pytest.raises(work.CrowdError, match=f"no crowd study {bad}"):
                    work.study_report(session, bad)
                with pytest.raises(work.CrowdError, match=f"no crowd study {bad}"):
                    work.close_study(session, bad)
    finally:
        db.dispose()


# --- 3. a clips file that is not text -------------------------------------------------------


def test_a_binary_clips_file_is_one_line(site: Path, tmp_path: Path) -> None:
    clips = tmp_path / "clips.bin"
    clips.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00")
    r = runner.invoke(app, ["crowd", "create", "--name", "s", "--clips", str(clips)])
    one_line_error(r, str(clips), "not UTF-8 text")


# --- 6. the log level -----------------------------------------------------------------------


def test_serve_refuses_an_unknown_log_level(site: Path) -> None:
    r = runner.invoke(app, ["serve", "--port", "41928", "--log-level", "nope"])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert "'nope' is not one of" in r.output and "trace" in r.output
    assert "smokewatch labeling service" not in r.output  # refused before anything started


def test_a_hostile_url_root_is_one_line(site: Path, tmp_path: Path) -> None:
    """``--url-root`` is checked as a metadata file's url_root is: a javascript: address
    would become every imported clip's link."""
    folder = tmp_path / "clips"
    folder.mkdir()
    result = runner.invoke(
        app, ["clips", "import", str(folder), "--url-root", "javascript:alert(1)//"]
    )
    one_line_error(result, "--url-root 'javascript:alert(1)//': expected an http(s) address")
