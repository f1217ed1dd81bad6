"""What the researchers' dashboard shows: users, their contributions and reliability, progress.

Reliability is RISE's: accepted pages / submitted pages. Progress is counted from the label
history (one row per answer), per UTC day, split by who answered (citizens or researchers).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from smokewatch.labeling.errors import ServiceError
from smokewatch.labeling.tables import Batch, Label, Role, User
from smokewatch.labeling.users import ACCOUNT_PREFIX

__all__ = ["user_info", "user_rows", "progress_by_day", "set_user_role", "DAY"]

DAY = 86400


def _name(client_id: str) -> str | None:
    """The account name of a password account; None for anonymous volunteers."""
    return client_id[len(ACCOUNT_PREFIX) :] if client_id.startswith(ACCOUNT_PREFIX) else None


def user_info(user: User, labels: int | None = None) -> dict[str, Any]:
    """One user as the pages show it (no client id of anonymous volunteers: it is their key)."""
    info: dict[str, Any] = {
        "user_id": user.id,
        "name": _name(user.client_id),
        "client_type": user.client_type,
        "role": Role.NAMES.get(user.client_type, "unknown"),
        "score": user.score,
        "raw_score": user.raw_score,
        "pages_submitted": user.pages_submitted,
        "pages_accepted": user.pages_accepted,
        "reliability": (
            round(user.pages_accepted / user.pages_submitted, 4) if user.pages_submitted else None
        ),
        "best_tutorial_action": user.best_tutorial_action,
        "register_time": user.register_time,
    }
    if labels is not None:
        info["labels"] = labels
    return info


def user_rows(session: Session, limit: int = 100) -> list[dict[str, Any]]:
    """Accounts first, then the volunteers who did the most (by score, then raw score)."""
    counts = (
        select(Label.user_id, func.count().label("n")).group_by(Label.user_id).subquery("counts")
    )
    is_account = case((User.client_id.startswith(ACCOUNT_PREFIX), 0), else_=1)
    rows = session.execute(
        select(User, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.user_id == User.id)
        .order_by(is_account, User.score.desc(), User.raw_score.desc(), User.id)
        .limit(limit)
    ).all()
    return [user_info(user, int(n)) for user, n in rows]


def progress_by_day(session: Session) -> list[dict[str, int]]:
    """Per UTC day: answers by citizens and by researchers, volunteer pages submitted and
    accepted (by the kind each page was given as, as the label history counts answers)."""
    # ``//`` on integer columns is integer division on both databases. (``/`` is true
    # division in SQLAlchemy 2: NUMERIC on PostgreSQL, and a cast to INTEGER then *rounds*,
    # which dated every answer after 12:00 UTC on the next day.)
    label_day = (Label.time // DAY).label("day")
    days: dict[int, dict[str, int]] = {}

    def row(day: int) -> dict[str, int]:
        return days.setdefault(
            day,
            {
                "day": day * DAY,
                "citizen_labels": 0,
                "researcher_labels": 0,
                "pages_submitted": 0,
                "pages_accepted": 0,
            },
        )

    for day, citizen, researcher in session.execute(
        select(
            label_day,
            func.count(case((Label.client_type != Role.RESEARCHER, 1))),
            func.count(case((Label.client_type == Role.RESEARCHER, 1))),
        ).group_by(label_day)
    ):
        r = row(int(day))
        r["citizen_labels"], r["researcher_labels"] = int(citizen), int(researcher)
    batch_day = (Batch.return_time // DAY).label("day")
    for returned, submitted, accepted in session.execute(
        select(
            batch_day,
            func.count(),
            func.count(case((Batch.accepted.is_(True), 1))),
        )
        # the page's kind (the role it was given to), not its owner's role now: a demoted
        # researcher's review pages stay review pages
        .where(Batch.return_time.is_not(None), Batch.client_type != Role.RESEARCHER)
        .group_by(batch_day)
    ):
        assert returned is not None  # only returned pages are counted
        r = row(int(returned))
        r["pages_submitted"], r["pages_accepted"] = int(submitted), int(accepted)
    return [days[d] for d in sorted(days)]


def set_user_role(session: Session, actor_id: int, user_id: int, role: int) -> User:
    """A researcher changes someone's role (takes effect on that user's next request)."""
    if role not in Role.NAMES:
        raise ServiceError(f"unknown role {role}; choose one of {sorted(Role.NAMES)}")
    if user_id == actor_id:
        raise ServiceError("You cannot change your own role (ask another researcher)", 400)
    user = session.get(User, user_id)
    if user is None:
        raise ServiceError(f"no such user: {user_id}", 404)
    if role in (Role.RESEARCHER, Role.EXPERT) and not user.client_id.startswith(ACCOUNT_PREFIX):
        raise ServiceError(
            "Only password accounts can be researchers or experts "
            "(create one with 'smokewatch users add')",
            400,
        )
    user.client_type = role
    return user
