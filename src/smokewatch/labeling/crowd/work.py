"""Crowd studies: create one (its clips cut into fixed tasks), let workers in, give each a
task it has not had, take its answers once, and report the study's progress.

Every rule that keeps the data honest is also a database constraint, so it holds under
concurrency: one assignment per worker and task (``uq_crowd_assignment_task_id_user_id``), one
use of a platform's assignment id per study, one claim of an assignment's answers (a
compare-and-set on ``submit_time``). Giving a task locks the study's row (PostgreSQL; SQLite's
write transaction already holds its one lock) so two workers cannot both take a task's last
wanted slot.

Worker ids come from URLs: they are data, stored as given (up to 255 characters, no control
or format characters) and never part of a query's text; the user's ``client_id`` uses them
only when they are plain (letters, digits, ``_`` and ``-``), else a hash of them.

A worker holds at most one open assignment per study (given, not submitted, its hold time not
over), and a hold that ran out is over: its slot may be someone else's, so its answers are
refused (410). A submitted assignment's code can be had again (``submit_task`` or
``give_task`` by its owner) without changing anything stored: the code existed only in one
response, and a worker who lost it must still be paid.
"""

from __future__ import annotations

import hashlib
import random
import re
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from smokewatch.core.labels import GOLD_STATES, State, citizen_next, gold_answer_right
from smokewatch.labeling.batches.answers import (
    is_postgres,
    record_answers_step,
    set_states_step,
    states_of,
)
from smokewatch.labeling.batches.statements import LOCK_VIDEOS
from smokewatch.labeling.crowd.codes import Completion
from smokewatch.labeling.db import Step, run_together
from smokewatch.labeling.errors import ServiceError
from smokewatch.labeling.tables import (
    Connection,
    CrowdAnswer,
    CrowdAssignment,
    CrowdStudy,
    CrowdTask,
    Label,
    Role,
    User,
    Video,
)
from smokewatch.labeling.users import CROWD_PREFIX, connect, is_row_id, parse_row_id

__all__ = [
    "CROWD_PREFIX",
    "PLATFORMS",
    "CrowdError",
    "Given",
    "crowd_client_id",
    "create_study",
    "clip_ids",
    "close_study",
    "give_task",
    "list_studies",
    "qualified",
    "random_clips",
    "join_study",
    "study_report",
    "submit_task",
]

PLATFORMS = ("mturk", "prolific", "other")
TASK_CLIPS = 12
TASK_GOLD = 4
_PLAIN_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: MTurk's assignment id while a worker only previews a HIT: not an assignment
MTURK_PREVIEW = "ASSIGNMENT_ID_NOT_AVAILABLE"


class CrowdError(ServiceError):
    """A crowd request that cannot be done."""


def checked_text(value: str, what: str) -> str:
    """Text from a user or a URL: 1-255 characters, no control characters (PostgreSQL refuses
    NUL in text, and a newline has no place in an id or a name). Anything else is kept as is."""
    if not isinstance(value, str) or not value.strip():
        raise CrowdError(f"{what} is empty")
    if len(value) > 255:
        raise CrowdError(f"{what} is longer than 255 characters")
    if _CONTROL.search(value):
        raise CrowdError(f"{what} holds control characters")
    return value


def checked_id(value: str, what: str) -> str:
    """An id from a platform's URL: as ``checked_text``, and no control or format characters
    of any script (Unicode categories Cc, Cf: C1 controls, zero-width spaces and joiners, the
    bidirectional overrides such as U+202E). Those make ids that look alike, or look like
    nothing, so one worker could pass for another on the dashboard; platforms' ids never hold
    them. (A study's name may: scripts such as Persian need the zero-width non-joiner.)"""
    value = checked_text(value, what)
    for char in value:
        if unicodedata.category(char) in ("Cc", "Cf"):
            raise CrowdError(
                f"{what} holds an invisible character (U+{ord(char):04X}: a control or "
                "format character)"
            )
    return value


def crowd_client_id(platform: str, worker_ref: str) -> str:
    """The user's client id: ``crowd.<platform>.<worker id>`` for a plain id, else
    ``crowd.<platform>.~<sha256>`` (``~`` cannot occur in a plain id, so the two never meet)."""
    if platform not in PLATFORMS:
        raise CrowdError(f"platform must be one of {', '.join(PLATFORMS)}")
    if _PLAIN_ID.match(worker_ref):
        return f"{CROWD_PREFIX}{platform}.{worker_ref}"
    digest = hashlib.sha256(worker_ref.encode("utf-8")).hexdigest()
    return f"{CROWD_PREFIX}{platform}.~{digest}"


