"""Pages of clips: build one for a user, and take its answers back exactly once.

A volunteer's page is 12 clips to label plus 4 hidden gold standards (1–3 with smoke, at least
one without), so the answers can be trusted only when the gold ones are right. A researcher's
page has no gold: its answers set the separate researcher state.

Drawing clips: every video has a random ``sort_key`` fixed at import; a draw starts at a random
point and walks the (state, sort_key) index, wrapping around once. That is an index range scan
of a few rows however large the table, where RISE's ``ORDER BY RAND()`` read all of it.

Taking answers: the page's videos are locked in id order, then the page row (``FOR UPDATE``
on PostgreSQL; the whole database under SQLite's ``BEGIN IMMEDIATE``); the page is claimed
only if unclaimed (so a page token works once), and each answer moves its clip through
``core.labels`` — the only label-state machine in the project.

The two page requests are written as plans (``db.Plan``: generators that yield groups of
statements and get their rows back), so that the same code runs in a session and on the event
loop, in two database round trips each on PostgreSQL.
"""

from __future__ import annotations

import functools
import random
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Integer,
    Table,
    and_,
    any_,
    bindparam,
    exists,
    insert,
    literal_column,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from smokewatch.core.labels import (
    ADMIN_FINAL_STATES,
    PARTIAL_STATES,
    State,
    citizen_next,
    researcher_state,
)
from smokewatch.labeling.db import Plan, Step, Together, drive, run_together
from smokewatch.labeling.errors import ServiceError
from smokewatch.labeling.tables import Batch, Label, Role, User, Video
from smokewatch.labeling.users import CALLER_STATEMENT, Caller, active_caller

__all__ = [
    "PagePolicy",
    "PageError",
    "Score",
    "draw_page",
    "give_page",
    "draw_page_plan",
    "give_page_plan",
    "submit_page_plan",
    "GivenPage",
    "lock_videos",
    "set_researcher_states",
    "submit_page",
]

_FINAL_ADMIN = sorted(int(s) for s in ADMIN_FINAL_STATES)
_PARTIAL = sorted(int(s) for s in PARTIAL_STATES)


class PageError(ServiceError):
    """A page request or submission that cannot be taken."""


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


#: Core table: executemany UPDATEs by a bound id (the ORM would want primary-key dicts).
_VIDEO = cast(Table, Video.__table__)
#: What a page shows of each clip (and, to researchers, its citizens' state).
_PAGE_COLUMNS = (
    _VIDEO.c.id,
    _VIDEO.c.file_name,
    _VIDEO.c.url_root,
    _VIDEO.c.url_part,
    _VIDEO.c.label_state,
)


@dataclass(frozen=True, slots=True)
class _Part:
    """One kind of clip a page draws: clips in one state, how many, and filters."""

    kind: str
    admin: bool  #: the state is the researcher state (else the citizen state)
    state: int
    n: int
    skip_labeled: bool = False  #: leave out clips this user has labeled already
    not_final: bool = False  #: leave out clips whose researcher state is final


def _literal(value: int) -> ColumnElement[Any]:
    return literal_column(str(int(value)))


def _part_select(part: _Part, i: int, wrap: bool) -> Any:
    """One index range scan of a part: from its random start forward, or (``wrap``) from the
    beginning of the order up to the start."""
    column = Video.label_state_admin if part.admin else Video.label_state
    start: Any = bindparam(f"s{i}")
    conditions = [
        column == _literal(part.state),
        Video.sort_key < start if wrap else Video.sort_key >= start,
    ]
    if part.not_final:
        conditions.append(Video.label_state_admin.not_in([_literal(x) for x in _FINAL_ADMIN]))
    if part.skip_labeled:
        # NOT EXISTS (this user's label of this clip), probed per candidate row: a draw reads
        # a few dozen rows however many clips the user has labeled. (NOT IN read all of the
        # user's labels once per part: 5 ms a draw at 2,000 labels, and growing.) OFFSET 0
        # keeps PostgreSQL from turning the probe into an anti-join, which it plans badly
        # while the label table's statistics are stale (measured: 73 ms).
        labeled: Any = (
            select(literal_column("1"))
            .where(Label.user_id == bindparam("uid"), Label.video_id == Video.id)
            .offset(_literal(0))
        )
        conditions.append(~exists(labeled))
    return (
        select(*_PAGE_COLUMNS, _literal(i).label("part"), _literal(int(wrap)).label("wrapped"))
        .where(*conditions)
        .order_by(Video.sort_key)
        .limit(_literal(part.n))
        .subquery()
    )


