"""batch kind (client_type) and an index of open batches by user

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
    # partial: the open batches only (a draw reads a user's to keep their clips off the new
    # batch; the user's sent batches, however many, are not read)
    op.create_index(
        "ix_batch_open_user",
        "batch",
        ["user_id"],
        unique=False,
        postgresql_where=sa.text("return_time IS NULL"),
        sqlite_where=sa.text("return_time IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_batch_open_user", table_name="batch")
    # a plain ALTER TABLE, never batch mode's rebuild: on SQLite that drops the old table,
    # which the label table's foreign key to batch refuses once a label exists (and foreign
    # keys cannot be turned off here: the migrations run inside one transaction)
    if op.get_bind().dialect.name == "sqlite" and sqlite3.sqlite_version_info < (3, 35):
        raise RuntimeError(
            f"downgrading below 0002 needs SQLite 3.35 or newer for ALTER TABLE DROP COLUMN; "
            f"this Python has SQLite {sqlite3.sqlite_version}"
        )
    op.drop_column("batch", "client_type")
