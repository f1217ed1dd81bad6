"""The JSON endpoints the web pages need, and the pages' addresses (served by the same app)."""

from __future__ import annotations

import json
import os
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine
from fastapi.testclient import TestClient
from service_helpers import answer_page, login, make_settings, seed

from smokewatch.core.style import base_css
from smokewatch.labeling.app import create_app
from smokewatch.labeling.dashboard import progress_by_day
from smokewatch.labeling.db import Database
from smokewatch.labeling.tables import Batch, Label, Role
from smokewatch.labeling.users import add_account


def _researcher(client: TestClient, database: Database, name: str = "rita") -> str:
    with database.write() as session:
        add_account(session, name, "password-123", Role.RESEARCHER)
    r = client.post("/api/v1/login_password", json={"name": name, "password": "password-123"})
    assert r.status_code == 200, r.text
    return str(r.json()["user_token"])


def _submit(client: TestClient, token: str, seeded, *, gold_right: bool) -> dict:  # type: ignore[no-untyped-def]
    page = client.post("/api/v1/get_batch", json={"user_token": token}).json()
    data = answer_page(page, seeded, gold_right=gold_right)
    r = client.post(
        "/api/v1/send_batch",
        json={"user_token": token, "video_token": page["video_token"], "data": data},
    )
    assert r.status_code == 200, r.text
    return dict(r.json()["data"]["score"])


def test_user_info_gives_score_and_reliability(client: TestClient, database: Database) -> None:
    seeded = seed(database)
    token = login(client, "web.alice")
    info = client.post("/api/v1/get_user_info", json={"user_token": token}).json()
    assert info["reliability"] is None and info["name"] is None and info["role"] == "layperson"
    assert _submit(client, token, seeded, gold_right=True)["batch"] == 12
    assert _submit(client, token, seeded, gold_right=False)["batch"] == 0
    info = client.post("/api/v1/get_user_info", json={"user_token": token}).json()
    assert (info["score"], info["pages_submitted"], info["pages_accepted"]) == (12, 2, 1)
    assert info["reliability"] == 0.5
    assert "client_id" not in info  # a volunteer's client id is their key: never shown
    r = client.post("/api/v1/get_user_info", json={"user_token": token + "x"})
    assert r.status_code == 401


#: Wall-clock moments the dashboard test runs at: either side of noon, and near midnight (UTC).
CLOCKS = ["00:30", "11:59", "12:01", "23:30"]


@pytest.mark.parametrize("clock", CLOCKS)
def test_dashboard_is_for_researchers_and_counts_progress(
    client: TestClient, database: Database, clock: str
) -> None:
    hour, minute = map(int, clock.split(":"))
    now = datetime(2026, 3, 7, hour, minute, tzinfo=UTC)
    with time_machine.travel(now, tick=True):
        seeded = seed(database)
        volunteer = login(client, "web.bob")
        _submit(client, volunteer, seeded, gold_right=True)
        _submit(client, volunteer, seeded, gold_right=False)
        r = client.post("/api/v1/get_dashboard", json={"user_token": volunteer})
        assert r.status_code == 403 and r.json()["message"] == "Permission denied"
        token = _researcher(client, database)
        board = client.post("/api/v1/get_dashboard", json={"user_token": token}).json()
    today = int(datetime(2026, 3, 7, tzinfo=UTC).timestamp())
    assert board["progress"] == [
        {
            "day": today,
            "citizen_labels": 16,
            "researcher_labels": 0,
            "pages_submitted": 2,
            "pages_accepted": 1,
        }
    ]
    assert board["statistics"]["num_partially_labeled"] == 12  # the accepted batch, less gold
    users = {u["name"] or u["user_id"]: u for u in board["users"]}
    assert users["rita"]["role"] == "researcher"
    bob = next(u for u in board["users"] if u["name"] is None and u["pages_submitted"] == 2)
    assert (bob["labels"], bob["reliability"], bob["score"]) == (16, 0.5, 12)
    assert board["users"][0]["name"] == "rita"  # accounts first