@functools.lru_cache(maxsize=8)
def _draw_statement(parts: tuple[_Part, ...]) -> Any:
    """One statement for a whole page: per part, up to ``n`` clips from a random point of the
    sort-key order, wrapping around to the beginning when the end comes first.

    Each part is ``(forward scan) UNION ALL (wrapped scan)`` under one LIMIT: the database
    reads the wrapped range only when the forward one runs short, and every scan is an index
    range read with a LIMIT, so the cost does not grow with the table. One statement is one
    snapshot (a clip cannot be seen in two states) and one round trip. Constants are inlined
    and only the starts and the user id are parameters; there is one shape per page kind.
    """
    selects = []
    for i, part in enumerate(parts):
        both = union_all(
            select(_part_select(part, i, False)), select(_part_select(part, i, True))
        ).subquery()
        selects.append(select(both).limit(_literal(part.n)))
    return union_all(*[select(q.subquery()) for q in selects])


def _draw_params(parts: tuple[_Part, ...], user_id: int, rng: random.Random) -> dict[str, Any]:
    """The draw's parameters: a random start per part, and the user (to skip their clips)."""
    return {**{f"s{i}": rng.random() for i in range(len(parts))}, "uid": user_id}


def _pool(
    parts: tuple[_Part, ...], rows: Sequence[Any], rng: random.Random
) -> dict[str, list[Any]]:
    """The draw's rows by kind: up to ``part.n`` of each part; parts of the same ``kind`` are
    pooled and shuffled, then cut to that kind's ``n``."""
    found: dict[int, list[Any]] = {i: [] for i in range(len(parts))}
    for row in rows:
        found[row.part].append(row)
    out: dict[str, list[Any]] = {}
    for i, part in enumerate(parts):
        # forward rows before wrapped ones (the database's order is not promised)
        chosen = sorted(found[i], key=lambda r: r.wrapped)[: part.n]
        out.setdefault(part.kind, []).extend(chosen)
    for part in parts:
        pooled = out[part.kind]
        if len(pooled) > part.n:
            rng.shuffle(pooled)
            del pooled[part.n :]
    return out


def _draw_step(parts: tuple[_Part, ...], user_id: int, rng: random.Random) -> Step:
    return (_draw_statement(parts), _draw_params(parts, user_id, rng))


@dataclass(frozen=True, slots=True)
class DrawnPage:
    """A new page: its clips in display order (id, file_name, url_root, url_part, label_state)."""

    clips: list[Any]  #: result rows
    gold: int

    @property
    def ids(self) -> list[int]:
        return [int(r.id) for r in self.clips]


@functools.lru_cache(maxsize=16)
def _page_parts(policy: PagePolicy, researcher: bool) -> tuple[_Part, ...]:
    """What a page draws: for a researcher, clips without a researcher label; for a
    volunteer, up to gold - 1 gold standards of each kind (so any mix with at least one of
    each can be made), partly labeled clips by state, and unlabeled clips."""
    if researcher:
        return (_Part("review", True, State.NO_DATA, policy.size, skip_labeled=True),)
    most = policy.gold - 1
    return (
        _Part("gold_pos", True, State.GOLD_POS, most),
        _Part("gold_neg", True, State.GOLD_NEG, most),
        *(
            _Part("partial", False, state, policy.to_label, skip_labeled=True, not_final=True)
            for state in _PARTIAL
        ),
        _Part("fresh", False, State.NO_DATA, policy.to_label, skip_labeled=True, not_final=True),
    )


