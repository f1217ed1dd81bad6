"""The service's command line: import (idempotent), export (round trip), users, serve."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from smokewatch.cli import app
from smokewatch.clips.synthetic import make_synthetic_clips

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "data"
    monkeypatch.setenv("SMOKEWATCH_DATA_DIR", str(data))
    monkeypatch.delenv("SMOKEWATCH_DATABASE_URL", raising=False)
    return data


def record(i: int, state: int = -1, admin: int = -1) -> dict[str, object]:
    name = f"0-1-2019-02-03-10-20-190-200-180-180-{i}-{1549200000 + i * 180}-{1549200175 + i * 180}"
    return {
        "camera_id": 0,
        "view_id": 1,
        "id": i,
        "label_state": state,
        "label_state_admin": admin,
        "start_time": 1549200000 + i * 180,
        "url_root": "https://cdn.example/180/",
        "url_part": f"2019-02-03/0-1/{name}.mp4",
        "file_name": name,
    }


def test_import_is_idempotent_and_export_round_trips(env: Path, tmp_path: Path) -> None:
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps([record(3, 23, -1), record(7, 4, 16), record(9)]))
    first = runner.invoke(app, ["clips", "import", str(meta)])
    assert first.exit_code == 0, first.output
    assert "added 3 clips, 0 already there" in first.stdout
    second = runner.invoke(app, ["clips", "import", str(meta)])
    assert "added 0 clips, 3 already there" in second.stdout
    out = tmp_path / "export.json"
    assert runner.invoke(app, ["labels", "export", "--out", str(out)]).exit_code == 0
    assert out.read_bytes() == meta.read_bytes()
    out_csv = tmp_path / "export.csv"
    assert (
        runner.invoke(app, ["labels", "export", "--out", str(out_csv), "--only-labeled"]).exit_code
        == 0
    )
    assert len(out_csv.read_text().splitlines()) == 3  # header + clips 3 and 7


def test_an_export_never_replaces_the_database_or_the_key(env: Path, tmp_path: Path) -> None:
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps([record(3, 23, -1)]))
    assert runner.invoke(app, ["clips", "import", str(meta)]).exit_code == 0
    (env / "secret.key").write_bytes(b"k" * 32)
    database = (env / "smokewatch.db").read_bytes()
    for target, extra in [
        (env / "smokewatch.db", []),
        (env / "smokewatch.db", ["--answers"]),
        (env / "secret.key", ["--pages"]),
    ]:
        result = runner.invoke(app, ["labels", "export", "--out", str(target), *extra])
        assert result.exit_code == 2, result.output
        assert "replace that file" in result.stderr and "Traceback" not in result.output
    assert (env / "smokewatch.db").read_bytes() == database
    assert (env / "secret.key").read_bytes() == b"k" * 32
    listed = runner.invoke(app, ["users", "list"])
    assert listed.exit_code == 0, listed.output


def test_import_conflict_and_bad_metadata(env: Path, tmp_path: Path) -> None:
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps([record(3)]))
    runner.invoke(app, ["clips", "import", str(meta)])
    clash = record(3)
    clash["file_name"] = str(clash["file_name"]).replace("-3-1549", "-4-1549")
    meta.write_text(json.dumps([clash]))
    r = runner.invoke(app, ["clips", "import", str(meta)])
    assert r.exit_code == 1 and "clashes" in r.stderr
    meta.write_text("[{]")
    r = runner.invoke(app, ["clips", "import", str(meta)])
    assert r.exit_code == 2 and "invalid JSON" in r.stderr and "Traceback" not in r.output


def test_import_a_folder_serves_the_clips(env: Path, tmp_path: Path) -> None:
    clips = make_synthetic_clips(tmp_path / "clips", 2, size=32)
    (tmp_path / "clips" / "not-a-rise-name.mp4").write_bytes(b"x")
    r = runner.invoke(app, ["clips", "import", str(tmp_path / "clips")])
    assert r.exit_code == 0, r.output
    assert "added 2 clips" in r.stdout and "not-a-rise-name.mp4" in r.stderr
    served = env / "videos" / clips[0].url_part  # type: ignore[operator]
    assert served.is_file()
    assert runner.invoke(app, ["clips", "import", str(tmp_path / "clips")]).stdout.startswith(
        "added 0 clips"
    )


def test_users(env: Path) -> None:
    r = runner.invoke(app, ["users", "add", "rita", "--password", "long password"])
    assert r.exit_code == 0 and "researcher 'rita'" in r.stdout
    assert (
        runner.invoke(app, ["users", "add", "rita", "--password", "long password"]).exit_code == 2
    )
    assert (
        "8 characters" in runner.invoke(app, ["users", "add", "bob", "--password", "short"]).stderr
    )
    assert "is now expert" in runner.invoke(app, ["users", "set-role", "rita", "expert"]).stdout
    bad = runner.invoke(app, ["users", "set-role", "rita", "king"])
    assert bad.exit_code == 2 and "unknown role" in bad.stderr
    assert "is now banned" in runner.invoke(app, ["users", "ban", "rita"]).stdout
    assert runner.invoke(app, ["users", "ban", "nobody"]).exit_code == 2
    listing = runner.invoke(app, ["users", "list"])
    assert "account.rita" in listing.stdout and "banned" in listing.stdout


def test_serve_starts_on_sqlite_prints_its_url_and_never_imports_torch(
    env: Path, tmp_path: Path
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # -X importtime lists every module the process imports (on stderr), up to its end
    # (into a file: that much output would fill a pipe and stall the server)
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-X", "importtime", "-m", "smokewatch", "serve", "--port", str(port)],
        cwd=tmp_path,
        env={**os.environ, "SMOKEWATCH_DATA_DIR": str(env)},
        stdout=log,
        stderr=log,
        text=True,
    )
    r = None
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert r is not None and r.json()["database"] == "sqlite"
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()
    err = (tmp_path / "serve.log").read_text()
    assert f"http://127.0.0.1:{port}/" in err
    imported = {
        line.rsplit("|", 1)[-1].strip()
        for line in err.splitlines()
        if line.startswith("import time:")
    }
    assert "fastapi" in imported and "uvicorn" in imported
    assert not {m for m in imported if m.split(".")[0] in ("torch", "cv2", "kornia", "sklearn")}
    assert (env / "smokewatch.db").is_file() and (env / "secret.key").is_file()


def test_user_text_is_never_rich_markup(env: Path, tmp_path: Path) -> None:
    """Client ids are chosen by anonymous browsers: ``[/]`` or ``[bold red]`` print as typed."""
    from smokewatch.labeling.db import open_database
    from smokewatch.labeling.users import get_or_create_volunteer
    from smokewatch.settings import load_settings

    db = open_database(load_settings())
    with db.write() as session:
        for client_id in ("[/]", "[bold]x[/bold]", "[link=http://evil.example]y"):
            get_or_create_volunteer(session, client_id)
    db.dispose()
    listing = runner.invoke(app, ["users", "list"])
    assert listing.exit_code == 0, listing.output
    for shown in ("[/]", "[bold]x[/bold]", "[link=http://evil.example]y"):
        assert shown in listing.stdout
    banned = runner.invoke(app, ["users", "ban", "[/]"])
    assert banned.exit_code == 0, banned.output
    assert "([/]) is now banned" in banned.stdout
    missing = runner.invoke(app, ["users", "ban", "[red]nobody[/red]"])
    assert missing.exit_code == 2 and "'[red]nobody[/red]'" in missing.stderr
    bad = tmp_path / "[b]meta.json"
    bad.write_text("[{]")
    r = runner.invoke(app, ["clips", "import", str(bad)])
    assert r.exit_code == 2 and "[b]meta.json: invalid JSON" in r.stderr
    assert "Traceback" not in r.output
