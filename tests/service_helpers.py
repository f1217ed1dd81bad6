"""Helpers for the labeling-service tests: settings, seeded clips, sign-in, page answers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import insert

from smokewatch.labeling.db import Database
from smokewatch.labeling.tables import Video
from smokewatch.settings import Settings


def make_settings(tmp_path: Path, url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "database_url": url,
        "page_min_seconds": 0,
    }
    values.update(overrides)
    return Settings(**values)


def video_row(
    vid: int, *, state: int = -1, admin: int = -1, camera: int = 0, view: int = 0
) -> dict[str, Any]:
    start = 1_546_300_800 + vid * 180
    name = f"{camera}-{view}-2019-01-01-100-100-280-280-180-180-{vid}-{start}-{start + 175}"
    return {
        "id": vid,
        "file_name": name,
        "camera_id": camera,
        "view_id": view,
        "start_time": start,
        "end_time": start + 175,
        "left": 100,
        "top": 100,
        "right": 280,
        "bottom": 280,
        "width": 180,
        "height": 180,
        "start_frame": vid,
        "url_root": "/videos/",
        "url_part": f"2019-01-01/{camera}-{view}/{name}.mp4",
        "label_state": state,
        "label_state_admin": admin,
        "label_update_time": None,
        "sort_key": (vid * 0.6180339887) % 1.0,
    }


@dataclass
class Seeded:
    gold_pos: list[int]
    gold_neg: list[int]
    plain: list[int]


def seed(
    db: Database,
    *,
    plain: int = 24,
    gold_pos: int = 4,
    gold_neg: int = 4,
    states: dict[int, tuple[int, int]] | None = None,
) -> Seeded:
    """Insert gold standards and plain clips (ids: gold 1.., plain 1001..)."""
    rows = [video_row(i, admin=47) for i in range(1, gold_pos + 1)]
    rows += [video_row(100 + i, admin=32) for i in range(1, gold_neg + 1)]
    plain_ids = list(range(1001, 1001 + plain))
    for vid in plain_ids:
        state, admin = (states or {}).get(vid, (-1, -1))
        rows.append(video_row(vid, state=state, admin=admin, view=vid % 3))
    with db.write() as session:
        session.execute(insert(Video), rows)
    return Seeded(
        list(range(1, gold_pos + 1)), [100 + i for i in range(1, gold_neg + 1)], plain_ids
    )


def login(client: TestClient, client_id: str = "uuid.volunteer") -> str:
    r = client.post("/api/v1/login", json={"client_id": client_id})
    assert r.status_code == 200, r.text
    return str(r.json()["user_token"])


def answer_page(
    page: dict[str, Any], seeded: Seeded, *, gold_right: bool = True, label: int = 1
) -> list[dict[str, int]]:
    """Answers for every clip of a page: gold as it should be (or all wrong), others ``label``."""
    out = []
    for item in page["data"]:
        vid = item["id"]
        if vid in seeded.gold_pos:
            value = 1 if gold_right else 0
        elif vid in seeded.gold_neg:
            value = 0 if gold_right else 1
        else:
            value = label
        out.append({"video_id": vid, "label": value})
    return out


def send_one_batch(
    client: TestClient, token: str, seeded: Seeded, *, gold_right: bool = True, label: int = 1
) -> dict[str, Any]:
    """Get a batch for ``token`` and send it answered (see ``answer_page``); its JSON answer."""
    batch = client.post("/api/v1/get_batch", json={"user_token": token})
    assert batch.status_code == 200, batch.text
    body = batch.json()
    data = answer_page(body, seeded, gold_right=gold_right, label=label)
    r = client.post(
        "/api/v1/send_batch",
        json={"user_token": token, "video_token": body["video_token"], "data": data},
    )
    assert r.status_code == 200, r.text
    return dict(r.json())
