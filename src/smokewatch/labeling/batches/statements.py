"""The batch routes' SQL, built once.

Core statements on the tables (not the ORM classes) with named parameters: building a
statement costs more CPU than running it, and these run on every batch. Where PostgreSQL has a
cheaper form (one statement over ``unnest`` of arrays instead of an executemany, an array
instead of an expanding IN list) the statement comes in both, keyed by "is it PostgreSQL".
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import (
    Boolean,
    Integer,
    Table,
    and_,
    any_,
    bindparam,
    insert,
    literal_column,
    select,
    text,
)
from sqlalchemy import update as sql_update
from sqlalchemy.dialects import postgresql

from smokewatch.labeling.tables import Batch, Label, Role, User, Video

BATCH, USER, LABEL, VIDEO = (cast(Table, t.__table__) for t in (Batch, User, Label, Video))

NEW_BATCH = (
    insert(BATCH)
    .values(
        {
            c: bindparam(c)
            for c in (
                "jti",
                "user_id",
                "connection_id",
                "request_time",
                "video_ids",
                "num_gold_standard",
                "num_unlabeled",
                "client_type",
                "gold_ids",
            )
        }
    )
    .returning(BATCH.c.id)
)
#: The clips of the user's open volunteer batches that can still be sent (their token is
#: younger than ``p_since``): the clips a new batch must not hold. Read through the partial
#: index of open batches (``ix_batch_open_user``), so it costs a few rows however many batches
#: the user has sent; a researcher's batch holds nothing (see ``draw.batch_parts``).
OPEN_BATCH_CLIPS = select(BATCH.c.video_ids).where(
    BATCH.c.user_id == bindparam("p_uid"),
    BATCH.c.return_time.is_(None),
    BATCH.c.request_time > bindparam("p_since"),
    BATCH.c.client_type != literal_column(str(Role.RESEARCHER)),
)

#: The batch row, locked: is it this user's, unclaimed, what kind, which gold standards.
LOCK_BATCH = (
    select(
        BATCH.c.jti,
        BATCH.c.user_id,
        BATCH.c.return_time,
        BATCH.c.num_gold_standard,
        BATCH.c.num_unlabeled,
        BATCH.c.client_type,
        BATCH.c.gold_ids,
    )
    .where(BATCH.c.id == bindparam("p_bid"))
    .with_for_update()
)
_UNCLAIMED = and_(
    BATCH.c.id == bindparam("p_bid"),
    BATCH.c.jti == bindparam("p_jti"),
    BATCH.c.user_id == bindparam("p_uid"),
    BATCH.c.return_time.is_(None),
)
CLAIM_REVIEW = (
    sql_update(BATCH)
    .where(_UNCLAIMED)
    .values(return_time=bindparam("p_now"), accepted=True)
    .returning(BATCH.c.id)
)
CLAIM = (
    sql_update(BATCH)
    .where(_UNCLAIMED)
    .values(
        return_time=bindparam("p_now"),
        accepted=bindparam("p_acc", type_=Boolean),
        score=bindparam("p_score", type_=Integer),
        user_score=select(USER.c.score).where(USER.c.id == bindparam("p_uid")).scalar_subquery(),
        user_raw_score=select(USER.c.raw_score)
        .where(USER.c.id == bindparam("p_uid"))
        .scalar_subquery(),
    )
    .returning(BATCH.c.id)
)
_VIDEO_STATES = (VIDEO.c.id, VIDEO.c.label_state, VIDEO.c.label_state_admin)
#: The videos' states, locked in id order. On PostgreSQL a list of ids is an array (one
#: statement text whatever the count, so it is prepared once).
LOCK_VIDEOS: dict[bool, Any] = {
    True: select(*_VIDEO_STATES)
    .where(VIDEO.c.id == any_(bindparam("p_ids", type_=postgresql.ARRAY(Integer))))
    .order_by(VIDEO.c.id)
    .with_for_update(),
    False: select(*_VIDEO_STATES)
    .where(VIDEO.c.id.in_(bindparam("p_ids", expanding=True)))
    .order_by(VIDEO.c.id)
    .with_for_update(),
}
#: Which of these clips the user has answered before (one vote per user and clip).
VOTED: dict[bool, Any] = {
    True: select(LABEL.c.video_id)
    .where(
        LABEL.c.user_id == bindparam("p_uid"),
        LABEL.c.video_id == any_(bindparam("p_ids", type_=postgresql.ARRAY(Integer))),
    )
    .distinct(),
    False: select(LABEL.c.video_id)
    .where(
        LABEL.c.user_id == bindparam("p_uid"),
        LABEL.c.video_id.in_(bindparam("p_ids", expanding=True)),
    )
    .distinct(),
}
SET_STATE = {
    column: sql_update(VIDEO)
    .where(VIDEO.c.id == bindparam("p_vid"))
    .values({column: bindparam("p_state"), "label_update_time": bindparam("p_now")})
    for column in ("label_state", "label_state_admin")
}
PG_SET_STATES = {
    column: text(
        f"UPDATE video SET {column} = new.state, label_update_time = :p_now "
        "FROM unnest(CAST(:p_ids AS integer[]), CAST(:p_states AS integer[])) AS new(id, state) "
        "WHERE video.id = new.id"
    )
    for column in ("label_state", "label_state_admin")
}
ADD_LABELS = insert(LABEL)
PG_ADD_LABELS = text(
    "INSERT INTO label (video_id, label, time, user_id, batch_id, client_type) "
    "SELECT a.video_id, a.label, :time, :user_id, :batch_id, :client_type "
    "FROM unnest(CAST(:p_ids AS integer[]), CAST(:p_labels AS integer[])) AS a(video_id, label)"
)
SCORE_USER = (
    sql_update(USER)
    .where(USER.c.id == bindparam("p_uid"))
    .values(
        score=USER.c.score + bindparam("p_score", type_=Integer),
        raw_score=USER.c.raw_score + bindparam("p_raw", type_=Integer),
        pages_submitted=USER.c.pages_submitted + 1,
        pages_accepted=USER.c.pages_accepted + bindparam("p_acc", type_=Integer),
    )
    .returning(USER.c.score, USER.c.raw_score)
)
