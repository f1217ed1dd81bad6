"""Gallery queries and label statistics, with the selections of RISE's ``/api/v1``.

"Positive" in the gallery means: a researcher said smoke, or the citizens did and no
researcher said otherwise; gold and bad clips are shown only to researchers' queries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.orm import Session

from smokewatch.core.labels import (
    NEGATIVE_STATES,
    PARTIAL_STATES,
    POSITIVE_STATES,
    RESEARCHER_ONLY_STATES,
    State,
)
from smokewatch.labeling.catalog import clip_address
from smokewatch.labeling.tables import Label, Video

__all__ = [
    "QUERIES",
    "GalleryQuery",
    "MAX_PAGE_SIZE",
    "gallery_page",
    "user_gallery_page",
    "label_statistics",
    "clip_facets",
]

MAX_PAGE_SIZE = 1000


def _codes(states: frozenset[State]) -> tuple[int, ...]:
    return tuple(sorted(int(s) for s in states))


POS = _codes(POSITIVE_STATES)
NEG = _codes(NEGATIVE_STATES)
_HIDDEN = _codes(RESEARCHER_ONLY_STATES)


def _aggregate(mine: tuple[int, ...], other: tuple[int, ...]) -> ColumnElement[bool]:
    return and_(
        Video.label_state_admin.not_in(_HIDDEN),
        or_(
            Video.label_state_admin.in_(mine),
            and_(Video.label_state_admin.not_in(mine + other), Video.label_state.in_(mine)),
        ),
    )


@dataclass(frozen=True, slots=True)
class GalleryQuery:
    where: ColumnElement[bool] | None
    admin_only: bool


_visible = Video.label_state_admin.not_in(_HIDDEN)

#: endpoint name (without ``get_``) -> selection; RISE's names.
QUERIES: dict[str, GalleryQuery] = {
    "pos_labels": GalleryQuery(_aggregate(POS, NEG), False),
    "neg_labels": GalleryQuery(_aggregate(NEG, POS), False),
    "maybe_pos_labels": GalleryQuery(and_(Video.label_state == State.ONE_YES, _visible), False),
    "maybe_neg_labels": GalleryQuery(and_(Video.label_state == State.ONE_NO, _visible), False),
    "discorded_labels": GalleryQuery(and_(Video.label_state == State.DISCORD, _visible), False),
    "pos_labels_by_citizen": GalleryQuery(and_(Video.label_state.in_(POS), _visible), True),
    "neg_labels_by_citizen": GalleryQuery(and_(Video.label_state.in_(NEG), _visible), True),
    "pos_labels_by_researcher": GalleryQuery(Video.label_state_admin.in_(POS), True),
    "neg_labels_by_researcher": GalleryQuery(Video.label_state_admin.in_(NEG), True),
    "pos_gold_labels": GalleryQuery(Video.label_state_admin == State.GOLD_POS, True),
    "neg_gold_labels": GalleryQuery(Video.label_state_admin == State.GOLD_NEG, True),
    "bad_labels": GalleryQuery(Video.label_state_admin == State.BAD, True),
    "all_labels": GalleryQuery(None, True),
}

_PUBLIC_FIELDS = ("id", "start_time", "view_id", "camera_id", "file_name")
_ADMIN_FIELDS = (
    "id",
    "label_state",
    "label_state_admin",
    "start_time",
    "file_name",
    "view_id",
    "camera_id",
)


def _item(video: Video, fields: tuple[str, ...]) -> dict[str, Any]:
    item = {f: getattr(video, f) for f in fields}
    item["url_root"], item["url_part"] = clip_address(
        video.file_name, video.url_root, video.url_part
    )
    return item


def _page(
    session: Session,
    where: list[ColumnElement[bool]],
    page: int,
    size: int,
    fields: tuple[str, ...],
) -> tuple[list[dict[str, Any]], int]:
    total = session.scalar(select(func.count()).select_from(Video).where(*where)) or 0
    rows = session.scalars(
        select(Video)
        .where(*where)
        .order_by(Video.label_update_time.desc().nulls_last(), Video.id.desc())
        .offset((page - 1) * size)
        .limit(size)
    ).all()
    return [_item(v, fields) for v in rows], total


def gallery_page(
    session: Session,
    name: str,
    *,
    page: int = 1,
    size: int = 16,
    admin_view: bool = False,
    camera_id: int | None = None,
    view_id: int | None = None,
    time_range: tuple[int, int] | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """One page of a named query: (items, total). ``all_labels`` is not paginated.

    ``time_range``: only clips starting in [first, last) epoch seconds (a day, say).
    """
    query = QUERIES[name]
    fields = _ADMIN_FIELDS if admin_view or name == "all_labels" else _PUBLIC_FIELDS
    where = [] if query.where is None else [query.where]
    if camera_id is not None:
        where.append(Video.camera_id == camera_id)
    if view_id is not None:
        where.append(Video.view_id == view_id)
    if time_range is not None:
        where += [Video.start_time >= time_range[0], Video.start_time < time_range[1]]
    if name == "all_labels":
        rows = session.scalars(select(Video).where(*where).order_by(Video.id)).all()
        return [_item(v, fields) for v in rows], len(rows)
    return _page(session, where, page, size, fields)


def user_gallery_page(
    session: Session,
    user_id: int,
    *,
    page: int = 1,
    size: int = 16,
    researcher_caller: bool = False,
    admin_view: bool = False,
) -> tuple[list[dict[str, Any]], int]:
    """Clips that ``user_id`` said have smoke (RISE's ``get_pos_labels?user_id=``).

    The states (gold, bad) only for ``admin_view`` (researchers and experts), as every query.
    """
    positive = (1, *POS) if researcher_caller else (1,)
    labeled = (
        select(Label.video_id).where(Label.user_id == user_id, Label.label.in_(positive)).distinct()
    )
    # others never see which clips check volunteers or are unusable (a clip labeled before a
    # researcher made it gold or bad); researchers see all but the gold positives, as RISE
    hidden = (State.GOLD_POS,) if admin_view else tuple(RESEARCHER_ONLY_STATES)
    where: list[ColumnElement[bool]] = [
        Video.id.in_(labeled),
        Video.label_state_admin.not_in(hidden),
    ]
    return _page(session, where, page, size, _ADMIN_FIELDS if admin_view else _PUBLIC_FIELDS)


def clip_facets(session: Session, timezone: str) -> dict[str, Any]:
    """What the gallery can be filtered by: cameras with their views, first and last day."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    cameras: dict[int, list[int]] = {}
    for camera, view in session.execute(
        select(Video.camera_id, Video.view_id).distinct().order_by(Video.camera_id, Video.view_id)
    ):
        cameras.setdefault(int(camera), []).append(int(view))
    first, last = session.execute(
        select(func.min(Video.start_time), func.max(Video.start_time))
    ).one()
    tz = ZoneInfo(timezone)

    def day(t: int | None) -> str | None:
        return None if t is None else datetime.fromtimestamp(int(t), tz).strftime("%Y-%m-%d")

    return {
        "cameras": [{"camera_id": c, "views": v} for c, v in cameras.items()],
        "first_day": day(first),
        "last_day": day(last),
        "timezone": timezone,
    }


def label_statistics(session: Session) -> dict[str, int]:
    """RISE's counts: all clips, fully labeled, partially labeled, each without gold standards
    and bad clips (RISE's API documentation). Partially labeled: some volunteer answers but
    no label yet, so a clip a researcher labeled is fully labeled, never both."""
    full = POS + NEG
    counted = Video.label_state_admin.not_in(_HIDDEN)
    partial = and_(
        counted,
        Video.label_state_admin.not_in(full),
        Video.label_state.in_(_codes(PARTIAL_STATES)),
    )
    row = session.execute(
        select(
            func.count(case((counted, 1))),
            func.count(
                case(
                    (
                        and_(
                            counted,
                            or_(Video.label_state_admin.in_(full), Video.label_state.in_(full)),
                        ),
                        1,
                    )
                )
            ),
            func.count(case((partial, 1))),
        )
    ).one()
    return {
        "num_all_videos": int(row[0]),
        "num_fully_labeled": int(row[1]),
        "num_partially_labeled": int(row[2]),
    }
