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
            assert {**again, "seconds_left": 0} == {**task, "seconds_left": 0}  # time ticks on
            assert task["task"] not in tasks_by_worker.get(w, [])
            tasks_by_worker.setdefault(w, []).append(task["task"])
            data = answers(task, seeded, gold_right=(w != "C3"))
            done = submit(client, token, task, data)
            assert done.status_code == 200, done.text
            code = done.json()["completion_code"]
            codes.append((w, assignment, code))
            # one submission per assignment: sent again, or the page reloaded, the same code
            # (a lost response must not cost the pay), and nothing changes
            assert submit(client, token, task, data).json()["completion_code"] == code
            reloaded = get_task(client, token, sid, w, assignment)
            assert reloaded.status_code == 200 and reloaded.json()["completion_code"] == code
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


def _study(client: TestClient, boss: str, clips: list[int], **options: Any) -> int:
    r = client.post(
        f"{API}/create_study",
        json={"user_token": boss, "name": "s", "video_ids": clips, "seed": 1, **options},
    )
    assert r.status_code == 200, r.text
    return int(r.json()["id"])


def _worker(client: TestClient, sid: int, worker: str) -> str:
    token = str(join(client, sid, worker)["user_token"])
    pass_tutorial(client, token)
    return token


def _stored(database: Database) -> tuple[list[Any], list[Any], list[Any], list[Any]]:
    """Every row a submit could change: assignments, answers, clip states, label history."""
    from sqlalchemy import select

    from smokewatch.labeling.tables import CrowdAnswer, CrowdAssignment, Label

    with database.read() as s:
        return (
            [tuple(r) for r in s.execute(select(CrowdAssignment.__table__)).all()],
            [tuple(r) for r in s.execute(select(CrowdAnswer.__table__)).all()],
            [tuple(r) for r in s.execute(select(Video.id, Video.label_state)).all()],
            [tuple(r) for r in s.execute(select(Label.__table__)).all()],
        )


@pytest.mark.parametrize("gold_right", [True, False])
def test_a_lost_completion_code_can_be_had_again(
    client: TestClient, database: Database, gold_right: bool
) -> None:
    """The code existed in one response only: a worker whose response was lost (a closed tab,
    a dropped connection) gets the same code from a resend or a reload, and nothing stored
    changes, whatever the resend's answers."""
    seeded = seed(database, plain=12)
    sid = _study(client, researcher(client, database), seeded.plain, moves_states=True)
    token = _worker(client, sid, "W1")
    task = get_task(client, token, sid, "W1", "a1").json()
    first = submit(client, token, task, answers(task, seeded, gold_right=gold_right))
    assert first.status_code == 200, first.text
    code = first.json()["completion_code"]
    before = _stored(database)
    flipped = [dict(a, label=1 - a["label"]) for a in answers(task, seeded)]
    again = submit(client, token, task, flipped)
    assert again.status_code == 200, again.text
    assert again.json()["completion_code"] == code
    reload = get_task(client, token, sid, "W1", "a1")
    assert reload.status_code == 200, reload.text
    assert reload.json()["completion_code"] == code and "data" not in reload.json()
    assert _stored(database) == before
    # another worker's token gets neither the code nor the task
    other = _worker(client, sid, "W2")
    assert submit(client, other, task, flipped).status_code == 404
    assert get_task(client, other, sid, "W2", "a1").status_code == 409


def test_crowd_workers_cannot_use_volunteer_pages(client: TestClient, database: Database) -> None:
    """A crowd worker's answers on volunteer pages would be exported as a citizen's."""
    seed(database, plain=24)
    sid = _study(client, researcher(client, database), list(range(1001, 1013)))
    token = _worker(client, sid, "W1")
    r = client.post("/api/v1/get_batch", json={"user_token": token})
    assert r.status_code == 403 and "crowd" in r.json()["message"].lower(), r.text
    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    uid = ctx.tokens.check_user(token).user_id
    clips = list(range(1001, 1017))
    video_token = ctx.tokens.batch_token(batch_id=1, user_id=uid, video_ids=clips, jti="x")
    r = client.post(
        "/api/v1/send_batch",
        json={
            "user_token": token,
            "video_token": video_token,
            "data": [{"video_id": v, "label": 1} for v in clips],
        },
    )
    assert r.status_code == 403 and "crowd" in r.json()["message"].lower(), r.text
    assert client.post("/api/v1/get_batch", json={"user_token": login(client)}).status_code == 200


def test_a_gold_standard_relabeled_after_the_study_was_made_is_not_held_against_workers(
    client: TestClient, database: Database
) -> None:
    """A task's gold standards are fixed when the study is made; one a researcher marks bad
    later has no right answer: it is left out of the check and of ``gold_total``."""
    seeded = seed(database, plain=12)
    boss = researcher(client, database)
    sid = _study(client, boss, seeded.plain, assignments=2)
    token = _worker(client, sid, "W1")
    task = get_task(client, token, sid, "W1", "a1").json()
    gold = [item["id"] for item in task["data"] if item["id"] not in seeded.plain]
    r = client.post(
        "/api/v1/set_label_state",
        json={"user_token": boss, "data": [{"video_id": gold[0], "label": -2}]},
    )
    assert r.status_code == 204, r.text
    done = submit(client, token, task, answers(task, seeded))
    assert done.status_code == 200, done.text
    found = verify_code(load_signing_key_of(client), done.json()["completion_code"])
    assert (found.gold_right, found.gold_total, found.accepted) == (3, 3, True)
    report = client.post(f"{API}/get_study", json={"user_token": boss, "study_id": sid}).json()
    (row,) = report["workers"]
    assert (row["gold_right"], row["gold_total"], row["reliability"]) == (3, 3, 1.0)
    assert row["accepted"] == 1
    with database.read() as s:  # the pages export counts the gold standards it was checked on
        (page,) = [p for p in export_pages(s) if p.group == "crowd"]
    assert (page.clips, page.gold, page.accepted) == (16, 3, True)


