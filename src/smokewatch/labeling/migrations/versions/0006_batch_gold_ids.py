"""batch gold_ids: the clips a volunteer's batch was given with as gold standards

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 04:15:00

A batch's answers were checked on the clips of it that were gold when it was sent, so a
researcher making one of its other clips gold, or un-golding one of its gold standards,
changed whether it was accepted. New batches record their gold standards here (never in the
batch token, whose claims the client can read). Batches made before this revision get NULL:
which of their clips were gold when they were made was not recorded, and they are checked
as before.
"""

from __future__ import annotations

import sqlite3

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # an added column, never batch mode's table rebuild (label points at batch)
    op.add_column("batch", sa.Column("gold_ids", sa.JSON(), nullable=True))


def downgrade() -> None:
    # a plain ALTER TABLE, as 0002's downgrade: batch mode would rebuild batch, which the
    # label table's foreign key refuses once a label exists
    if op.get_bind().dialect.name == "sqlite" and sqlite3.sqlite_version_info < (3, 35):
        raise RuntimeError(
            f"downgrading below 0006 needs SQLite 3.35 or newer for ALTER TABLE DROP COLUMN; "
            f"this Python has SQLite {sqlite3.sqlite_version}"
        )
    op.drop_column("batch", "gold_ids")
