"""Load test of the labeling service: simulated volunteers log in, fetch batches, submit them.

Usage (a server must be running; the benchmark does not start one):

    # 1. a database with clips and gold standards (20,000 clips as in the RISE comparison)
    SMOKEWATCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/bench \\
        python bench/labeling_load.py prepare --clips 20000
    # 2. the server, without the 5 s batch wait (the load has no humans watching clips)
    SMOKEWATCH_DATABASE_URL=... SMOKEWATCH_PAGE_MIN_SECONDS=0 smokewatch serve --workers 2
    # 3. the load
    SMOKEWATCH_DATABASE_URL=... python bench/labeling_load.py run \\
        --base-url http://127.0.0.1:8000 --concurrency 16 --duration 30

``run`` prints, for get_batch and send_batch separately, requests/s, p50, p99 and errors, then
checks that nothing was lost: label rows = 16 x accepted batches, and every clip's citizen state
equals the replay of its label history through ``core.labels``. Volunteers answer the gold
standards correctly (read from the database), other clips at random. Run ``prepare`` before
each run: the figures depend on how many clips are partly labeled (batches overlap there).

Measured (2026-11-24; 2 cores shared by the server, PostgreSQL 15 over 127.0.0.1 and this
client, nothing else running; PostgreSQL, 20,000 clips + 400 gold, ``--workers 2``, 16
volunteers, 12-15 s, a fresh ``prepare`` before each run). The machine's speed drifted by up
to 1.5x over minutes (an A/B of two builds, alternated, moved together: 233/254, 270/306,
313/318), so take the median of many runs:

    25 runs over 45 minutes, batches/s (each a get_batch and a send_batch): median 295,
    range 223-335; 19 runs at 250 or more, 15 at 290 or more
    p99 ms get_batch / send_batch: typically 45-65 / 100-150 (worst run 83 / 166)
    errors 0, lost transitions 0 in every run
    32 volunteers 272/s (p99 154 / 190 ms); 64 volunteers 302/s (232 / 271 ms)
    200,000 clips 317/s (47 / 104 ms); --workers 4: 260/s
    PostgreSQL over its Unix socket instead of TCP: no difference
    SQLite, --workers 1: 213/s (159 / 136 ms)
    CPU per batch: server 3.3-4.5 ms, PostgreSQL 2.4-3.0 ms, this client about 0.5 ms

The same setup at the start of this work did 107 batches/s (server 8.5 ms of CPU per batch,
PostgreSQL 5.7, client 4.0). What made the difference, in order of effect:
  - this client: raw HTTP/1.1 on asyncio streams instead of httpx (4.0 -> 0.5 ms a batch);
  - the draw: one statement for the whole batch, wrapping around in SQL, and NOT EXISTS probes
    of the user's labels per candidate clip instead of NOT IN over all of them (a draw read
    every label of the user four times: 5 ms at 2,000 labels, and growing);
  - two round trips per request on PostgreSQL (psycopg pipeline mode, ``db.run_together``),
    with SQL compiled once to ``$n`` placeholders (psycopg parsed the 10 KB draw on every
    call: it caches only statements under 4 KB); no ``SELECT 1`` ping per request;
  - get_batch and send_batch on the event loop with psycopg's async pool, and an async
    context dependency: no thread hand-offs (45 -> 15 context switches per batch);
  - one worker process per core (more only add switching).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, func, insert, select, text

from smokewatch.core.labels import GOLD_STATES, State, citizen_replay
from smokewatch.labeling.db import open_database
from smokewatch.labeling.tables import (
    Batch,
    Connection,
    Event,
    EventClip,
    Label,
    Role,
    Tutorial,
    User,
    Video,
    View,
)
from smokewatch.settings import load_settings


def prepare(clips: int, gold: int, seed: int, priority: int = 0) -> None:
    """Fresh tables holding ``clips`` unlabeled clips and ``gold`` gold standards of each kind;
    ``priority`` of the clips (every n-th) have priority 1, as a detection run's would."""
    db = open_database(load_settings())
    rng = random.Random(seed)
    tables = (EventClip, Event, View, Tutorial, Label, Batch, Connection, User, Video)
    with db.write() as s:
        if db.engine.dialect.name == "postgresql":
            # TRUNCATE, not DELETE: a DELETE leaves the last run's rows dead, and autovacuum
            # then cleans them up during the next run, on the cores the run measures
            names = ", ".join(f'"{t.__tablename__}"' for t in tables)
            # CASCADE: the crowd tables (not reset here) refer to user and video
            s.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                s.execute(delete(table))
    rows = []
    every = clips // priority if priority else 0
    for vid in range(1, clips + 2 * gold + 1):
        admin = 47 if vid <= gold else 32 if vid <= 2 * gold else -1
        start = 1_546_300_800 + vid * 180
        name = f"0-{vid % 15}-2019-01-01-100-100-280-280-180-180-{vid}-{start}-{start + 175}"
        rows.append(
            {
                "id": vid,
                "file_name": name,
                "camera_id": 0,
                "view_id": vid % 15,
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
                "url_part": f"2019-01-01/0-{vid % 15}/{name}.mp4",
                "label_state": -1,
                "label_state_admin": admin,
                "label_update_time": None,
                "sort_key": rng.random(),
                "priority": int(admin == -1 and every > 0 and vid % every == 0),
            }
        )
    with db.write() as s:
        for i in range(0, len(rows), 5000):
            s.execute(insert(Video), rows[i : i + 5000])
    if db.engine.dialect.name == "postgresql":
        # Statistics for the clips only. The emptied tables keep "never analyzed" (TRUNCATE
        # forgets their statistics), so the planner assumes a modest size; analyzed while
        # empty, they would be planned as empty (sequential scans for every key lookup and
        # foreign-key check, cached for the whole run, as the tables grow), which no running
        # service sees: autovacuum analyzes its tables as they grow.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE video")
    print(
        f"prepared {clips:,} clips and {2 * gold} gold standards in "
        f"{db.engine.url.render_as_string()}"
    )
    db.dispose()


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    accepted: int = 0
    rejected: int = 0
    no_batch: int = 0