def load_signing_key_of(client: TestClient) -> bytes:
    return bytes(client.app.state.ctx.site_key)  # type: ignore[attr-defined]


def _age(database: Database, seconds: int) -> None:
    """Every open assignment given ``seconds`` earlier (its hold running out, without waiting)."""
    from sqlalchemy import update

    from smokewatch.labeling.tables import CrowdAssignment

    with database.write() as s:
        s.execute(
            update(CrowdAssignment)
            .where(CrowdAssignment.submit_time.is_(None))
            .values(given_time=CrowdAssignment.given_time - seconds)
        )


def test_answers_sent_after_the_hold_ran_out_are_refused(
    client: TestClient, database: Database
) -> None:
    """K=1, a 60 s hold: B1 idles past it, B2 takes the freed slot and submits; B1's late
    answers would put the task over quota, so they are refused (410), as is B1's reload."""
    seeded = seed(database, plain=12)
    boss = researcher(client, database)
    sid = _study(client, boss, seeded.plain, assignments=1, hold_seconds=60)
    b1, b2 = _worker(client, sid, "B1"), _worker(client, sid, "B2")
    late = get_task(client, b1, sid, "B1", "b1").json()
    assert 55 <= late["seconds_left"] <= 60
    study = client.post(f"{API}/get_study", json={"user_token": boss, "study_id": sid}).json()
    assert study["study"]["assignments_open"] == 1
    _age(database, 62)
    study = client.post(f"{API}/get_study", json={"user_token": boss, "study_id": sid}).json()
    assert study["study"]["assignments_open"] == 0
    assert study["workers"][0]["assignments_open"] == 0
    task = get_task(client, b2, sid, "B2", "b2").json()
    assert submit(client, b2, task, answers(task, seeded)).status_code == 200
    r = submit(client, b1, late, answers(late, seeded))
    assert r.status_code == 410 and "ran out" in r.json()["message"], r.text
    r = get_task(client, b1, sid, "B1", "b1")
    assert r.status_code == 410 and "ran out" in r.json()["message"], r.text
    report = client.post(f"{API}/get_study", json={"user_token": boss, "study_id": sid}).json()
    assert report["study"]["assignments_done"] == 1


def test_mturk_preview_is_not_an_assignment(client: TestClient, database: Database) -> None:
    seeded = seed(database, plain=12)
    sid = _study(client, researcher(client, database), seeded.plain)
    token = _worker(client, sid, "W1")
    r = get_task(client, token, sid, "W1", "ASSIGNMENT_ID_NOT_AVAILABLE")
    assert r.status_code == 400 and "preview" in r.json()["message"], r.text


def test_a_worker_holds_one_open_assignment_per_study(
    client: TestClient, database: Database
) -> None:
    """New assignment ids must not let one worker hold every slot of a study."""
    seeded = seed(database, plain=36)  # three tasks
    sid = _study(client, researcher(client, database), seeded.plain, assignments=1)
    token = _worker(client, sid, "W1")
    first = get_task(client, token, sid, "W1", "a1").json()
    r = get_task(client, token, sid, "W1", "a2")
    assert r.status_code == 409 and "'a1'" in r.json()["message"], r.text
    again = get_task(client, token, sid, "W1", "a1").json()  # a reload still works
    # the same task and hold; only the seconds left may have ticked on between the calls
    assert {**again, "seconds_left": 0} == {**first, "seconds_left": 0}
    assert 0 <= first["seconds_left"] - again["seconds_left"] <= 5
    assert submit(client, token, first, answers(first, seeded)).status_code == 200
    assert get_task(client, token, sid, "W1", "a2").status_code == 200
    _age(database, 3601)  # a hold that ran out holds nothing
    assert get_task(client, token, sid, "W1", "a3").status_code == 200


@pytest.mark.parametrize("bad", ["A1\u200b", "\u202eA1", "\ufeffA1", "A\u2066B", "A\x85B"])
def test_invisible_characters_in_worker_ids_are_refused(
    client: TestClient, database: Database, bad: str
) -> None:
    """Zero-width and bidirectional format characters make ids that look like another's."""
    seeded = seed(database, plain=12)
    sid = _study(client, researcher(client, database), seeded.plain)
    r = client.post(f"{API}/join", json={"study_id": sid, "platform": "mturk", "worker_id": bad})
    assert r.status_code == 400 and "invisible" in r.json()["message"], r.text
    token = _worker(client, sid, "W1")
    assert get_task(client, token, sid, "W1", bad).status_code == 400
