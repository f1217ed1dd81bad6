"""The ways a batch's statements reach the database: plans driven in a session (SQLite and
PostgreSQL), on the event loop (PostgreSQL), statements run together, and pooled
connections that the server closed."""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from service_helpers import answer_page, login, make_settings, seed
from sqlalchemy import event, func, select

from smokewatch.labeling import batches
from smokewatch.labeling.app import create_app
from smokewatch.labeling.batches.statements import NEW_BATCH
from smokewatch.labeling.db import Database, Together, drive, open_database, run_together
from smokewatch.labeling.db_async import AsyncPostgres
from smokewatch.labeling.tables import Batch, Label, User, Video
from smokewatch.labeling.users import get_or_create_volunteer


def _volunteer(db: Database, client_id: str = "uuid.driver") -> int:
    with db.write() as s:
        return get_or_create_volunteer(s, client_id).id


def _answers(batch: batches.DrawnBatch, gold_pos: list[int], gold_neg: list[int]) -> list[Any]:
    return [(vid, 1 if vid in gold_pos else 0 if vid in gold_neg else 1) for vid in batch.ids]


def _give(db: Database, uid: int, seed_: int) -> batches.GivenBatch:
    plan = batches.give_batch_plan(
        uid,
        batches.BatchPolicy(),
        random.Random(seed_),
        connection_id=None,
        hold_seconds=3600,
        postgres=not db.is_sqlite,
    )
    with db.write() as s:
        given = drive(s, plan)
    assert given is not None
    return given


def _submit(db: Database, uid: int, given: batches.GivenBatch, answers: list[Any]) -> batches.Score:
    plan = batches.submit_batch_plan(
        uid,
        batch_id=given.batch_id,
        jti=given.jti,
        token_video_ids=[vid for vid, _ in answers],
        answers=answers,
        postgres=not db.is_sqlite,
    )
    with db.write() as s:
        return drive(s, plan)


def _counts(db: Database) -> tuple[int, int, int]:
    with db.read() as s:
        labels = s.scalar(select(func.count()).select_from(Label)) or 0
        batch_rows = s.scalar(select(func.count()).select_from(Batch)) or 0
        moved = s.scalar(select(func.count()).select_from(Video).where(Video.label_state != -1))
    return labels, batch_rows, moved or 0


def test_a_batch_given_and_submitted_through_a_session(database: Database) -> None:
    """The same plans the routes run, driven in a session: on SQLite one statement at a time,
    on PostgreSQL in two round trips each (both parametrizations)."""
    seeded = seed(database, plain=24)
    uid = _volunteer(database)
    given = _give(database, uid, 1)
    assert given.user.id == uid
    assert len(set(given.batch.ids)) == 16 and given.batch.gold == 4
    assert _counts(database) == (0, 1, 0)  # the batch row, committed
    score = _submit(database, uid, given, _answers(given.batch, seeded.gold_pos, seeded.gold_neg))
    assert score.accepted and score.batch == 12 and score.user == 12 and score.raw == 12
    assert _counts(database) == (16, 1, 12)  # every answer kept; the 12 to label moved
    with database.read() as s:
        user = s.get(User, uid)
        assert user is not None and (user.pages_submitted, user.pages_accepted) == (1, 1)


def test_a_failing_plan_leaves_nothing_behind(database: Database) -> None:
    """A submission naming a clip that does not exist is refused after the first round trip
    (which locked rows): nothing is written, and the batch can still be submitted."""
    seeded = seed(database, plain=24)
    uid = _volunteer(database)
    given = _give(database, uid, 2)
    answers = _answers(given.batch, seeded.gold_pos, seeded.gold_neg)
    bad = [(999_999, 1), *answers[1:]]
    with pytest.raises(batches.BatchError) as refused:
        _submit(database, uid, given, bad)
    assert refused.value.status == 400 and "999999" in refused.value.message
    assert _counts(database) == (0, 1, 0)
    assert _submit(database, uid, given, answers).accepted


