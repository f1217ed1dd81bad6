"""Giving a user a batch: check the user, draw (off their open batches), store the batch."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from smokewatch.labeling.batches.draw import (
    DrawnBatch,
    batch_parts,
    draw_batch_plan,
    draw_step,
    unheld_batch_plan,
)
from smokewatch.labeling.batches.policy import BatchPolicy
from smokewatch.labeling.batches.statements import NEW_BATCH, OPEN_BATCH_CLIPS
from smokewatch.labeling.db import Plan, Step, Together
from smokewatch.labeling.tables import Role
from smokewatch.labeling.users import CALLER_STATEMENT, Caller, volunteer_caller

__all__ = ["GivenBatch", "give_batch_plan", "new_batch_steps"]


@dataclass(frozen=True, slots=True)
class GivenBatch:
    """A batch drawn and stored for a user: what ``get_batch`` answers with."""

    user: Caller
    batch: DrawnBatch
    batch_id: int
    jti: str


def give_batch_plan(
    user_id: int,
    policy: BatchPolicy,
    rng: random.Random,
    *,
    connection_id: int | None,
    hold_seconds: int,
    postgres: bool,
) -> Plan[GivenBatch | None]:
    """Check the user, draw a batch and store it, then commit; None: not enough clips (204).

    Two round trips on PostgreSQL: the user's row, a volunteer's draw and the clips of the
    user's open batches (those whose token, ``hold_seconds`` long, can still be sent)
    together; then the batch row and the commit together. Between them, a researcher (rarer)
    is drawn again with their own batch shape, and a volunteer whose draw met a clip of their
    open batches (only one who asked for several batches before sending) is drawn again
    without those clips. Nothing is written but the batch row: the open batches are the
    holds. A plan (see ``db.drive``): it yields its statements and gets their rows.
    """
    now = int(time.time())
    parts = batch_parts(policy, researcher=False)
    caller_rows, drawn_rows, open_rows = yield Together(
        [
            (CALLER_STATEMENT, {"p_uid": user_id}),
            draw_step(parts, user_id, rng),
            (OPEN_BATCH_CLIPS, {"p_uid": user_id, "p_since": now - hold_seconds}),
        ]
    )
    user = volunteer_caller(caller_rows)
    if user.client_type == Role.RESEARCHER:
        batch = yield from draw_batch_plan(user, policy, rng)
    else:
        held = _held(open_rows)
        batch = yield from unheld_batch_plan(
            user, parts, drawn_rows, held, policy, rng, postgres=postgres
        )
    if batch is None:
        return None
    steps, jti = new_batch_steps(user, batch, connection_id, now=now)
    results = yield Together(steps, commit=True)
    return GivenBatch(user, batch, int(results[0][0][0]), jti)


def _held(open_rows: Sequence[Any]) -> frozenset[int]:
    """The clips on the open batches (each row's ``video_ids``, a JSON list)."""
    return frozenset(int(vid) for row in open_rows for vid in row.video_ids)


def new_batch_steps(
    user: Caller, batch: DrawnBatch, connection_id: int | None, *, now: int
) -> tuple[list[Step], str]:
    """The batch row (made for the user's role now) and the batch's token id. The row records
    which clips are the gold standards (the token, which the client can read, must not)."""
    video_ids = batch.ids
    if len(set(video_ids)) != len(video_ids):
        raise ValueError(f"a batch must not hold a clip twice: {sorted(video_ids)}")
    jti = uuid.uuid4().hex
    row = {
        "jti": jti,
        "user_id": user.id,
        "connection_id": connection_id,
        "request_time": now,
        "video_ids": video_ids,
        "num_gold_standard": batch.gold,
        "num_unlabeled": len(video_ids) - batch.gold,
        "client_type": user.client_type,
        "gold_ids": list(batch.gold_ids),
    }
    return [(NEW_BATCH, row)], jti
