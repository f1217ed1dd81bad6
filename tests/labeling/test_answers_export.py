"""The answers and pages exports: the label history as analysis reads it, on SQLite and
PostgreSQL, from pages answered through the API."""

from __future__ import annotations

from typing import Any

import pandas as pd
from fastapi.testclient import TestClient
from service_helpers import Seeded, answer_page, login, seed
from sqlalchemy import select

from smokewatch.analysis.aggregate import rise_state_machine
from smokewatch.analysis.answers import answers_frame
from smokewatch.core.answers import Answer
from smokewatch.core.labels import final_label
from smokewatch.labeling.answers_export import answer_value, export_answers, export_pages
from smokewatch.labeling.db import Database
from smokewatch.labeling.tables import Role, User, Video
from smokewatch.labeling.users import add_account


def researcher(client: TestClient, database: Database) -> str:
    with database.write() as s:
        add_account(s, "rita", "long enough password", Role.RESEARCHER)
    r = client.post(
        "/api/v1/login_password", json={"name": "rita", "password": "long enough password"}
    )
    assert r.status_code == 200, r.text
    return str(r.json()["user_token"])


def send(
    client: TestClient, token: str, seeded: Seeded, *, gold_right: bool = True, label: int = 1
) -> dict[str, Any]:
    batch = client.post("/api/v1/get_batch", json={"user_token": token}).json()
    r = client.post(
        "/api/v1/send_batch",
        json={
            "user_token": token,
            "video_token": batch["video_token"],
            "data": answer_page(batch, seeded, gold_right=gold_right, label=label),
        },
    )
    assert r.status_code == 200, r.text
    return dict(batch)


def test_every_kept_answer_and_every_page_sent(client: TestClient, database: Database) -> None:
    seeded = seed(database, plain=36)
    ann, bob = login(client, "uuid.ann"), login(client, "uuid.bob")
    kept = send(client, ann, seeded, label=1)
    send(client, ann, seeded, gold_right=False)  # rejected: its answers are not kept
    send(client, bob, seeded, label=0)
    client.post("/api/v1/get_batch", json={"user_token": bob})  # still out: not a page sent
    rita = researcher(client, database)
    plain = [i["id"] for i in kept["data"] if i["id"] > 1000]
    data = [
        {"video_id": plain[0], "label": 0},
        {"video_id": plain[1], "label": 47},  # made a gold standard: counts as "smoke"
        {"video_id": plain[2], "label": -2},  # marked bad: no answer about smoke
    ]
    r = client.post("/api/v1/set_label_state", json={"user_token": rita, "data": data})
    assert r.status_code == 204, r.text

    with database.read() as s:
        answers = list(export_answers(s, chunk=7))  # several chunks
        pages = list(export_pages(s, chunk=2))
        users = {u.client_id: u for u in s.scalars(select(User))}
    ann_id, bob_id = users["uuid.ann"].id, users["uuid.bob"].id

    citizens = [a for a in answers if a.group == "citizen"]
    assert len(citizens) == 32  # two accepted pages of 16 (12 to label, 4 gold)
    assert {a.worker for a in citizens} == {ann_id, bob_id}
    assert all(a.page_accepted is True and a.page is not None for a in citizens)
    ann_answers = [a for a in citizens if a.worker == ann_id]
    assert {a.task for a in ann_answers} == {i["id"] for i in kept["data"]}
    assert all(a.clip and a.time > 0 for a in answers)
    gold = [a for a in citizens if a.task < 1000]
    assert len(gold) == 8 and all(a.gold and a.gold_label == a.label for a in gold)
    assert {a.label for a in citizens if a.worker == bob_id and not a.gold} == {0}

    research = [a for a in answers if a.group == "researcher"]
    assert [(a.task, a.label, a.page, a.page_accepted) for a in research] == [
        (plain[0], 0, None, None),
        (plain[1], 1, None, None),
    ]
    # gold is the clip's state now: ann's answer on plain[1] reads as an answer on a gold clip
    (on_new_gold,) = [a for a in ann_answers if a.task == plain[1]]
    assert on_new_gold.gold and on_new_gold.gold_label == 1

    assert [(p.worker, p.group, p.accepted, p.clips, p.gold) for p in pages] == [
        (ann_id, "citizen", True, 16, 4),
        (ann_id, "citizen", False, 16, 4),
        (bob_id, "citizen", True, 16, 4),
    ]
    for client_id in ("uuid.ann", "uuid.bob"):  # the pages agree with the users' counters
        mine = [p for p in pages if p.worker == users[client_id].id]
        assert len(mine) == users[client_id].pages_submitted
        assert sum(bool(p.accepted) for p in mine) == users[client_id].pages_accepted


def test_a_researchers_page_is_a_researcher_page(client: TestClient, database: Database) -> None:
    seeded = seed(database, plain=24)
    rita = researcher(client, database)
    batch = send(client, rita, seeded, label=1)
    with database.read() as s:
        answers = list(export_answers(s))
        (page,) = list(export_pages(s))
    assert len(answers) == len(batch["data"]) and page.group == "researcher"
    assert all(isinstance(a, Answer) and a.group == "researcher" for a in answers)
    assert all(a.page == page.page and a.page_accepted is True for a in answers)


def test_an_empty_site_exports_nothing(database: Database) -> None:
    with database.read() as s:
        assert list(export_answers(s)) == [] and list(export_pages(s)) == []


def test_stored_labels_as_answers() -> None:
    assert [answer_value(v) for v in (1, 0, 23, 19, 47, 16, 20, 32, -2, -1)] == [
        1, 0, 1, 1, 1, 0, 0, 0, None, None,
    ]  # fmt: skip


def test_replaying_the_export_by_rises_rule_gives_the_services_labels(
    client: TestClient, database: Database
) -> None:
    """An expert's answer moves a clip by RISE's expert rule: the export says whose answers
    those were, so the analysis's replay of it settles the clips the service settled."""
    seeded = seed(database, plain=24)
    with database.write() as s:
        add_account(s, "eve", "long enough password", Role.EXPERT)
    r = client.post(
        "/api/v1/login_password", json={"name": "eve", "password": "long enough password"}
    )
    assert r.status_code == 200, r.text
    eve, ann = str(r.json()["user_token"]), login(client, "uuid.ann")
    send(client, ann, seeded, label=0)
    send(client, eve, seeded, label=1)
    send(client, eve, seeded, label=1)

    with database.read() as s:
        answers = answers_frame(export_answers(s))
        service = {
            v.id: final_label(v.label_state, v.label_state_admin)
            for v in s.scalars(select(Video).where(Video.id.in_(seeded.plain)))
        }
    assert answers["expert"].any() and not answers["expert"].all()
    by_expert = set(answers.loc[answers["expert"], "task"]) & set(seeded.plain)
    assert by_expert and all(service[t] == 1 for t in by_expert)  # the expert settled them
    replayed = rise_state_machine(answers)
    assert {t: replayed.get(t, None) for t in by_expert} == {t: service[t] for t in by_expert}
    for task, label in replayed.items():
        if task in service:
            assert (None if pd.isna(label) else int(label)) == service[task], task