def _gold_for_task(rng: random.Random, pos: list[int], neg: list[int], n: int) -> list[int]:
    """``n`` gold standards, 1 to n-1 of them with smoke (as a volunteer page's: never all of
    one answer, so "all smoke" or "none" cannot pass)."""
    most_pos = min(len(pos), n - 1)
    least_pos = max(1, n - len(neg))
    n_pos = rng.randint(least_pos, most_pos)
    return rng.sample(pos, n_pos) + rng.sample(neg, n - n_pos)


def create_study(
    session: Session,
    *,
    name: str,
    video_ids: Sequence[int],
    assignments: int,
    reward_cents: int = 0,
    min_tutorial_action: int = 2,
    moves_states: bool = False,
    hold_seconds: int = 3600,
    creator_id: int | None = None,
    seed: int | None = None,
) -> CrowdStudy:
    """A study over ``video_ids`` (in the order given), cut into tasks of 12 clips (the last
    one may hold fewer) plus 4 gold standards drawn from the site's, each task wanted from
    ``assignments`` different workers."""
    name = checked_text(name, "the study's name")
    if not 1 <= assignments <= 100:
        raise CrowdError("assignments must be 1-100 (the paper: 5)")
    if not 0 <= reward_cents <= 100_000:
        raise CrowdError("reward_cents must be 0-100000")
    if not 0 <= min_tutorial_action <= 4:
        raise CrowdError("min_tutorial_action must be 0-4 (add_tutorial_record's codes)")
    if not 60 <= hold_seconds <= 7 * 86400:
        raise CrowdError("hold_seconds must be 60 s to 7 days")
    ids = list(dict.fromkeys(int(v) for v in video_ids))
    if not ids:
        raise CrowdError("a study needs clips")
    if len(ids) > 100_000:
        raise CrowdError("at most 100000 clips per study")
    found = {
        r[0]: r[1]
        for r in session.execute(
            select(Video.id, Video.label_state_admin).where(
                Video.id.in_([v for v in ids if is_row_id(v)])  # others cannot be bound
            )
        )
    }
    missing = [v for v in ids if v not in found]
    if missing:
        raise CrowdError(f"no such clip: {', '.join(map(str, missing[:10]))}", 404)
    gold_in = [v for v in ids if found[v] in GOLD_STATES]
    if gold_in:
        raise CrowdError(f"clip {gold_in[0]} is a gold standard; a study's clips cannot be")
    pos = list(session.scalars(select(Video.id).where(Video.label_state_admin == State.GOLD_POS)))
    neg = list(session.scalars(select(Video.id).where(Video.label_state_admin == State.GOLD_NEG)))
    if not pos or not neg or len(pos) + len(neg) < TASK_GOLD:
        raise CrowdError(
            f"a study needs {TASK_GOLD} gold standards per task, with and without smoke; "
            f"the site has {len(pos)} with smoke and {len(neg)} without",
            409,
        )
    rng = random.Random(seed)
    study = CrowdStudy(
        name=name,
        creator_id=creator_id,
        create_time=int(time.time()),
        assignments_wanted=assignments,
        reward_cents=reward_cents,
        min_tutorial_action=min_tutorial_action,
        moves_states=moves_states,
        hold_seconds=hold_seconds,
        is_open=True,
    )
    session.add(study)
    session.flush()
    for number, start in enumerate(range(0, len(ids), TASK_CLIPS)):
        session.add(
            CrowdTask(
                study_id=study.id,
                number=number,
                video_ids=ids[start : start + TASK_CLIPS],
                gold_ids=sorted(_gold_for_task(rng, pos, neg, TASK_GOLD)),
            )
        )
    session.flush()
    return study


def random_clips(session: Session, count: int, seed: int | None = None) -> list[int]:
    """``count`` clips drawn at random (``seed``) from those without a researcher label."""
    pool = list(
        session.scalars(select(Video.id).where(Video.label_state_admin == -1).order_by(Video.id))
    )
    if not 1 <= count <= len(pool):
        raise CrowdError(f"random:{count}: {len(pool)} clips have no researcher label")
    return sorted(random.Random(seed).sample(pool, count))


