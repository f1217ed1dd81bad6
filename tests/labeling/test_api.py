"""RISE's /api/v1, endpoint by endpoint: paths, fields, status codes; roles; validation."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from service_helpers import answer_page, login, seed
from sqlalchemy import func, select

from smokewatch.core.metadata import load_records
from smokewatch.labeling.db import Database
from smokewatch.labeling.tables import Label, Role, Tutorial, User, Video
from smokewatch.labeling.users import add_account, set_role

RISE_ENDPOINTS = {
    "/api/v1/login",
    "/api/v1/get_batch",
    "/api/v1/send_batch",
    "/api/v1/set_label_state",
    "/api/v1/get_pos_labels",
    "/api/v1/get_neg_labels",
    "/api/v1/get_maybe_pos_labels",
    "/api/v1/get_maybe_neg_labels",
    "/api/v1/get_discorded_labels",
    "/api/v1/get_pos_gold_labels",
    "/api/v1/get_neg_gold_labels",
    "/api/v1/get_pos_labels_by_researcher",
    "/api/v1/get_neg_labels_by_researcher",
    "/api/v1/get_pos_labels_by_citizen",
    "/api/v1/get_neg_labels_by_citizen",
    "/api/v1/get_bad_labels",
    "/api/v1/get_all_labels",
    "/api/v1/get_label_statistics",
    "/api/v1/add_tutorial_record",
}


def researcher(
    client: TestClient, database: Database, name: str = "rita", role: int = Role.RESEARCHER
) -> str:
    with database.write() as s:
        add_account(s, name, "long enough password", role)
    r = client.post(
        "/api/v1/login_password", json={"name": name, "password": "long enough password"}
    )
    assert r.status_code == 200, r.text
    return str(r.json()["user_token"])


def test_openapi_documents_every_rise_endpoint(client: TestClient) -> None:
    paths = set(client.get("/openapi.json").json()["paths"])
    assert RISE_ENDPOINTS <= paths


def test_login(client: TestClient) -> None:
    r = client.post("/api/v1/login", json={"client_id": "uuid.1"})
    assert r.status_code == 200 and set(r.json()) == {"user_token", "user_token_for_other_app"}
    assert client.post("/api/v1/login", json={}).json() == {
        "message": "Missing field: google_id_token or client_id"
    }
    assert client.post("/api/v1/login", json={"google_id_token": "x"}).status_code == 400
    assert client.post("/api/v1/login", content=b"client_id=1").json() == {
        "message": "Missing json"
    }
    assert client.post("/api/v1/login", json={"client_id": "has space"}).status_code == 400
    again = client.post("/api/v1/login", json={"client_id": "uuid.1"})
    assert again.status_code == 200  # same user, new session


def test_password_login(client: TestClient, database: Database) -> None:
    researcher(client, database)
    bad = client.post(
        "/api/v1/login_password", json={"name": "rita", "password": "wrong password!"}
    )
    assert bad.status_code == 401 and bad.json() == {"message": "Wrong account name or password"}
    nobody = client.post(
        "/api/v1/login_password", json={"name": "nobody", "password": "whatever123"}
    )
    assert nobody.json() == bad.json()
    assert client.post("/api/v1/login", json={"client_id": "account.rita"}).status_code == 403


def test_role_change_and_ban_take_effect_on_the_next_request(
    client: TestClient, database: Database
) -> None:
    seed(database, plain=30)
    token = login(client, "uuid.v")
    r = client.post(
        "/api/v1/set_label_state",
        json={"user_token": token, "data": [{"video_id": 1001, "label": 1}]},
    )
    assert r.status_code == 403
    with database.write() as s:
        set_role(s, "uuid.v", "researcher")
    r = client.post(
        "/api/v1/set_label_state",
        json={"user_token": token, "data": [{"video_id": 1001, "label": 1}]},
    )
    assert r.status_code == 204  # same token, new role
    with database.write() as s:
        set_role(s, "uuid.v", "banned")
    assert client.post("/api/v1/get_batch", json={"user_token": token}).status_code == 403
    assert client.post("/api/v1/login", json={"client_id": "uuid.v"}).json() == {
        "message": "Permission denied"
    }


def test_set_label_state(client: TestClient, database: Database) -> None:
    seed(database, plain=12, states={1001: (23, -1)})
    token = researcher(client, database)
    data = [
        {"video_id": 1001, "label": 0},
        {"video_id": 1002, "label": 47},
        {"video_id": 1003, "label": -2},
    ]
    r = client.post("/api/v1/set_label_state", json={"user_token": token, "data": data})
    assert r.status_code == 204 and r.content == b""
    with database.read() as s:
        got = {
            v.id: (v.label_state, v.label_state_admin)
            for v in s.scalars(select(Video).where(Video.id < 1004, Video.id > 1000))
        }
    assert got == {1001: (23, 16), 1002: (-1, 47), 1003: (-1, -2)}
    for bad in (
        [{"video_id": 1001, "label": 5}],
        [{"video_id": 1001, "label": 19}],  # weak states: a researcher's would not win
        [{"video_id": 1001, "label": 20}],
        [{"video_id": 999999, "label": 1}],
        [{"video_id": "1001", "label": 1}],
    ):
        r = client.post("/api/v1/set_label_state", json={"user_token": token, "data": bad})
        assert r.status_code == 400, (bad, r.text)
        assert r.json()["message"]


def test_a_clip_answered_twice_in_one_set_label_state_is_refused(
    client: TestClient, database: Database
) -> None:
    """Finding: ``set_label_state`` took one clip twice with contradictory labels (the last
    won, the history kept both), where ``send_batch`` refuses a clip answered twice. It is
    refused the same way, and nothing of the request is set."""
    seed(database, plain=12)
    token = researcher(client, database)
    data = [
        {"video_id": 1002, "label": 47},
        {"video_id": 1001, "label": 1},
        {"video_id": 1001, "label": 0},
    ]
    r = client.post("/api/v1/set_label_state", json={"user_token": token, "data": data})
    assert (r.status_code, r.json()) == (400, {"message": "A clip is answered twice"})
    with database.read() as s:
        assert s.scalar(select(func.count()).select_from(Label)) == 0
        admin = dict(s.execute(select(Video.id, Video.label_state_admin)).all())
    assert admin[1001] == admin[1002] == -1


def test_gallery_queries(client: TestClient, database: Database) -> None:
    seed(
        database,
        plain=12,
        states={
            1001: (23, -1),
            1002: (16, -1),
            1003: (5, -1),
            1004: (4, -1),
            1005: (3, -1),
            1006: (23, 16),
            1007: (16, 23),
            1008: (19, -1),
            1009: (-1, -2),
        },
    )

    def ids(path: str, **kw: object) -> set[int]:
        r = client.post(f"/api/v1/{path}", **kw)  # type: ignore[arg-type]
        if r.status_code == 204:
            return set()
        assert r.status_code == 200, r.text
        return {item["id"] for item in r.json()["data"]}

    assert ids("get_pos_labels") == {1001, 1007, 1008}  # researcher overrides citizens
    assert ids("get_neg_labels") == {1002, 1006}
    assert ids("get_maybe_pos_labels") == {1003}
    assert ids("get_maybe_neg_labels") == {1004}
    assert ids("get_discorded_labels") == {1005}
    assert client.get("/api/v1/get_pos_labels").status_code == 200  # GET works too
    public = client.post("/api/v1/get_pos_labels").json()
    assert public["total"] == 3 and set(public["data"][0]) == {
        "id",
        "start_time",
        "view_id",
        "camera_id",
        "file_name",
        "url_root",
        "url_part",
    }
    assert client.post("/api/v1/get_bad_labels").json() == {"message": "Missing fields: user_token"}
    volunteer = login(client)
    assert client.post("/api/v1/get_bad_labels", data={"user_token": volunteer}).status_code == 403
    token = researcher(client, database)
    assert ids("get_bad_labels", data={"user_token": token}) == {1009}
    assert ids("get_pos_gold_labels", data={"user_token": token}) == {1, 2, 3, 4}
    assert ids("get_neg_gold_labels", data={"user_token": token}) == {101, 102, 103, 104}
    assert ids("get_pos_labels_by_researcher", data={"user_token": token}) == {1007}
    assert ids("get_neg_labels_by_researcher", data={"user_token": token}) == {1006}
    assert ids("get_pos_labels_by_citizen", data={"user_token": token}) == {1001, 1006, 1008}
    assert ids("get_neg_labels_by_citizen", data={"user_token": token}) == {1002, 1007}
    everything = client.post("/api/v1/get_all_labels", data={"user_token": token}).json()
    assert set(everything) == {"data"} and len(everything["data"]) == 20
    assert "label_state_admin" in everything["data"][0]
    # paging: pageNumber / pageSize from the form body or the query string
    first = client.post("/api/v1/get_pos_labels", data={"pageNumber": "1", "pageSize": "2"}).json()
    second = client.post("/api/v1/get_pos_labels?pageNumber=2&pageSize=2").json()
    assert len(first["data"]) == 2 and len(second["data"]) == 1 and first["total"] == 3
    assert client.post("/api/v1/get_pos_labels", data={"pageNumber": "9"}).status_code == 204
    assert client.post("/api/v1/get_pos_labels", data={"pageSize": "abc"}).status_code == 400
    assert client.post("/api/v1/get_pos_labels", data={"pageSize": "5000"}).status_code == 400
    assert client.post("/api/v1/get_pos_labels", data={"user_token": "forged"}).status_code == 401
    assert ids("get_pos_labels?camera_id=0&view_id=2") == {1001, 1007}  # filters (view = id % 3)
    assert ids("get_pos_labels?view_id=0") == {1008} and not ids("get_pos_labels?camera_id=1")


def test_gallery_by_user(client: TestClient, database: Database) -> None:
    seeded = seed(database, plain=12)
    token = login(client, "uuid.u")
    batch = client.post("/api/v1/get_batch", json={"user_token": token}).json()
    client.post(
        "/api/v1/send_batch",
        json={
            "user_token": token,
            "video_token": batch["video_token"],
            "data": answer_page(batch, seeded, label=1),
        },
    )
    with database.read() as s:
        uid = s.scalar(select(User.id).where(User.client_id == "uuid.u"))
    r = client.post(f"/api/v1/get_pos_labels?user_id={uid}").json()
    gold_pos_in_batch = {i["id"] for i in batch["data"]} & set(seeded.gold_pos)
    assert {i["id"] for i in r["data"]} == set(seeded.plain)  # gold positives are left out
    assert not gold_pos_in_batch & {i["id"] for i in r["data"]}
    # clips a researcher makes gold or bad later leave the public list (which clips check
    # volunteers is never public); a researcher still sees them (gold positives excepted)
    gold, bad = seeded.plain[:2]
    rita = researcher(client, database)
    data = [{"video_id": gold, "label": 32}, {"video_id": bad, "label": -2}]
    r = client.post("/api/v1/set_label_state", json={"user_token": rita, "data": data})
    assert r.status_code == 204, r.text
    public = {i["id"] for i in client.post(f"/api/v1/get_pos_labels?user_id={uid}").json()["data"]}
    assert public == set(seeded.plain) - {gold, bad}
    admin = client.post(f"/api/v1/get_pos_labels?user_id={uid}", data={"user_token": rita}).json()[
        "data"
    ]
    assert {i["id"] for i in admin} == set(seeded.plain)


def test_label_statistics(client: TestClient, database: Database) -> None:
    seed(database, plain=6, states={1001: (23, -1), 1002: (4, -1), 1003: (-1, 16), 1004: (-1, -2)})
    assert client.get("/api/v1/get_label_statistics").json() == {
        "num_all_videos": 5,
        "num_fully_labeled": 2,
        "num_partially_labeled": 1,
    }


def test_partially_labeled_counts_no_gold_bad_or_reviewed_clip(
    client: TestClient, database: Database
) -> None:
    """Finding: a clip with some volunteer answers (3, 4, 5) counted as partially labeled
    whatever its researcher state, so a reviewed clip counted as both fully and partially
    labeled, and gold and bad clips, left out of the other two counts, as partially. RISE:
    all three counts leave out gold and bad clips; partially labeled has no label yet."""
    partly = {1001: (5, -1), 1002: (4, 23), 1003: (3, 16), 1004: (5, 47), 1005: (4, 32)}
    seed(database, plain=7, states={**partly, 1006: (4, -2), 1007: (23, -1)})
    assert client.get("/api/v1/get_label_statistics").json() == {
        "num_all_videos": 4,  # 7 plain clips, less 1004, 1005 (gold) and 1006 (bad)
        "num_fully_labeled": 3,  # 1002, 1003 (reviewed), 1007
        "num_partially_labeled": 1,  # 1001 only
    }


@pytest.mark.parametrize("number", ["5_0", "\uff15", " 5", "+5", "5 ", "5.0", "-1", "٥"])
def test_gallery_numbers_are_ascii_digits_in_the_body_and_the_query_string(
    client: TestClient, database: Database, number: str
) -> None:
    """Finding: a form body's ``pageSize`` went through ``int()``, which takes "5_0", "+5",
    " 5" and other scripts' digits (full-width "５"), and the query string through pydantic,
    which takes most of them too. Both take ASCII digits only, through one parser."""
    seed(database, plain=12, states={1001: (23, -1), 1002: (23, -1)})
    assert client.post("/api/v1/get_pos_labels", data={"pageSize": "1"}).status_code == 200
    assert client.get("/api/v1/get_pos_labels", params={"pageSize": "01"}).status_code == 200
    for field in ("pageSize", "pageNumber"):
        sent = [
            client.post("/api/v1/get_pos_labels", data={field: number}),
            client.post("/api/v1/get_pos_labels", json={field: number}),
            client.get("/api/v1/get_pos_labels", params={field: number}),
        ]
        for r in sent:
            assert r.status_code == 400, (field, number, r.text)
            assert r.json()["message"].startswith(f"{field}: expected digits 0-9"), r.text
    for field in ("camera_id", "view_id", "user_id"):
        r = client.get("/api/v1/get_pos_labels", params={field: number})
        assert r.status_code == 400 and "digits 0-9" in r.json()["message"], (field, r.text)


def test_tutorial_records(client: TestClient, database: Database) -> None:
    token = login(client)
    for action in (0, 3, 1):
        r = client.post(
            "/api/v1/add_tutorial_record",
            json={"user_token": token, "action_type": action, "query_type": 0},
        )
        assert r.status_code == 204
    with database.read() as s:
        assert s.scalar(select(User.best_tutorial_action)) == 3
        assert len(s.scalars(select(Tutorial)).all()) == 3
    for bad in (
        {"action_type": 5, "query_type": 0},
        {"action_type": 1, "query_type": 3},
        {"action_type": "1", "query_type": 0},
        {"query_type": 0},
    ):
        r = client.post("/api/v1/add_tutorial_record", json={"user_token": token, **bad})
        assert r.status_code == 400 and r.json()["message"], bad
    assert client.post(
        "/api/v1/add_tutorial_record", json={"action_type": 1, "query_type": 0}
    ).json() == {"message": "Missing field: user_token"}


def test_export_round_trips_and_needs_a_researcher(client: TestClient, database: Database) -> None:
    seed(database, plain=4, states={1001: (23, -1)})
    assert client.get("/api/v1/export").json() == {"message": "Missing field: user_token"}
    assert (
        client.get(
            "/api/v1/export", headers={"Authorization": f"Bearer {login(client)}"}
        ).status_code
        == 403
    )
    token = researcher(client, database)
    r = client.get("/api/v1/export", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    clips = load_records(json.loads(r.text))
    assert [c.id for c in clips] == sorted(c.id for c in clips) and len(clips) == 12
    assert next(c for c in clips if c.id == 1001).derived_label == 1
    csv_text = client.get(f"/api/v1/export?format=csv&user_token={token}").text
    assert csv_text.splitlines()[0].startswith("camera_id,view_id,id,label_state")
    labeled = client.get(f"/api/v1/export?only_labeled=true&user_token={token}").json()
    assert {c["id"] for c in labeled} == {1001, 1, 2, 3, 4, 101, 102, 103, 104}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b"[1, 2]", 400),
        (b'{"user_token": 5}', 400),
        (b'{"user_token": ""}', 400),
        (b'{"user_token": "a.b.c"}', 401),
    ],
)
def test_malformed_bodies_are_4xx(client: TestClient, body: bytes, status: int) -> None:
    r = client.post("/api/v1/get_batch", content=body, headers={"content-type": "application/json"})
    assert r.status_code == status and isinstance(r.json()["message"], str)


@pytest.mark.parametrize("route", ["get_pos_labels", "get_all_labels", "get_pos_gold_labels"])
@pytest.mark.parametrize("token", ["\\ud800", "caf\\u00e9.b.c"])
def test_a_token_that_is_not_ascii_is_refused_not_a_crash(
    client: TestClient, route: str, token: str
) -> None:
    """The gallery routes read their JSON themselves, which lets a lone surrogate through
    (a valid JSON escape that UTF-8 cannot encode); PyJWT would crash on it."""
    body = f'{{"user_token": "{token}"}}'.encode()
    r = client.post(f"/api/v1/{route}", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 401, r.text
    assert "Invalid user token" in r.json()["message"]


def test_send_batch_validation(client: TestClient, database: Database) -> None:
    seeded = seed(database, plain=12)
    token = login(client)
    batch = client.post("/api/v1/get_batch", json={"user_token": token}).json()
    answers = answer_page(batch, seeded)
    for data in (
        [{**answers[0], "label": 2}] + answers[1:],
        [{**answers[0], "label": True}] + answers[1:],
        [{"video_id": answers[0]["video_id"]}] + answers[1:],
        [],
        answers * 5,
    ):
        r = client.post(
            "/api/v1/send_batch",
            json={"user_token": token, "video_token": batch["video_token"], "data": data},
        )
        assert 400 <= r.status_code < 500, r.text
    ok = client.post(
        "/api/v1/send_batch",
        json={"user_token": token, "video_token": batch["video_token"], "data": answers},
    )
    assert ok.status_code == 200  # none of the bad tries used the batch up


def test_oversized_body_is_413(client: TestClient) -> None:
    big = b'{"client_id": "' + b"x" * (2 << 20) + b'"}'
    r = client.post("/api/v1/login", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_health(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
