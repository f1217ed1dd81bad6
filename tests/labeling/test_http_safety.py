"""The HTTP surface as a browser or an attacker meets it: error shapes, CORS, clip files, the
Content-Security-Policy, public fields only, no 500 from odd input, and the body limit."""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from service_helpers import login, make_settings, seed, send_one_batch
from starlette.routing import Mount

from smokewatch.labeling.app import create_app
from smokewatch.labeling.db import Database
from smokewatch.labeling.web_policy import CSP
from smokewatch.settings import Settings

FRONT = "http://127.0.0.1:8111"  # where a copy of the original RISE pages would be served


# --- error bodies ---------------------------------------------------------------------------
def test_not_found_and_wrong_method_answer_in_rise_shape(client: TestClient) -> None:
    missing = client.get("/api/v1/no_such_endpoint")
    assert (missing.status_code, missing.json()) == (404, {"message": "Not Found"})
    wrong = client.get("/api/v1/login")
    assert (wrong.status_code, wrong.json()) == (405, {"message": "Method Not Allowed"})
    assert wrong.headers["allow"] == "POST"
    no_clip = client.get("/videos/no/such.mp4")
    assert (no_clip.status_code, no_clip.json()) == (404, {"message": "Not Found"})


# --- CORS -------------------------------------------------------------------------------------
def _app_with_cors(tmp_path: Path, origins: list[str]) -> TestClient:
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'cors.db'}", cors_origins=origins)
    return TestClient(create_app(settings))


