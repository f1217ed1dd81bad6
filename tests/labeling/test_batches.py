"""Batches of clips through the API: what a batch holds, scoring, single use, one vote per
user and clip, researchers' batches.

Every test runs on SQLite and on PostgreSQL (``db_url`` is parametrized).
"""

from __future__ import annotations

import base64
import json
import random
import re
from collections import Counter
from typing import Any

from fastapi.testclient import TestClient
from service_helpers import answer_page, login, seed
from sqlalchemy import func, select, update

from smokewatch.core.labels import final_label
from smokewatch.labeling.db import Database, drive, run_together
from smokewatch.labeling.tables import Batch, Label, Role, User, Video
from smokewatch.labeling.users import add_account, get_or_create_volunteer, set_role


def states(db: Database) -> dict[int, tuple[int, int]]:
    with db.read() as s:
        return {v.id: (v.label_state, v.label_state_admin) for v in s.scalars(select(Video))}


def get_batch(client: TestClient, token: str) -> dict:
    r = client.post("/api/v1/get_batch", json={"user_token": token})
    assert r.status_code == 200, r.text
    return r.json()


def test_a_batch_is_12_clips_and_4_hidden_gold(client: TestClient, database: Database) -> None:
    seeded = seed(database, plain=60)  # 5 batches of 12 to label, none sent
    token = login(client)
    for _ in range(5):
        batch = get_batch(client, token)
        ids = [item["id"] for item in batch["data"]]
        assert len(ids) == 16 == len(set(ids))
        pos = sum(i in seeded.gold_pos for i in ids)
        neg = sum(i in seeded.gold_neg for i in ids)
        assert pos + neg == 4 and 1 <= pos <= 3 and neg >= 1
        assert all(
            set(item) == {"id", "file_name", "url_root", "url_part"} for item in batch["data"]
        )
        assert batch["data"][0]["url_part"].endswith(batch["data"][0]["file_name"] + ".mp4")


def test_partly_labeled_first_final_never_labeled_never_again(
    client: TestClient, database: Database
) -> None:
    partial = {1001: (5, -1), 1002: (4, -1), 1003: (3, -1)}
    final = {1004: (-1, 23), 1005: (-1, 16), 1006: (-1, -2), 1007: (5, 19), 1008: (-1, 47)}
    seeded = seed(database, plain=30, states={**partial, **final})
    token = login(client)
    first = get_batch(client, token)
    ids = {item["id"] for item in first["data"]}
    assert set(partial) <= ids  # partly labeled clips come before unlabeled ones
    assert not ids & {1004, 1005, 1006, 1007}  # final researcher states are never offered
    r = client.post(
        "/api/v1/send_batch",
        json={
            "user_token": token,
            "video_token": first["video_token"],
            "data": answer_page(first, seeded),
        },
    )
    assert r.status_code == 200, r.text
    labeled = ids - set(seeded.gold_pos) - set(seeded.gold_neg) - {1008}  # 1008 is gold too
    second = get_batch(client, token)
    assert not {item["id"] for item in second["data"]} & labeled  # never a clip already labeled


def test_too_few_clips_is_204(client: TestClient, database: Database) -> None:
    seed(database, plain=11)
    assert client.post("/api/v1/get_batch", json={"user_token": login(client)}).status_code == 204


def test_no_gold_is_204(client: TestClient, database: Database) -> None:
    seed(database, plain=30, gold_pos=0)
    assert client.post("/api/v1/get_batch", json={"user_token": login(client)}).status_code == 204


def test_accepted_batch_moves_states_and_scores(client: TestClient, database: Database) -> None:
    seeded = seed(database, plain=12)
    before = states(database)
    token = login(client)
    batch = get_batch(client, token)
    r = client.post(
        "/api/v1/send_batch",
        json={
            "user_token": token,
            "video_token": batch["video_token"],
            "data": answer_page(batch, seeded, label=1),
        },
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"data": {"score": {"batch": 12, "user": 12, "raw": 12}}}
    after = states(database)
    for vid in seeded.plain:
        assert before[vid] == (-1, -1) and after[vid] == (5, -1)
    gold_in_batch = [i["id"] for i in batch["data"] if i["id"] < 1000]
    for vid in gold_in_batch:  # gold clips get their citizen answer recorded too, admin untouched
        assert after[vid][1] == before[vid][1]
    with database.read() as s:
        assert s.scalar(select(func.count()).select_from(Label)) == 16
        user = s.scalar(select(User))
        assert (user.pages_submitted, user.pages_accepted) == (1, 1)


