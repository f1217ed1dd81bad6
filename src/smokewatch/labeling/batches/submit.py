"""Taking a batch's answers back, exactly once, as the kind of batch it was given as.

The batch's videos are locked in id order, then the batch row (``FOR UPDATE`` on PostgreSQL;
the whole database under SQLite's ``BEGIN IMMEDIATE``); the batch is claimed only if unclaimed
(so a batch token works once), and each answer moves its clip through ``core.labels``.

What a batch is, is fixed when it is made (``batch.client_type``): a researcher's batch, which
has no gold standards, is refused once its owner is no longer a researcher (it would
otherwise be taken unchecked); a volunteer's batch is scored as one (gold check, citizens'
state) even if its owner has been made a researcher since.

A volunteer's batch is checked on the gold standards it was given with (``batch.gold_ids``,
recorded when it is made, never in its token): accepted when every one of them that is still
gold is answered right. A researcher's relabeling between then and now moves nothing else: a
gold standard un-golded (or marked bad) is left out of the check, as a crowd task's is
(``crowd.work``), and a clip made gold since is not checked.

One user, one vote per clip: a volunteer's batch holding a clip (other than one given as a
gold standard, or gold now: those are shown again and again, and their answers are not
votes) that the user has answered before is refused whole (409),
changing nothing. The draw never puts such a clip on a batch (it skips the user's labeled
clips and the clips of their open batches); only two draws for one user at the same moment
can (neither sees the other's batch), and then the first batch sent counts and the other is
refused. A refused batch stays open, holding its clips from its user until its token
expires: it can never be taken, and the clips go to other volunteers.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from smokewatch.core.labels import GOLD_STATES, citizen_next, expert_next, gold_answer_right
from smokewatch.labeling.batches.answers import (
    BatchError,
    record_answers_step,
    refuse_repeats,
    researcher_steps,
    set_states_step,
    states_of,
)
from smokewatch.labeling.batches.statements import (
    CLAIM,
    CLAIM_REVIEW,
    LOCK_BATCH,
    LOCK_VIDEOS,
    SCORE_USER,
    VOTED,
)
from smokewatch.labeling.db import Plan, Step, Together
from smokewatch.labeling.tables import Role
from smokewatch.labeling.users import CALLER_STATEMENT, volunteer_caller

__all__ = ["Score", "submit_batch_plan"]


@dataclass(frozen=True, slots=True)
class Score:
    """What ``send_batch`` answers: batch score, user score and raw score (None: researcher)."""

    batch: int | None
    user: int | None
    raw: int | None
    accepted: bool | None


def submit_batch_plan(
    user_id: int,
    *,
    batch_id: int,
    jti: str,
    token_video_ids: Sequence[int],
    answers: Sequence[tuple[int, int]],
    postgres: bool,
    token_user_id: int | None = None,
) -> Plan[Score]:
    """Take a batch's answers: claim it, check gold, move every clip's state, score the user.

    Order of work (and of locks): the batch's videos (in id order), then the batch row, then
    the user row; every transaction takes them in this order, so none can deadlock. On
    PostgreSQL a batch is two round trips: the user's row, the locked videos, the user's
    earlier votes on them and the locked batch row together; then, decided here in Python (the
    states through ``core.labels``), every write and the commit together. A plan (see
    ``db.drive``).

    ``token_user_id``: the user the batch token was given to (default: ``user_id``). Refusals
    come in RISE's order: the user (401, 403), whose batch it is (401), the answers (400),
    then the batch row (401, or 409 when it was submitted already), then what the batch is
    (403: a researcher's batch, its owner no longer one; 409: a clip voted on already).
    """
    now = int(time.time())
    wanted = sorted({vid for vid, _ in answers})
    caller_rows, video_rows, voted_rows, batch_rows = yield Together(
        [
            (CALLER_STATEMENT, {"p_uid": user_id}),
            (LOCK_VIDEOS[postgres], {"p_ids": wanted}),
            (VOTED[postgres], {"p_uid": user_id, "p_ids": wanted}),
            (LOCK_BATCH, {"p_bid": batch_id}),
        ]
    )
    user = volunteer_caller(caller_rows)
    if token_user_id is not None and token_user_id != user.id:
        raise BatchError("Signature of the video batch is not valid", 401)
    if Counter(token_video_ids) != Counter(vid for vid, _ in answers):
        raise BatchError("The answers are not for the clips of this batch", 400)
    refuse_repeats(answers)
    row = batch_rows[0] if batch_rows else None
    mine = row is not None and row.jti == jti and row.user_id == user.id
    # the answers are checked as the batch's kind; a batch not the user's is refused below
    kind = int(row.client_type) if mine and row is not None else user.client_type
    if kind == Role.RESEARCHER:
        writes = researcher_steps(user, answers, batch_id, now, postgres)  # checks the labels
    else:
        for vid, label in answers:
            if label not in (0, 1) or isinstance(label, bool):
                raise BatchError(
                    f"video {vid}: a label is 1 (smoke) or 0 (no smoke), got {label!r}"
                )
    states = states_of(video_rows, wanted)
    if row is None or not mine:
        raise BatchError("Signature of the video batch is not valid", 401)
    if row.return_time is not None:
        raise BatchError("This batch was already submitted", 409)
    claim = {"p_bid": batch_id, "p_jti": jti, "p_uid": user.id, "p_now": now}

    if kind == Role.RESEARCHER:
        if user.client_type != Role.RESEARCHER:
            raise BatchError(
                "This batch was given to a researcher, and this account is no longer one", 403
            )
        results = yield Together([*writes, (CLAIM_REVIEW, claim)], commit=True)
        _check_claimed(results[-1], batch_id)
        return Score(None, None, None, None)

    # Gold standards are shown to one user again and again, so their answers are not votes:
    # a clip given as gold on this batch, or gold now, is no earlier vote's second one, and
    # its answer is kept in the history (for scoring and reliability) but never moves the
    # citizens' state, which one person could otherwise settle alone.
    given_gold = _given_gold(row.gold_ids, states)
    not_votes = given_gold | {vid for vid in wanted if states[vid][1] in GOLD_STATES}
    voted = sorted(int(r[0]) for r in voted_rows if int(r[0]) not in not_votes)
    if voted:
        raise BatchError(
            f"This batch holds a clip you have answered already (video {voted[0]}): "
            "it cannot be taken; ask for a new one",
            409,
        )
    accepted = _gold_passed(row, given_gold, states, answers)
    batch_score = int(row.num_unlabeled) if accepted else 0
    # claimed, the batch is no longer open: its clips are held no more
    steps: list[Step] = [(CLAIM, {**claim, "p_acc": accepted, "p_score": batch_score})]
    if accepted:
        step = expert_next if kind == Role.EXPERT else citizen_next
        new_states = {
            vid: int(step(states[vid][0], label)) for vid, label in answers if vid not in not_votes
        }
        if new_states:
            steps.append(set_states_step(postgres, "label_state", new_states, now))
        steps.append(record_answers_step(postgres, answers, user.id, kind, batch_id, now))
    score_user = {
        "p_uid": user.id,
        "p_score": batch_score,
        "p_raw": int(row.num_unlabeled),
        "p_acc": int(accepted),
    }
    steps.append((SCORE_USER, score_user))
    results = yield Together(steps, commit=True)
    _check_claimed(results[0], batch_id)
    new_score, new_raw = results[-1][0]
    return Score(batch_score, int(new_score), int(new_raw), accepted)


def _given_gold(recorded: Sequence[int] | None, states: dict[int, tuple[int, int]]) -> set[int]:
    """The clips the batch was given with as gold standards: as its row records them; for a
    batch made before they were recorded (0006), those of its clips that are gold now."""
    if recorded is None:
        return {vid for vid, (_, admin) in states.items() if admin in GOLD_STATES}
    return {int(vid) for vid in recorded}


def _gold_passed(
    row: Any,
    given_gold: set[int],
    states: dict[int, tuple[int, int]],
    answers: Sequence[tuple[int, int]],
) -> bool:
    """RISE's check: every gold standard answered right. The batch's own gold standards are
    checked, those of them that are still gold (a researcher may relabel one, as a crowd
    task's: it is left out, as ``crowd.work`` does), each against its gold state now; a clip
    made gold since it was given is not one of them. A batch made before they were recorded
    (0006) is checked as then: right answers on its clips gold now, against how many it had."""
    right = {vid for vid, label in answers if gold_answer_right(states[vid][1], label) is True}
    if row.gold_ids is None:
        return len(right) >= int(row.num_gold_standard)
    checked = {vid for vid in given_gold if states[vid][1] in GOLD_STATES}
    return checked <= right


def _check_claimed(rows: Sequence[Any], batch_id: int) -> None:
    """The claim runs under the batch row's lock, after checking it is unclaimed: it cannot
    miss. If it ever did, that is a bug to hear about, not a volunteer's error."""
    if not rows:
        raise RuntimeError(f"batch {batch_id}: the claim under its row lock changed no row")
