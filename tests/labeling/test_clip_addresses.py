"""Where a clip plays: every answer that gives a clip's address gives the same one, the stored
``url_root`` and ``url_part``, or RISE's own for a clip imported without them (RISE's split
files carry none). On SQLite and PostgreSQL (``db_url`` is parametrized)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from service_helpers import login, seed
from sqlalchemy import insert, update

from smokewatch.core.clip import DEFAULT_URL_ROOT, ClipName, url_part_for
from smokewatch.labeling.db import Database
from smokewatch.labeling.tables import Event, EventClip, Role, Video
from smokewatch.labeling.users import add_account

CROWD = "/api/v1/crowd"


def _rise_address(file_name: str) -> str:
    return DEFAULT_URL_ROOT + url_part_for(ClipName.parse(file_name))


def _addresses(items: list[dict[str, Any]]) -> dict[int, str]:
    return {int(i["id"]): i["url_root"] + i["url_part"] for i in items}


def _researcher(client: TestClient, database: Database) -> str:
    with database.write() as s:
        add_account(s, "rita", "long enough password", Role.RESEARCHER)
    body = {"name": "rita", "password": "long enough password"}
    r = client.post("/api/v1/login_password", json=body)
    assert r.status_code == 200, r.text
    return str(r.json()["user_token"])


def test_clips_imported_without_addresses_play_at_rises_own_everywhere(
    client: TestClient, database: Database
) -> None:
    """Finding: ``get_batch`` gave ``url_root`` "" and ``url_part`` "" for a clip imported
    without addresses (so it could not play), where the gallery and the export gave RISE's
    derived ones; an event's clip ``url`` and a crowd task did the same as ``get_batch``."""
    seeded = seed(database, plain=24)
    addressless = [*seeded.gold_pos, *seeded.gold_neg, *seeded.plain[:12]]
    with database.write() as s:
        s.execute(
            update(Video).where(Video.id.in_(addressless)).values(url_root=None, url_part=None)
        )
        s.execute(
            insert(Event).values(
                id=1, detection_id="e", camera_id=0, view_id=1, start_time=1_546_351_200.5,
                end_time=1_546_351_500.0, start_frame=0, end_frame=71, max_probability=0.9,
                evidence_clip=None, evidence_gif=None, import_time=0,
            )
        )  # fmt: skip
        s.execute(insert(EventClip), [{"event_id": 1, "video_id": v} for v in seeded.plain[:3]])
    rita = _researcher(client, database)
    every = client.post("/api/v1/get_all_labels", data={"user_token": rita}).json()["data"]
    names = {int(i["id"]): str(i["file_name"]) for i in every}
    gallery = _addresses(every)
    for vid in addressless:
        assert gallery[vid] == _rise_address(names[vid])
    assert gallery[seeded.plain[12]] == f"/videos/2019-01-01/0-{1013 % 3}/{names[1013]}.mp4"
    exported = client.get("/api/v1/export", params={"user_token": rita}).json()
    assert _addresses(exported) == gallery

    token = login(client)
    page = client.post("/api/v1/get_batch", json={"user_token": token}).json()
    given = _addresses(page["data"])
    assert given == {vid: gallery[vid] for vid in given}
    assert set(given) & set(addressless)  # its gold standards, at least

    events = client.post("/api/v1/get_events", json={"user_token": rita, "date": "2019-01-01"})
    clips = [c for v in events.json()["views"] for e in v["events"] for c in e["clips"]]
    assert {c["id"]: c["url"] for c in clips} == {v: gallery[v] for v in seeded.plain[:3]}

    made = client.post(
        f"{CROWD}/create_study",
        json={"user_token": rita, "name": "s", "video_ids": seeded.plain[12:], "seed": 1},
    )
    assert made.status_code == 200, made.text
    study = made.json()["id"]
    joined = client.post(
        f"{CROWD}/join", json={"study_id": study, "platform": "mturk", "worker_id": "W1"}
    ).json()
    worker = joined["user_token"]
    tutorial = {"user_token": worker, "action_type": 3, "query_type": 0}
    assert client.post("/api/v1/add_tutorial_record", json=tutorial).status_code == 204
    body = {
        "user_token": worker,
        "study_id": study,
        "platform": "mturk",
        "worker_id": "W1",
        "assignment_id": "A1",
    }
    task = client.post(f"{CROWD}/get_task", json=body)
    assert task.status_code == 200, task.text
    shown = _addresses(task.json()["data"])
    assert shown == {vid: gallery[vid] for vid in shown}
    assert set(shown) & set(addressless)  # its gold standards have no stored address


def test_a_row_whose_name_cannot_be_read_does_not_break_the_gallery(
    client: TestClient, database: Database
) -> None:
    """Imports check names, but a row written otherwise (by hand, an older tool) with neither a
    readable name nor an address must not turn every gallery page into a 500."""
    seed(database, plain=0, states={})
    from service_helpers import video_row

    row = video_row(7001, state=23)
    row.update(file_name="not a clip name", url_root=None, url_part=None)
    with database.write() as s:
        s.execute(insert(Video), [row])
    r = client.get("/api/v1/get_pos_labels")
    assert r.status_code == 200, r.text
    (item,) = [i for i in r.json()["data"] if int(i["id"]) == 7001]
    assert (item["url_root"], item["url_part"]) == ("", "")