def _volunteer_page(
    drawn: dict[str, list[Any]], policy: PagePolicy, rng: random.Random
) -> tuple[list[Any], int] | None:
    """Gold standards (1-3 positives, as RISE, within what exists) and clips to label."""
    pos, neg = drawn["gold_pos"], drawn["gold_neg"]
    low, high = max(1, policy.gold - len(neg)), min(3, policy.gold - 1, len(pos))
    if policy.gold < 2 or low > high:
        return None
    positives = rng.randint(low, high)
    gold_rows = pos[:positives] + neg[: policy.gold - positives]
    # partly labeled clips first (up to the ratio), then unlabeled, then more partly labeled
    quota = int(policy.to_label * policy.partial_ratio)
    partial, fresh = drawn["partial"], drawn["fresh"]
    take_partial = partial[:quota]
    take_fresh = fresh[: policy.to_label - len(take_partial)]
    short = policy.to_label - len(take_partial) - len(take_fresh)
    take_partial += partial[quota : quota + short]
    return gold_rows + take_partial + take_fresh, len(gold_rows)


def _shuffled_page(
    made: tuple[list[Any], int] | None, policy: PagePolicy, rng: random.Random
) -> DrawnPage | None:
    if made is None or len(made[0]) < policy.size:
        return None
    rows, gold = made
    rng.shuffle(rows)
    return DrawnPage(rows, gold)


def _made_page(
    user: Caller,
    parts: tuple[_Part, ...],
    rows: Sequence[Any],
    policy: PagePolicy,
    rng: random.Random,
) -> DrawnPage | None:
    """The page made of a draw's rows, shuffled; None when there are too few clips."""
    drawn = _pool(parts, rows, rng)
    if user.client_type == Role.RESEARCHER:
        return _shuffled_page((drawn["review"], 0), policy, rng)
    return _shuffled_page(_volunteer_page(drawn, policy, rng), policy, rng)


def draw_page_plan(user: Caller, policy: PagePolicy, rng: random.Random) -> Plan[DrawnPage | None]:
    """A new page for ``user``, shuffled; None when there are not enough clips (RISE: 204)."""
    parts = _page_parts(policy, user.client_type == Role.RESEARCHER)
    [rows] = yield Together([_draw_step(parts, user.id, rng)])
    return _made_page(user, parts, rows, policy, rng)


def draw_page(
    session: Session, user: Caller, policy: PagePolicy, rng: random.Random
) -> DrawnPage | None:
    """``draw_page_plan``'s page, drawn through ``session`` (one statement, seen by the
    engine's events, as the tests watch it)."""
    parts = _page_parts(policy, user.client_type == Role.RESEARCHER)
    statement, params = _draw_step(parts, user.id, rng)
    rows = session.connection().execute(statement, params).all()
    return _made_page(user, parts, rows, policy, rng)


@dataclass(frozen=True, slots=True)
class GivenPage:
    """A page drawn and stored for a user: what ``get_batch`` answers with."""

    user: Caller
    page: DrawnPage
    batch_id: int
    jti: str


def give_page_plan(
    user_id: int,
    policy: PagePolicy,
    rng: random.Random,
    *,
    connection_id: int | None,
    postgres: bool,
) -> Plan[GivenPage | None]:
    """Check the user, draw a page and store it, then commit; None: not enough clips (204).

    Two round trips on PostgreSQL: the user's row and a volunteer's draw together (a
    researcher, rarer, is drawn again with their own page shape), then the page row and the
    commit together. A plan (see ``db.drive``): it yields its statements and gets their rows.
    """
    parts = _page_parts(policy, researcher=False)
    caller_rows, drawn_rows = yield Together(
        [(CALLER_STATEMENT, {"p_uid": user_id}), _draw_step(parts, user_id, rng)]
    )
    user = active_caller(caller_rows)
    if user.client_type == Role.RESEARCHER:
        page = yield from draw_page_plan(user, policy, rng)
    else:
        page = _made_page(user, parts, drawn_rows, policy, rng)
    if page is None:
        return None
    step, jti = _new_batch_step(user, page.ids, page.gold, connection_id)
    [rows] = yield Together([step], commit=True)
    return GivenPage(user, page, int(rows[0][0]), jti)


def give_page(
    session: Session,
    user_id: int,
    policy: PagePolicy,
    rng: random.Random,
    *,
    connection_id: int | None,
) -> GivenPage | None:
    """``give_page_plan`` run in ``session``'s transaction."""
    plan = give_page_plan(
        user_id, policy, rng, connection_id=connection_id, postgres=_postgres(session)
    )
    return drive(session, plan)