def clip_ids(session: Session, refs: Sequence[str]) -> list[int]:
    """Clip ids from references: RISE file names, or ids (ASCII digits), in the order given.
    Digits no clip id can be (beyond 32 bits) are looked up as a name, and so not found."""
    numbers = {r: parse_row_id(r) for r in refs}
    names = [r for r in refs if numbers[r] is None]
    by_name = {
        r[0]: r[1]
        for r in session.execute(
            select(Video.file_name, Video.id).where(Video.file_name.in_(names))
        )
    }
    missing = [n for n in names if n not in by_name]
    if missing:
        raise CrowdError(f"no clip named {missing[0]!r}", 404)
    return [by_name[r] if (number := numbers[r]) is None else number for r in refs]


def _study(session: Session, study_id: int, *, lock: bool = False) -> CrowdStudy:
    if not is_row_id(study_id):  # e.g. a command line's 99999999999999999999999
        raise CrowdError(f"no crowd study {study_id}", 404)
    query = select(CrowdStudy).where(CrowdStudy.id == study_id)
    if lock:
        query = query.with_for_update()
    study = session.scalar(query)
    if study is None:
        raise CrowdError(f"no crowd study {study_id}", 404)
    return study


def join_study(
    session: Session, study_id: int, platform: str, worker_ref: str
) -> tuple[User, Connection, CrowdStudy]:
    """The worker's user (made on first sight) and a new session for it."""
    worker_ref = checked_id(worker_ref, "the worker id")
    study = _study(session, study_id)
    client_id = crowd_client_id(platform, worker_ref)
    user = session.scalar(select(User).where(User.client_id == client_id))
    if user is None:
        try:
            with session.begin_nested():
                user = User(client_id=client_id, register_time=int(time.time()))
                session.add(user)
        except IntegrityError:  # the same worker joined twice at once: take the other row
            user = session.scalar(select(User).where(User.client_id == client_id))
            assert user is not None
    return user, connect(session, user), study


def qualified(user: User, study: CrowdStudy) -> bool:
    return user.best_tutorial_action >= study.min_tutorial_action


@dataclass(frozen=True, slots=True)
class Given:
    """An assignment as the worker's page gets it: its clips, gold hidden among them."""

    assignment_id: int
    study_id: int
    task_number: int
    video_ids: list[int]
    given_time: int
    #: when its hold runs out: answers sent later are refused (the page shows the time left)
    expire_time: int


def _shuffled(assignment_id: int, task: CrowdTask) -> list[int]:
    clips = [*task.video_ids, *task.gold_ids]
    random.Random(assignment_id).shuffle(clips)  # the same order on every reload
    return clips


def _expired(assignment: CrowdAssignment, study: CrowdStudy, now: int) -> bool:
    """Whether an unsubmitted assignment's hold is over (``give_task``'s "live" is the
    opposite): its slot may have gone to another worker."""
    return assignment.given_time <= now - study.hold_seconds


def _still_gold(session: Session, gold_ids: Sequence[int]) -> set[int]:
    """Those of a task's gold standards that are gold standards now: a researcher may relabel
    one after the study was made (mark it bad, say), and a clip that no longer has a right
    answer cannot be held against a worker."""
    return set(
        session.scalars(
            select(Video.id).where(
                Video.id.in_(list(gold_ids)), Video.label_state_admin.in_(list(GOLD_STATES))
            )
        )
    )


def _gold_total(accepted: bool | None, gold_right: int, still_gold: int) -> int:
    """How many gold standards a submitted assignment was scored on. Not stored: an accepted
    one was scored on exactly those it got right; a failed one on more than it got right, and
    (unless a gold standard changed since) on those still gold now."""
    if accepted:
        return gold_right
    return max(gold_right + 1, still_gold)


def _completion(session: Session, assignment: CrowdAssignment, task: CrowdTask) -> Completion:
    """A submitted assignment's completion, rebuilt from its row: the same code as the one
    its submit answered with (codes hold no token id or expiry), for a worker who lost it."""
    assert assignment.submit_time is not None
    gold_right = assignment.gold_right or 0
    still = len(_still_gold(session, task.gold_ids))
    return Completion(
        study=assignment.study_id,
        platform=assignment.platform,
        worker=assignment.worker_ref,
        assignment=assignment.assignment_ref,
        task=task.number,
        gold_right=gold_right,
        gold_total=_gold_total(assignment.accepted, gold_right, still),
        time=assignment.submit_time,
    )


