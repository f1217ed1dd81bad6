"""Answers into the database: clips locked, states moved, the label history appended.

Every state comes from ``core.labels``, the only label-state machine in the project. The writes
are steps (``db.Step``) that a plan runs together with its others; ``set_researcher_states``
runs them in a session for the researchers' direct edits.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from smokewatch.core.labels import researcher_state
from smokewatch.labeling.batches.statements import (
    ADD_LABELS,
    LOCK_VIDEOS,
    PG_ADD_LABELS,
    PG_SET_STATES,
    SET_STATE,
)
from smokewatch.labeling.db import Step, run_together
from smokewatch.labeling.errors import ServiceError
from smokewatch.labeling.tables import Role
from smokewatch.labeling.users import Caller

__all__ = [
    "BatchError",
    "is_postgres",
    "refuse_repeats",
    "record_answers_step",
    "researcher_steps",
    "set_researcher_states",
    "set_states_step",
    "states_of",
]


class BatchError(ServiceError):
    """A batch request, or a batch's answers, that cannot be taken."""


def states_of(rows: Sequence[Any], wanted: Sequence[int]) -> dict[int, tuple[int, int]]:
    """(citizen, researcher) state of each video; a missing id is a 400 naming it."""
    states = {int(r[0]): (int(r[1]), int(r[2])) for r in rows}
    missing = [vid for vid in wanted if vid not in states]
    if missing:
        raise BatchError(f"no such video: {', '.join(map(str, missing[:10]))}", 400)
    return states


def is_postgres(session: Session) -> bool:
    return session.connection().dialect.name == "postgresql"


def _lock_videos(session: Session, ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """Lock the videos and read their (citizen, researcher) states, in id order.

    Id order means two overlapping batches cannot deadlock. ``FOR UPDATE`` on PostgreSQL;
    SQLite ignores it, its ``BEGIN IMMEDIATE`` already holds the single write lock. A missing
    id is a 400 naming it.
    """
    wanted = sorted(set(ids))
    rows = session.connection().execute(LOCK_VIDEOS[is_postgres(session)], {"p_ids": wanted})
    return states_of(rows.all(), wanted)


def set_researcher_states(
    session: Session, user: Caller, answers: Sequence[tuple[int, int]]
) -> None:
    """Move the researcher state of each clip (never the citizens'), and record the answers."""
    steps = researcher_steps(user, answers, None, int(time.time()), is_postgres(session))
    _lock_videos(session, [vid for vid, _ in answers])
    run_together(session, steps)


def refuse_repeats(answers: Sequence[tuple[int, int]]) -> None:
    """One answer per clip in one request (a page, a researcher's edit): two, perhaps
    contradictory, would leave the state to the last and the history holding both (400)."""
    if len({vid for vid, _ in answers}) != len(answers):
        raise BatchError("A clip is answered twice", 400)


def researcher_steps(
    user: Caller,
    answers: Sequence[tuple[int, int]],
    batch_id: int | None,
    now: int,
    postgres: bool,
) -> list[Step]:
    """The writes of researchers' answers: their state (never the citizens'), and history.
    One answer per clip: two (perhaps contradictory) would leave the state to the last and
    the history holding both, so they are refused (400), as ``send_batch`` refuses them."""
    refuse_repeats(answers)
    states = {}
    for vid, label in answers:
        try:
            states[vid] = int(researcher_state(label))
        except ValueError as exc:
            raise BatchError(f"video {vid}: {exc}", 400) from None
    return [
        set_states_step(postgres, "label_state_admin", states, now),
        record_answers_step(postgres, answers, user.id, Role.RESEARCHER, batch_id, now),
    ]


def set_states_step(postgres: bool, column: str, states: dict[int, int], now: int) -> Step:
    """New states (``column``: ``label_state`` or ``label_state_admin``) in one statement on
    PostgreSQL (an UPDATE over ``unnest`` of two arrays); elsewhere an executemany, which is
    as cheap in-process."""
    if postgres:
        ids, values = list(states), list(states.values())
        return (PG_SET_STATES[column], {"p_ids": ids, "p_states": values, "p_now": now})
    return (
        SET_STATE[column],
        [{"p_vid": vid, "p_state": state, "p_now": now} for vid, state in states.items()],
    )


def record_answers_step(
    postgres: bool,
    answers: Sequence[tuple[int, int]],
    user_id: int,
    client_type: int,
    batch_id: int | None,
    now: int,
) -> Step:
    """Append the answers to the label history (``client_type``: the role they were given
    in, which says the state they moved): one INSERT over ``unnest`` on PostgreSQL, an
    executemany elsewhere."""
    common = {"time": now, "user_id": user_id, "batch_id": batch_id, "client_type": client_type}
    if postgres:
        ids, labels = [vid for vid, _ in answers], [int(label) for _, label in answers]
        return (PG_ADD_LABELS, {"p_ids": ids, "p_labels": labels, **common})
    rows = [{"video_id": vid, "label": int(label), **common} for vid, label in answers]
    return (ADD_LABELS, rows)
