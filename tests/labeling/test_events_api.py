"""The events API (researchers): a day's events by view in the cameras' time zone, and
confirming or rejecting one, which labels its clips through ``core.labels``; on SQLite and
PostgreSQL (``db_url`` is parametrized)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from service_helpers import login, seed
from sqlalchemy import insert, select

from smokewatch.core.labels import final_label
from smokewatch.labeling.db import Database
from smokewatch.labeling.tables import Event, EventClip, Label, Role, Video
from smokewatch.labeling.users import add_account

HOSTILE = "<script>alert(1)</script>"
A_START = 1_546_351_200  # 2019-01-01 14:00 UTC: 09:00 in US/Eastern
B_START = 1_546_403_400  # 2019-01-02 04:30 UTC: 23:30 on 2019-01-01 in US/Eastern
C_START = 1_546_527_600  # 2019-01-03 15:00 UTC


@pytest.fixture
def world(client: TestClient, database: Database) -> dict[str, Any]:
    """Clips, a gold standard among an event's clips, three events, a researcher."""
    seed(database, plain=10)
    events = [
        (1, "e-a", 1, A_START, [1001, 1002, 1]),  # 1: a gold standard with smoke
        (2, HOSTILE, 2, B_START, [1003]),
        (3, "e-c", 1, C_START, [1004]),
    ]
    with database.write() as s:
        for eid, detection_id, view, start, clips in events:
            s.execute(
                insert(Event).values(
                    id=eid, detection_id=detection_id, camera_id=0, view_id=view,
                    start_time=start + 0.5, end_time=start + 300.0, start_frame=36,
                    end_frame=107, max_probability=0.93, evidence_clip="a" * 64 + ".mp4",
                    evidence_gif=None, import_time=0,
                )
            )  # fmt: skip
            s.execute(insert(EventClip), [{"event_id": eid, "video_id": v} for v in clips])
        add_account(s, "rita", "password-123", Role.RESEARCHER)
    r = client.post("/api/v1/login_password", json={"name": "rita", "password": "password-123"})
    assert r.status_code == 200, r.text
    return {"token": r.json()["user_token"]}


def states(db: Database, ids: list[int]) -> dict[int, tuple[int, int]]:
    with db.read() as s:
        rows = s.execute(select(Video.id, Video.label_state, Video.label_state_admin))
        return {r.id: (r.label_state, r.label_state_admin) for r in rows if r.id in ids}


def researcher_labels(db: Database) -> list[tuple[int, int, int]]:
    with db.read() as s:
        rows = s.execute(select(Label.video_id, Label.label, Label.client_type).order_by(Label.id))
        return [tuple(r) for r in rows]  # type: ignore[misc]


def test_the_last_day_by_default_and_days_in_the_cameras_time_zone(
    client: TestClient, world: dict[str, Any]
) -> None:
    token = world["token"]
    last = client.post("/api/v1/get_events", json={"user_token": token})
    assert last.status_code == 200, last.text
    body = last.json()
    assert body["timezone"] == "US/Eastern" and body["date"] == "2019-01-03"
    assert (body["previous_date"], body["next_date"]) == ("2019-01-01", None)
    assert [[e["detection_id"] for e in v["events"]] for v in body["views"]] == [["e-c"]]

    day = client.post("/api/v1/get_events", json={"user_token": token, "date": "2019-01-01"})
    body = day.json()
    # 04:30 UTC on the 2nd is 23:30 on the 1st in US/Eastern: that day's
    assert [(v["camera_id"], v["view_id"]) for v in body["views"]] == [(0, 1), (0, 2)]
    a, b = body["views"][0]["events"][0], body["views"][1]["events"][0]
    assert (a["local_start"], a["local_end"]) == (
        "2019-01-01T09:00:00-05:00",
        "2019-01-01T09:05:00-05:00",
    )
    assert b["local_start"] == "2019-01-01T23:30:00-05:00"
    assert b["detection_id"] == HOSTILE  # text from a file, given back as text
    assert body["day_end"] - body["day_start"] == 86400
    assert (body["previous_date"], body["next_date"]) == (None, "2019-01-03")
    assert a["status"] == "open" and a["reviewer"] is None
    assert a["evidence_clip_url"] == "/evidence/" + "a" * 64 + ".mp4"
    assert a["evidence_gif_url"] is None
    assert [c["id"] for c in a["clips"]] == [1, 1001, 1002]  # by start time
    assert a["clips"][1]["url"].startswith("/videos/2019-01-01/")

    empty = client.post("/api/v1/get_events", json={"user_token": token, "date": "2019-01-02"})
    assert empty.json()["views"] == []
    assert (empty.json()["previous_date"], empty.json()["next_date"]) == (
        "2019-01-01",
        "2019-01-03",
    )


