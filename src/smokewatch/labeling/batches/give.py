"""Giving a user a batch: check the user, draw, store the batch and hold its clips."""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass

from smokewatch.labeling.batches.draw import (
    DrawnBatch,
    batch_parts,
    draw_batch_plan,
    draw_step,
    made_batch,
)
from smokewatch.labeling.batches.policy import BatchPolicy
from smokewatch.labeling.batches.statements import DROP_EXPIRED, NEW_BATCH, RESERVE
from smokewatch.labeling.db import Plan, Step, Together
from smokewatch.labeling.tables import Role
from smokewatch.labeling.users import CALLER_STATEMENT, Caller, active_caller

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

    Two round trips on PostgreSQL: the user's row and a volunteer's draw together (a
    researcher, rarer, is drawn again with their own batch shape), then the batch row, its
    clips held for ``hold_seconds`` (the batch token's lifetime: the batch can be sent until
    then) and the commit together. A plan (see ``db.drive``): it yields its statements and
    gets their rows.
    """
    now = int(time.time())
    parts = batch_parts(policy, researcher=False)
    caller_rows, drawn_rows = yield Together(
        [(CALLER_STATEMENT, {"p_uid": user_id}), draw_step(parts, user_id, now, rng)]
    )
    user = active_caller(caller_rows)
    if user.client_type == Role.RESEARCHER:
        batch = yield from draw_batch_plan(user, policy, rng, now)
    else:
        batch = made_batch(user, parts, drawn_rows, policy, rng)
    if batch is None:
        return None
    steps, jti = new_batch_steps(
        user, batch, connection_id, now=now, until=now + hold_seconds, postgres=postgres
    )
    results = yield Together(steps, commit=True)
    return GivenBatch(user, batch, int(results[0][0][0]), jti)


def new_batch_steps(
    user: Caller,
    batch: DrawnBatch,
    connection_id: int | None,
    *,
    now: int,
    until: int,
    postgres: bool,
) -> tuple[list[Step], str]:
    """The batch row (made for the user's role now); for a volunteer, the batch's clips held
    until ``until`` and the user's expired holds dropped; and the batch's token id."""
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
    }
    held = {"p_jti": jti, "p_uid": user.id, "p_until": until}
    reserve: Step = (
        (RESERVE[True], {**held, "p_ids": video_ids})
        if postgres
        else (RESERVE[False], [{**held, "p_vid": vid} for vid in video_ids])
    )
    if user.client_type == Role.RESEARCHER:  # their draw does not look at holds
        return [(NEW_BATCH, row)], jti
    return [(NEW_BATCH, row), (DROP_EXPIRED, {"p_uid": user.id, "p_now": now}), reserve], jti