def give_task(
    session: Session,
    *,
    study_id: int,
    user_id: int,
    platform: str,
    worker_ref: str,
    assignment_ref: str,
    hit_ref: str | None = None,
    now: int | None = None,
) -> Given | Completion | None:
    """The worker's task for this platform assignment: the one it was given already (a
    reload; its completion if it was submitted, so a lost code can be had again; 410 if its
    hold ran out), else a task it has never had that still wants workers (fewest taken first,
    then in order). None: no task is left for this worker. 403 before the qualification;
    409 while the worker holds another open assignment in this study (one at a time, so one
    worker id cannot hold every slot)."""
    now = int(time.time()) if now is None else now
    worker_ref = checked_id(worker_ref, "the worker id")
    assignment_ref = checked_id(assignment_ref, "the assignment id")
    if assignment_ref == MTURK_PREVIEW:
        raise CrowdError(
            f"{MTURK_PREVIEW} is MTurk's preview, not an assignment: accept the HIT on MTurk "
            "to start the task"
        )
    if hit_ref is not None:
        hit_ref = checked_id(hit_ref, "the HIT or session id")
    study = _study(session, study_id, lock=True)
    user = session.get(User, user_id)
    if user is None or user.client_id != crowd_client_id(platform, worker_ref):
        raise CrowdError("this token is not this worker's", 403)
    if not qualified(user, study):
        raise CrowdError("Pass the tutorial first: it is this study's qualification", 403)
    same = session.scalar(
        select(CrowdAssignment).where(
            CrowdAssignment.study_id == study.id,
            CrowdAssignment.platform == platform,
            CrowdAssignment.assignment_ref == assignment_ref,
        )
    )
    if same is not None:
        if same.user_id != user_id:
            raise CrowdError("this assignment id belongs to another worker", 409)
        task = session.get(CrowdTask, same.task_id)
        assert task is not None
        if same.submit_time is not None:
            return _completion(session, same, task)
        if _expired(same, study, now):
            raise CrowdError(_TIME_UP.format(minutes=_minutes(study.hold_seconds)), 410)
        return Given(
            same.id,
            study.id,
            task.number,
            _shuffled(same.id, task),
            same.given_time,
            same.given_time + study.hold_seconds,
        )
    if not study.is_open:
        raise CrowdError("this study is closed", 410)
    held = session.scalar(
        select(CrowdAssignment.assignment_ref)
        .where(
            CrowdAssignment.study_id == study.id,
            CrowdAssignment.user_id == user_id,
            _open(study, now),
        )
        .limit(1)
    )
    if held is not None:
        raise CrowdError(
            f"you have an open assignment in this study ({held!r}): submit it (or let its "
            f"{_minutes(study.hold_seconds)} min run out) before taking another",
            409,
        )
    live = CrowdAssignment.submit_time.is_not(None) | _open(study, now)
    taken = (
        select(CrowdAssignment.task_id, func.count().label("n"))
        .where(CrowdAssignment.study_id == study.id, live)
        .group_by(CrowdAssignment.task_id)
        .subquery()
    )
    had = select(CrowdAssignment.task_id).where(
        CrowdAssignment.study_id == study.id, CrowdAssignment.user_id == user_id
    )
    count = func.coalesce(taken.c.n, 0)
    task = session.scalar(
        select(CrowdTask)
        .outerjoin(taken, taken.c.task_id == CrowdTask.id)
        .where(
            CrowdTask.study_id == study.id,
            CrowdTask.id.not_in(had),
            count < study.assignments_wanted,
        )
        .order_by(count, CrowdTask.number)
        .limit(1)
    )
    if task is None:
        return None
    assignment = CrowdAssignment(
        study_id=study.id,
        task_id=task.id,
        user_id=user_id,
        platform=platform,
        worker_ref=worker_ref,
        assignment_ref=assignment_ref,
        hit_ref=hit_ref,
        given_time=now,
    )
    session.add(assignment)
    session.flush()
    return Given(
        assignment.id,
        study.id,
        task.number,
        _shuffled(assignment.id, task),
        now,
        now + study.hold_seconds,
    )


_TIME_UP = (
    "the time for this assignment ran out ({minutes} min after it was given): its task may "
    "be another worker's now, so these answers cannot be taken; return the assignment on the "
    "platform"
)


def _minutes(seconds: int) -> int:
    return max(1, round(seconds / 60))