def test_rejected_batch_changes_nothing_but_raw_score(
    client: TestClient, database: Database
) -> None:
    seeded = seed(database, plain=12)
    before = states(database)
    token = login(client)
    batch = get_batch(client, token)
    r = client.post(
        "/api/v1/send_batch",
        json={
            "user_token": token,
            "video_token": batch["video_token"],
            "data": answer_page(batch, seeded, gold_right=False),
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["data"]["score"] == {"batch": 0, "user": 0, "raw": 12}
    assert states(database) == before
    with database.read() as s:
        assert s.scalar(select(func.count()).select_from(Label)) == 0
        user = s.scalar(select(User))
        assert (user.pages_submitted, user.pages_accepted, user.score) == (1, 0, 0)


def test_one_wrong_gold_rejects(client: TestClient, database: Database) -> None:
    seeded = seed(database, plain=12)
    token = login(client)
    batch = get_batch(client, token)
    answers = answer_page(batch, seeded)
    for a in answers:
        if a["video_id"] in seeded.gold_neg:
            a["label"] = 1
            break
    r = client.post(
        "/api/v1/send_batch",
        json={"user_token": token, "video_token": batch["video_token"], "data": answers},
    )
    assert r.json()["data"]["score"]["batch"] == 0


def test_two_volunteers_settle_a_clip_and_a_third_breaks_a_tie(
    client: TestClient, database: Database
) -> None:
    seeded = seed(database, plain=12)
    answers_by_user = {"a": 1, "b": 0, "c": 1}
    for client_id, value in answers_by_user.items():
        token = login(client, f"uuid.{client_id}")
        batch = get_batch(client, token)
        r = client.post(
            "/api/v1/send_batch",
            json={
                "user_token": token,
                "video_token": batch["video_token"],
                "data": answer_page(batch, seeded, label=value),
            },
        )
        assert r.json()["data"]["score"]["batch"] == 12
    after = states(database)
    assert all(
        after[vid] == (19, -1) for vid in seeded.plain
    )  # 1, 0 -> discord; third 1 -> weak pos
    assert all(final_label(*after[vid]) == 1 for vid in seeded.plain)


def test_a_batch_token_works_once(client: TestClient, database: Database) -> None:
    seeded = seed(database, plain=12)
    token = login(client)
    batch = get_batch(client, token)
    body = {
        "user_token": token,
        "video_token": batch["video_token"],
        "data": answer_page(batch, seeded),
    }
    assert client.post("/api/v1/send_batch", json=body).status_code == 200
    snapshot = states(database)
    again = client.post("/api/v1/send_batch", json=body)
    assert again.status_code == 409
    assert "already submitted" in again.json()["message"]
    assert states(database) == snapshot
    with database.read() as s:
        assert s.scalar(select(func.count()).select_from(Label)) == 16
        assert s.scalar(select(User.raw_score)) == 12


def test_answers_must_be_for_the_batchs_clips(client: TestClient, database: Database) -> None:
    seeded = seed(database, plain=20)
    token = login(client)
    batch = get_batch(client, token)
    answers = answer_page(batch, seeded)
    answers[0]["video_id"] = next(
        v for v in seeded.plain if v not in {i["id"] for i in batch["data"]}
    )
    r = client.post(
        "/api/v1/send_batch",
        json={"user_token": token, "video_token": batch["video_token"], "data": answers},
    )
    assert r.status_code == 400
    # a failed submission does not use the batch up: the right answers are still taken
    right = answer_page(batch, seeded)
    ok = client.post(
        "/api/v1/send_batch",
        json={"user_token": token, "video_token": batch["video_token"], "data": right},
    )
    assert ok.status_code == 200


def test_another_users_batch_is_refused(client: TestClient, database: Database) -> None:
    seeded = seed(database, plain=12)
    alice, bob = login(client, "uuid.alice"), login(client, "uuid.bob")
    batch = get_batch(client, alice)
    r = client.post(
        "/api/v1/send_batch",
        json={
            "user_token": bob,
            "video_token": batch["video_token"],
            "data": answer_page(batch, seeded),
        },
    )
    assert r.status_code == 401


def test_refusals_come_in_order_user_batch_answers_then_claim(
    client: TestClient, database: Database
) -> None:
    """A banned user is refused as banned (403) whatever else is wrong; a wrong answer is a
    400 even on a batch already sent (which alone would be a 409)."""
    seeded = seed(database, plain=40)
    alice, bob = login(client, "uuid.alice"), login(client, "uuid.bob")
    alices, bobs = get_batch(client, alice), get_batch(client, bob)

    def send(token: str, batch: dict, data: list[dict[str, int]]) -> int:
        body = {"user_token": token, "video_token": batch["video_token"], "data": data}
        return client.post("/api/v1/send_batch", json=body).status_code

    answers = answer_page(alices, seeded)
    assert send(alice, alices, answers) == 200
    assert send(alice, alices, [dict(answers[0], label=7), *answers[1:]]) == 400
    assert send(alice, alices, answers) == 409
    with database.write() as s:
        set_role(s, "uuid.bob", "banned")
    assert send(bob, bobs, answer_page(bobs, seeded)[:-1]) == 403  # answers short too
    assert send(bob, alices, answers) == 403  # and someone else's batch


def test_researcher_batches_have_no_gold_and_set_the_admin_state(
    client: TestClient, database: Database
) -> None:
    seeded = seed(database, plain=20, states={1001: (23, -1), 1002: (16, -1)})
    with database.write() as s:
        add_account(s, "rita", "correct horse battery")
    r = client.post(
        "/api/v1/login_password", json={"name": "rita", "password": "correct horse battery"}
    )
    token = r.json()["user_token"]
    batch = get_batch(client, token)
    ids = [i["id"] for i in batch["data"]]
    assert len(ids) == 16 and not set(ids) & set(seeded.gold_pos + seeded.gold_neg)
    priors = {i["id"]: i["label_state"] for i in batch["data"]}  # citizens' state shown as prior
    assert all(priors[v] == states(database)[v][0] for v in ids)
    before = states(database)
    answers = [{"video_id": v, "label": 0} for v in ids]
    r = client.post(
        "/api/v1/send_batch",
        json={"user_token": token, "video_token": batch["video_token"], "data": answers},
    )
    assert r.json() == {"data": {"score": {"batch": None, "user": None, "raw": None}}}
    after = states(database)
    for v in ids:
        assert after[v] == (before[v][0], 16)  # citizen state untouched, researcher's set
        assert final_label(*after[v]) == 0  # and the researcher wins
    with database.read() as s:
        assert s.scalar(select(Batch.accepted)) is True


def test_batch_rows_and_label_counts_agree(client: TestClient, database: Database) -> None:
    seeded = seed(database, plain=36)
    token = login(client)
    accepted = 0
    for i in range(3):
        batch = get_batch(client, token)
        good = i != 1
        r = client.post(
            "/api/v1/send_batch",
            json={
                "user_token": token,
                "video_token": batch["video_token"],
                "data": answer_page(batch, seeded, gold_right=good),
            },
        )
        accepted += r.json()["data"]["score"]["batch"] == 12
    with database.read() as s:
        labels = s.scalar(select(func.count()).select_from(Label))
        kinds = Counter(s.scalars(select(Batch.accepted)))
    assert labels == 16 * accepted and kinds[True] == accepted == 2


def _send(client: TestClient, token: str, batch: dict, data: list[dict[str, int]]) -> Any:
    body = {"user_token": token, "video_token": batch["video_token"], "data": data}
    return client.post("/api/v1/send_batch", json=body)


def _votes_by_user_and_clip(db: Database, clips: list[int]) -> Counter[tuple[int, int]]:
    with db.read() as s:
        rows = s.execute(select(Label.user_id, Label.video_id).where(Label.video_id.in_(clips)))
        return Counter((int(u), int(v)) for u, v in rows)


def test_batches_asked_for_before_sending_any_never_share_a_clip(
    client: TestClient, database: Database
) -> None:
    """Finding: the draw skipped the clips a user had labeled, not those on their open
    batches, so two batches asked for before sending either held the same clips, and one
    volunteer's two answers settled a clip (23) alone. 24 clips make exactly two batches."""
    seeded = seed(database, plain=24)
    token = login(client)
    first, second = get_batch(client, token), get_batch(client, token)
    plain = set(seeded.plain)
    ids = [{i["id"] for i in b["data"]} & plain for b in (first, second)]
    assert len(ids[0]) == len(ids[1]) == 12 and not ids[0] & ids[1]
    third = client.post("/api/v1/get_batch", json={"user_token": token})
    assert third.status_code == 204  # every clip to label is on one of this user's batches
    for batch in (first, second):
        assert _send(client, token, batch, answer_page(batch, seeded)).status_code == 200
    votes = _votes_by_user_and_clip(database, seeded.plain)
    assert len(votes) == 24 and set(votes.values()) == {1}
    after = states(database)
    assert all(after[vid] == (5, -1) for vid in seeded.plain)  # one vote each: never 23
    # sent batches hold nothing: a rejected batch's clips can come back to this user
    assert get_batch(client, login(client, "uuid.other"))


def test_answers_on_gold_standards_are_not_votes(client: TestClient, database: Database) -> None:
    """Gold standards come back to one user on batch after batch, so if their answers moved
    the citizens' state one volunteer would settle a gold clip alone (23 from three of their
    own answers). They are kept in the history and never move it."""
    seeded = seed(database, plain=36, gold_pos=3, gold_neg=1)
    token = login(client)
    for _ in range(3):
        batch = get_batch(client, token)
        r = _send(client, token, batch, answer_page(batch, seeded))
        assert r.status_code == 200 and r.json()["data"]["score"]["batch"] == 12, r.text
    gold = seeded.gold_pos + seeded.gold_neg
    votes = _votes_by_user_and_clip(database, gold)
    assert sum(votes.values()) == 12 and max(votes.values()) == 3  # every batch held them all
    after = states(database)
    assert all(after[vid][0] == -1 for vid in gold), {vid: after[vid] for vid in gold}
    assert all(after[vid][0] == 5 for vid in seeded.plain)  # the clips to label did move


def test_a_sent_batch_releases_its_clips(client: TestClient, database: Database) -> None:
    """A rejected batch's clips are not held any more: the same user may be given them again
    (as RISE did); an accepted batch's clips are the user's labels, never given again."""
    seeded = seed(database, plain=12)
    token = login(client)
    batch = get_batch(client, token)
    assert client.post("/api/v1/get_batch", json={"user_token": token}).status_code == 204
    wrong = answer_page(batch, seeded, gold_right=False)
    assert _send(client, token, batch, wrong).json()["data"]["score"]["batch"] == 0
    again = get_batch(client, token)
    assert {i["id"] for i in again["data"]} >= set(seeded.plain)
    assert _send(client, token, again, answer_page(again, seeded)).status_code == 200
    assert client.post("/api/v1/get_batch", json={"user_token": token}).status_code == 204


def test_a_batch_whose_token_expired_holds_its_clips_no_more(
    client: TestClient, database: Database
) -> None:
    """An open batch holds its clips for as long as its token can be sent
    (``page_token_ttl``), not for ever: a volunteer who left a batch unsent gets its clips
    again once it can no longer be sent."""
    seeded = seed(database, plain=12)
    token = login(client)
    batch = get_batch(client, token)
    assert client.post("/api/v1/get_batch", json={"user_token": token}).status_code == 204
    with database.write() as s:  # made an hour and a second ago: the token has expired
        s.execute(update(Batch).values(request_time=Batch.request_time - 3601))
    again = get_batch(client, token)
    assert {i["id"] for i in again["data"]} >= set(seeded.plain)
    assert {i["id"] for i in batch["data"]} >= set(seeded.plain)


def test_a_clip_takes_one_vote_from_a_user_even_when_two_draws_race(
    client: TestClient, database: Database
) -> None:
    """Two draws for one user at the same moment can both miss the other's batch. The
    second batch sent then holds clips the user answered already: it is refused whole (409),
    and those clips keep their one vote from that user."""
    seeded = seed(database, plain=12)
    token = login(client)
    first = get_batch(client, token)
    with database.write() as s:  # as a second draw at the same moment sees it: not there
        s.execute(update(Batch).values(return_time=0))
    second = get_batch(client, token)
    with database.write() as s:
        s.execute(update(Batch).where(Batch.return_time == 0).values(return_time=None))
    assert _send(client, token, first, answer_page(first, seeded)).status_code == 200
    snapshot = states(database)
    r = _send(client, token, second, answer_page(second, seeded))
    assert r.status_code == 409 and "answered already" in r.json()["message"]
    assert states(database) == snapshot
    assert set(_votes_by_user_and_clip(database, seeded.plain).values()) == {1}
    with database.read() as s:
        user = s.scalar(select(User))
        assert user is not None and (user.pages_submitted, user.score) == (1, 12)


def _account_token(client: TestClient, database: Database, name: str, role: str) -> str:
    with database.write() as s:
        add_account(s, name, "correct horse battery")
        set_role(s, name, role)
    r = client.post(
        "/api/v1/login_password", json={"name": name, "password": "correct horse battery"}
    )
    assert r.status_code == 200, r.text
    return str(r.json()["user_token"])


def test_a_researchers_batches_hold_no_clips(client: TestClient, database: Database) -> None:
    """A researcher's answers are no votes: a reloaded review page gets the clips again
    rather than nothing for an hour."""
    seed(database, plain=16)
    token = _account_token(client, database, "rosa", "researcher")
    first, again = get_batch(client, token), get_batch(client, token)
    assert {i["id"] for i in first["data"]} == {i["id"] for i in again["data"]}


def test_a_researchers_batch_is_refused_once_its_owner_is_demoted(
    client: TestClient, database: Database
) -> None:
    """Finding: a batch's kind came from its owner's role when sent, so a researcher's batch
    (no gold standards) sent after a demotion was taken as a volunteer's with no gold check,
    moving the citizens' state unchecked. It is taken as what it was given as: refused."""
    seeded = seed(database, plain=20)
    token = _account_token(client, database, "rita", "researcher")
    batch = get_batch(client, token)
    with database.write() as s:
        set_role(s, "rita", "layperson")
    before = states(database)
    r = _send(client, token, batch, answer_page(batch, seeded))
    assert r.status_code == 403 and "no longer" in r.json()["message"]
    assert states(database) == before
    with database.read() as s:
        assert s.scalar(select(func.count()).select_from(Label)) == 0
        assert s.scalar(select(Batch.return_time)) is None


def test_a_volunteers_batch_is_scored_as_one_after_a_promotion(
    client: TestClient, database: Database
) -> None:
    """The other way round: a volunteer's batch sent after its owner became a researcher is
    still a volunteer's: gold checked, the citizens' state moved, the researchers' not."""
    seeded = seed(database, plain=24)
    token = _account_token(client, database, "vera", "layperson")
    wrong, right = get_batch(client, token), get_batch(client, token)
    with database.write() as s:
        set_role(s, "vera", "researcher")
    r = _send(client, token, wrong, answer_page(wrong, seeded, gold_right=False))
    assert r.json()["data"]["score"] == {"batch": 0, "user": 0, "raw": 12}  # gold checked
    r = _send(client, token, right, answer_page(right, seeded))
    assert r.json()["data"]["score"] == {"batch": 12, "user": 12, "raw": 24}
    after = states(database)
    for vid in {i["id"] for i in right["data"]} & set(seeded.plain):
        assert after[vid] == (5, -1)
    with database.read() as s:  # the history says the answers moved the citizens' state
        assert set(s.scalars(select(Label.client_type))) == {Role.LAYPERSON}


class _Starts(random.Random):
    """A generator whose ``random()`` gives chosen values (the draw's random start points)."""

    def __init__(self, values: list[float]) -> None:
        super().__init__(0)
        self.values = list(values)

    def random(self) -> float:
        return self.values.pop(0) if self.values else super().random()

    def getrandbits(self, k: int) -> int:  # defined so that randint/shuffle do not use random()
        return super().getrandbits(k)


def _drive_counting(session: Any, plan: Any) -> tuple[Any, list[int]]:
    """``db.drive``, also saying how many statements the plan sent each time."""
    sent: list[int] = []
    try:
        request = next(plan)
        while True:
            sent.append(len(request.steps))
            request = plan.send(run_together(session, request.steps, commit=request.commit))
    except StopIteration as done:
        return done.value, sent


def test_a_batch_is_drawn_in_one_statement_that_wraps_around(database: Database) -> None:
    """Every part starts near the end of the sort order, so nearly all of the batch comes from
    the wrapped-around scans; still one statement (one snapshot: a clip moving between states
    mid-draw cannot be drawn twice, a race an earlier two-statement draw had on PostgreSQL)."""
    from sqlalchemy import update

    from smokewatch.labeling.batches import BatchPolicy
    from smokewatch.labeling.batches.draw import draw_batch_plan
    from smokewatch.labeling.users import Caller

    seeded = seed(database, plain=30, states={1001: (4, -1), 1002: (3, -1)})
    with database.write() as s:  # sort keys 0.0 .. 0.97 (the seed's are random)
        for n, vid in enumerate(seeded.gold_pos + seeded.gold_neg + seeded.plain):
            s.execute(update(Video).where(Video.id == vid).values(sort_key=n / 40))
    plan = draw_batch_plan(Caller(99, 3, 0, 0), BatchPolicy(), _Starts([0.99] * 6))
    with database.write() as session:
        batch, sent = _drive_counting(session, plan)
    assert batch is not None
    assert sent == [1]
    assert len(batch.ids) == 16 == len(set(batch.ids))
    gold = set(seeded.gold_pos + seeded.gold_neg)
    assert batch.gold == 4 == len(gold & set(batch.ids))
    assert {1001, 1002} <= set(batch.ids)  # partly labeled first, found by wrapping around


def test_drawing_a_batch_reads_index_ranges_not_the_table(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """RISE drew batches with ORDER BY RAND() over all videos; here each part of a batch is an
    index range scan with a LIMIT (SQLite's plan is checked; PostgreSQL's cost is measured in
    bench/labeling_load.py: the same throughput at 20,000 and 200,000 clips)."""
    from service_helpers import make_settings

    from smokewatch.labeling.batches import BatchPolicy
    from smokewatch.labeling.batches.draw import batch_parts, draw_batch_plan, draw_step
    from smokewatch.labeling.db import open_database

    db = open_database(make_settings(tmp_path, f"sqlite:///{tmp_path / 'plan.db'}"))
    seeded = seed(db, plain=200)
    with db.write() as s:  # a detection run's clips, at two priorities
        s.execute(update(Video).where(Video.id.in_(seeded.plain[:10])).values(priority=2))
        s.execute(update(Video).where(Video.id.in_(seeded.plain[10:30])).values(priority=1))
    plans: list[str] = []

    from sqlalchemy import event

    @event.listens_for(db.engine, "before_cursor_execute")
    def _explain(conn, cursor, statement, params, context, executemany):  # type: ignore[no-untyped-def]
        if "UNION ALL" in statement:
            raw = conn.connection.dbapi_connection
            plans.extend(row[-1] for row in raw.execute("EXPLAIN QUERY PLAN " + statement, params))

    from smokewatch.labeling.users import Caller

    plan = draw_batch_plan(Caller(1, 3, 0, 0), BatchPolicy(), random.Random(3))
    with db.write() as session:
        assert drive(session, plan) is not None
    video_steps = [p for p in plans if p.startswith(("SEARCH video", "SCAN video"))]
    assert video_steps, plans
    assert all(
        re.search(r"USING (COVERING )?INDEX ix_video_((state|admin)_key|priority) ", p)
        for p in video_steps
    ), plans
    assert not any(p.startswith(("SCAN video", "SCAN label")) for p in plans)
    assert not any("TEMP B-TREE" in p for p in plans), plans
    assert len(video_steps) >= 6 + 5  # gold x2, partial x3, fresh; priority: 2 levels + rest
    priority = [p for p in video_steps if "ix_video_priority" in p]
    assert len(priority) >= 5, plans
    # the user's labels: one index probe per candidate clip
    probes = [p for p in plans if p.startswith("SEARCH label")]
    assert probes and all("INDEX ix_label_user_video" in p for p in probes), plans
    # the redraw leaving out held clips reads the same index ranges
    plans.clear()
    parts = batch_parts(BatchPolicy(), researcher=False)
    with db.write() as session:
        run_together(session, [draw_step(parts, 1, random.Random(3), held=[1001, 1002])])
    assert plans and not any(p.startswith(("SCAN video", "SCAN label")) for p in plans), plans
    db.dispose()


def test_a_batch_is_one_round_trip_of_reads_unless_the_draw_meets_an_open_batch(
    database: Database,
) -> None:
    """Nothing is written to hold a batch's clips: the user, the draw and the clips of the
    user's open batches are one round trip, then the batch row and the commit another. Only
    a draw that met a clip of an open batch (the same random starts twice here: the same 12
    clips) is drawn again without them; gold standards may come back."""
    from smokewatch.labeling.batches import BatchPolicy, give_batch_plan

    seeded = seed(database, plain=24)
    with database.write() as s:
        uid = get_or_create_volunteer(s, "uuid.trips").id

    def give() -> tuple[Any, list[int]]:
        plan = give_batch_plan(
            uid,
            BatchPolicy(),
            random.Random(7),
            connection_id=None,
            hold_seconds=3600,
            postgres=not database.is_sqlite,
        )
        with database.write() as session:
            return _drive_counting(session, plan)

    first, sent = give()
    assert sent == [3, 1]
    second, sent = give()
    assert sent == [3, 1, 1]
    plain = set(seeded.plain)
    ids = [set(b.batch.ids) & plain for b in (first, second)]
    assert len(ids[0]) == len(ids[1]) == 12 and not ids[0] & ids[1]
    assert first.batch.gold == second.batch.gold == 4
    third, sent = give()
    assert third is None and sent == [3, 1]  # every clip to label is held: 204


def test_a_users_open_batches_are_read_through_the_partial_index(db_url: str) -> None:
    """Volunteers have sent thousands of batches and have a few open: the open-batch query
    reads the partial index of open batches, not the user's sent batches."""
    from sqlalchemy import insert, text

    from smokewatch.labeling.batches.statements import OPEN_BATCH_CLIPS
    from smokewatch.labeling.db import make_engine, migrate

    engine = make_engine(db_url)
    migrate(engine)
    users = [
        {"id": u, "client_id": f"uuid.{u}", "client_type": 3, "register_time": 0}
        for u in range(1, 51)
    ]
    batches = [
        {"jti": f"j{n}", "user_id": 1 + n % 50, "request_time": n, "video_ids": [1, 2],
         "return_time": None if n % 500 == 0 else n + 1}
        for n in range(5000)
    ]  # fmt: skip
    query = OPEN_BATCH_CLIPS.params(p_uid=1, p_since=-1)
    sql = str(query.compile(engine, compile_kwargs={"literal_binds": True}))
    sqlite = engine.dialect.name == "sqlite"
    with engine.begin() as c:
        c.execute(insert(User), users)
        c.execute(insert(Batch), batches)
        c.execute(text("ANALYZE" if sqlite else "ANALYZE batch"))
        explain = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
        explained = "\n".join(str(r[-1]) for r in c.execute(text(explain + sql)))
        assert len(c.execute(query).all()) == 10  # user 1's open batches, 10 of their 100
    engine.dispose()
    assert "ix_batch_open_user" in explained, explained
    assert "Seq Scan" not in explained and "SCAN batch" not in explained, explained


def test_the_priority_draw_reads_the_priority_index(db_url: str) -> None:
    """The priority part of a draw, EXPLAINed on a table of 20,000 clips with statistics: every
    scan and both probes for the priority levels read ``ix_video_priority`` (the partial index
    of the priority clips still waiting), never the table, and needs no sort; the whole draw
    reads no table either."""
    from service_helpers import video_row
    from sqlalchemy import event, insert, text

    from smokewatch.labeling.batches import BatchPolicy
    from smokewatch.labeling.batches.draw import batch_parts, draw_step
    from smokewatch.labeling.db import make_engine, migrate

    engine = make_engine(db_url)
    migrate(engine)
    rows = [
        video_row(vid, admin=47 if vid <= 4 else 32 if vid <= 8 else -1) for vid in range(1, 20_001)
    ]
    sqlite = engine.dialect.name == "sqlite"
    with engine.begin() as c:
        c.execute(insert(Video), rows)
        c.execute(update(Video).where(Video.id.between(1000, 1099)).values(priority=2))
        c.execute(update(Video).where(Video.id.between(2000, 2199)).values(priority=1))
        c.execute(
            update(Video).where(Video.id.between(3000, 3009)).values(priority=3, label_state=23)
        )
        c.execute(text("ANALYZE" if sqlite else "ANALYZE video"))
    parts = batch_parts(BatchPolicy(), researcher=False)
    explained: dict[str, list[str]] = {}
    kind = ""

    @event.listens_for(engine, "before_cursor_execute")
    def _explain(conn, cursor, statement, params, context, executemany):  # type: ignore[no-untyped-def]
        if "UNION ALL" in statement:  # the draw, with its parameters as the driver gets them
            raw = conn.connection.dbapi_connection.cursor()
            raw.execute(("EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN ") + statement, params)
            explained[kind] = [str(r[-1]).strip() for r in raw.fetchall()]
            raw.close()

    for kind, chosen in [("priority", tuple(p for p in parts if p.priority)), ("draw", parts)]:
        step = draw_step(chosen, 1, random.Random(0), postgres=not sqlite)
        with engine.connect() as c:
            drawn = c.execute(*step).all()
        if kind == "priority":  # the highest waiting level first: 2 (3 is settled)
            assert len(drawn) == 12 and {r.id for r in drawn} <= set(range(1000, 1100))
    engine.dispose()
    priority, draw = explained["priority"], explained["draw"]
    if sqlite:
        reads = [p for p in priority if p.startswith(("SEARCH video", "SCAN video"))]
        assert len(reads) >= 5 + 2, priority  # 5 scans, 2 probes for the levels
        assert all("INDEX ix_video_priority (priority" in p for p in reads), priority
        assert not any("TEMP B-TREE" in p for p in priority), priority
        assert not any(p.startswith(("SCAN video", "SCAN label")) for p in draw), draw
    else:
        reads = [p for p in priority if " on video" in p]
        assert len(reads) >= 5 + 2, priority
        assert all(re.search(r"Index (Only )?Scan( Backward)? using ix_video_priority on", p)
                   for p in reads), priority  # fmt: skip
        assert not any(p.startswith(("Sort", "->  Sort")) for p in priority), priority
        assert not any("Seq Scan on video" in p or "Seq Scan on label" in p for p in draw), draw


def test_an_experts_answers_follow_rises_expert_transitions(
    client: TestClient, database: Database
) -> None:
    """Finding: experts' pages went through the volunteers' transitions, so one expert's
    "smoke" on a fresh clip was a first vote (5), where RISE makes it settled (23), and an
    expert settling a discord gave 19/20, where RISE gives its medium states 15/12."""
    partial = {1001: (5, -1), 1002: (4, -1), 1003: (3, -1), 1004: (3, -1)}
    seeded = seed(database, plain=12, states=partial)
    token = _account_token(client, database, "erin", "expert")
    batch = get_batch(client, token)
    assert set(partial) <= {i["id"] for i in batch["data"]}
    answers = answer_page(batch, seeded, label=1)
    chosen = {1001: 0, 1002: 1, 1003: 1, 1004: 0}
    for item in answers:
        item["label"] = chosen.get(item["video_id"], item["label"])
    r = client.post(
        "/api/v1/send_batch",
        json={"user_token": token, "video_token": batch["video_token"], "data": answers},
    )
    assert r.status_code == 200, r.text
    after = states(database)
    assert {vid: after[vid] for vid in partial} == {
        1001: (20, -1),
        1002: (19, -1),
        1003: (15, -1),
        1004: (12, -1),
    }
    fresh = [vid for vid in seeded.plain if vid not in partial and after[vid][0] != -1]
    assert fresh and all(after[vid] == (23, -1) for vid in fresh)
    assert [final_label(*after[vid]) for vid in sorted(partial)] == [0, 1, 1, 0]


def _relabel(client: TestClient, researcher: str, states: dict[int, int]) -> None:
    data = [{"video_id": vid, "label": label} for vid, label in states.items()]
    r = client.post("/api/v1/set_label_state", json={"user_token": researcher, "data": data})
    assert r.status_code == 204, r.text


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def test_a_batch_records_its_gold_standards_and_its_token_does_not(
    client: TestClient, database: Database
) -> None:
    """The batch row says which clips were given as gold; the token, whose claims the client
    reads, holds the 16 ids in the page's order and nothing that tells gold from the rest."""
    seeded = seed(database, plain=24)
    batch = get_batch(client, login(client))
    gold = {*seeded.gold_pos, *seeded.gold_neg} & {i["id"] for i in batch["data"]}
    with database.read() as s:
        row = s.scalar(select(Batch))
        assert row is not None and row.gold_ids == sorted(gold) and len(gold) == 4
    claims = _claims(batch["video_token"])
    assert claims["video_id_list"] == [i["id"] for i in batch["data"]]
    assert set(claims) == {"typ", "iat", "nbf", "exp", "jti", "video_id_list", "batch_id",
                           "user_id"}  # fmt: skip
    researcher = _account_token(client, database, "rosa", "researcher")
    with database.read() as s:
        assert s.scalar(select(Batch.gold_ids).where(Batch.id == row.id)) == sorted(gold)
    review = get_batch(client, researcher)
    with database.read() as s:
        assert s.scalar(select(Batch.gold_ids).where(Batch.id != row.id)) == []
    assert len(review["data"]) == 16


def test_a_clip_made_gold_after_the_batch_was_given_is_not_checked(
    client: TestClient, database: Database
) -> None:
    """Finding: the gold check counted right answers on the clips gold when the batch was
    *sent*, so a researcher making one of its other clips gold let a wrong answer on a real
    gold standard through (3 right + 1 on the new one = 4). The batch's own are checked."""
    seeded = seed(database, plain=24, gold_pos=3, gold_neg=1)  # every batch holds all four
    token = login(client)
    first, second = get_batch(client, token), get_batch(client, token)
    made_gold = [
        next(i["id"] for i in b["data"] if i["id"] in seeded.plain) for b in (first, second)
    ]
    _relabel(client, _account_token(client, database, "rita", "researcher"),
             dict.fromkeys(made_gold, 47))  # fmt: skip
    wrong = answer_page(first, seeded)
    for item in wrong:
        if item["video_id"] == seeded.gold_pos[0]:
            item["label"] = 0  # wrong on a gold standard of the batch
        if item["video_id"] == made_gold[0]:
            item["label"] = 1  # "right" on the clip made gold since
    r = _send(client, token, first, wrong)
    assert r.json()["data"]["score"] == {"batch": 0, "user": 0, "raw": 12}, r.text
    right = answer_page(second, seeded)
    for item in right:
        if item["video_id"] == made_gold[1]:
            item["label"] = 0  # "wrong" on the clip made gold since: not one of the batch's
    r = _send(client, token, second, right)
    assert r.json()["data"]["score"] == {"batch": 12, "user": 12, "raw": 24}, r.text
    assert states(database)[made_gold[1]] == (-1, 47)  # an answer on a gold clip moves nothing


def test_a_gold_standard_relabeled_after_the_batch_was_given_is_left_out_of_the_check(
    client: TestClient, database: Database
) -> None:
    """Finding: un-golding one of a batch's gold standards made the batch fail (3 right of
    the 4 it was given with), however it was answered. As in a crowd task, a gold standard
    un-golded or marked bad since is left out of the check; the others still count."""
    seeded = seed(database, plain=36, gold_pos=3, gold_neg=1)
    token = login(client)
    pages = [get_batch(client, token) for _ in range(3)]
    rita = _account_token(client, database, "rita", "researcher")
    ungolded, marked_bad = seeded.gold_pos[0], seeded.gold_neg[0]
    _relabel(client, rita, {ungolded: 23, marked_bad: -2})

    def answered(page: dict[str, Any], wrong: set[int]) -> list[dict[str, int]]:
        data: list[dict[str, int]] = answer_page(page, seeded)
        for item in data:
            if item["video_id"] in wrong:
                item["label"] = 1 - item["label"]
        return data

    r = _send(client, token, pages[0], answered(pages[0], {ungolded, marked_bad}))
    assert r.json()["data"]["score"]["batch"] == 12, r.text
    assert states(database)[ungolded] == (-1, 23)  # given as gold: its answer is no vote
    r = _send(client, token, pages[1], answered(pages[1], {seeded.gold_pos[1]}))
    assert r.json()["data"]["score"]["batch"] == 0, r.text  # a gold standard still gold
    # every gold standard of a batch relabeled: nothing left to check, as a crowd task
    _relabel(client, rita, {seeded.gold_pos[1]: -1, seeded.gold_pos[2]: 16})
    r = _send(client, token, pages[2], answered(pages[2], {seeded.gold_pos[1]}))
    assert r.json()["data"]["score"]["batch"] == 12, r.text


def test_a_gold_standard_ungolded_is_no_earlier_vote_on_a_batch_that_gave_it_as_gold(
    client: TestClient, database: Database
) -> None:
    """Finding: un-golding a gold standard made every open batch holding it answer 409 ("a
    clip you have answered already") to each volunteer who had answered it as gold before:
    it was given as gold on the batch, so its answer is no second vote."""
    seeded = seed(database, plain=24, gold_pos=3, gold_neg=1)
    token = login(client)
    first = get_batch(client, token)
    assert _send(client, token, first, answer_page(first, seeded)).status_code == 200
    second = get_batch(client, token)
    ungolded = seeded.gold_pos[0]
    _relabel(client, _account_token(client, database, "rita", "researcher"), {ungolded: -1})
    r = _send(client, token, second, answer_page(second, seeded))
    assert r.status_code == 200 and r.json()["data"]["score"]["batch"] == 12, r.text
    assert states(database)[ungolded] == (-1, -1)  # two answers as gold: no vote
    uid = client.post("/api/v1/get_user_info", json={"user_token": token}).json()["user_id"]
    assert _votes_by_user_and_clip(database, [ungolded])[(uid, ungolded)] == 2


def test_batches_given_before_gold_was_recorded_are_checked_as_before(
    client: TestClient, database: Database
) -> None:
    """A batch row from before migration 0006 has no ``gold_ids``: it is checked on its
    clips that are gold when sent, against how many gold standards it had."""
    seeded = seed(database, plain=24, gold_pos=3, gold_neg=1)
    token = login(client)
    first, second = get_batch(client, token), get_batch(client, token)
    with database.write() as s:
        s.execute(update(Batch).values(gold_ids=None))
    _relabel(client, _account_token(client, database, "rita", "researcher"),
             {seeded.gold_pos[0]: 23})  # fmt: skip
    r = _send(client, token, first, answer_page(first, seeded))
    assert r.json()["data"]["score"]["batch"] == 0, r.text  # 3 gold now, 4 given
    _relabel(client, _account_token(client, database, "rosa", "researcher"),
             {seeded.gold_pos[0]: 47})  # fmt: skip
    r = _send(client, token, second, answer_page(second, seeded))
    assert r.json()["data"]["score"]["batch"] == 12, r.text
