"""Cameras' photo uploads: keys (hashed, constant-time), refusals that say why, duplicates
stored once, atomic inbox files (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import io
import random
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select

from smokewatch.labeling.cameras import (
    INBOX,
    PHOTOS,
    add_camera,
    camera_dir,
    parse_inbox_name,
    rotate_key,
)
from smokewatch.labeling.db import Database
from smokewatch.labeling.tables import Camera
from smokewatch.settings import Settings


def jpeg(color: tuple[int, int, int] = (120, 130, 140), size: tuple[int, int] = (32, 24)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (1, 2, 3)).save(buf, format="PNG")
    return buf.getvalue()


def _camera(database: Database, name: str = "cam-a") -> tuple[int, str]:
    with database.write() as session:
        camera, key = add_camera(session, name)
        return camera.id, key


def _post(
    client: TestClient, cid: int, key: str | None, data: bytes, taken: float | None = 1.7e9
) -> tuple[int, dict[str, object]]:
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    form = {"taken": str(taken)} if taken is not None else {}
    r = client.post(
        f"/api/v1/cameras/{cid}/photos",
        files={"photo": ("p.jpg", data, "image/jpeg")},
        data=form,
        headers=headers,
    )
    return r.status_code, r.json()


def test_the_key_is_stored_only_as_its_digest(database: Database) -> None:
    cid, key = _camera(database)
    with database.read() as session:
        row = session.scalar(select(Camera).where(Camera.id == cid))
        assert row is not None
        assert key not in (row.key_hash, row.name)
        assert row.key_hash == hashlib.sha256(key.encode()).hexdigest()


def test_an_upload_lands_in_the_inbox_once(
    client: TestClient, database: Database, settings: Settings
) -> None:
    cid, key = _camera(database)
    data = jpeg()
    status, body = _post(client, cid, key, data, taken=1_700_000_000.25)
    assert status == 201 and body["duplicate"] is False
    inbox = camera_dir(settings.data_dir, cid) / INBOX
    files = sorted(p.name for p in inbox.iterdir())
    assert files == [body["name"]]
    assert parse_inbox_name(files[0]) == 1_700_000_000.25
    assert (inbox / files[0]).read_bytes() == data
    # the camera's retry after a lost answer: stored once, said so
    status, again = _post(client, cid, key, data, taken=1_700_000_000.25)
    assert status == 200 and again["duplicate"] is True and again["sha256"] == body["sha256"]
    assert sorted(p.name for p in inbox.iterdir()) == files
    # no temporary file is left behind anywhere
    folder = camera_dir(settings.data_dir, cid)
    assert not [p for p in folder.rglob("*") if ".part" in p.name]
    assert len(list((folder / PHOTOS).iterdir())) == 1


def test_png_is_accepted_and_exif_or_arrival_gives_the_time(
    client: TestClient, database: Database
) -> None:
    cid, key = _camera(database)
    status, body = _post(client, cid, key, png(), taken=None)
    assert status == 201 and str(body["name"]).endswith(".png")
    assert isinstance(body["time"], float) and body["time"] > 1.6e9


def test_wrong_or_missing_key_is_401_and_unknown_camera_404(
    client: TestClient, database: Database
) -> None:
    cid, key = _camera(database)
    assert _post(client, cid, None, jpeg())[0] == 401
    status, body = _post(client, cid, key + "x", jpeg())
    assert status == 401 and body == {"message": "wrong camera key"}
    other, other_key = _camera(database, "cam-b")
    assert _post(client, cid, other_key, jpeg())[0] == 401  # another camera's key
    assert _post(client, 9999, key, jpeg())[0] == 404


def test_a_rotated_key_replaces_the_old_one(client: TestClient, database: Database) -> None:
    cid, old = _camera(database)
    with database.write() as session:
        _, new = rotate_key(session, "cam-a")
    assert _post(client, cid, old, jpeg())[0] == 401
    assert _post(client, cid, new, jpeg())[0] == 201


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty photo"),
        (b"hello, not an image", "not an image"),
        (jpeg()[:200], "corrupt or truncated"),
        (b"GIF89a" + b"\x00" * 64, "not an image"),
    ],
)
def test_a_bad_image_is_400_naming_the_reason(
    client: TestClient, database: Database, settings: Settings, data: bytes, reason: str
) -> None:
    cid, key = _camera(database)
    status, body = _post(client, cid, key, data)
    assert status == 400
    assert reason in str(body["message"])
    inbox = camera_dir(settings.data_dir, cid) / INBOX
    assert not inbox.exists() or not list(inbox.iterdir())


def test_an_unsupported_format_names_it(client: TestClient, database: Database) -> None:
    cid, key = _camera(database)
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, format="BMP")
    status, body = _post(client, cid, key, buf.getvalue())
    assert status == 400 and "unsupported image format BMP" in str(body["message"])


def test_a_photo_over_the_limit_is_refused(tmp_path: Path, db_url: str) -> None:
    from service_helpers import make_settings

    from smokewatch.labeling.app import create_app
    from smokewatch.labeling.db import open_database

    settings = make_settings(tmp_path, db_url, max_photo_bytes=2048)
    db = open_database(settings)
    try:
        cid, key = _camera(db)
        noisy = Image.frombytes("RGB", (64, 64), random.Random(1).randbytes(64 * 64 * 3))
        buf = io.BytesIO()
        noisy.save(buf, format="PNG")
        with TestClient(create_app(settings, database=db)) as client:
            status, body = _post(client, cid, key, buf.getvalue())
            assert status == 413 and "2048" in str(body["message"])
            # chunked (no length): refused by the body limit, photo limit + envelope
            chunked = client.post(
                f"/api/v1/cameras/{cid}/photos",
                content=iter([b"x" * 65536] * 3),
                headers={"Authorization": f"Bearer {key}", "content-type": "multipart/form-data"},
            )
            assert chunked.status_code == 413
            assert _post(client, cid, key, png())[0] == 201
    finally:
        db.dispose()


def test_an_exif_time_without_offset_is_the_cameras_local_time(
    client: TestClient, database: Database, settings: Settings
) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    cid, key = _camera(database)
    img = Image.new("RGB", (16, 16), (9, 9, 9))
    exif = img.getexif()
    exif.get_ifd(0x8769)[0x9003] = "2024:06:11 08:00:00"
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif)
    status, body = _post(client, cid, key, buf.getvalue(), taken=None)
    assert status == 201
    local = datetime(2024, 6, 11, 8, 0, tzinfo=ZoneInfo(settings.timezone))
    assert body["time"] == local.timestamp()
