"""cameras: the cameras that upload photos for continuous mode, with hashed API keys

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 17:40:00

One new table and nothing changed in the old ones: a camera's API key is kept only as its
SHA-256 digest (docs/watch.md).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "camera",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("create_time", sa.Integer(), nullable=False),
        sa.Column("key_time", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_camera")),
        sa.UniqueConstraint("name", name=op.f("uq_camera_name")),
    )


def downgrade() -> None:
    op.drop_table("camera")