def test_progress_counts_whole_utc_days(client: TestClient, database: Database) -> None:
    """Answers and pages from the first to the last second of a UTC day land on that day (a
    rounding division once dated everything after noon on the next day, on PostgreSQL)."""
    seed(database, plain=4)
    token = login(client, "web.dana")
    uid = client.post("/api/v1/get_user_info", json={"user_token": token}).json()["user_id"]
    day = int(datetime(2026, 3, 7, tzinfo=UTC).timestamp())
    moments = [day + 1, day + 12 * 3600 - 1, day + 12 * 3600 + 1, day + 86400 - 1]
    with database.write() as session:
        for i, t in enumerate([*moments, day + 86400]):
            batch = Batch(
                jti=f"j{i}", user_id=uid, request_time=t - 60, return_time=t,
                video_ids=[1001], num_unlabeled=1, num_gold_standard=0, accepted=i % 2 == 0,
            )  # fmt: skip
            session.add(batch)
            session.flush()
            session.add(
                Label(video_id=1001, label=1, time=t, user_id=uid, batch_id=batch.id,
                      client_type=Role.LAYPERSON if i != 1 else Role.RESEARCHER)
            )  # fmt: skip
    with database.read() as session:
        progress = progress_by_day(session)
    assert progress == [
        {
            "day": day,
            "citizen_labels": 3,
            "researcher_labels": 1,
            "pages_submitted": 4,
            "pages_accepted": 2,
        },
        {
            "day": day + 86400,
            "citizen_labels": 1,
            "researcher_labels": 0,
            "pages_submitted": 1,
            "pages_accepted": 1,
        },
    ]


def test_a_demoted_researchers_review_pages_are_no_volunteer_pages_in_the_progress(
    client: TestClient, database: Database
) -> None:
    """Finding: the progress counted pages by their owner's role *now*, so demoting a
    researcher turned their sent review pages into volunteer pages (submitted and accepted)
    and promoting a volunteer hid theirs. A page counts as the kind it was given as."""
    seeded = seed(database, plain=32)
    boss = _researcher(client, database, "boss")
    rosa = _researcher(client, database, "rosa")
    review = client.post("/api/v1/get_batch", json={"user_token": rosa}).json()
    data = [{"video_id": i["id"], "label": 1} for i in review["data"]]
    body = {"user_token": rosa, "video_token": review["video_token"], "data": data}
    assert client.post("/api/v1/send_batch", json=body).status_code == 200
    with database.write() as session:
        add_account(session, "vera", "password-123", Role.LAYPERSON)
    r = client.post("/api/v1/login_password", json={"name": "vera", "password": "password-123"})
    vera = str(r.json()["user_token"])
    assert _submit(client, vera, seeded, gold_right=True)["batch"] == 12

    def pages() -> tuple[int, int]:
        board = client.post("/api/v1/get_dashboard", json={"user_token": boss}).json()
        return (
            sum(d["pages_submitted"] for d in board["progress"]),
            sum(d["pages_accepted"] for d in board["progress"]),
        )

    assert pages() == (1, 1)
    board = client.post("/api/v1/get_dashboard", json={"user_token": boss}).json()
    users = {u["name"]: u["user_id"] for u in board["users"] if u["name"]}
    for name, role in (("rosa", Role.EXPERT), ("vera", Role.RESEARCHER)):
        body = {"user_token": boss, "user_id": users[name], "client_type": role}
        assert client.post("/api/v1/set_user_role", json=body).status_code == 200
        assert pages() == (1, 1), name


def test_researchers_change_roles_but_not_their_own(client: TestClient, database: Database) -> None:
    token = _researcher(client, database)
    volunteer = login(client, "web.carol")
    vid = client.post("/api/v1/get_user_info", json={"user_token": volunteer}).json()["user_id"]
    me = client.post("/api/v1/get_user_info", json={"user_token": token}).json()["user_id"]

    def set_role(user_id: int, role: object, who: str = token):  # type: ignore[no-untyped-def]
        return client.post(
            "/api/v1/set_user_role",
            json={"user_token": who, "user_id": user_id, "client_type": role},
        )

    assert set_role(vid, 2).json()["role"] == "amateur"
    assert set_role(me, 3).status_code == 400
    r = set_role(vid, 0)
    assert r.status_code == 400 and "password accounts" in r.json()["message"]
    assert set_role(vid, 7).status_code == 400
    assert set_role(vid, "1").status_code == 400
    assert set_role(987654, 2).status_code == 404
    assert set_role(vid, -1).json()["role"] == "banned"
    # the ban takes effect on the volunteer's very next request
    r = client.post("/api/v1/get_batch", json={"user_token": volunteer})
    assert r.status_code == 403
    assert set_role(me, 3, who=volunteer).status_code == 403


