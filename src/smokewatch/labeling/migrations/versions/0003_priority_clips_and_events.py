"""priority clips (drawn first) and the events of detection runs

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-08 10:00:00

``video.priority`` (0 for every clip there is) and a partial index of the priority clips that
still wait for volunteers; ``event`` and ``event_clip`` for the events that
``clips import --from-detections`` brings in. The index's condition is written out here as it
was at this revision (``tables.PRIORITY_WAITING`` may only change with a new revision).
"""

from __future__ import annotations

import sqlite3

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_WAITING = (
    "priority > 0 AND +label_state IN (-1, 3, 4, 5)"
    " AND label_state_admin NOT IN (-2, 12, 15, 16, 19, 20, 23, 32, 47)"
)


def upgrade() -> None:
    # an added column, never batch mode's table rebuild (label and view point at video)
    op.add_column("video", sa.Column("priority", sa.Integer(), nullable=False, server_default="0"))
    op.create_index(
        "ix_video_priority",
        "video",
        ["priority", "sort_key"],
        unique=False,
        postgresql_where=sa.text(_WAITING),
        sqlite_where=sa.text(_WAITING),
    )
    op.create_table(
        "event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("detection_id", sa.String(length=255), nullable=False),
        sa.Column("camera_id", sa.Integer(), nullable=False),
        sa.Column("view_id", sa.Integer(), nullable=False),
        sa.Column("start_time", sa.Float(), nullable=False),
        sa.Column("end_time", sa.Float(), nullable=False),
        sa.Column("start_frame", sa.Integer(), nullable=False),
        sa.Column("end_frame", sa.Integer(), nullable=False),
        sa.Column("max_probability", sa.Float(), nullable=False),
        sa.Column("evidence_clip", sa.String(length=255), nullable=True),
        sa.Column("evidence_gif", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False, server_default="open"),
        sa.Column("reviewer_id", sa.Integer(), nullable=True),
        sa.Column("review_time", sa.Integer(), nullable=True),
        sa.Column("import_time", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["reviewer_id"], ["user.id"], name=op.f("fk_event_reviewer_id_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event")),
    )
    op.create_index(
        "ix_event_identity",
        "event",
        ["camera_id", "view_id", "start_time", "detection_id"],
        unique=True,
    )
    op.create_index("ix_event_start_time", "event", ["start_time"], unique=False)
    op.create_table(
        "event_clip",
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("video_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"], ["event.id"], name=op.f("fk_event_clip_event_id_event")
        ),
        sa.ForeignKeyConstraint(
            ["video_id"], ["video.id"], name=op.f("fk_event_clip_video_id_video")
        ),
        sa.PrimaryKeyConstraint("event_id", "video_id", name=op.f("pk_event_clip")),
    )


def downgrade() -> None:
    op.drop_table("event_clip")
    op.drop_index("ix_event_start_time", table_name="event")
    op.drop_index("ix_event_identity", table_name="event")
    op.drop_table("event")
    op.drop_index("ix_video_priority", table_name="video")
    # a plain ALTER TABLE, as 0002's downgrade: batch mode would rebuild video, which the
    # label table's foreign key refuses once a label exists
    if op.get_bind().dialect.name == "sqlite" and sqlite3.sqlite_version_info < (3, 35):
        raise RuntimeError(
            f"downgrading below 0003 needs SQLite 3.35 or newer for ALTER TABLE DROP COLUMN; "
            f"this Python has SQLite {sqlite3.sqlite_version}"
        )
    op.drop_column("video", "priority")