def test_statements_run_together_in_order_and_commit(database: Database) -> None:
    """Rows come back per statement, in order, as named tuples; with ``commit`` the writes are
    visible to another connection at once (PostgreSQL commits in the same round trip)."""
    seed(database, plain=3)
    uid = _volunteer(database)
    from smokewatch.labeling.users import CALLER_STATEMENT

    row = {
        "jti": "a" * 32,
        "user_id": uid,
        "connection_id": None,
        "request_time": 1,
        "video_ids": [1001, 1002, 1003],  # a JSON column: SQLAlchemy's type processing
        "num_gold_standard": 0,
        "num_unlabeled": 3,
        "client_type": 3,
        "gold_ids": [],
    }
    step = (NEW_BATCH, row)
    with database.write() as s:
        caller, inserted, again = run_together(
            s,
            [(CALLER_STATEMENT, {"p_uid": uid}), step, (CALLER_STATEMENT, {"p_uid": -5})],
            commit=True,
        )
        assert caller[0].id == uid and caller[0].client_type == 3
        assert isinstance(inserted[0].id, int) and again == []
        if not database.is_sqlite:  # committed already: another connection sees the row
            with database.engine.connect() as other:
                assert other.scalar(select(func.count()).select_from(Batch)) == 1
    assert _counts(database)[1] == 1


def test_drive_returns_what_the_plan_returns(database: Database) -> None:
    def plan() -> Any:
        first = yield Together([(select(func.count()).select_from(Video), {})])
        second = yield Together([(select(func.count()).select_from(User), {})])
        return first[0][0][0], second[0][0][0]

    seed(database, plain=5)
    with database.write() as s:
        assert drive(s, plan()) == (13, 0)  # 4 + 4 gold standards and 5 clips; no users


def _terminate_others(pg_url: str, only: int | None = None) -> int:
    """Close every other connection to the test database (or only backend ``only``), as a
    server restart would, and wait until those backends have exited (termination is
    asynchronous)."""
    name = pg_url.rsplit("/", 1)[1]
    others = "FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
    args: tuple[Any, ...] = (name,)
    if only is not None:
        others, args = others + " AND pid = %s", (name, only)
    with psycopg.connect(pg_url.replace("+psycopg", ""), autocommit=True) as admin:
        rows = admin.execute(f"SELECT pg_terminate_backend(pid) {others}", args).fetchall()
        deadline = time.monotonic() + 10
        while admin.execute(f"SELECT count(*) {others}", args).fetchone() != (0,):
            assert time.monotonic() < deadline, "terminated backends did not exit"
            time.sleep(0.01)
    return len(rows)