def _new_batch_step(
    user: Caller, video_ids: list[int], gold: int, connection_id: int | None
) -> tuple[Step, str]:
    if len(set(video_ids)) != len(video_ids):
        raise ValueError(f"a page must not hold a clip twice: {sorted(video_ids)}")
    jti = uuid.uuid4().hex
    params = {
        "jti": jti,
        "user_id": user.id,
        "connection_id": connection_id,
        "request_time": int(time.time()),
        "video_ids": video_ids,
        "num_gold_standard": gold,
        "num_unlabeled": len(video_ids) - gold,
    }
    return (_NEW_BATCH, params), jti


def submit_page_plan(
    user_id: int,
    *,
    batch_id: int,
    jti: str,
    token_video_ids: Sequence[int],
    answers: Sequence[tuple[int, int]],
    postgres: bool,
    token_user_id: int | None = None,
) -> Plan[Score]:
    """Take a page's answers: claim it, check gold, move every clip's state, score the user.

    Order of work (and of locks): the page's videos (in id order), then the page row, then
    the user row; every transaction takes them in this order, so none can deadlock. On
    PostgreSQL a page is two round trips: the user's row, the locked videos and the locked
    page row together; then, decided here in Python (the states through ``core.labels``),
    every write and the commit together. A plan (see ``db.drive``).

    ``token_user_id``: the user the page token was given to (default: ``user_id``). Refusals
    come in RISE's order: the user (401, 403), whose page it is (401), the answers (400),
    then the page row (401, or 409 when it was submitted already).
    """
    now = int(time.time())
    wanted = sorted({vid for vid, _ in answers})
    caller_rows, video_rows, page_rows = yield Together(
        [
            (CALLER_STATEMENT, {"p_uid": user_id}),
            (_LOCK_VIDEOS[postgres], {"p_ids": wanted}),
            (_LOCK_PAGE, {"p_bid": batch_id}),
        ]
    )
    user = active_caller(caller_rows)
    if token_user_id is not None and token_user_id != user.id:
        raise PageError("Signature of the video batch is not valid", 401)
    if Counter(token_video_ids) != Counter(vid for vid, _ in answers):
        raise PageError("The answers are not for the clips of this page", 400)
    if len(wanted) != len(answers):
        raise PageError("A clip is answered twice", 400)
    researcher = user.client_type == Role.RESEARCHER
    if researcher:  # checks the labels too
        writes = _researcher_steps(user, answers, batch_id, now, postgres)
    else:
        for vid, label in answers:
            if label not in (0, 1) or isinstance(label, bool):
                raise PageError(f"video {vid}: a label is 1 (smoke) or 0 (no smoke), got {label!r}")
    states = _states_of(video_rows, wanted)
    page = page_rows[0] if page_rows else None
    if page is None or page.jti != jti or page.user_id != user.id:
        raise PageError("Signature of the video batch is not valid", 401)
    if page.return_time is not None:
        raise PageError("This page was already submitted", 409)
    claim = {"p_bid": batch_id, "p_jti": jti, "p_uid": user.id, "p_now": now}

    if researcher:
        results = yield Together([*writes, (_CLAIM_REVIEW, claim)], commit=True)
        _check_claimed(results[-1], batch_id)
        return Score(None, None, None, None)

    gold_right = 0
    for vid, label in answers:
        admin = states[vid][1]
        if admin == State.GOLD_POS:
            gold_right += label == 1
        elif admin == State.GOLD_NEG:
            gold_right += label == 0
    accepted = gold_right >= page.num_gold_standard
    page_score = int(page.num_unlabeled) if accepted else 0
    steps: list[Step] = [(_CLAIM, {**claim, "p_acc": accepted, "p_score": page_score})]
    if accepted:
        new_states = {vid: int(citizen_next(states[vid][0], label)) for vid, label in answers}
        steps.append(_set_states_step(postgres, "label_state", new_states, now))
        steps.append(_record_answers_step(postgres, answers, user, batch_id, now))
    score_user = {
        "p_uid": user.id,
        "p_score": page_score,
        "p_raw": int(page.num_unlabeled),
        "p_acc": int(accepted),
    }
    steps.append((_SCORE_USER, score_user))
    results = yield Together(steps, commit=True)
    _check_claimed(results[0], batch_id)
    new_score, new_raw = results[-1][0]
    return Score(page_score, int(new_score), int(new_raw), accepted)


