"""32 volunteers at once against a real server (2 worker processes): no transition is lost.

The batches overlap heavily (few clips, many volunteers), so answers for the same clip race.
Afterwards every clip's citizen state must equal the replay of its recorded label history
through ``core.labels``, and the label rows must be exactly 16 per accepted batch.
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from service_helpers import Seeded, make_settings, seed
from sqlalchemy import func, select

from smokewatch.core.labels import State, citizen_replay
from smokewatch.labeling.db import Database, open_database
from smokewatch.labeling.tables import Batch, Label, Role, Video

VOLUNTEERS = 32
BATCHES_EACH = 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path, db_url: str) -> Iterator[tuple[str, Database, Seeded]]:
    settings = make_settings(tmp_path, db_url)
    db = open_database(settings)
    seeded = seed(db, plain=240, gold_pos=6, gold_neg=6)
    port = _free_port()
    env = {
        **os.environ,
        "SMOKEWATCH_DATA_DIR": str(settings.data_dir),
        "SMOKEWATCH_DATABASE_URL": db_url,
        "SMOKEWATCH_PAGE_MIN_SECONDS": "0",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "smokewatch", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                out = proc.stdout.read() if proc.stdout else ""
                pytest.fail(f"server did not start: {out}")
            time.sleep(0.2)
        yield base, db, seeded
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        db.dispose()


def _volunteer(
    base: str, n: int, seeded: Seeded, results: list[tuple[int, int]], errors: list[str]
) -> None:
    rng = random.Random(n)
    with httpx.Client(base_url=base, timeout=60) as http:
        token = http.post("/api/v1/login", json={"client_id": f"uuid.load.{n}"}).json()[
            "user_token"
        ]
        for _ in range(BATCHES_EACH):
            r = http.post("/api/v1/get_batch", json={"user_token": token})
            if r.status_code == 204:
                return
            if r.status_code != 200:
                errors.append(f"get_batch {r.status_code} {r.text}")
                return
            batch = r.json()
            gold_right = rng.random() > 0.2
            answers = []
            for item in batch["data"]:
                vid = item["id"]
                if vid in seeded.gold_pos:
                    label = int(gold_right)
                elif vid in seeded.gold_neg:
                    label = int(not gold_right)
                else:
                    label = rng.randint(0, 1)
                answers.append({"video_id": vid, "label": label})
            r = http.post(
                "/api/v1/send_batch",
                json={"user_token": token, "video_token": batch["video_token"], "data": answers},
            )
            if r.status_code != 200:
                errors.append(f"send_batch {r.status_code} {r.text}")
                return
            results.append((n, r.json()["data"]["score"]["batch"]))


def test_no_transition_is_lost(server: tuple[str, Database, Seeded]) -> None:
    base, db, seeded = server
    results: list[tuple[int, int]] = []
    errors: list[str] = []
    threads = [
        threading.Thread(target=_volunteer, args=(base, n, seeded, results, errors))
        for n in range(VOLUNTEERS)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors[:5]
    accepted = sum(1 for _, score in results if score > 0)
    assert len(results) >= VOLUNTEERS  # everyone got at least one batch through
    assert accepted > 0 and accepted < len(results)  # both outcomes happened
    with db.read() as s:
        labels = s.execute(
            select(Label.video_id, Label.label, Label.client_type).order_by(Label.id)
        ).all()
        states = {v.id: v.label_state for v in s.scalars(select(Video))}
        returned = s.scalar(select(func.count()).select_from(Batch).where(Batch.accepted.is_(True)))
    history: dict[int, list[int]] = defaultdict(list)
    for vid, label, client_type in labels:
        if client_type != Role.RESEARCHER:
            history[vid].append(label)
    assert len(labels) == 16 * accepted == 16 * returned
    gold = set(seeded.gold_pos) | set(seeded.gold_neg)
    for vid, state in states.items():
        if vid in gold:  # answers on gold standards are kept, but are not votes
            assert state == State.NO_DATA and history[vid], (vid, history[vid], state)
        else:
            assert citizen_replay(history[vid]) == state, (vid, history[vid], state)
    # the batches really overlapped: some answers came after their clip was already settled
    wasted = sum(
        1
        for vid, h in history.items()
        if vid in seeded.plain
        for i in range(1, len(h) + 1)
        if i > 1 and citizen_replay(h[:i]) == citizen_replay(h[: i - 1])
    )
    assert wasted > 0
