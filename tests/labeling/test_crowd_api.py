"""A crowd study end to end through the API (SQLite and PostgreSQL): create it, the tutorial
as qualification, K assignments by different workers, never a task twice, one submission per
assignment, completion codes verified offline; then the answers export and the analyses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from service_helpers import Seeded, login, seed
from typer.testing import CliRunner

from smokewatch.cli import app as cli
from smokewatch.core.answers import write_answers_csv, write_pages_csv
from smokewatch.labeling.answers_export import export_answers, export_pages
from smokewatch.labeling.crowd import CodeError, crowd_client_id, verify_code
from smokewatch.labeling.db import Database
from smokewatch.labeling.tables import Role, User, Video
from smokewatch.labeling.tokens import load_signing_key
from smokewatch.labeling.users import add_account
from smokewatch.settings import Settings

API = "/api/v1/crowd"


def researcher(client: TestClient, database: Database) -> str:
    with database.write() as s:
        add_account(s, "rita", "long enough password", Role.RESEARCHER)
    r = client.post(
        "/api/v1/login_password", json={"name": "rita", "password": "long enough password"}
    )
    assert r.status_code == 200, r.text
    return str(r.json()["user_token"])


def join(client: TestClient, study: int, worker: str, platform: str = "mturk") -> dict[str, Any]:
    r = client.post(
        f"{API}/join", json={"study_id": study, "platform": platform, "worker_id": worker}
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


def pass_tutorial(client: TestClient, token: str, action: int = 3) -> None:
    r = client.post(
        "/api/v1/add_tutorial_record",
        json={"user_token": token, "action_type": action, "query_type": 0},
    )
    assert r.status_code == 204, r.text


def get_task(
    client: TestClient, token: str, study: int, worker: str, assignment: str, **extra: Any
) -> Any:
    body = {
        "user_token": token,
        "study_id": study,
        "platform": extra.pop("platform", "mturk"),
        "worker_id": worker,
        "assignment_id": assignment,
        **extra,
    }
    return client.post(f"{API}/get_task", json=body)


def answers(task: dict[str, Any], seeded: Seeded, *, gold_right: bool = True) -> list[Any]:
    out = []
    for item in task["data"]:
        vid = item["id"]
        if vid in seeded.gold_pos:
            label = 1 if gold_right else 0
        elif vid in seeded.gold_neg:
            label = 0 if gold_right else 1
        else:
            label = vid % 2  # the "truth" of the test: odd ids show smoke
        out.append({"video_id": vid, "label": label})
    return out


def submit(client: TestClient, token: str, task: dict[str, Any], data: list[Any]) -> Any:
    return client.post(
        f"{API}/submit_task",
        json={"user_token": token, "assignment_id": task["assignment_id"], "data": data},
    )


def test_a_crowd_study_end_to_end(
    client: TestClient, database: Database, settings: Settings, tmp_path: Path
) -> None:
    seeded = seed(database, plain=24)  # two tasks of 12
    boss = researcher(client, database)
    volunteer = login(client, "web.someone")
    made = client.post(
        f"{API}/create_study",
        json={
            "user_token": volunteer,
            "name": "x",
            "video_ids": seeded.plain,
        },
    )
    assert made.status_code == 403
    made = client.post(
        f"{API}/create_study",
        json={
            "user_token": boss,
            "name": "Pilot <b>'; DROP TABLE video; --",
            "video_ids": seeded.plain,
            "assignments": 2,
            "reward_cents": 150,
            "seed": 1,
        },
    )
    assert made.status_code == 200, made.text
    study = made.json()
    assert (study["tasks"], study["assignments_wanted"], study["budget_cents"]) == (2, 4, 600)
    assert study["name"] == "Pilot <b>'; DROP TABLE video; --"
    sid = study["id"]

    # the qualification: no task before the tutorial is passed (best_tutorial_action >= 2)
    workers = {w: join(client, sid, w) for w in ("A1", "B2", "C3")}
    assert not workers["A1"]["qualified"]
    refused = get_task(client, workers["A1"]["user_token"], sid, "A1", "asg-A1-1")
    assert refused.status_code == 403 and "tutorial" in refused.json()["message"]
    pass_tutorial(client, workers["A1"]["user_token"], action=1)  # finished, did not pass
    assert get_task(client, workers["A1"]["user_token"], sid, "A1", "asg-A1-1").status_code == 403
    for w in workers.values():
        pass_tutorial(client, w["user_token"])
    assert join(client, sid, "A1")["qualified"]

    # a volunteer cannot pose as a crowd worker; a worker's token is not another's
    assert login_status(client, crowd_client_id("mturk", "A1")) == 403
    assert get_task(client, workers["B2"]["user_token"], sid, "A1", "asg-x").status_code == 403

    key = load_signing_key(settings)
    tasks_by_worker: dict[str, list[int]] = {}
    codes: list[tuple[str, str, str]] = []
    for w in ("A1", "B2", "C3"):
        token = workers[w]["user_token"]
        for n in range(3):
            assignment = f"asg-{w}-{n}"
            r = get_task(client, token, sid, w, assignment, hit_id="HIT-1")
            if r.status_code == 204:
                break
            assert r.status_code == 200, r.text
            task = r.json()
            assert len(task["data"]) == 16
            # a reload gives the same assignment, clips in the same order
            again = get_task(client, token, sid, w, assignment, hit_id="HIT-1").json()
            assert again == task
            assert task["task"] not in tasks_by_worker.get(w, [])
            tasks_by_worker.setdefault(w, []).append(task["task"])
            data = answers(task, seeded, gold_right=(w != "C3"))
            done = submit(client, token, task, data)
            assert done.status_code == 200, done.text
            code = done.json()["completion_code"]
            codes.append((w, assignment, code))
            # one submission per assignment; the same platform assignment is not given again
            assert submit(client, token, task, data).status_code == 409
            assert get_task(client, token, sid, w, assignment).status_code == 409
    # two tasks, each wanted from 2 workers: A1 and B2 take both, C3 finds none left
    assert tasks_by_worker == {"A1": [0, 1], "B2": [0, 1]}
    assert "C3" not in tasks_by_worker

    # codes: genuine ones verify offline with the key alone, tied to study, worker, assignment
    for w, assignment, code in codes:
        found = verify_code(key, code, study=sid, worker=w, assignment=assignment)
        assert found.platform == "mturk" and found.gold_total == 4 and found.accepted
    w, assignment, code = codes[0]
    with pytest.raises(CodeError):
        verify_code(key, code, worker="B2")
    with pytest.raises(CodeError):
        verify_code(key, code, study=sid + 1)
    with pytest.raises(CodeError):
        verify_code(b"another site's key, 32 bytes long....", code)
    head, body, sig = code.split(".")
    with pytest.raises(CodeError):
        verify_code(key, f"{head}.{body}.{sig[:-2]}{'AA' if sig[-2:] != 'AA' else 'BB'}")
    with pytest.raises(CodeError):  # a user token is not a completion code
        verify_code(key, workers["A1"]["user_token"])

    # the crowd's answers left the citizens' states alone (the study does not move them)
    with database.read() as s:
        assert {v.label_state for v in s.query(Video).filter(Video.id.in_(seeded.plain))} == {-1}

    # the dashboard's numbers
    report = client.post(f"{API}/get_study", json={"user_token": boss, "study_id": sid}).json()
    assert report["study"]["assignments_done"] == 4
    assert report["study"]["paid_cents"] == 600
    by_worker = {w["worker"]: w for w in report["workers"]}
    assert by_worker["A1"]["reliability"] == 1.0 and by_worker["A1"]["paid_cents"] == 300
    assert (
        client.post(f"{API}/get_study", json={"user_token": volunteer, "study_id": sid}).status_code
        == 403
    )

    # researchers' labels on the study's clips, then the export and the analyses
    r = client.post(
        "/api/v1/set_label_state",
        json={"user_token": boss, "data": [{"video_id": v, "label": v % 2} for v in seeded.plain]},
    )
    assert r.status_code == 204
    with database.read() as s:
        rows = list(export_answers(s))
        pages = list(export_pages(s))
    crowd = [a for a in rows if a.group == "crowd"]
    assert len(crowd) == 4 * 16 and len({a.worker for a in crowd}) == 2
    assert sum(a.gold for a in crowd) == 16 and all(a.page_accepted for a in crowd)
    assert [p.group for p in pages].count("crowd") == 4
    out = tmp_path / "answers.csv"
    write_answers_csv(rows, out)
    write_pages_csv(pages, tmp_path / "pages.csv")
    runner = CliRunner()
    q = runner.invoke(cli, ["analyze", "quality", str(out), "--assignments", "1", "--json"])
    assert q.exit_code == 0, q.output
    quality = json.loads(q.stdout)
    assert "crowd" in json.dumps(quality)
    a = runner.invoke(cli, ["analyze", "aggregate", str(out)])
    assert a.exit_code == 0, a.output


def login_status(client: TestClient, client_id: str) -> int:
    return client.post("/api/v1/login", json={"client_id": client_id}).status_code


def test_hostile_worker_ids_are_data(client: TestClient, database: Database) -> None:
    seeded = seed(database, plain=12)
    boss = researcher(client, database)
    sid = client.post(
        f"{API}/create_study",
        json={"user_token": boss, "name": '名前 "quoted" </script>', "video_ids": seeded.plain},
    ).json()["id"]
    hostile = [
        "x" * 255,
        "工人-😀",
        '\'; DROP TABLE "user"; --',
        '"><img src=x onerror=alert(1)>',
        "a b",
    ]
    for worker in hostile:
        joined = join(client, sid, worker, platform="prolific")
        pass_tutorial(client, joined["user_token"])
        r = get_task(client, joined["user_token"], sid, worker, worker[::-1], platform="prolific")
        assert r.status_code == 200, r.text
    for bad in ("x" * 256, "nul\x00byte", "new\nline", ""):
        r = client.post(
            f"{API}/join", json={"study_id": sid, "platform": "mturk", "worker_id": bad}
        )
        assert r.status_code == 400, (bad, r.text)
    report = client.post(f"{API}/get_study", json={"user_token": boss, "study_id": sid}).json()
    assert sorted(w["worker"] for w in report["workers"]) == sorted(hostile)
    with database.read() as s:
        ids = [u.client_id for u in s.query(User).filter(User.client_id.like("crowd.%"))]
    assert len(ids) == len(hostile) and all(len(i) <= 255 and i.isascii() for i in ids)


def test_a_study_that_moves_states(client: TestClient, database: Database) -> None:
    seeded = seed(database, plain=12)
    boss = researcher(client, database)
    sid = client.post(
        f"{API}/create_study",
        json={"user_token": boss, "name": "moves", "video_ids": seeded.plain, "moves_states": True},
    ).json()["id"]
    w = join(client, sid, "W1")
    pass_tutorial(client, w["user_token"])
    task = get_task(client, w["user_token"], sid, "W1", "a1").json()
    assert submit(client, w["user_token"], task, answers(task, seeded)).status_code == 200
    with database.read() as s:
        states = {v.id: v.label_state for v in s.query(Video).filter(Video.id.in_(seeded.plain))}
        rows = list(export_answers(s))
    assert set(states.values()) != {-1}  # one citizen vote each: partly labeled
    assert len(rows) == 16 and {a.group for a in rows} == {"crowd"}  # not counted twice


def test_a_worker_in_two_studies_over_the_same_clips_votes_once(
    client: TestClient, database: Database
) -> None:
    from sqlalchemy import func, select

    from smokewatch.labeling.tables import Label

    seeded = seed(database, plain=12)
    boss = researcher(client, database)
    studies = [
        client.post(
            f"{API}/create_study",
            json={
                "user_token": boss,
                "name": f"moves {k}",
                "video_ids": seeded.plain,
                "moves_states": True,
            },
        ).json()["id"]
        for k in range(2)
    ]
    for k, sid in enumerate(studies):  # the same worker, both studies, "smoke" on every clip
        w = join(client, sid, "W1")
        pass_tutorial(client, w["user_token"])
        task = get_task(client, w["user_token"], sid, "W1", f"a{k}").json()
        data = [
            dict(a, label=1) if a["video_id"] in seeded.plain else a for a in answers(task, seeded)
        ]
        assert submit(client, w["user_token"], task, data).status_code == 200
    with database.read() as s:
        votes = dict(s.execute(select(Label.video_id, func.count()).group_by(Label.video_id)).all())
        states = {v.id: v.label_state for v in s.query(Video).filter(Video.id.in_(seeded.plain))}
    voted = [vid for vid in seeded.plain if vid in votes]
    assert voted and all(votes[vid] == 1 for vid in voted)  # was 2 each: settled by one person
    assert {states[vid] for vid in voted} == {5}  # one "smoke" so far, not 23 (-1 -> 5 -> 23)
