"""``smokewatch crowd create|list|report|verify`` against a site in a temporary data folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from service_helpers import make_settings, seed
from typer.testing import CliRunner

from smokewatch.cli import app
from smokewatch.labeling.crowd import Completion, issue_code
from smokewatch.labeling.db import open_database
from smokewatch.labeling.tokens import load_signing_key

runner = CliRunner()


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "data"
    monkeypatch.setenv("SMOKEWATCH_DATA_DIR", str(data))
    monkeypatch.delenv("SMOKEWATCH_DATABASE_URL", raising=False)
    monkeypatch.delenv("SMOKEWATCH_SECRET_KEY", raising=False)
    db = open_database(make_settings(tmp_path, f"sqlite:///{data / 'smokewatch.db'}"))
    seed(db, plain=30)
    db.dispose()
    return data


def test_create_list_report(site: Path, tmp_path: Path) -> None:
    clips = tmp_path / "clips.txt"
    clips.write_text("# the study's clips\n" + "\n".join(str(i) for i in range(1001, 1025)))
    r = runner.invoke(
        app, ["crowd", "create", "--name", "pilot", "--clips", str(clips), "-k", "5",
              "--reward", "0.75", "--seed", "3"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "study 1: 24 clips in 2 tasks, 10 assignments wanted, budget 7.50" in r.stdout
    r = runner.invoke(app, ["crowd", "create", "--name", "r", "--clips", "random:30"])
    assert r.exit_code == 0, r.output
    assert "30 clips in 3 tasks" in r.stdout
    assert (
        runner.invoke(app, ["crowd", "create", "--name", "r", "--clips", "random:99"]).exit_code
        == 2
    )
    bad = runner.invoke(app, ["crowd", "create", "--name", "r", "--clips", str(tmp_path / "no")])
    assert bad.exit_code == 2 and "no such file" in bad.stderr
    listed = json.loads(runner.invoke(app, ["crowd", "list", "--json"]).stdout)
    assert [s["id"] for s in listed] == [2, 1]
    report = json.loads(runner.invoke(app, ["crowd", "report", "1"]).stdout)
    assert report["study"]["assignments_wanted"] == 10 and report["workers"] == []
    assert runner.invoke(app, ["crowd", "report", "9"]).exit_code == 2


def test_verify_needs_only_the_key_and_the_code(site: Path, tmp_path: Path) -> None:
    key = load_signing_key(make_settings(tmp_path, "sqlite://"))  # the site's key file
    done = Completion(3, "prolific", '工人 "q"', "S-1", 7, 4, 4, 1_700_000_000)
    code = issue_code(key, done)
    (site / "smokewatch.db").unlink()  # no database needed
    r = runner.invoke(app, ["crowd", "verify", code, "--study", "3", "--worker", '工人 "q"'])
    assert r.exit_code == 0, r.output
    found = json.loads(r.stdout)
    assert found["worker"] == '工人 "q"' and found["accepted"] and found["task"] == 7
    assert runner.invoke(app, ["crowd", "verify", code, "--study", "4"]).exit_code == 2
    assert runner.invoke(app, ["crowd", "verify", code[:-3] + "abc"]).exit_code == 2
    foreign = issue_code(b"k" * 64, done)
    r = runner.invoke(app, ["crowd", "verify", foreign])
    assert r.exit_code == 2 and "not a valid completion code" in r.stderr
    (site / "secret.key").unlink()
    r = runner.invoke(app, ["crowd", "verify", code])
    assert r.exit_code == 2 and "no signing key" in r.stderr