def test_preflight_and_answers_carry_cors_headers_for_configured_origins(tmp_path: Path) -> None:
    with _app_with_cors(tmp_path, [FRONT]) as client:
        preflight = client.options(
            "/api/v1/login",
            headers={
                "Origin": FRONT,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == FRONT
        assert "POST" in preflight.headers["access-control-allow-methods"]
        assert "content-type" in preflight.headers["access-control-allow-headers"].lower()
        answer = client.post(
            "/api/v1/login", json={"client_id": "uuid.x"}, headers={"Origin": FRONT}
        )
        assert answer.status_code == 200
        assert answer.headers["access-control-allow-origin"] == FRONT
        other = client.post(
            "/api/v1/login", json={"client_id": "uuid.y"}, headers={"Origin": "http://evil.test"}
        )
        assert "access-control-allow-origin" not in other.headers


def test_no_cors_unless_configured(tmp_path: Path) -> None:
    with _app_with_cors(tmp_path, []) as client:
        answer = client.post(
            "/api/v1/login", json={"client_id": "uuid.x"}, headers={"Origin": FRONT}
        )
        assert "access-control-allow-origin" not in answer.headers


@pytest.mark.parametrize(
    ("value", "origins"),
    [
        ("", []),
        ("http://a.test:8000", ["http://a.test:8000"]),
        ("http://a.test, https://b.test/", ["http://a.test", "https://b.test"]),
        ('["http://a.test", "https://b.test"]', ["http://a.test", "https://b.test"]),
    ],
)
def test_cors_origins_setting_reads_commas_or_a_json_list(
    monkeypatch: pytest.MonkeyPatch, value: str, origins: list[str]
) -> None:
    monkeypatch.setenv("SMOKEWATCH_CORS_ORIGINS", value)
    assert Settings(_env_file=None).cors_origins == origins  # type: ignore[call-arg]


# --- clip files -------------------------------------------------------------------------------
RISE_NAME = "0-1-2019-01-01-100-100-280-280-{size}-{size}-7-1546300800-1546300975.mp4"


def _clip(settings: Settings, relative: str, data: bytes) -> None:
    path = settings.videos_dir / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_the_original_front_ends_320_address_is_served_from_the_180_file(
    client: TestClient, settings: Settings
) -> None:
    _clip(settings, "2019-01-01/0-1/" + RISE_NAME.format(size=180), b"clip-180")
    _clip(settings, "180/2019-01-01/0-1/" + RISE_NAME.format(size=180), b"rise-180")
    # Util.replaceThumbnailWidth: the first "/180/" -> "/320/", the first "-180-180-" -> "-320-320-"
    local = client.get("/videos/2019-01-01/0-1/" + RISE_NAME.format(size=320))
    assert (local.status_code, local.content) == (200, b"clip-180")
    rise = client.get("/videos/320/2019-01-01/0-1/" + RISE_NAME.format(size=320))
    assert (rise.status_code, rise.content) == (200, b"rise-180")


def test_a_real_320_rendition_wins(client: TestClient, settings: Settings) -> None:
    _clip(settings, "180/d/" + RISE_NAME.format(size=180), b"small")
    _clip(settings, "320/d/" + RISE_NAME.format(size=320), b"large")
    assert client.get("/videos/320/d/" + RISE_NAME.format(size=320)).content == b"large"


def test_clip_files_never_leave_the_videos_folder(client: TestClient, settings: Settings) -> None:
    secret = settings.data_dir / "secret.key"
    secret.write_bytes(b"do not serve")
    folder = settings.videos_dir / "2019-01-01/0-1"
    folder.mkdir(parents=True, exist_ok=True)
    os.symlink(secret, folder / RISE_NAME.format(size=180))
    for path in [
        "/videos/2019-01-01/0-1/" + RISE_NAME.format(size=180),
        "/videos/2019-01-01/0-1/" + RISE_NAME.format(size=320),  # the fallback checks too
        "/videos/../secret.key",
        "/videos/%2e%2e/secret.key",
        "/videos/2019-01-01/..%2f..%2fsecret.key",
    ]:
        answer = client.get(path)
        assert answer.status_code == 404, path
        assert b"do not serve" not in answer.content


# --- Content-Security-Policy ------------------------------------------------------------------
def _every_call(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every endpoint, page, redirect, mount and service route of the app."""
    from smokewatch.labeling.routes.pages import LEGACY, PAGES

    calls = [
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    ]
    calls += [("GET", path) for path in [*PAGES, *LEGACY, "/docs", "/docs/oauth2-redirect"]]
    calls += [("GET", "/openapi.json")]
    calls += [("GET", r.path + "/any/file.mp4") for r in app.routes if isinstance(r, Mount)]
    return calls


def test_every_page_carries_a_strict_content_security_policy(client: TestClient) -> None:
    html = 0
    for method, path in _every_call(client.app):  # type: ignore[arg-type]
        if method != "GET":
            continue
        answer = client.get(path, follow_redirects=False)
        policy = answer.headers.get("content-security-policy", "")
        assert policy, f"{path} answers without a Content-Security-Policy"
        if answer.headers.get("content-type", "").startswith("text/html"):
            html += 1
            assert "object-src 'none'" in policy and "base-uri 'none'" in policy, path
            script_src = next(p for p in policy.split(";") if p.strip().startswith("script-src"))
            assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
            if not path.startswith("/docs"):
                assert policy == CSP, path
    assert html >= 8  # the site's pages and the API explorer
    assert client.get("/static/js/gallery.js").headers["content-security-policy"] == CSP
    assert "default-src 'self'" in CSP and "script-src 'self';" in CSP


def test_the_site_templates_have_no_inline_script_or_style() -> None:
    from smokewatch.labeling.routes.pages import WEB_DIR

    for template in (WEB_DIR / "templates").glob("*.html"):
        text = template.read_text(encoding="utf-8")
        for tag in text.split("<script")[1:]:
            assert tag.split(">", 1)[0].strip().startswith('type="module" src='), template
        assert " style=" not in text and "<style" not in text, template
        assert not re.search(r"\son[a-z]+\s*=", text), template  # no onclick= and friends


# --- public answers carry public fields only --------------------------------------------------
def test_a_users_smoke_clips_show_no_researcher_states_to_the_public(
    client: TestClient, database: Database
) -> None:
    seeded = seed(database, plain=24)
    token = login(client, "uuid.public-fields")
    send_one_batch(client, token, seeded)
    user_id = _user_id(client, token)
    path = f"/api/v1/get_pos_labels?user_id={user_id}"
    for answer in [  # anonymous (GET and POST), and the volunteer themself
        client.get(path),
        client.post(path),
        client.post(path, data={"user_token": token}),
    ]:
        assert answer.status_code == 200, answer.text
        items = answer.json()["data"]
        assert items
        for item in items:
            assert set(item) == {
                "id", "start_time", "view_id", "camera_id", "file_name", "url_root", "url_part"
            }  # fmt: skip


def _user_id(client: TestClient, token: str) -> int:
    return int(client.post("/api/v1/get_user_info", json={"user_token": token}).json()["user_id"])


def test_researchers_still_see_the_states_of_a_users_clips(
    client: TestClient, database: Database
) -> None:
    from smokewatch.labeling.tables import Role
    from smokewatch.labeling.users import add_account

    seeded = seed(database, plain=24)
    token = login(client, "uuid.someone")
    send_one_batch(client, token, seeded)
    with database.write() as session:
        add_account(session, "rita", "smoke-and-mirrors", Role.RESEARCHER)
    research = client.post(
        "/api/v1/login_password", json={"name": "rita", "password": "smoke-and-mirrors"}
    ).json()["user_token"]
    answer = client.post(
        f"/api/v1/get_pos_labels?user_id={_user_id(client, token)}",
        data={"user_token": research},
    )
    assert all("label_state_admin" in item for item in answer.json()["data"])


# --- no 500 from odd input --------------------------------------------------------------------
@pytest.mark.parametrize("day", ["9999-12-31", "9999-12-30", "0001-01-01", "1900-02-28"])
def test_gallery_dates_far_away_are_an_empty_page_or_a_clear_400(
    client: TestClient, database: Database, day: str
) -> None:
    seed(database, plain=4)
    for query in ["pos_labels", "neg_labels", "maybe_pos_labels", "discorded_labels"]:
        for extra in ["", "&user_id=1"] if query == "pos_labels" else [""]:
            answer = client.get(f"/api/v1/get_{query}?date={day}{extra}")
            assert answer.status_code in (204, 400), (query, day, answer.text)
            if answer.status_code == 400:
                assert "date" in answer.json()["message"]


@pytest.mark.parametrize("depth", [50, 100_000])
def test_deeply_nested_json_on_the_gallery_routes_is_a_400(
    client: TestClient, database: Database, depth: int
) -> None:
    seed(database, plain=4)
    nested = '{"pageNumber": ' + "[" * depth + "]" * depth + "}"
    for path in ["/api/v1/get_pos_labels", "/api/v1/get_neg_labels", "/api/v1/get_all_labels"]:
        answer = client.post(path, content=nested, headers={"content-type": "application/json"})
        assert answer.status_code == 400, (path, answer.text)
        assert answer.json()["message"]


def test_deeply_nested_json_on_the_json_routes_is_a_400(client: TestClient) -> None:
    nested = '{"client_id": ' + "[" * 100_000 + "]" * 100_000 + "}"
    for path in ["/api/v1/login", "/api/v1/login_password", "/api/v1/get_batch"]:
        answer = client.post(path, content=nested, headers={"content-type": "application/json"})
        assert answer.status_code == 400, (path, answer.text)
        assert answer.json()["message"]


# --- the body limit, through a real server ----------------------------------------------------
@pytest.fixture
def served(settings: Settings, database: Database) -> Iterator[tuple[str, list[tuple[str, str]]]]:
    """The app under uvicorn (as ``smokewatch serve`` runs it), and every (method, path)."""
    app = create_app(settings, database=database)
    calls = _every_call(app)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", calls
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def test_chunked_bodies_over_the_limit_are_413_on_every_route(
    served: tuple[str, list[tuple[str, str]]], settings: Settings
) -> None:
    url, calls = served
    assert len(calls) > 25  # every endpoint, page, mount and the service routes

    def chunks() -> Iterator[bytes]:
        for _ in range(settings.max_body_bytes // 65536 + 2):
            yield b"x" * 65536

    with httpx.Client(base_url=url, timeout=30) as http:
        for method, path in calls:
            if path.endswith("/photos"):  # cameras' photos: max_photo_bytes (test_cameras_api)
                continue
            answer = http.request(method, path, content=chunks())  # no length: chunked
            assert answer.status_code == 413, (method, path, answer.status_code)
            assert answer.json() == {
                "message": f"Request body larger than {settings.max_body_bytes} bytes"
            }
        small = http.post(
            "/api/v1/login",
            content=iter([b'{"client_id": ', b'"uuid.chunked"}']),
            headers={"content-type": "application/json"},
        )
        assert small.status_code == 200, small.text  # chunked and small: read as usual
