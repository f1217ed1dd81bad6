"""The ways a batch's statements reach the database: plans driven in a session (SQLite and
PostgreSQL), on the event loop (PostgreSQL), statements run together, and pooled
connections that the server closed."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import psycopg
import pytest
from service_helpers import seed
from sqlalchemy import func, select

from smokewatch.labeling import batches
from smokewatch.labeling.batches.statements import NEW_BATCH
from smokewatch.labeling.db import Database, Together, drive, run_together
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
    assert _counts(database) == (16, 1, 16)  # every answered clip moved, gold ones too
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


def _terminate_others(pg_url: str) -> int:
    """Close every other connection to the test database, as a server restart would, and
    wait until those backends have exited (termination is asynchronous)."""
    name = pg_url.rsplit("/", 1)[1]
    others = "FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
    with psycopg.connect(pg_url.replace("+psycopg", ""), autocommit=True) as admin:
        rows = admin.execute(f"SELECT pg_terminate_backend(pid) {others}", (name,)).fetchall()
        deadline = time.monotonic() + 10
        while admin.execute(f"SELECT count(*) {others}", (name,)).fetchone() != (0,):
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
            assert _counts(db) == (16, 1, 16)
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
