"""Schema migrations on a database that already holds data (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Engine, create_engine, func, insert, inspect, select, text

from smokewatch.labeling.db import _MIGRATIONS, make_engine, migrate
from smokewatch.labeling.tables import (
    Base,
    Batch,
    Connection,
    Event,
    EventClip,
    Label,
    Role,
    User,
    Video,
)


def _migrate(engine: Engine, step: Callable[[Config, str], None], revision: str) -> None:
    """``step`` (``command.upgrade`` or ``downgrade``) to ``revision`` as the service runs
    migrations: on its connection, in one transaction."""
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        step(cfg, revision)


def test_batches_made_before_their_kind_was_recorded_get_one(db_url: str) -> None:
    """0002 records each batch's kind: one without gold standards was a researcher's (a
    volunteer's has at least two); a volunteer's takes its owner's volunteer role."""
    engine = create_engine(db_url)
    _migrate(engine, command.upgrade, "0001")
    users = [(1, "uuid.vol", Role.AMATEUR), (2, "account:rita", Role.RESEARCHER)]
    with engine.begin() as c:
        for uid, client_id, role in users:
            c.execute(
                text(
                    'INSERT INTO "user" (id, client_id, client_type, register_time, score, '
                    "raw_score, pages_submitted, pages_accepted, best_tutorial_action) "
                    "VALUES (:id, :cid, :role, 0, 0, 0, 0, 0, -1)"
                ),
                {"id": uid, "cid": client_id, "role": role},
            )
        for bid, uid, gold in [(1, 1, 4), (2, 2, 0), (3, 2, 4)]:  # 3: given before promotion
            c.execute(
                text(
                    "INSERT INTO batch (id, jti, user_id, request_time, video_ids, "
                    "num_unlabeled, num_gold_standard) VALUES (:id, :jti, :uid, 0, '[]', 12, :g)"
                ),
                {"id": bid, "jti": f"j{bid}", "uid": uid, "g": gold},
            )
    migrate(engine)
    with engine.begin() as c:
        kinds = dict(c.execute(select(Batch.id, Batch.client_type)).all())
        assert kinds == {1: Role.AMATEUR, 2: Role.RESEARCHER, 3: Role.LAYPERSON}
        c.execute(
            insert(Batch).values(
                id=10, jti="new", user_id=1, request_time=0, video_ids=[], client_type=Role.EXPERT
            )
        )
        assert c.scalar(select(Batch.client_type).where(Batch.jti == "new")) == Role.EXPERT
    engine.dispose()


def _rows(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the tables that 0001 made, in key order."""
    tables = [Base.metadata.tables[n] for n in ("user", "video", "connection", "batch", "label")]
    with engine.connect() as c:
        return {t.name: [tuple(r) for r in c.execute(select(t).order_by(t.c.id))] for t in tables}


def _index_names(engine: Engine, table: str) -> dict[str, str]:
    """The table's indexes and, for a partial one, its condition (else "")."""
    with engine.connect() as c:
        out = {}
        for ix in inspect(c).get_indexes(table):
            options = ix.get("dialect_options", {})
            where = options.get("postgresql_where", options.get("sqlite_where", ""))
            out[str(ix["name"])] = str(where).strip("()").lower()
        return out


def test_a_database_with_labels_goes_down_to_0001_and_up_again_keeping_its_data(
    db_url: str,
) -> None:
    """0002's downgrade drops ``batch.client_type`` while labels point at batches: on SQLite
    (with the service's foreign keys on) rebuilding the table to drop a column failed there."""
    engine = make_engine(db_url)
    migrate(engine)
    video = {
        "camera_id": 0, "view_id": 0, "start_time": 0, "end_time": 1, "left": 0, "top": 0,
        "right": 180, "bottom": 180, "width": 180, "height": 180, "start_frame": 0,
        "sort_key": 0.5,
    }  # fmt: skip
    with engine.begin() as c:
        c.execute(
            insert(User),
            [
                {"id": 1, "client_id": "uuid.vol", "client_type": Role.AMATEUR, "register_time": 5},
                {"id": 2, "client_id": "account:rita", "client_type": Role.RESEARCHER,
                 "register_time": 6},
            ],
        )  # fmt: skip
        c.execute(insert(Video), [{"id": i, "file_name": f"c{i}.mp4", **video} for i in (1, 2)])
        c.execute(insert(Connection).values(id=1, time=7, client_type=Role.AMATEUR, user_id=1))
        c.execute(
            insert(Batch),
            [  # kinds as 0002 derives them, so the way up again gives them back
                {"id": 1, "jti": "j1", "user_id": 1, "connection_id": 1, "request_time": 8,
                 "return_time": 9, "video_ids": [1, 2], "num_gold_standard": 2,
                 "client_type": Role.AMATEUR, "score": 2, "accepted": True},
                {"id": 2, "jti": "j2", "user_id": 2, "connection_id": None, "request_time": 10,
                 "return_time": None, "video_ids": [2], "num_gold_standard": 0,
                 "client_type": Role.RESEARCHER, "score": None, "accepted": None},
            ],
        )  # fmt: skip
        c.execute(
            insert(Label),
            [
                {"id": 1, "video_id": 1, "label": 1, "time": 9, "user_id": 1, "batch_id": 1,
                 "client_type": Role.AMATEUR},
                {"id": 2, "video_id": 2, "label": 0, "time": 11, "user_id": 2, "batch_id": 2,
                 "client_type": Role.RESEARCHER},
            ],
        )  # fmt: skip
    before = _rows(engine)
    assert _index_names(engine, "batch")["ix_batch_open_user"] == "return_time is null"

    _migrate(engine, command.downgrade, "0001")
    assert "ix_batch_open_user" not in _index_names(engine, "batch")
    with engine.connect() as c:
        assert "client_type" not in {col["name"] for col in inspect(c).get_columns("batch")}
        assert c.scalar(text("SELECT count(*) FROM label")) == 2
    migrate(engine)

    assert _rows(engine) == before
    assert _index_names(engine, "batch")["ix_batch_open_user"] == "return_time is null"
    engine.dispose()


def test_the_migrated_schema_is_the_one_the_tables_describe(db_url: str) -> None:
    """Alembic finds nothing to change between ``upgrade head`` and the ORM (server defaults
    included): a difference means a database made by migrations is not the one the code and
    its tests assume."""
    engine = make_engine(db_url)
    migrate(engine)
    with engine.connect() as c:
        context = MigrationContext.configure(c, opts={"compare_server_default": True})
        assert compare_metadata(context, Base.metadata) == []
    engine.dispose()


def test_priority_clips_and_events_go_down_to_0002_and_up_again(db_url: str) -> None:
    """0003 adds ``video.priority`` (0 for the clips already there), its partial index and the
    event tables; its downgrade drops them while labels point at videos (a rebuilt video table
    would have failed on SQLite), keeping every other row."""
    engine = make_engine(db_url)
    _migrate(engine, command.upgrade, "0002")
    with engine.begin() as c:
        c.execute(
            text(
                'INSERT INTO "user" (id, client_id, client_type, register_time, score, '
                "raw_score, pages_submitted, pages_accepted, best_tutorial_action) "
                "VALUES (1, 'account.rita', 0, 0, 0, 0, 0, 0, -1)"
            )
        )
        for vid in (1, 2, 3):
            c.execute(
                text(
                    "INSERT INTO video (id, file_name, camera_id, view_id, start_time, end_time, "
                    '"left", top, "right", bottom, width, height, start_frame, label_state, '
                    "label_state_admin, sort_key) VALUES (:id, :name, 0, 0, 0, 1, 0, 0, 180, "
                    "180, 180, 180, 0, -1, -1, 0.5)"
                ),
                {"id": vid, "name": f"c{vid}.mp4"},
            )
        c.execute(
            text(
                "INSERT INTO label (id, video_id, label, time, user_id, client_type) "
                "VALUES (1, 1, 1, 9, 1, 0)"
            )
        )
    migrate(engine)
    before = _rows(engine)
    with engine.begin() as c:
        assert dict(c.execute(select(Video.id, Video.priority)).all()) == {1: 0, 2: 0, 3: 0}
        c.execute(text("UPDATE video SET priority = 4 WHERE id = 2"))
        c.execute(
            insert(Event).values(
                id=1, detection_id="<e1>", camera_id=0, view_id=0, start_time=0.5,
                end_time=175.5, start_frame=0, end_frame=35, max_probability=0.9,
                evidence_clip=None, evidence_gif=None, status="confirmed", reviewer_id=1,
                review_time=10, import_time=5,
            )
        )  # fmt: skip
        c.execute(insert(EventClip).values(event_id=1, video_id=2))
        assert c.scalar(select(Event.status).where(Event.id == 1)) == "confirmed"
    assert "ix_video_priority" in _index_names(engine, "video")

    _migrate(engine, command.downgrade, "0002")
    with engine.connect() as c:
        tables = set(inspect(c).get_table_names())
        assert "event" not in tables and "event_clip" not in tables
        assert "priority" not in {col["name"] for col in inspect(c).get_columns("video")}
    assert "ix_video_priority" not in _index_names(engine, "video")
    migrate(engine)

    assert _rows(engine) == before  # priorities start again at 0, every other value kept
    with engine.connect() as c:
        assert dict(c.execute(select(Video.id, Video.priority)).all()) == {1: 0, 2: 0, 3: 0}
        assert c.scalar(select(func.count()).select_from(Event)) == 0
    where = _index_names(engine, "video")["ix_video_priority"]
    assert where.startswith("priority > 0") and "label_state_admin" in where
    engine.dispose()


def test_batches_made_before_their_gold_was_recorded_keep_none_and_go_down_and_up(
    db_url: str,
) -> None:
    """0006 adds ``batch.gold_ids``: NULL for the batches already there (checked as before:
    see test_batches), a list for new ones; its downgrade drops it while labels point at
    batches (a rebuilt batch table would have failed on SQLite), keeping every other row."""
    engine = make_engine(db_url)
    _migrate(engine, command.upgrade, "0005")
    with engine.begin() as c:
        c.execute(
            text(
                'INSERT INTO "user" (id, client_id, client_type, register_time, score, '
                "raw_score, pages_submitted, pages_accepted, best_tutorial_action) "
                "VALUES (1, 'uuid.vol', 3, 0, 0, 0, 0, 0, -1)"
            )
        )
        c.execute(
            text(
                "INSERT INTO video (id, file_name, camera_id, view_id, start_time, end_time, "
                '"left", top, "right", bottom, width, height, start_frame, label_state, '
                "label_state_admin, sort_key) VALUES (1, 'c1.mp4', 0, 0, 0, 1, 0, 0, 180, "
                "180, 180, 180, 0, -1, 47, 0.5)"
            )
        )
        c.execute(
            text(
                "INSERT INTO batch (id, jti, user_id, request_time, video_ids, num_unlabeled, "
                "num_gold_standard, client_type) VALUES (1, 'j1', 1, 0, '[1]', 0, 1, 3)"
            )
        )
        c.execute(
            text(
                "INSERT INTO label (id, video_id, label, time, user_id, batch_id, client_type) "
                "VALUES (1, 1, 1, 9, 1, 1, 3)"
            )
        )
    migrate(engine)
    with engine.begin() as c:
        assert c.scalar(select(Batch.gold_ids).where(Batch.id == 1)) is None
        c.execute(
            insert(Batch).values(
                id=2, jti="j2", user_id=1, request_time=0, video_ids=[1], gold_ids=[1]
            )
        )
        assert c.scalar(select(Batch.gold_ids).where(Batch.id == 2)) == [1]
        c.execute(text("DELETE FROM batch WHERE id = 2"))
    before = _rows(engine)

    _migrate(engine, command.downgrade, "0005")
    with engine.connect() as c:
        assert "gold_ids" not in {col["name"] for col in inspect(c).get_columns("batch")}
        assert c.scalar(text("SELECT count(*) FROM label")) == 1
    migrate(engine)
    assert _rows(engine) == before
    engine.dispose()
