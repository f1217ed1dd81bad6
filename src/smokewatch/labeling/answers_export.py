"""The answers and pages exports: the label history and the pages, as ``core.answers`` rows.

Both are generators over a read session, fetched ``chunk`` rows at a time (a server-side
cursor on PostgreSQL), so a site with millions of answers is exported in constant memory.

What the rows say, and what they cannot:

* ``group`` is the role the answer was given in (``label.client_type``, kept with each
  answer): researcher for 0, citizen otherwise, whatever the user's role is now.
* ``gold`` and ``gold_label`` are the clip's researcher state *now* (gold positive or gold
  negative): the service does not keep when a clip was made a gold standard. A crowd
  assignment's page counts the same way (its clips that are gold standards now: a study's
  check leaves out a gold standard relabeled since); a volunteer page's count is its batch's,
  from when it was issued.
* A researcher may set a state rather than answer: the gold and weak states count as the
  answer they imply (smoke or no smoke); "bad clip" and "back to no data" are no answer about
  smoke and are left out.
* A page that failed its gold standards keeps no answers (as in RISE): it is in the pages
  export, never in the answers export.
* Crowd studies' answers (``crowd_answer``) follow the label history, group ``crowd``, each
  assignment a page (``page`` is the assignment's id, so a worker's (worker, page) pairs stay
  distinct) accepted when its gold standards were all right; a failed assignment keeps its
  answers, unlike a citizen's page. A study that moves the citizens' states also writes its
  accepted answers into the label history (the only citizen answers without a page): those
  rows are left out, the crowd's table has them.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import and_, case, func, not_, select
from sqlalchemy.orm import Session

from smokewatch.core.answers import Answer, Page
from smokewatch.core.labels import GOLD_STATES, NEGATIVE_STATES, POSITIVE_STATES, State
from smokewatch.labeling.tables import (
    Batch,
    CrowdAnswer,
    CrowdAssignment,
    Label,
    Role,
    Video,
)

__all__ = ["answer_value", "export_answers", "export_pages", "group_of"]

_SMOKE = frozenset({*POSITIVE_STATES, State.GOLD_POS})
_NO_SMOKE = frozenset({*NEGATIVE_STATES, State.GOLD_NEG})


def group_of(client_type: int) -> str:
    """The answers file's group of a role: researchers apart, every volunteer a citizen."""
    return "researcher" if client_type == Role.RESEARCHER else "citizen"


def answer_value(label: int) -> int | None:
    """A stored label as an answer, 1 smoke or 0 no smoke; None when it says neither (a
    researcher marking a clip bad, or resetting it)."""
    if label in (0, 1):
        return label
    if label in _SMOKE:
        return 1
    if label in _NO_SMOKE:
        return 0
    return None


def _gold_label(admin: int) -> int | None:
    if admin == State.GOLD_POS:
        return 1
    if admin == State.GOLD_NEG:
        return 0
    return None


def export_answers(session: Session, *, chunk: int = 5000) -> Iterator[Answer]:
    """Every answer in the label history, in the order given (by label id)."""
    query = (
        select(
            Label.video_id,
            Video.file_name,
            Label.user_id,
            Label.client_type,
            Label.label,
            Label.time,
            Label.batch_id,
            Batch.accepted,
            Video.label_state_admin,
        )
        .join(Video, Video.id == Label.video_id)
        .outerjoin(Batch, Batch.id == Label.batch_id)
        .where(not_(and_(Label.batch_id.is_(None), Label.client_type != Role.RESEARCHER)))
        .order_by(Label.id)
        .execution_options(yield_per=chunk)
    )
    for row in session.execute(query):
        value = answer_value(row.label)
        if value is None:
            continue
        gold_label = _gold_label(row.label_state_admin)
        yield Answer(
            task=row.video_id,
            clip=row.file_name,
            worker=row.user_id,
            group=group_of(row.client_type),
            label=value,
            time=row.time,
            page=row.batch_id,
            page_accepted=None if row.batch_id is None else row.accepted,
            gold=gold_label is not None,
            gold_label=gold_label,
            expert=row.client_type == Role.EXPERT,
        )
    yield from _crowd_answers(session, chunk)


def _crowd_answers(session: Session, chunk: int) -> Iterator[Answer]:
    query = (
        select(
            CrowdAnswer.video_id,
            Video.file_name,
            CrowdAssignment.user_id,
            CrowdAnswer.label,
            CrowdAssignment.submit_time,
            CrowdAssignment.id,
            CrowdAssignment.accepted,
            Video.label_state_admin,
        )
        .join(CrowdAssignment, CrowdAssignment.id == CrowdAnswer.assignment_id)
        .join(Video, Video.id == CrowdAnswer.video_id)
        .order_by(CrowdAnswer.id)
        .execution_options(yield_per=chunk)
    )
    for row in session.execute(query):
        gold_label = _gold_label(row.label_state_admin)
        yield Answer(
            task=row.video_id,
            clip=row.file_name,
            worker=row.user_id,
            group="crowd",
            label=row.label,
            time=row.submit_time,
            page=row.id,
            page_accepted=row.accepted,
            gold=gold_label is not None,
            gold_label=gold_label,
        )


def export_pages(session: Session, *, chunk: int = 5000) -> Iterator[Page]:
    """Every page sent back (accepted or not), by id; pages still out are not in it."""
    query = (
        select(
            Batch.id,
            Batch.user_id,
            Batch.client_type,
            Batch.return_time,
            Batch.accepted,
            Batch.num_unlabeled,
            Batch.num_gold_standard,
        )
        .where(Batch.return_time.is_not(None))
        .order_by(Batch.id)
        .execution_options(yield_per=chunk)
    )
    for row in session.execute(query):
        yield Page(
            page=row.id,
            worker=row.user_id,
            group=group_of(row.client_type),
            time=row.return_time,
            accepted=row.accepted,
            clips=row.num_unlabeled + row.num_gold_standard,
            gold=row.num_gold_standard,
        )
    crowd = (
        select(
            CrowdAssignment.id,
            CrowdAssignment.user_id,
            CrowdAssignment.submit_time,
            CrowdAssignment.accepted,
            func.count(CrowdAnswer.id).label("clips"),
            func.sum(case((Video.label_state_admin.in_(list(GOLD_STATES)), 1), else_=0)).label(
                "gold"
            ),
        )
        .join(CrowdAnswer, CrowdAnswer.assignment_id == CrowdAssignment.id)
        .join(Video, Video.id == CrowdAnswer.video_id)
        .where(CrowdAssignment.submit_time.is_not(None))
        .group_by(CrowdAssignment.id)
        .order_by(CrowdAssignment.id)
        .execution_options(yield_per=chunk)
    )
    for done in session.execute(crowd):
        yield Page(
            page=done.id,
            worker=done.user_id,
            group="crowd",
            time=done.submit_time,
            accepted=done.accepted,
            clips=done.clips,
            gold=int(done.gold or 0),
        )
