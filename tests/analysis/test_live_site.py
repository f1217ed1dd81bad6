"""The analysis against a live site: volunteers answer pages through the API (SQLite), the
answers and pages are exported with ``labels export`` and Table 4 is read from them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from service_helpers import Seeded, answer_page, login, make_settings, seed
from typer.testing import CliRunner

from smokewatch.cli import app
from smokewatch.labeling.app import create_app
from smokewatch.labeling.db import open_database
from smokewatch.labeling.tables import Role
from smokewatch.labeling.users import add_account

runner = CliRunner()

#: Each volunteer's pages, in order: True for a page answered right, False for one that
#: fails its gold standards (rejected).
PLAN = {
    "uuid.u1": [True] * 4,  # 4 accepted of 4: a reliable enthusiast
    "uuid.u2": [True, False, False],  # 1 of 3: other volunteer
    "uuid.u3": [True],  # 1 of 1: reliable volunteer
    "uuid.u4": [False, False, False],  # 0 of 3: other volunteer
    "uuid.u5": [True, False, True, False, False],  # 2 of 5: other enthusiast
}


def send(client: TestClient, token: str, seeded: Seeded, right: bool) -> None:
    batch = client.post("/api/v1/get_batch", json={"user_token": token})
    assert batch.status_code == 200, batch.text
    body = batch.json()
    r = client.post(
        "/api/v1/send_batch",
        json={
            "user_token": token,
            "video_token": body["video_token"],
            "data": answer_page(body, seeded, gold_right=right),
        },
    )
    assert r.status_code == 200, r.text


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A SQLite site whose volunteers answered :data:`PLAN` and a researcher one page; the
    commands see it through the environment."""
    url = f"sqlite:///{tmp_path / 'site.db'}"
    monkeypatch.setenv("SMOKEWATCH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SMOKEWATCH_DATABASE_URL", url)
    settings = make_settings(tmp_path, url)
    database = open_database(settings)
    try:
        seeded = seed(database, plain=120)
        with database.write() as s:
            add_account(s, "rita", "long enough password", Role.RESEARCHER)
        with TestClient(create_app(settings, database=database)) as client:
            for client_id, pages in PLAN.items():
                token = login(client, client_id)
                for right in pages:
                    send(client, token, seeded, right)
            r = client.post(
                "/api/v1/login_password",
                json={"name": "rita", "password": "long enough password"},
            )
            send(client, r.json()["user_token"], seeded, True)  # left out of Table 4
    finally:
        database.dispose()
    yield tmp_path


#: What the site's exports hold: 8 accepted volunteer pages of 16 answers and a researcher's
#: page of 16 (rejected pages keep no answers); 16 volunteer pages and the researcher's.
ROWS = {"answers": 8 * 16 + 16, "pages": 16 + 1}


def export(kind: str, out: Path) -> None:
    r = runner.invoke(app, ["labels", "export", f"--{kind}", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert f"wrote {ROWS[kind]} {kind} to" in r.stdout


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_table_4_of_a_live_site(site: Path, suffix: str) -> None:
    answers, pages = site / f"answers{suffix}", site / f"pages{suffix}"
    export("answers", answers)
    export("pages", pages)
    r = runner.invoke(
        app, ["analyze", "contributors", str(answers), "--pages", str(pages), "--json"]
    )
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert result["mean_accepted"] == pytest.approx(1.6)  # (4 + 1 + 1 + 0 + 2) / 5
    got = {
        g["name"]: (g["users"], g["submitted"], g["accepted"], g["pages_share"], g["answers"])
        for g in [*result["groups"], result["total"]]
    }
    assert got == {  # accepted pages hold 16 answers each (12 clips, 4 gold)
        "reliable enthusiasts": (1, 4, 4, 0.5, 64),
        "other enthusiasts": (1, 5, 2, 0.25, 32),
        "reliable volunteers": (1, 1, 1, 0.125, 16),
        "other volunteers": (2, 6, 1, 0.125, 16),
        "total": (5, 16, 8, 1.0, 128),
    }
    other = result["groups"][3]
    assert (other["mean"], other["std"]) == (0.5, 0.5)
    assert result["total"]["std"] == pytest.approx(1.84**0.5)
    assert result["skew"] == {
        "enthusiast_users_share": 0.4,
        "enthusiast_pages_share": 0.75,
        "half_of_pages_users_share": 0.2,
    }
    assert result["notes"] == []


def test_from_the_answers_alone_the_rejected_pages_are_missing(site: Path) -> None:
    answers = site / "answers.csv"
    export("answers", answers)
    r = runner.invoke(app, ["analyze", "contributors", str(answers)])
    assert r.exit_code == 0, r.output
    assert "| total | 4 | 100% | 8 | 8 | 100% |" in r.stdout  # u4 gave no kept answer
    assert "labels export --pages" in r.stdout


def test_export_refuses_what_it_cannot_write(site: Path) -> None:
    for args, message in [
        (["--answers", "--pages"], "not both"),
        (["--answers", "--only-labeled"], "metadata export only"),
        (["--answers", "--out", str(site / "a.json")], ".csv or .parquet"),
    ]:
        if "--out" not in args:
            args = [*args, "--out", str(site / "a.csv")]
        r = runner.invoke(app, ["labels", "export", *args])
        assert r.exit_code == 2 and message in r.stderr, r.output
    assert not (site / "a.csv").exists() and not (site / "a.json").exists()
