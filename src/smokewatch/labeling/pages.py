"""Pages of clips: build one for a user, and take its answers back exactly once.

A volunteer's page is 12 clips to label plus 4 hidden gold standards (1–3 with smoke, at least
one without), so the answers can be trusted only when the gold ones are right. A researcher's
page has no gold: its answers set the separate researcher state.

Drawing clips: every video has a random ``sort_key`` fixed at import; a draw starts at a random
point and walks the (state, sort_key) index, wrapping around once. That is an index range scan
of a few rows however large the table, where RISE's ``ORDER BY RAND()`` read all of it.

Taking answers: the page row is claimed with a compare-and-set on ``return_time`` (so a page
token works once), the page's videos are locked in id order (``FOR UPDATE`` on PostgreSQL; the
whole database under SQLite's ``BEGIN IMMEDIATE``), and each answer moves its clip through
``core.labels`` — the only label-state machine in the project.
"""

from __future__ import annotations

import random
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, exists, insert, select, update
from sqlalchemy.orm import Session

from smokewatch.core.labels import (
    ADMIN_FINAL_STATES,
    PARTIAL_STATES,
    State,
    citizen_next,
    researcher_state,
)
from smokewatch.labeling.tables import Batch, Label, Role, User, Video

__all__ = [
    "PagePolicy",
    "PageError",
    "Score",
    "create_batch",
    "draw_page",
    "lock_videos",
    "record_answers",
    "set_researcher_states",
    "submit_page",
]

_FINAL_ADMIN = sorted(int(s) for s in ADMIN_FINAL_STATES)
_PARTIAL = sorted(int(s) for s in PARTIAL_STATES)