def submit_page(
    session: Session,
    user_id: int,
    *,
    batch_id: int,
    jti: str,
    token_video_ids: Sequence[int],
    answers: Sequence[tuple[int, int]],
) -> Score:
    """``submit_page_plan`` run in ``session``'s transaction."""
    plan = submit_page_plan(
        user_id,
        batch_id=batch_id,
        jti=jti,
        token_video_ids=token_video_ids,
        answers=answers,
        postgres=_postgres(session),
    )
    return drive(session, plan)


def _check_claimed(rows: Sequence[Any], batch_id: int) -> None:
    """The claim runs under the page row's lock, after checking it is unclaimed: it cannot
    miss. If it ever did, that is a bug to hear about, not a volunteer's error."""
    if not rows:
        raise RuntimeError(f"page {batch_id}: the claim under its row lock changed no row")


def _states_of(rows: Sequence[Any], wanted: Sequence[int]) -> dict[int, tuple[int, int]]:
    """(citizen, researcher) state of each video; a missing id is a 400 naming it."""
    states = {int(r[0]): (int(r[1]), int(r[2])) for r in rows}
    missing = [vid for vid in wanted if vid not in states]
    if missing:
        raise PageError(f"no such video: {', '.join(map(str, missing[:10]))}", 400)
    return states


