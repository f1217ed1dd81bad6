"""Priority clips (a detection run's events and uncertain windows) through the API: drawn first,
highest first, under the one-vote rules, until settled or reviewed; gold standards as ever.

Every test runs on SQLite and on PostgreSQL (``db_url`` is parametrized).
"""

from __future__ import annotations

from fastapi.testclient import TestClient
from service_helpers import Seeded, answer_page, login, seed
from sqlalchemy import update

from smokewatch.labeling.db import Database
from smokewatch.labeling.tables import Video


def prioritize(db: Database, ids: list[int], priority: int) -> None:
    with db.write() as s:
        s.execute(update(Video).where(Video.id.in_(ids)).values(priority=priority))


def get_batch(client: TestClient, token: str) -> dict:
    r = client.post("/api/v1/get_batch", json={"user_token": token})
    assert r.status_code == 200, r.text
    return dict(r.json())


def batch_ids(client: TestClient, token: str) -> set[int]:
    return {item["id"] for item in get_batch(client, token)["data"]}


def send(client: TestClient, token: str, batch: dict, seeded: Seeded) -> None:
    body = {"user_token": token, "video_token": batch["video_token"]}
    r = client.post("/api/v1/send_batch", json={**body, "data": answer_page(batch, seeded)})
    assert r.status_code == 200 and r.json()["data"]["score"]["batch"] == 12, r.text


def to_label(ids: set[int], seeded: Seeded) -> set[int]:
    return ids - set(seeded.gold_pos) - set(seeded.gold_neg)


def test_priority_clips_come_first_and_the_highest_first(
    client: TestClient, database: Database
) -> None:
    seeded = seed(database, plain=200, states={1001 + n: (4, -1) for n in range(0, 200, 3)})
    low = seeded.plain[10:30]  # 20 clips at priority 1, some partly labeled
    high = seeded.plain[100:105]  # 5 at priority 7
    prioritize(database, low, 1)
    prioritize(database, high, 7)
    seen: set[int] = set()
    for n in range(8):
        ids = batch_ids(client, login(client, f"uuid.v{n}"))
        clips = to_label(ids, seeded)
        assert len(clips) == 12
        assert set(high) <= clips  # every volunteer is given the highest first
        assert clips - set(high) <= set(low)  # then the next priority, before any other
        seen |= clips - set(high)
        assert len(ids & (set(seeded.gold_pos) | set(seeded.gold_neg))) == 4  # gold as ever
    assert len(seen) > 7  # from a random point: volunteers are not all given the same ones


def test_a_priority_clip_never_goes_to_one_volunteer_twice(
    client: TestClient, database: Database
) -> None:
    seeded = seed(database, plain=60)
    urgent = seeded.plain[:20]
    prioritize(database, urgent, 3)
    token = login(client, "uuid.one")
    batches = [get_batch(client, token), get_batch(client, token)]  # the first still open
    first, second = (to_label({item["id"] for item in b["data"]}, seeded) for b in batches)
    assert len(first) == len(second) == 12
    assert not first & second  # an open batch holds its clips from its user
    assert first | second >= set(urgent)  # all 20, then 4 ordinary clips
    # answered: the same volunteer is never given them again, another volunteer is
    for batch in batches:
        send(client, token, batch, seeded)
    third = to_label(batch_ids(client, token), seeded)
    assert not third & set(urgent)
    other = to_label(batch_ids(client, login(client, "uuid.two")), seeded)
    assert len(other & set(urgent)) == 12


def test_settled_reviewed_and_gold_clips_are_not_drawn_as_priority(
    client: TestClient, database: Database
) -> None:
    settled, discord, reviewed, partial = 1001, 1002, 1003, 1004
    seeded = seed(
        database,
        plain=40,
        states={settled: (23, -1), discord: (3, -1), reviewed: (-1, 16), partial: (5, -1)},
    )
    gold = seeded.gold_pos[:2] + seeded.gold_neg[:2]
    prioritize(database, [settled, discord, reviewed, partial, *gold], 9)
    for n in range(5):
        ids = batch_ids(client, login(client, f"uuid.w{n}"))
        clips = to_label(ids, seeded)
        assert {discord, partial} <= clips  # waiting for volunteers: first
        assert settled not in clips and reviewed not in clips
        assert len(ids & (set(seeded.gold_pos) | set(seeded.gold_neg))) == 4