def test_confirm_and_reject_label_the_clips_and_say_it_once(
    client: TestClient, database: Database, world: dict[str, Any]
) -> None:
    token = world["token"]

    def verdict(status: str) -> dict[str, Any]:
        r = client.post(
            "/api/v1/set_event_status", json={"user_token": token, "event_id": 1, "status": status}
        )
        assert r.status_code == 200, r.text
        return dict(r.json())

    confirmed = verdict("confirmed")
    assert confirmed["status"] == "confirmed" and confirmed["reviewer"] == "rita"
    assert states(database, [1, 1001, 1002]) == {1: (-1, 47), 1001: (-1, 23), 1002: (-1, 23)}
    assert {c["id"]: c["label"] for c in confirmed["clips"]} == {1: 1, 1001: 1, 1002: 1}
    assert researcher_labels(database) == [(1001, 1, Role.RESEARCHER), (1002, 1, Role.RESEARCHER)]
    # the same verdict again: nothing written
    again = verdict("confirmed")
    assert again["review_time"] == confirmed["review_time"]
    assert len(researcher_labels(database)) == 2
    # the other verdict relabels the clips (the gold standard keeps its state)
    rejected = verdict("rejected")
    assert rejected["status"] == "rejected"
    assert states(database, [1, 1001, 1002]) == {1: (-1, 47), 1001: (-1, 16), 1002: (-1, 16)}
    assert [final_label(*states(database, [v])[v]) for v in (1001, 1002)] == [0, 0]
    assert researcher_labels(database)[2:] == [
        (1001, 0, Role.RESEARCHER),
        (1002, 0, Role.RESEARCHER),
    ]
    # the day's listing says so
    day = client.post("/api/v1/get_events", json={"user_token": token, "date": "2019-01-01"})
    assert day.json()["views"][0]["events"][0]["status"] == "rejected"


def test_only_researchers_and_only_well_formed_requests(
    client: TestClient, database: Database, world: dict[str, Any]
) -> None:
    token = world["token"]
    volunteer = login(client, "uuid.someone")
    ok = {"user_token": token, "event_id": 1, "status": "confirmed"}
    cases: list[tuple[str, dict[str, Any], int, str]] = [
        ("get_events", {"user_token": volunteer}, 403, "Permission denied"),
        ("get_events", {"user_token": "not-a-token"}, 401, ""),
        ("get_events", {}, 400, "Missing field: user_token"),
        ("get_events", {"user_token": token, "date": "2019-02-30"}, 400, "date must be a day"),
        ("get_events", {"user_token": token, "date": "<b>1</b>"}, 400, "date"),
        ("set_event_status", {**ok, "user_token": volunteer}, 403, "Permission denied"),
        ("set_event_status", {**ok, "user_token": token + "x"}, 401, ""),
        ("set_event_status", {**ok, "event_id": 999}, 404, "No such event: 999"),
        ("set_event_status", {**ok, "event_id": "1"}, 400, "event_id"),
        ("set_event_status", {**ok, "event_id": -1}, 400, "event_id"),
        ("set_event_status", {**ok, "event_id": 2**31}, 400, "event_id"),
        ("set_event_status", {**ok, "status": "maybe"}, 400, "status"),
        ("set_event_status", {"user_token": token, "event_id": 1}, 400, "Missing field: status"),
    ]
    for route, body, status, text in cases:
        r = client.post(f"/api/v1/{route}", json=body)
        assert r.status_code == status, (route, body, r.text)
        assert text in r.json()["message"], (route, body, r.text)
    bad_json = client.post(
        "/api/v1/set_event_status", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert bad_json.status_code == 400 and "message" in bad_json.json()
    assert researcher_labels(database) == []  # nothing refused wrote anything
    assert states(database, [1001])[1001] == (-1, -1)