def lock_videos(session: Session, ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """Lock the videos and read their (citizen, researcher) states, in id order.

    Id order means two overlapping pages cannot deadlock. ``FOR UPDATE`` on PostgreSQL;
    SQLite ignores it, its ``BEGIN IMMEDIATE`` already holds the single write lock. A missing
    id is a 400 naming it.
    """
    wanted = sorted(set(ids))
    rows = session.connection().execute(_LOCK_VIDEOS[_postgres(session)], {"p_ids": wanted})
    return _states_of(rows.all(), wanted)


def set_researcher_states(
    session: Session,
    user: Caller,
    answers: Sequence[tuple[int, int]],
    *,
    batch_id: int | None = None,
    now: int | None = None,
) -> None:
    """Move the researcher state of each clip (never the citizens'), and record the answers."""
    now = int(time.time()) if now is None else now
    steps = _researcher_steps(user, answers, batch_id, now, _postgres(session))
    lock_videos(session, [vid for vid, _ in answers])
    run_together(session, steps)


def _researcher_steps(
    user: Caller,
    answers: Sequence[tuple[int, int]],
    batch_id: int | None,
    now: int,
    postgres: bool,
) -> list[Step]:
    """The writes of researchers' answers: their state (never the citizens'), and history."""
    states = {}
    for vid, label in answers:
        try:
            states[vid] = int(researcher_state(label))
        except ValueError as exc:
            raise PageError(f"video {vid}: {exc}", 400) from None
    return [
        _set_states_step(postgres, "label_state_admin", states, now),
        _record_answers_step(postgres, answers, user, batch_id, now),
    ]


def _postgres(session: Session) -> bool:
    return session.connection().dialect.name == "postgresql"


def _set_states_step(postgres: bool, column: str, states: dict[int, int], now: int) -> Step:
    """New states (``column``: ``label_state`` or ``label_state_admin``) in one statement on
    PostgreSQL (an UPDATE over ``unnest`` of two arrays); elsewhere an executemany, which is
    as cheap in-process."""
    if postgres:
        ids, values = list(states), list(states.values())
        return (_PG_SET_STATES[column], {"p_ids": ids, "p_states": values, "p_now": now})
    return (
        _SET_STATE[column],
        [{"p_vid": vid, "p_state": state, "p_now": now} for vid, state in states.items()],
    )


def _record_answers_step(
    postgres: bool,
    answers: Sequence[tuple[int, int]],
    user: Caller,
    batch_id: int | None,
    now: int,
) -> Step:
    """Append the answers to the label history: one INSERT over ``unnest`` on PostgreSQL,
    an executemany elsewhere."""
    common = {
        "time": now,
        "user_id": user.id,
        "batch_id": batch_id,
        "client_type": user.client_type,
    }
    if postgres:
        ids, labels = [vid for vid, _ in answers], [int(label) for _, label in answers]
        return (_PG_ADD_LABELS, {"p_ids": ids, "p_labels": labels, **common})
    rows = [{"video_id": vid, "label": int(label), **common} for vid, label in answers]
    return (_ADD_LABELS, rows)


# --- statements, built once ---------------------------------------------------------------
# Core statements on the tables (not the ORM classes) with named parameters: building a
# statement costs more CPU than running it, and these run on every page.
_B, _U, _L = (cast(Table, t.__table__) for t in (Batch, User, Label))

_NEW_BATCH = (
    insert(_B)
    .values(
        {
            c: bindparam(c)
            for c in (
                "jti",
                "user_id",
                "connection_id",
                "request_time",
                "video_ids",
                "num_gold_standard",
                "num_unlabeled",
            )
        }
    )
    .returning(_B.c.id)
)
#: The page row, locked: is it this user's, unclaimed, and how many gold standards it has.
_LOCK_PAGE = (
    select(_B.c.jti, _B.c.user_id, _B.c.return_time, _B.c.num_gold_standard, _B.c.num_unlabeled)
    .where(_B.c.id == bindparam("p_bid"))
    .with_for_update()
)
_UNCLAIMED = and_(
    _B.c.id == bindparam("p_bid"),
    _B.c.jti == bindparam("p_jti"),
    _B.c.user_id == bindparam("p_uid"),
    _B.c.return_time.is_(None),
)
_CLAIM_REVIEW = (
    update(_B)
    .where(_UNCLAIMED)
    .values(return_time=bindparam("p_now"), accepted=True)
    .returning(_B.c.id)
)
_CLAIM = (
    update(_B)
    .where(_UNCLAIMED)
    .values(
        return_time=bindparam("p_now"),
        accepted=bindparam("p_acc", type_=Boolean),
        score=bindparam("p_score", type_=Integer),
        user_score=select(_U.c.score).where(_U.c.id == bindparam("p_uid")).scalar_subquery(),
        user_raw_score=select(_U.c.raw_score)
        .where(_U.c.id == bindparam("p_uid"))
        .scalar_subquery(),
    )
    .returning(_B.c.id)
)
_VIDEO_STATES = (_VIDEO.c.id, _VIDEO.c.label_state, _VIDEO.c.label_state_admin)
#: The videos' states, locked in id order, by "is it PostgreSQL": there a list of ids is an
#: array (one statement text whatever the count, so it is prepared once), an expanding IN
#: elsewhere.
_LOCK_VIDEOS: dict[bool, Any] = {
    True: select(*_VIDEO_STATES)
    .where(_VIDEO.c.id == any_(bindparam("p_ids", type_=postgresql.ARRAY(Integer))))
    .order_by(_VIDEO.c.id)
    .with_for_update(),
    False: select(*_VIDEO_STATES)
    .where(_VIDEO.c.id.in_(bindparam("p_ids", expanding=True)))
    .order_by(_VIDEO.c.id)
    .with_for_update(),
}


_SET_STATE = {
    column: update(_VIDEO)
    .where(_VIDEO.c.id == bindparam("p_vid"))
    .values({column: bindparam("p_state"), "label_update_time": bindparam("p_now")})
    for column in ("label_state", "label_state_admin")
}
_PG_SET_STATES = {
    column: text(
        f"UPDATE video SET {column} = new.state, label_update_time = :p_now "
        "FROM unnest(CAST(:p_ids AS integer[]), CAST(:p_states AS integer[])) AS new(id, state) "
        "WHERE video.id = new.id"
    )
    for column in ("label_state", "label_state_admin")
}
_ADD_LABELS = insert(_L)
_PG_ADD_LABELS = text(
    "INSERT INTO label (video_id, label, time, user_id, batch_id, client_type) "
    "SELECT a.video_id, a.label, :time, :user_id, :batch_id, :client_type "
    "FROM unnest(CAST(:p_ids AS integer[]), CAST(:p_labels AS integer[])) AS a(video_id, label)"
)
_SCORE_USER = (
    update(_U)
    .where(_U.c.id == bindparam("p_uid"))
    .values(
        score=_U.c.score + bindparam("p_score", type_=Integer),
        raw_score=_U.c.raw_score + bindparam("p_raw", type_=Integer),
        pages_submitted=_U.c.pages_submitted + 1,
        pages_accepted=_U.c.pages_accepted + bindparam("p_acc", type_=Integer),
    )
    .returning(_U.c.score, _U.c.raw_score)
)
