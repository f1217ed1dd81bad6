"""Schema migrations on a database that already holds data (SQLite and PostgreSQL)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, insert, select, text

from smokewatch.labeling.db import _MIGRATIONS, migrate
from smokewatch.labeling.tables import Batch, Role


def _upgrade(engine: object, revision: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    with engine.begin() as connection:  # type: ignore[attr-defined]
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)


def test_batches_made_before_their_kind_was_recorded_get_one(db_url: str) -> None:
    """0002 records each batch's kind: one without gold standards was a researcher's (a
    volunteer's has at least two); a volunteer's takes its owner's volunteer role."""
    engine = create_engine(db_url)
    _upgrade(engine, "0001")
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