def test_the_pool_replaces_connections_the_server_closed(pg_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Requests after the server closed every pooled connection still work, without a
    'SELECT 1' before each request (the checkout looks at the socket instead)."""
    from service_helpers import make_settings

    from smokewatch.labeling.db import open_database

    db = open_database(make_settings(tmp_path, pg_url))
    seed(db, plain=2)
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(Video)) == 10
    assert _terminate_others(pg_url) >= 1
    for _ in range(3):  # every pooled connection is checked, not only the first
        with db.read() as s:
            assert s.scalar(select(func.count()).select_from(Video)) == 10
    db.dispose()


def test_plans_on_the_event_loop(pg_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The hot routes' driver: a batch given and submitted on the loop, a failing plan rolled
    back, and connections the server closed replaced by the pool."""
    from service_helpers import make_settings

    from smokewatch.labeling.db import open_database

    db = open_database(make_settings(tmp_path, pg_url))
    seeded = seed(db, plain=24)
    uid = _volunteer(db)

    async def scenario() -> None:
        hot = AsyncPostgres(pg_url, db.engine.dialect, max_size=2)
        await hot.open()
        try:
            policy, rng = batches.BatchPolicy(), random.Random(3)
            given = await hot.drive(
                lambda: batches.give_batch_plan(
                    uid, policy, rng, connection_id=None, hold_seconds=3600, postgres=True
                )
            )
            assert given is not None and len(given.batch.ids) == 16
            answers = _answers(given.batch, seeded.gold_pos, seeded.gold_neg)
            bad = [(answers[0][0], 7), *answers[1:]]  # not a volunteer's label

            def submit(answered: list[Any]) -> Any:
                return batches.submit_batch_plan(
                    uid,
                    batch_id=given.batch_id,
                    jti=given.jti,
                    token_video_ids=given.batch.ids,
                    answers=answered,
                    postgres=True,
                )

            with pytest.raises(batches.BatchError):
                await hot.drive(lambda: submit(bad))
            assert _counts(db) == (0, 1, 0)
            assert _terminate_others(pg_url) >= 1
            score = await hot.drive(lambda: submit(answers))
            assert score.accepted and score.user == 12
            assert _counts(db) == (16, 1, 12)
        finally:
            await hot.close()

    asyncio.run(scenario())
    db.dispose()


def test_a_request_that_waits_too_long_for_a_connection_is_a_503(pg_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """With every pooled connection in use, another request waits up to its limit, then gets
    503 with a message (not a 500); once a connection is free, requests go through again."""
    from service_helpers import make_settings

    from smokewatch.labeling.db import open_database
    from smokewatch.labeling.db_async import Busy

    db = open_database(make_settings(tmp_path, pg_url))
    seed(db, plain=2)

    def counting() -> Any:
        rows = yield Together([(select(func.count()).select_from(Video), {})])
        return rows[0][0][0]

    async def scenario() -> None:
        hot = AsyncPostgres(pg_url, db.engine.dialect, max_size=1, wait=0.3)
        await hot.open()
        try:
            held = await hot._pool.getconn()  # noqa: SLF001 (the pool's only connection, in use)
            with pytest.raises(Busy) as busy:
                await hot.drive(counting)
            assert busy.value.status == 503 and "busy" in busy.value.message
            await hot._pool.putconn(held)  # noqa: SLF001
            assert await hot.drive(counting) == 10
        finally:
            await hot.close()

    asyncio.run(scenario())
    db.dispose()


def test_a_plan_whose_connection_died_unseen_runs_again_on_another(
    pg_url: str, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """A restart can close a pooled connection after the pool's check looked at it: the
    plan's first statement then fails before anything was done, and the plan runs again, on
    a new connection. (The check is switched off here, to make that moment certain.)"""
    from service_helpers import make_settings

    from smokewatch.labeling import db_async
    from smokewatch.labeling.db import open_database

    db = open_database(make_settings(tmp_path, pg_url))
    seed(db, plain=2)
    runs = []

    def counting() -> Any:
        runs.append(1)
        rows = yield Together([(select(func.count()).select_from(Video), {})])
        return rows[0][0][0]

    async def scenario() -> None:
        hot = AsyncPostgres(pg_url, db.engine.dialect, max_size=1)
        await hot.open()
        try:
            assert await hot.drive(counting) == 10
            monkeypatch.setattr(db_async, "server_has_closed", lambda conn: False)
            assert _terminate_others(pg_url) >= 1
            assert await hot.drive(counting) == 10
            assert len(runs) == 3  # the second plan ran twice
        finally:
            await hot.close()

    asyncio.run(scenario())
    db.dispose()


def test_the_closed_connection_check_works_past_descriptor_1024(pg_url: str) -> None:
    """A busy worker's sockets have high numbers; ``select`` cannot take those (it raised,
    and every connection then looked closed), ``poll`` can."""
    import os
    import resource

    from smokewatch.labeling.db_async import server_has_closed

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(2048, hard), hard))
    fillers = []
    try:
        while not fillers or fillers[-1] < 1030:
            fillers.append(os.open(os.devnull, os.O_RDONLY))
        with psycopg.connect(pg_url.replace("+psycopg", "")) as conn:
            assert conn.pgconn.socket >= 1024
            assert not server_has_closed(conn)
            conn.execute("SELECT 1")
            conn.rollback()
            assert _terminate_others(pg_url) >= 1
            assert server_has_closed(conn)
    finally:
        for fd in fillers:
            os.close(fd)


def test_statements_with_values_filled_at_execution_are_refused() -> None:
    """``run_together`` sends compiled SQL past SQLAlchemy's execution, which is where
    Python-side column defaults and IN lists are filled in: such statements are refused
    rather than run with NULLs."""
    from sqlalchemy import bindparam, insert
    from sqlalchemy.dialects.postgresql import psycopg as pg

    from smokewatch.labeling.db import compiled_for

    dialect = pg.dialect()
    with pytest.raises(ValueError, match="column defaults"):
        compiled_for(insert(User).values(client_id=bindparam("c"), register_time=1), dialect)
    with pytest.raises(ValueError, match="expanding"):
        compiled_for(
            select(Video.id).where(Video.id.in_(bindparam("ids", expanding=True))), dialect
        )
    sql, prepare = compiled_for(select(Video.id).where(Video.id == bindparam("a")), dialect)
    assert "$1" in sql and prepare({"a": 5}) == [5]


def _users_named(db: Database, client_id: str) -> int:
    with db.read() as s:
        return s.scalar(select(func.count()).where(User.client_id == client_id)) or 0


def test_a_connection_lost_during_commit_is_a_503_and_sending_again_works(
    pg_url: str, tmp_path: Path
) -> None:
    """The server ends the connection just as the request's COMMIT goes out (a request
    thread's transaction): the answer is a 503 asking to send again, not a bare 500."""
    db = open_database(make_settings(tmp_path, pg_url))

    def drop_at_commit(conn: Any) -> None:
        _terminate_others(pg_url, only=conn.connection.dbapi_connection.info.backend_pid)

    app = create_app(make_settings(tmp_path, pg_url), database=db)
    with TestClient(app, raise_server_exceptions=False) as client:
        event.listen(db.engine, "commit", drop_at_commit)
        try:
            lost = client.post("/api/v1/login", json={"client_id": "uuid.lost"})
        finally:
            event.remove(db.engine, "commit", drop_at_commit)
        assert lost.status_code == 503, lost.text
        assert "send the request again" in lost.json()["message"]
        assert _users_named(db, "uuid.lost") == 0  # the COMMIT never arrived
        assert client.post("/api/v1/login", json={"client_id": "uuid.lost"}).status_code == 200
        assert _users_named(db, "uuid.lost") == 1
    db.dispose()


def test_a_page_whose_commit_lost_its_connection_is_a_503_then_accepted_once(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hot routes (on the event loop): the connection dies as ``send_batch`` sends its
    writes and COMMIT; the page answers 503, sending it again is accepted, a third time 409."""
    settings = make_settings(tmp_path, pg_url)
    db = open_database(settings)
    seeded = seed(db, plain=24)
    armed = []
    together = AsyncPostgres._together  # noqa: SLF001

    async def dropping(self: AsyncPostgres, conn: Any, steps: Any, commit: bool) -> Any:
        if commit and armed:
            armed.clear()
            _terminate_others(pg_url, only=conn.info.backend_pid)
        return await together(self, conn, steps, commit)

    monkeypatch.setattr(AsyncPostgres, "_together", dropping)
    with TestClient(create_app(settings, database=db), raise_server_exceptions=False) as client:
        token = login(client, "uuid.page")
        page = client.post("/api/v1/get_batch", json={"user_token": token}).json()
        body = {
            "user_token": token,
            "video_token": page["video_token"],
            "data": answer_page(page, seeded),
        }
        armed.append(True)
        lost = client.post("/api/v1/send_batch", json=body)
        assert lost.status_code == 503, lost.text
        assert "send the request again" in lost.json()["message"]
        assert _counts(db)[0] == 0
        again = client.post("/api/v1/send_batch", json=body)
        assert again.status_code == 200, again.text
        assert again.json()["data"]["score"]["batch"] == 12
        assert client.post("/api/v1/send_batch", json=body).status_code == 409
    db.dispose()


def test_a_sqlite_database_locked_too_long_is_a_503(tmp_path: Path) -> None:
    """SQLite's equivalent: a writer that waited its whole busy timeout for another's lock
    gets 503 and sends again (the timeout is 0 here instead of 30 s)."""
    path = tmp_path / "labels.db"
    settings = make_settings(tmp_path, f"sqlite:///{path}")
    db = open_database(settings)

    @event.listens_for(db.engine, "connect")
    def _impatient(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA busy_timeout=0")  # after the service's own setup

    db.engine.dispose()  # every connection from now on is a new, impatient one
    blocker = sqlite3.connect(path, isolation_level=None)
    with TestClient(create_app(settings, database=db), raise_server_exceptions=False) as client:
        blocker.execute("BEGIN IMMEDIATE")
        locked = client.post("/api/v1/login", json={"client_id": "uuid.locked"})
        blocker.execute("ROLLBACK")
        assert locked.status_code == 503, locked.text
        assert "send the request again" in locked.json()["message"]
        assert client.post("/api/v1/login", json={"client_id": "uuid.locked"}).status_code == 200
    blocker.close()
    db.dispose()


def test_a_pool_that_cannot_connect_answers_503_at_once(pg_url: str, tmp_path: Path) -> None:
    """A database that is down (here: gone) is not a busy pool: waiting 30 s for a connection
    that cannot be made helps nobody, so the hot routes answer at once with the other routes'
    503 (the connection was lost; send again), not ``Busy`` after the wait."""
    from smokewatch.labeling.db import DatabaseUnavailable

    db = open_database(make_settings(tmp_path, pg_url))
    seed(db, plain=2)
    dialect = db.engine.dialect
    db.dispose()

    def counting() -> Any:
        rows = yield Together([(select(func.count()).select_from(Video), {})])
        return rows[0][0][0]

    async def scenario() -> None:
        hot = AsyncPostgres(pg_url, dialect, max_size=2, wait=30)
        await hot.open()
        try:
            assert await hot.drive(counting) == 10
            base, name = pg_url.replace("+psycopg", "").rsplit("/", 1)
            with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
                admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            started = time.monotonic()
            with pytest.raises(DatabaseUnavailable) as lost:
                await hot.drive(counting)
            assert time.monotonic() - started < 5
            assert lost.value.status == 503 and "send the request again" in lost.value.message
        finally:
            await hot.close()

    asyncio.run(scenario())
