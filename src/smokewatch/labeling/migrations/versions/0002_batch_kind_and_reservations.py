"""batch kind (client_type) and reservations of open batches' clips

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 22:30:00

Batches made before this revision: one without gold standards was a researcher's (a
volunteer's always has at least two); a volunteer's is given its owner's role now when that
is a volunteer role, else layperson's (the role it was made for was not recorded).
"""

from __future__ import annotations

import sqlite3

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # an added column, not a rebuilt table (SQLite would rebuild to drop the default, which
    # the label table's foreign key to batch makes unsafe): the default stays
    with op.batch_alter_table("batch", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("client_type", sa.Integer(), nullable=False, server_default="3")
        )
    op.execute(
        "UPDATE batch SET client_type = CASE WHEN num_gold_standard = 0 THEN 0 ELSE COALESCE("
        '(SELECT u.client_type FROM "user" u WHERE u.id = batch.user_id'
        " AND u.client_type IN (1, 2, 3)), 3) END"
    )
    op.create_table(
        "reservation",
        sa.Column("batch_jti", sa.String(length=64), nullable=False),
        sa.Column("video_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("until", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("batch_jti", "video_id", name=op.f("pk_reservation")),
    )
    with op.batch_alter_table("reservation", schema=None) as batch_op:
        batch_op.create_index(
            "ix_reservation_user_video", ["user_id", "video_id", "until"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("reservation", schema=None) as batch_op:
        batch_op.drop_index("ix_reservation_user_video")
    op.drop_table("reservation")
    # a plain ALTER TABLE, never batch mode's rebuild: on SQLite that drops the old table,
    # which the label table's foreign key to batch refuses once a label exists (and foreign
    # keys cannot be turned off here: the migrations run inside one transaction)
    if op.get_bind().dialect.name == "sqlite" and sqlite3.sqlite_version_info < (3, 35):
        raise RuntimeError(
            f"downgrading below 0002 needs SQLite 3.35 or newer for ALTER TABLE DROP COLUMN; "
            f"this Python has SQLite {sqlite3.sqlite_version}"
        )
    op.drop_column("batch", "client_type")