def test_gallery_filters_by_day_and_lists_facets(client: TestClient, database: Database) -> None:
    states = {1001 + i: (23, -1) for i in range(6)}
    seed(database, plain=6, states=states)
    # clips 1001-1006 start 1546300800 + id * 180 s: 2019-01-03 02:03-02:18 UTC, which is
    # the evening of 2019-01-02 in the cameras' zone (US/Eastern): days are the cameras' days
    r = client.get("/api/v1/get_pos_labels", params={"date": "2019-01-02"})
    assert r.status_code == 200 and r.json()["total"] == 6
    assert client.get("/api/v1/get_pos_labels", params={"date": "2019-01-03"}).status_code == 204
    r = client.get("/api/v1/get_pos_labels", params={"date": "2019-02-30"})
    assert r.status_code == 400 and "YYYY-MM-DD" in r.json()["message"]
    r = client.get("/api/v1/get_pos_labels", params={"date": "yesterday"})
    assert r.status_code == 400
    facets = client.get("/api/v1/get_clip_facets").json()
    assert facets["cameras"] == [{"camera_id": 0, "views": [0, 1, 2]}]
    assert (facets["first_day"], facets["last_day"]) == ("2018-12-31", "2019-01-02")  # gold: 1-104
    assert facets["timezone"] == "US/Eastern"


def test_tutorial_lessons_and_a_project_file(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}")
    with TestClient(create_app(settings)) as client:
        lessons = client.get("/api/v1/get_tutorial").json()["lessons"]
        assert len(lessons) >= 3
        clips = [c for lesson in lessons for c in lesson["clips"]]
        assert all(c["url"].startswith("/videos/tutorial/") for c in clips)
        assert any(c["smoke"] for c in clips) and any(not c["smoke"] for c in clips)
        assert all(c["regions"] for c in clips if c["smoke"])
        assert "synthetic" not in clips[0]
        own = settings.data_dir / "tutorial.json"
        lesson = {"id": "x", "title": "T", "intro": "I", "hint": "H"}
        clip = {"id": "a", "file": "https://cdn.example/a.mp4", "smoke": True, "explanation": "E"}
        own.write_text(json.dumps({"lessons": [{**lesson, "clips": [clip]}]}))
        got = client.get("/api/v1/get_tutorial").json()["lessons"]
        assert got[0]["clips"][0]["url"] == "https://cdn.example/a.mp4"
        clip["regions"] = [[0.5, 0.2, 0.4, 0.6]]  # right < left
        own.write_text(json.dumps({"lessons": [{**lesson, "clips": [clip]}]}))
        os.utime(own, (time.time() + 5, time.time() + 5))  # a new version of the file
        r = client.get("/api/v1/get_tutorial")
        assert r.status_code == 503 and "tutorial.json" in r.json()["message"]
        assert "regions" in r.json()["message"]


def test_pages_are_served_and_old_addresses_redirect(client: TestClient) -> None:
    for path in (
        "/",
        "/label",
        "/tutorial",
        "/review",
        "/gallery",
        "/dashboard",
        "/events",
        "/login",
    ):
        r = client.get(path)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        assert '<script type="module"' in r.text and "http://" not in r.text.replace(
            "http://www.w3.org", ""
        )  # no external scripts, styles or fonts
    for old, new in [("/index.html", "/"), ("/label.html", "/label"),
                     ("/tutorial.html", "/tutorial"), ("/gallery.html", "/gallery")]:  # fmt: skip
        r = client.get(old + "?lang=en", follow_redirects=False)
        assert r.status_code == 301 and r.headers["location"] == new + "?lang=en"
    css = client.get("/static/css/base.css")  # the house style, from core, served with ours
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert css.text == base_css()
    assert client.get("/static/css/site.css").status_code == 200
    links = re.findall(r'<link rel="stylesheet" href="([^"?]+)', client.get("/").text)
    assert links == ["/static/css/base.css", "/static/css/site.css"]
    js = client.get("/static/js/label.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    assert client.get("/static/js/nope.js").status_code == 404
    assert "/label" not in client.get("/openapi.json").json()["paths"]  # pages: not the API
