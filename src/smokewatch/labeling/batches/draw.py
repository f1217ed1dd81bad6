"""Drawing a batch's clips: one index-range statement, then the batch made of its rows.

Every video has a random ``sort_key`` fixed at import; a draw starts at a random point and
walks the (state, sort_key) index, wrapping around once. That is an index range scan of a few
rows however large the table, where RISE's ``ORDER BY RAND()`` read all of it. A volunteer's
batch is 12 clips to label plus 4 hidden gold standards (1–3 with smoke, at least one without);
a researcher's is clips without a researcher label, and no gold.

Clips a detection run asked about (``video.priority`` > 0: its events and its most uncertain
windows) come first in a volunteer's batch, highest priority first. They are read through a
partial index that holds only the priority clips still waiting for volunteers
(``ix_video_priority``), from a random point within the highest priority and again within
the next (so volunteers at the same moment are given different ones), then the lower
priorities: five more index range scans with a LIMIT, and two probes for the levels. They
are drawn under the same rules as the others (not the user's, not on their open batches, not
reviewed); a gold standard is never drawn as a priority clip.

A volunteer's batch must not hold a clip that is on one of their open batches (one user, one
vote). The draw does not look: the clips of those batches come back with it (``give``), and
only when the batch it made holds one of them, which happens only to a user who asked for
several batches before sending, is it drawn again with them left out.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    all_,
    bindparam,
    cast,
    exists,
    literal_column,
    select,
    text,
    union_all,
)
from sqlalchemy.dialects import postgresql

from smokewatch.core.labels import ADMIN_FINAL_STATES, PARTIAL_STATES, State
from smokewatch.labeling.batches.policy import BatchPolicy
from smokewatch.labeling.batches.statements import LABEL, VIDEO
from smokewatch.labeling.db import Plan, Step, Together
from smokewatch.labeling.tables import PRIORITY_WAITING, Role
from smokewatch.labeling.users import Caller

__all__ = [
    "DrawnBatch",
    "batch_parts",
    "draw_batch_plan",
    "draw_step",
    "made_batch",
    "unheld_batch_plan",
]

_FINAL_ADMIN = sorted(int(s) for s in ADMIN_FINAL_STATES)
_PARTIAL = sorted(int(s) for s in PARTIAL_STATES)

#: What a batch shows of each clip (and, to researchers, its citizens' state).
_BATCH_COLUMNS = (
    VIDEO.c.id,
    VIDEO.c.file_name,
    VIDEO.c.url_root,
    VIDEO.c.url_part,
    VIDEO.c.label_state,
)


@dataclass(frozen=True, slots=True)
class _Part:
    """One kind of clip a batch draws: clips in one state, how many, and filters."""

    kind: str
    admin: bool  #: the state is the researcher state (else the citizen state)
    state: int
    n: int
    skip_labeled: bool = False  #: leave out clips this user has labeled
    skip_held: bool = False  #: leave out clips on this user's open batches (when given)
    not_final: bool = False  #: leave out clips whose researcher state is final
    priority: bool = False  #: the priority clips waiting for volunteers (``state`` unused)


def _literal(value: int) -> ColumnElement[Any]:
    return literal_column(str(int(value)))


def _not_labeled() -> Any:
    """NOT EXISTS (this user's label of the clip), probed per candidate row: a draw reads a
    few dozen rows however many clips the user has labeled. (NOT IN read all of the user's
    labels once per part: 5 ms a draw at 2,000 labels, and growing.) OFFSET 0 keeps
    PostgreSQL from turning the probe into an anti-join, which it plans badly while the
    table's statistics are stale (measured: 73 ms)."""
    labeled: Any = (
        select(literal_column("1"))
        .where(LABEL.c.user_id == bindparam("uid"), LABEL.c.video_id == VIDEO.c.id)
        .offset(_literal(0))
    )
    return ~exists(labeled)


def _not_held(postgres: bool) -> Any:
    """The clip is not one of ``held`` (the clips of the user's open batches): an array on
    PostgreSQL (one statement text whatever the count), an expanding list elsewhere."""
    if postgres:
        return VIDEO.c.id != all_(cast(bindparam("held"), postgresql.ARRAY(Integer)))
    return VIDEO.c.id.not_in(bindparam("held", expanding=True))


def _user_filters(part: _Part, held_array: bool | None) -> list[Any]:
    conditions = []
    if part.skip_labeled:
        conditions.append(_not_labeled())
    if part.skip_held and held_array is not None:
        conditions.append(_not_held(held_array))
    return conditions


#: Priority levels drawn from a random point (the highest and the next); lower ones, rare, are
#: read in index order.
_RANDOM_LEVELS = 2


@functools.lru_cache(maxsize=1)
def _priority_levels() -> Any:
    """The highest priorities still waiting (``l0``, ``l1``, ...: NULL when there are fewer),
    found once per statement (a CTE) by probes at the end of ``ix_video_priority``. (With the
    probes repeated in every scan that needs them, PostgreSQL took 2.5 ms to plan a draw; so,
    1.9 ms; the draw without priority clips, 0.75 ms. A prepared draw is planned only for its
    first executions on a connection; then it runs in 0.5 ms either way.)"""
    waiting = text(PRIORITY_WAITING)
    found: list[Any] = []
    for _ in range(_RANDOM_LEVELS):
        below = [VIDEO.c.priority < found[-1]] if found else []
        found.append(
            select(VIDEO.c.priority)
            .where(waiting, *below)
            .order_by(VIDEO.c.priority.desc())
            .limit(_literal(1))
            .scalar_subquery()
        )
    return select(*[f.label(f"l{n}") for n, f in enumerate(found)]).cte("priority_levels")


def _priority_selects(part: _Part, i: int, held_array: bool | None) -> list[Any]:
    """The priority part's index range scans of ``ix_video_priority``, in the order they are
    wanted: the highest priority from the part's random start, then the same priority before
    the start (wrapped); the next priority the same way; then the lower priorities, highest
    first. The levels come from :func:`_priority_levels`; each scan repeats the index's
    condition, which also leaves out settled and reviewed clips."""
    waiting = text(PRIORITY_WAITING)
    start: Any = bindparam(f"s{i}")
    filters = _user_filters(part, held_array)
    levels = _priority_levels()
    branches: list[tuple[list[Any], list[Any]]] = []
    for n in range(_RANDOM_LEVELS):
        level = select(levels.c[f"l{n}"]).scalar_subquery()
        branches += [
            ([VIDEO.c.priority == level, VIDEO.c.sort_key >= start], [VIDEO.c.sort_key]),
            ([VIDEO.c.priority == level, VIDEO.c.sort_key < start], [VIDEO.c.sort_key]),
        ]
    above = select(levels.c[f"l{_RANDOM_LEVELS - 1}"]).scalar_subquery()
    # backwards along the index: no sort
    branches.append(
        ([VIDEO.c.priority < above], [VIDEO.c.priority.desc(), VIDEO.c.sort_key.desc()])
    )
    return [
        select(*_BATCH_COLUMNS, _literal(i).label("part"), _literal(n).label("wrapped"))
        .where(waiting, *conditions, *filters)
        .order_by(*order)
        .limit(_literal(part.n))
        .subquery()
        for n, (conditions, order) in enumerate(branches)
    ]


def _part_select(part: _Part, i: int, wrap: bool, held_array: bool | None) -> Any:
    """One index range scan of a part: from its random start forward, or (``wrap``) from the
    beginning of the order up to the start. ``held_array``: None (no held clips to leave
    out), else whether they come as a PostgreSQL array."""
    column = VIDEO.c.label_state_admin if part.admin else VIDEO.c.label_state
    start: Any = bindparam(f"s{i}")
    conditions = [
        column == _literal(part.state),
        VIDEO.c.sort_key < start if wrap else VIDEO.c.sort_key >= start,
    ]
    if part.not_final:
        conditions.append(VIDEO.c.label_state_admin.not_in([_literal(x) for x in _FINAL_ADMIN]))
    conditions += _user_filters(part, held_array)
    return (
        select(*_BATCH_COLUMNS, _literal(i).label("part"), _literal(int(wrap)).label("wrapped"))
        .where(*conditions)
        .order_by(VIDEO.c.sort_key)
        .limit(_literal(part.n))
        .subquery()
    )


@functools.lru_cache(maxsize=16)
def _draw_statement(parts: tuple[_Part, ...], held_array: bool | None) -> Any:
    """One statement for a whole batch: per part, up to ``n`` clips from a random point of the
    sort-key order, wrapping around to the beginning when the end comes first.

    Each part is ``(forward scan) UNION ALL (wrapped scan)`` under one LIMIT: the database
    reads the wrapped range only when the forward one runs short, and every scan is an index
    range read with a LIMIT, so the cost does not grow with the table. One statement is one
    snapshot (a clip cannot be seen in two states) and one round trip. Constants are inlined
    and only the starts, the user id and (``held_array`` not None: see ``_part_select``) the
    clips to leave out are parameters; one shape per batch kind, and one more for a redraw.
    """
    selects = []
    for i, part in enumerate(parts):
        if part.priority:
            scans = _priority_selects(part, i, held_array)
        else:
            scans = [_part_select(part, i, wrap, held_array) for wrap in (False, True)]
        both = union_all(*[select(scan) for scan in scans]).subquery()
        selects.append(select(both).limit(_literal(part.n)))
    return union_all(*[select(q.subquery()) for q in selects])


def draw_step(
    parts: tuple[_Part, ...],
    user_id: int,
    rng: random.Random,
    *,
    held: Collection[int] = (),
    postgres: bool = False,
) -> Step:
    """The draw and its parameters: a random start per part, the user (to skip their labeled
    clips) and the ``held`` clips to leave out (none: the statement does not look)."""
    params: dict[str, Any] = {f"s{i}": rng.random() for i in range(len(parts))}
    params["uid"] = user_id
    if not held:
        return (_draw_statement(parts, None), params)
    params["held"] = sorted(held)
    return (_draw_statement(parts, postgres), params)


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


@dataclass(frozen=True, slots=True)
class DrawnBatch:
    """A new batch: its clips in display order (id, file_name, url_root, url_part,
    label_state), and which of them are its gold standards (none on a researcher's)."""

    clips: list[Any]  #: result rows
    gold_ids: tuple[int, ...] = ()

    @property
    def ids(self) -> list[int]:
        return [int(r.id) for r in self.clips]

    @property
    def gold(self) -> int:
        return len(self.gold_ids)


@functools.lru_cache(maxsize=16)
def batch_parts(policy: BatchPolicy, researcher: bool) -> tuple[_Part, ...]:
    """What a batch draws: for a researcher, clips without a researcher label; for a
    volunteer, up to gold - 1 gold standards of each kind (so any mix with at least one of
    each can be made), the priority clips, partly labeled clips by state, and unlabeled
    clips; those to label are kept off the volunteer's open batches (gold standards are
    shown again and again on purpose).
    (A researcher's answers are no votes: one clip on two of
    their batches does no harm, and a reloaded review page should not hide clips for an
    hour.)"""
    if researcher:
        return (_Part("review", True, State.NO_DATA, policy.size, skip_labeled=True),)
    to_label = functools.partial(_Part, skip_labeled=True, skip_held=True, not_final=True)
    most = policy.gold - 1
    return (
        _Part("gold_pos", True, State.GOLD_POS, most),
        _Part("gold_neg", True, State.GOLD_NEG, most),
        to_label("priority", False, State.NO_DATA, policy.to_label, priority=True),
        *(to_label("partial", False, state, policy.to_label) for state in _PARTIAL),
        to_label("fresh", False, State.NO_DATA, policy.to_label),
    )


def _volunteer_batch(
    drawn: dict[str, list[Any]], policy: BatchPolicy, rng: random.Random
) -> tuple[list[Any], tuple[int, ...]] | None:
    """Gold standards (1-3 positives, as RISE, within what exists) and clips to label: the
    priority clips first, then the others (a priority clip that the scans of its state met
    too is taken once)."""
    pos, neg = drawn["gold_pos"], drawn["gold_neg"]
    low, high = max(1, policy.gold - len(neg)), min(3, policy.gold - 1, len(pos))
    if policy.gold < 2 or low > high:
        return None
    positives = rng.randint(low, high)
    gold_rows = pos[:positives] + neg[: policy.gold - positives]
    first = drawn["priority"][: policy.to_label]
    taken = {int(r.id) for r in first}
    # then partly labeled clips (up to the ratio of the rest), unlabeled, more partly labeled
    # (the priority part drew every waiting priority clip unless it filled the batch: the
    # other parts' rows left after taking those out are still enough to fill it)
    rest = policy.to_label - len(first)
    quota = int(rest * policy.partial_ratio)
    partial = [r for r in drawn["partial"] if int(r.id) not in taken]
    fresh = [r for r in drawn["fresh"] if int(r.id) not in taken]
    take_partial = partial[:quota]
    take_fresh = fresh[: rest - len(take_partial)]
    short = rest - len(take_partial) - len(take_fresh)
    take_partial += partial[quota : quota + short]
    gold_ids = tuple(sorted(int(r.id) for r in gold_rows))
    return gold_rows + first + take_partial + take_fresh, gold_ids


def _shuffled(
    made: tuple[list[Any], tuple[int, ...]] | None, policy: BatchPolicy, rng: random.Random
) -> DrawnBatch | None:
    if made is None or len(made[0]) < policy.size:
        return None
    rows, gold_ids = made
    rng.shuffle(rows)
    return DrawnBatch(rows, gold_ids)


def made_batch(
    user: Caller,
    parts: tuple[_Part, ...],
    rows: Sequence[Any],
    policy: BatchPolicy,
    rng: random.Random,
) -> DrawnBatch | None:
    """The batch made of a draw's rows, shuffled; None when there are too few clips."""
    drawn = _pool(parts, rows, rng)
    if user.client_type == Role.RESEARCHER:
        return _shuffled((drawn["review"], ()), policy, rng)
    return _shuffled(_volunteer_batch(drawn, policy, rng), policy, rng)


def draw_batch_plan(
    user: Caller, policy: BatchPolicy, rng: random.Random
) -> Plan[DrawnBatch | None]:
    """A new batch for ``user``, shuffled; None when there are not enough clips (RISE: 204).
    It does not look at the user's open batches (see ``unheld_batch_plan``)."""
    parts = batch_parts(policy, user.client_type == Role.RESEARCHER)
    [rows] = yield Together([draw_step(parts, user.id, rng)])
    return made_batch(user, parts, rows, policy, rng)


def unheld_batch_plan(
    user: Caller,
    parts: tuple[_Part, ...],
    rows: Sequence[Any],
    held: Collection[int],
    policy: BatchPolicy,
    rng: random.Random,
    *,
    postgres: bool,
) -> Plan[DrawnBatch | None]:
    """The batch made of a draw's ``rows`` that holds none of the ``held`` clips (those of
    the user's open batches) other than gold standards: that batch itself nearly always (no
    statement); drawn again, leaving them out, when it holds one."""
    batch = made_batch(user, parts, rows, policy, rng)
    if batch is None or not any(parts[r.part].skip_held and int(r.id) in held for r in batch.clips):
        return batch
    [rows] = yield Together([draw_step(parts, user.id, rng, held=held, postgres=postgres)])
    return made_batch(user, parts, rows, policy, rng)
