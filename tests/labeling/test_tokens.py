"""Tokens: signed, expiring, tamper-proof; a page sent too early is 425; the key is no constant."""

from __future__ import annotations

import base64
import json
import stat
import time
from pathlib import Path

import jwt
import pytest
from fastapi.testclient import TestClient
from service_helpers import answer_page, login, make_settings, seed

from smokewatch.labeling.app import create_app
from smokewatch.labeling.db import open_database
from smokewatch.labeling.tokens import TokenError, TokenService, load_signing_key
from smokewatch.settings import Settings


def _tamper(token: str, **changes: object) -> str:
    """Change claims but keep the old signature."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def test_key_file_is_created_0600_and_reused(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "d")
    key = load_signing_key(settings)
    path = tmp_path / "d" / "secret.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_signing_key(settings) == key and len(key) >= 32
    assert load_signing_key(Settings(data_dir=tmp_path / "other")) != key  # never a constant


def test_key_from_settings(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, secret_key="s" * 40)
    assert load_signing_key(settings) == b"s" * 40
    assert not (tmp_path / "secret.key").exists()


def test_user_token_round_trip_and_tampering(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    tokens = TokenService(load_signing_key(settings), settings)
    token = tokens.user_token(user_id=7, connection_id=3, client_type=3, score=0, raw_score=0)
    claims = tokens.check_user(token)
    assert (claims.user_id, claims.connection_id) == (7, 3)
    with pytest.raises(TokenError, match="Signature verification failed") as info:
        tokens.check_user(_tamper(token, user_id=1))
    assert info.value.status == 401
    other = TokenService(b"x" * 64, settings)
    with pytest.raises(TokenError):
        other.check_user(token)
    unsigned = jwt.encode({"user_id": 1, "typ": "user"}, key="", algorithm="none")  # type: ignore[arg-type]
    with pytest.raises(TokenError):
        tokens.check_user(unsigned)
    page = tokens.batch_token(batch_id=1, user_id=7, video_ids=[1, 2], jti="j")
    with pytest.raises(TokenError, match="wrong token type"):
        tokens.check_user(page)


def test_expired_tokens(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    key = load_signing_key(settings)
    tokens = TokenService(key, settings)
    now = int(time.time())
    old = jwt.encode(
        {
            "typ": "user",
            "iat": now - 100,
            "exp": now - 1,
            "jti": "a",
            "user_id": 1,
            "connection_id": 1,
        },
        key,
        algorithm="HS256",
    )
    with pytest.raises(TokenError, match="expired") as info:
        tokens.check_user(old)
    assert info.value.status == 401
    no_exp = jwt.encode(
        {"typ": "user", "iat": now, "jti": "a", "user_id": 1, "connection_id": 1},
        key,
        algorithm="HS256",
    )
    with pytest.raises(TokenError, match="exp"):
        tokens.check_user(no_exp)


def test_api_refuses_tampered_and_expired_tokens(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}")
    db = open_database(settings)
    seeded = seed(db, plain=12)
    with TestClient(create_app(settings, database=db)) as client:
        token = login(client)
        forged = _tamper(token, user_id=999)
        r = client.post("/api/v1/get_batch", json={"user_token": forged})
        assert r.status_code == 401 and "Signature" in r.json()["message"]
        page = client.post("/api/v1/get_batch", json={"user_token": token}).json()
        forged_page = _tamper(page["video_token"], video_id_list=[1] * 16)
        r = client.post(
            "/api/v1/send_batch",
            json={
                "user_token": token,
                "video_token": forged_page,
                "data": answer_page(page, seeded),
            },
        )
        assert r.status_code == 401
        r = client.post(
            "/api/v1/send_batch",
            json={
                "user_token": token,
                "video_token": "not.a.token",
                "data": answer_page(page, seeded),
            },
        )
        assert r.status_code == 401
    db.dispose()


def test_too_early_submission_is_425_and_keeps_the_page(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}", page_min_seconds=30)
    db = open_database(settings)
    seeded = seed(db, plain=12)
    with TestClient(create_app(settings, database=db)) as client:
        token = login(client)
        page = client.post("/api/v1/get_batch", json={"user_token": token}).json()
        claims = jwt.decode(page["video_token"], options={"verify_signature": False})
        assert claims["nbf"] - claims["iat"] == 30 and claims["exp"] > claims["nbf"]
        r = client.post(
            "/api/v1/send_batch",
            json={
                "user_token": token,
                "video_token": page["video_token"],
                "data": answer_page(page, seeded),
            },
        )
        assert r.status_code == 425
        assert "Too early" in r.json()["message"] and " s)" in r.json()["message"]
    with db.read() as s:
        from sqlalchemy import select

        from smokewatch.labeling.tables import Batch

        assert s.scalar(select(Batch.return_time)) is None  # still unclaimed: can be sent later
    db.dispose()