class PageError(Exception):
    """A submission that cannot be taken; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True, slots=True)
class PagePolicy:
    """How pages are made (RISE: 16 clips, 4 gold, 80% of the rest from partly labeled)."""

    size: int = 16
    gold: int = 4
    partial_ratio: float = 0.8

    @property
    def to_label(self) -> int:
        return self.size - self.gold


@dataclass(frozen=True, slots=True)
class Score:
    """What ``send_batch`` answers: page score, user score and raw score (None: researcher)."""

    batch: int | None
    user: int | None
    raw: int | None
    accepted: bool | None


def _draw(
    session: Session,
    where: Sequence[ColumnElement[bool]],
    n: int,
    rng: random.Random,
    *,
    not_labeled_by: int | None = None,
    exclude: Sequence[int] = (),
) -> list[int]:
    """Up to ``n`` video ids matching ``where``, from a random point of the sort-key order."""
    if n <= 0:
        return []
    conditions = list(where)
    if not_labeled_by is not None:
        conditions.append(
            ~exists().where(Label.user_id == not_labeled_by, Label.video_id == Video.id)
        )
    if exclude:
        conditions.append(Video.id.not_in(list(exclude)))
    start = rng.random()
    first = session.scalars(
        select(Video.id)
        .where(*conditions, Video.sort_key >= start)
        .order_by(Video.sort_key)
        .limit(n)
    ).all()
    ids = list(first)
    if len(ids) < n:  # wrap around to the beginning of the order
        ids += session.scalars(
            select(Video.id)
            .where(*conditions, Video.sort_key < start)
            .order_by(Video.sort_key)
            .limit(n - len(ids))
        ).all()
    return ids


def draw_page(
    session: Session, user: User, policy: PagePolicy, rng: random.Random
) -> tuple[list[int], int] | None:
    """The video ids of a new page for ``user`` (shuffled) and how many are gold; None if short."""
    not_final = Video.label_state_admin.not_in(_FINAL_ADMIN)
    if user.client_type == Role.RESEARCHER:
        ids = _draw(
            session,
            [Video.label_state_admin == State.NO_DATA],
            policy.size,
            rng,
            not_labeled_by=user.id,
        )
        gold = 0
    else:
        positives = rng.randint(1, min(3, policy.gold - 1))
        gold_ids = _draw(session, [Video.label_state_admin == State.GOLD_POS], positives, rng)
        gold_ids += _draw(
            session, [Video.label_state_admin == State.GOLD_NEG], policy.gold - positives, rng
        )
        if len(gold_ids) != policy.gold:
            return None
        partial = _draw(
            session,
            [Video.label_state.in_(_PARTIAL), not_final],
            int(policy.to_label * policy.partial_ratio),
            rng,
            not_labeled_by=user.id,
        )
        fresh = _draw(
            session,
            [Video.label_state == State.NO_DATA, not_final],
            policy.to_label - len(partial),
            rng,
            not_labeled_by=user.id,
        )
        if len(partial) + len(fresh) < policy.to_label:  # top up from partly labeled clips
            partial += _draw(
                session,
                [Video.label_state.in_(_PARTIAL), not_final],
                policy.to_label - len(partial) - len(fresh),
                rng,
                not_labeled_by=user.id,
                exclude=partial,
            )
        ids = gold_ids + partial + fresh
        gold = len(gold_ids)
    if len(ids) < policy.size:
        return None
    rng.shuffle(ids)
    return ids, gold


def create_batch(
    session: Session, user: User, video_ids: list[int], gold: int, connection_id: int | None
) -> Batch:
    batch = Batch(
        jti=uuid.uuid4().hex,
        user_id=user.id,
        connection_id=connection_id,
        request_time=int(time.time()),
        video_ids=video_ids,
        num_gold_standard=gold,
        num_unlabeled=len(video_ids) - gold,
    )
    session.add(batch)
    session.flush()
    return batch


def _claim(session: Session, batch_id: int, jti: str, user_id: int, now: int) -> Batch:
    """Mark the page returned, once: a second submission of the same token gets 409."""
    claimed = session.execute(
        update(Batch)
        .where(
            Batch.id == batch_id,
            Batch.jti == jti,
            Batch.user_id == user_id,
            Batch.return_time.is_(None),
        )
        .values(return_time=now)
        .returning(Batch.id)
    ).first()
    batch = session.get(Batch, batch_id)
    if claimed is None:
        if batch is None or batch.jti != jti or batch.user_id != user_id:
            raise PageError("Signature of the video batch is not valid", 401)
        raise PageError("This page was already submitted", 409)
    assert batch is not None
    return batch


def submit_page(
    session: Session,
    user: User,
    *,
    batch_id: int,
    jti: str,
    token_video_ids: Sequence[int],
    answers: Sequence[tuple[int, int]],
) -> Score:
    """Take a page's answers: claim it, check gold, move every clip's state, score the user."""
    if Counter(token_video_ids) != Counter(vid for vid, _ in answers):
        raise PageError("The answers are not for the clips of this page", 400)
    researcher = user.client_type == Role.RESEARCHER
    if not researcher:  # (a researcher's answers are checked by set_researcher_states)
        for vid, label in answers:
            if label not in (0, 1) or isinstance(label, bool):
                raise PageError(f"video {vid}: a label is 1 (smoke) or 0 (no smoke), got {label!r}")
    now = int(time.time())
    batch = _claim(session, batch_id, jti, user.id, now)
    if researcher:
        set_researcher_states(session, user, answers, batch_id=batch.id, now=now)
        batch.accepted = True
        return Score(None, None, None, None)
    videos = lock_videos(session, [vid for vid, _ in answers])

    gold_right = 0
    for vid, label in answers:
        admin = videos[vid].label_state_admin
        if admin == State.GOLD_POS:
            gold_right += label == 1
        elif admin == State.GOLD_NEG:
            gold_right += label == 0
    accepted = gold_right >= batch.num_gold_standard
    page_score = batch.num_unlabeled if accepted else 0
    if accepted:
        for vid, label in answers:
            video = videos[vid]
            video.label_state = int(citizen_next(video.label_state, label))
            video.label_update_time = now
        record_answers(session, answers, user, batch.id, now)
    batch.score = page_score
    batch.accepted = accepted
    batch.user_score = user.score
    batch.user_raw_score = user.raw_score
    new_score, new_raw = session.execute(
        update(User)
        .where(User.id == user.id)
        .values(
            score=User.score + page_score,
            raw_score=User.raw_score + batch.num_unlabeled,
            pages_submitted=User.pages_submitted + 1,
            pages_accepted=User.pages_accepted + int(accepted),
        )
        .returning(User.score, User.raw_score)
    ).one()
    return Score(page_score, new_score, new_raw, accepted)


def lock_videos(session: Session, ids: Sequence[int]) -> dict[int, Video]:
    """Load and lock the videos, in id order so that two overlapping pages cannot deadlock.

    ``FOR UPDATE`` on PostgreSQL; SQLite ignores it, its ``BEGIN IMMEDIATE`` already holds
    the database's single write lock. A missing id is a 400 naming it.
    """
    wanted = sorted(set(ids))
    videos = {
        v.id: v
        for v in session.scalars(
            select(Video).where(Video.id.in_(wanted)).order_by(Video.id).with_for_update()
        )
    }
    missing = [vid for vid in wanted if vid not in videos]
    if missing:
        raise PageError(f"no such video: {', '.join(map(str, missing[:10]))}", 400)
    return videos


def set_researcher_states(
    session: Session,
    user: User,
    answers: Sequence[tuple[int, int]],
    *,
    batch_id: int | None = None,
    now: int | None = None,
) -> None:
    """Move the researcher state of each clip (never the citizens'), and record the answers."""
    states = {}
    for vid, label in answers:
        try:
            states[vid] = int(researcher_state(label))
        except ValueError as exc:
            raise PageError(f"video {vid}: {exc}", 400) from None
    now = int(time.time()) if now is None else now
    videos = lock_videos(session, list(states))
    for vid, state in states.items():
        videos[vid].label_state_admin = state
        videos[vid].label_update_time = now
    record_answers(session, answers, user, batch_id, now)


def record_answers(
    session: Session, answers: Sequence[tuple[int, int]], user: User, batch_id: int | None, now: int
) -> None:
    """Append the answers to the label history (in one statement)."""
    session.execute(
        insert(Label),
        [
            {
                "video_id": vid,
                "label": int(label),
                "time": now,
                "user_id": user.id,
                "batch_id": batch_id,
                "client_type": user.client_type,
            }
            for vid, label in answers
        ],
    )