def submit_task(
    session: Session,
    *,
    user_id: int,
    assignment_id: int,
    answers: Sequence[tuple[int, int]],
    min_seconds: int = 0,
    now: int | None = None,
) -> Completion:
    """Take an assignment's answers once and say what its completion code must record.
    Answers on every clip of the task, 0 or 1 each, before its hold runs out (410).

    Sent again (a lost response, a closed tab): the same completion, rebuilt from the stored
    row; nothing stored changes, whatever the answers. Gold standards a researcher relabeled
    since the study was made are left out of the check (and of ``gold_total``)."""
    now = int(time.time()) if now is None else now
    assignment = session.scalar(
        select(CrowdAssignment).where(CrowdAssignment.id == assignment_id).with_for_update()
    )
    if assignment is None or assignment.user_id != user_id:
        raise CrowdError("no such assignment for this worker", 404)
    task = session.get(CrowdTask, assignment.task_id)
    study = session.get(CrowdStudy, assignment.study_id)
    assert task is not None and study is not None
    if assignment.submit_time is not None:
        return _completion(session, assignment, task)
    if _expired(assignment, study, now):
        raise CrowdError(_TIME_UP.format(minutes=_minutes(study.hold_seconds)), 410)
    wait = assignment.given_time + min_seconds - now
    if wait > 0:
        raise CrowdError(f"Too early: look at the clips a little longer (submit in {wait} s)", 425)
    given = set(task.video_ids) | set(task.gold_ids)
    labels: dict[int, int] = {}
    for vid, label in answers:
        if vid not in given:
            raise CrowdError(f"video {vid} is not in this task")
        if vid in labels:
            raise CrowdError(f"video {vid} is answered twice")
        if label not in (0, 1):
            raise CrowdError(f"video {vid}: a label is 0 or 1")
        labels[vid] = label
    if len(labels) != len(given):
        raise CrowdError(f"answer every clip of the task ({len(given)}), not {len(labels)}")
    postgres = is_postgres(session)
    states = states_of(
        session.connection().execute(LOCK_VIDEOS[postgres], {"p_ids": sorted(given)}).all(),
        sorted(given),
    )
    gold = [vid for vid in task.gold_ids if states[vid][1] in GOLD_STATES]  # still gold
    gold_right = sum(gold_answer_right(states[vid][1], labels[vid]) is True for vid in gold)
    accepted = gold_right >= len(gold)
    claimed = session.execute(
        update(CrowdAssignment)
        .where(CrowdAssignment.id == assignment.id, CrowdAssignment.submit_time.is_(None))
        .values(submit_time=now, gold_right=gold_right, accepted=accepted)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise CrowdError("this assignment was submitted already", 409)
    session.add_all(
        CrowdAnswer(assignment_id=assignment.id, video_id=vid, label=label)
        for vid, label in labels.items()
    )
    if study.moves_states and accepted:
        # as a volunteer's accepted page: the citizens' states move (gold standards never),
        # and the answers join the label history (where the answers export leaves them out:
        # it has them from the crowd's own table)
        # one vote per person and clip, as on volunteer pages: a clip this worker already
        # moved (as a volunteer, or in another study) keeps that one vote
        voted = set(
            session.scalars(
                select(Label.video_id).where(
                    Label.user_id == user_id, Label.video_id.in_(task.video_ids)
                )
            )
        )
        plain = [
            (v, labels[v])
            for v in task.video_ids
            if states[v][1] not in GOLD_STATES and v not in voted
        ]
        new_states = {vid: int(citizen_next(states[vid][0], label)) for vid, label in plain}
        if plain:
            steps: list[Step] = [
                set_states_step(postgres, "label_state", new_states, now),
                record_answers_step(postgres, plain, user_id, Role.LAYPERSON, None, now),
            ]
            run_together(session, steps)
    session.flush()
    return Completion(
        study=study.id,
        platform=assignment.platform,
        worker=assignment.worker_ref,
        assignment=assignment.assignment_ref,
        task=task.number,
        gold_right=gold_right,
        gold_total=len(gold),
        time=now,
    )


def _open(study: CrowdStudy, now: int) -> Any:
    """Assignments given and not submitted whose hold has not run out: those still holding a
    slot (an expired one holds nothing, and its answers would be refused)."""
    return CrowdAssignment.submit_time.is_(None) & (
        CrowdAssignment.given_time > now - study.hold_seconds
    )


def study_row(session: Session, study: CrowdStudy, now: int | None = None) -> dict[str, Any]:
    """A study with its progress: tasks, assignments wanted, done and open (holds not run
    out), pay so far (every submitted assignment, failed ones too: see docs/crowd.md)."""
    now = int(time.time()) if now is None else now
    tasks = session.scalar(select(func.count()).where(CrowdTask.study_id == study.id)) or 0
    done = (
        session.scalar(
            select(func.count()).where(
                CrowdAssignment.study_id == study.id, CrowdAssignment.submit_time.is_not(None)
            )
        )
        or 0
    )
    held = (
        session.scalar(
            select(func.count()).where(CrowdAssignment.study_id == study.id, _open(study, now))
        )
        or 0
    )
    clips = sum(
        len(v) for v in session.scalars(select(CrowdTask.video_ids).where(
            CrowdTask.study_id == study.id))
    )  # fmt: skip
    wanted = tasks * study.assignments_wanted
    return {
        "id": study.id,
        "name": study.name,
        "create_time": study.create_time,
        "clips": clips,
        "tasks": tasks,
        "assignments_per_task": study.assignments_wanted,
        "assignments_wanted": wanted,
        "assignments_done": done,
        "assignments_open": held,
        "reward_cents": study.reward_cents,
        "paid_cents": done * study.reward_cents,
        "budget_cents": wanted * study.reward_cents,
        "min_tutorial_action": study.min_tutorial_action,
        "moves_states": study.moves_states,
        "is_open": study.is_open,
    }


def list_studies(session: Session) -> list[dict[str, Any]]:
    studies = session.scalars(select(CrowdStudy).order_by(CrowdStudy.id.desc()))
    return [study_row(session, s) for s in studies]


def study_report(session: Session, study_id: int, now: int | None = None) -> dict[str, Any]:
    """The study's progress and its workers: assignments done, gold standards right of those
    they were scored on (their reliability), pages accepted, and their pay at the study's
    reward."""
    now = int(time.time()) if now is None else now
    study = _study(session, study_id)
    gold_totals = _gold_totals(session, study)
    rows = session.execute(
        select(
            CrowdAssignment.user_id,
            CrowdAssignment.platform,
            CrowdAssignment.worker_ref,
            func.count(CrowdAssignment.submit_time).label("done"),
            func.count(CrowdAssignment.id).filter(_open(study, now)).label("open"),
            func.coalesce(func.sum(CrowdAssignment.gold_right), 0).label("gold_right"),
            func.count(CrowdAssignment.accepted)
            .filter(CrowdAssignment.accepted.is_(True))
            .label("acc"),
            func.max(CrowdAssignment.submit_time).label("last"),
        )
        .where(CrowdAssignment.study_id == study.id)
        .group_by(CrowdAssignment.user_id, CrowdAssignment.platform, CrowdAssignment.worker_ref)
        .order_by(func.count(CrowdAssignment.submit_time).desc(), CrowdAssignment.user_id)
    ).all()
    workers = []
    for r in rows:
        gold_total = gold_totals.get(r.user_id, 0)
        workers.append(
            {
                "user_id": r.user_id,
                "platform": r.platform,
                "worker": r.worker_ref,
                "assignments_done": int(r.done),
                "assignments_open": int(r.open),
                "gold_right": int(r.gold_right),
                "gold_total": gold_total,
                "reliability": (int(r.gold_right) / gold_total) if gold_total else None,
                "accepted": int(r.acc),
                "paid_cents": int(r.done) * study.reward_cents,
                "last_submit_time": r.last,
            }
        )
    return {"study": study_row(session, study, now), "workers": workers}


def _gold_totals(session: Session, study: CrowdStudy) -> dict[int, int]:
    """Per worker, the gold standards their submitted assignments were scored on (4 each,
    less any a researcher relabeled: see ``_gold_total``)."""
    gold_of = {
        t.id: t.gold_ids
        for t in session.execute(
            select(CrowdTask.id, CrowdTask.gold_ids).where(CrowdTask.study_id == study.id)
        )
    }
    still = _still_gold(session, sorted({v for ids in gold_of.values() for v in ids}))
    totals: dict[int, int] = {}
    for a in session.execute(
        select(
            CrowdAssignment.user_id,
            CrowdAssignment.task_id,
            CrowdAssignment.gold_right,
            CrowdAssignment.accepted,
        ).where(CrowdAssignment.study_id == study.id, CrowdAssignment.submit_time.is_not(None))
    ):
        now_gold = sum(v in still for v in gold_of[a.task_id])
        total = _gold_total(a.accepted, a.gold_right or 0, now_gold)
        totals[a.user_id] = totals.get(a.user_id, 0) + total
    return totals


def close_study(session: Session, study_id: int, is_open: bool = False) -> CrowdStudy:
    study = _study(session, study_id, lock=True)
    study.is_open = is_open
    return study
