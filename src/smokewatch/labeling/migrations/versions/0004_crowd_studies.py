"""crowd studies: studies, their fixed tasks, workers' assignments and answers

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-20 10:00:00

Four new tables and nothing changed in the old ones: the crowd's answers are kept apart from
the citizens' label history (``label``), so a study never moves a clip's states unless it says
so (``crowd_study.moves_states``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "crowd_study",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("creator_id", sa.Integer(), nullable=True),
        sa.Column("create_time", sa.Integer(), nullable=False),
        sa.Column("assignments_wanted", sa.Integer(), nullable=False),
        sa.Column("reward_cents", sa.Integer(), nullable=False),
        sa.Column("min_tutorial_action", sa.Integer(), nullable=False),
        sa.Column("moves_states", sa.Boolean(), nullable=False),
        sa.Column("hold_seconds", sa.Integer(), nullable=False),
        sa.Column("is_open", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["creator_id"], ["user.id"], name=op.f("fk_crowd_study_creator_id_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crowd_study")),
    )
    op.create_table(
        "crowd_task",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("video_ids", sa.JSON(), nullable=False),
        sa.Column("gold_ids", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["study_id"], ["crowd_study.id"], name=op.f("fk_crowd_task_study_id_crowd_study")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crowd_task")),
        sa.UniqueConstraint("study_id", "number", name=op.f("uq_crowd_task_study_id_number")),
    )
    op.create_table(
        "crowd_assignment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("worker_ref", sa.String(length=255), nullable=False),
        sa.Column("assignment_ref", sa.String(length=255), nullable=False),
        sa.Column("hit_ref", sa.String(length=255), nullable=True),
        sa.Column("given_time", sa.Integer(), nullable=False),
        sa.Column("submit_time", sa.Integer(), nullable=True),
        sa.Column("gold_right", sa.Integer(), nullable=True),
        sa.Column("accepted", sa.Boolean(), nullable=True),
        sa.ForeignKeyConstraint(
            ["study_id"],
            ["crowd_study.id"],
            name=op.f("fk_crowd_assignment_study_id_crowd_study"),
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["crowd_task.id"], name=op.f("fk_crowd_assignment_task_id_crowd_task")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_crowd_assignment_user_id_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crowd_assignment")),
        sa.UniqueConstraint("task_id", "user_id", name=op.f("uq_crowd_assignment_task_id_user_id")),
        sa.UniqueConstraint(
            "study_id",
            "platform",
            "assignment_ref",
            name=op.f("uq_crowd_assignment_study_id_platform_assignment_ref"),
        ),
    )
    op.create_index("ix_crowd_assignment_study_user", "crowd_assignment", ["study_id", "user_id"])
    op.create_table(
        "crowd_answer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=False),
        sa.Column("video_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["assignment_id"],
            ["crowd_assignment.id"],
            name=op.f("fk_crowd_answer_assignment_id_crowd_assignment"),
        ),
        sa.ForeignKeyConstraint(
            ["video_id"], ["video.id"], name=op.f("fk_crowd_answer_video_id_video")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crowd_answer")),
    )
    op.create_index(
        op.f("ix_crowd_answer_assignment_id"), "crowd_answer", ["assignment_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_crowd_answer_assignment_id"), table_name="crowd_answer")
    op.drop_table("crowd_answer")
    op.drop_index("ix_crowd_assignment_study_user", table_name="crowd_assignment")
    op.drop_table("crowd_assignment")
    op.drop_table("crowd_task")
    op.drop_table("crowd_study")