class Http:
    """A minimal HTTP/1.1 keep-alive client for JSON POSTs (one connection per volunteer).

    The load client shares the two cores with the server and the database: httpx cost about
    4 ms of CPU per batch here, a fifth of everything, so the bench uses this lean client
    instead (about a quarter of that), which leaves the cores to the server it measures.
    """

    def __init__(self, base: str) -> None:
        url = urlsplit(base)
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 80
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, payload: object) -> tuple[int, Any]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        body = json.dumps(payload).encode()
        self.writer.write(
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length, close = 0, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
            elif name == b"transfer-encoding":
                raise RuntimeError("chunked responses are not expected from the service")
        data = await self.reader.readexactly(length) if length else b""
        if close:
            await self.close()
        return status, (json.loads(data) if data else None)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


async def volunteer(
    n: int, base: str, gold_pos: set[int], gold_neg: set[int], stop: float, stats: Stats
) -> None:
    rng = random.Random(n)
    http = Http(base)
    try:
        status, body = await http.post(
            "/api/v1/login", {"client_id": f"uuid.bench.{n}.{time.time()}"}
        )
        if status != 200:
            stats.errors["login"] += 1
            return
        token = body["user_token"]
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            status, batch = await http.post("/api/v1/get_batch", {"user_token": token})
            stats.latencies["get_batch"].append(time.perf_counter() - t0)
            if status == 204:
                stats.no_batch += 1
                await asyncio.sleep(0.1)
                continue
            if status != 200:
                stats.errors["get_batch"] += 1
                continue
            answers = []
            for item in batch["data"]:
                vid = item["id"]
                label = 1 if vid in gold_pos else 0 if vid in gold_neg else rng.randint(0, 1)
                answers.append({"video_id": vid, "label": label})
            t0 = time.perf_counter()
            status, body = await http.post(
                "/api/v1/send_batch",
                {"user_token": token, "video_token": batch["video_token"], "data": answers},
            )
            stats.latencies["send_batch"].append(time.perf_counter() - t0)
            if status != 200:
                stats.errors["send_batch"] += 1
                continue
            if body["data"]["score"]["batch"]:
                stats.accepted += 1
            else:
                stats.rejected += 1
    finally:
        await http.close()


def check_nothing_lost(accepted_here: int) -> bool:
    """Label rows = 16 x accepted batches; each clip's state = the replay of its history (a
    gold standard's: unlabeled)."""
    db = open_database(load_settings())
    with db.read() as s:
        labels = s.execute(
            select(Label.video_id, Label.label, Label.client_type).order_by(Label.id)
        ).all()
        states = dict(s.execute(select(Video.id, Video.label_state)).all())
        gold = set(s.scalars(select(Video.id).where(Video.label_state_admin.in_(GOLD_STATES))))
        accepted = (
            s.scalar(select(func.count()).select_from(Batch).where(Batch.accepted.is_(True))) or 0
        )
    db.dispose()
    history: dict[int, list[int]] = defaultdict(list)
    for vid, label, client_type in labels:
        if client_type != Role.RESEARCHER:
            history[vid].append(label)
    # answers on gold standards are kept but are not votes: their citizen state never moves
    lost = sum(
        1
        for vid, state in states.items()
        if state != (State.NO_DATA if vid in gold else citizen_replay(history.get(vid, [])))
    )
    rows_ok = len(labels) == 16 * accepted
    print(
        f"label rows {len(labels):,} = 16 x {accepted:,} accepted batches: "
        f"{'yes' if rows_ok else 'NO'}"
        f" (this run's client saw {accepted_here:,} accepted)"
    )
    print(f"clips whose state differs from the replay of their history (lost transitions): {lost}")
    return rows_ok and lost == 0


def run(base: str, concurrency: int, duration: float) -> int:
    db = open_database(load_settings())
    with db.read() as s:
        gold_pos = set(s.scalars(select(Video.id).where(Video.label_state_admin == 47)))
        gold_neg = set(s.scalars(select(Video.id).where(Video.label_state_admin == 32)))
        n_clips = s.scalar(select(func.count()).select_from(Video))
    db.dispose()
    stats = Stats()

    async def main() -> float:
        start = time.perf_counter()
        stop = start + duration
        await asyncio.gather(
            *(volunteer(n, base, gold_pos, gold_neg, stop, stats) for n in range(concurrency))
        )
        return time.perf_counter() - start

    try:
        import uvloop

        elapsed = uvloop.run(main())
    except ImportError:
        elapsed = asyncio.run(main())
    print(f"{concurrency} volunteers, {elapsed:.1f} s, {n_clips:,} clips, server {base}")
    print(f"{'call':<11} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for call in ("get_batch", "send_batch"):
        lat = sorted(stats.latencies[call])
        if not lat:
            print(f"{call:<11} {'0':>9}")
            continue
        p50 = statistics.median(lat) * 1000
        p99 = lat[min(len(lat) - 1, int(0.99 * len(lat)))] * 1000
        print(
            f"{call:<11} {len(lat):>9,} {len(lat) / elapsed:>8.1f} {p50:>8.1f} {p99:>8.1f} "
            f"{stats.errors[call]:>7}"
        )
    print(
        f"batches accepted {stats.accepted:,}, rejected {stats.rejected:,}, "
        f"no batch (204) {stats.no_batch:,}"
    )
    ok = check_nothing_lost(stats.accepted)
    return 0 if ok and not any(stats.errors.values()) else 1


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="verb", required=True)
    p = sub.add_parser("prepare", help="reset the tables and insert clips and gold standards")
    p.add_argument("--clips", type=int, default=20_000)
    p.add_argument("--gold", type=int, default=200, help="gold standards of each kind")
    p.add_argument(
        "--priority", type=int, default=0, help="clips with priority 1 (a detection run's)"
    )
    p.add_argument("--seed", type=int, default=0)
    r = sub.add_parser("run", help="drive the running server with simulated volunteers")
    r.add_argument("--base-url", default="http://127.0.0.1:8000")
    r.add_argument("--concurrency", type=int, default=16)
    r.add_argument("--duration", type=float, default=30.0)
    args = parser.parse_args()
    if not os.environ.get("SMOKEWATCH_DATABASE_URL"):
        print(
            "note: SMOKEWATCH_DATABASE_URL is not set: using the default SQLite database",
            file=sys.stderr,
        )
    if args.verb == "prepare":
        prepare(args.clips, args.gold, args.seed, args.priority)
        return 0
    return run(args.base_url, args.concurrency, args.duration)


if __name__ == "__main__":
    sys.exit(main())
