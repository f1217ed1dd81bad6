"""Smoke events from detection runs, for researchers: a day's events by view, and a verdict.

Confirming an event says its clips hold smoke, rejecting it says they do not: either sets the
researcher state of every clip of its windows, through ``core.labels`` (the answers 1 and 0,
as a researcher's review page gives them), with the label history recording who and when.
Gold standards and clips marked bad keep their state: an event is no reason to stop using a
clip to check volunteers, or to use an unusable one. A verdict given again changes nothing;
the other verdict relabels the clips.

Days are calendar days in the cameras' time zone (``SMOKEWATCH_TIMEZONE``), and the times
the pages show are given in it, so what a researcher reads is the cameras' local time.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from smokewatch.core.epoch import local_time
from smokewatch.core.labels import GOLD_STATES, State, final_label
from smokewatch.labeling.batches import set_researcher_states
from smokewatch.labeling.catalog import clip_address
from smokewatch.labeling.errors import ServiceError
from smokewatch.labeling.tables import Event, EventClip, EventStatus, User, Video
from smokewatch.labeling.users import ACCOUNT_PREFIX, Caller

__all__ = ["EVIDENCE_URL", "EventError", "day_events", "review_event"]

#: Where the app serves the evidence store.
EVIDENCE_URL = "/evidence/"
#: A verdict and the answer it gives each clip (``core.labels.researcher_state``).
_ANSWERS = {EventStatus.CONFIRMED: 1, EventStatus.REJECTED: 0}
#: Researcher states an event does not overwrite.
_KEPT = frozenset({*GOLD_STATES, State.BAD})


class EventError(ServiceError):
    """An event request that cannot be taken (no such event, a malformed day)."""


def _zone(timezone: str) -> ZoneInfo:
    return ZoneInfo(timezone)


def _day_bounds(day: str, zone: ZoneInfo) -> tuple[float, float]:
    """[start, end) epoch seconds of a calendar day in ``zone`` (23 or 25 hours on the days
    the clocks change)."""
    try:
        start = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=zone)
        end = (start.replace(tzinfo=None) + timedelta(days=1)).replace(tzinfo=zone)
        return start.timestamp(), end.timestamp()
    except (ValueError, OverflowError):
        raise EventError(f"date must be a day YYYY-MM-DD before 9999-12-31, got {day!r}") from None


def _local_day(epoch: float, zone: ZoneInfo) -> str:
    return local_time(epoch, zone).strftime("%Y-%m-%d")


def _local(epoch: float, zone: ZoneInfo) -> str:
    return local_time(epoch, zone).isoformat(timespec="seconds")


def _name(client_id: str | None) -> str | None:
    if client_id is None:
        return None
    return client_id.removeprefix(ACCOUNT_PREFIX)


def _clips(session: Session, event_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = {e: [] for e in event_ids}
    if not event_ids:
        return out
    rows = session.execute(
        select(
            EventClip.event_id,
            Video.id,
            Video.file_name,
            Video.start_time,
            Video.url_root,
            Video.url_part,
            Video.label_state,
            Video.label_state_admin,
        )
        .join(Video, Video.id == EventClip.video_id)
        .where(EventClip.event_id.in_(event_ids))
        .order_by(EventClip.event_id, Video.start_time, Video.id)
    )
    for r in rows:
        out[int(r.event_id)].append(
            {
                "id": r.id,
                "file_name": r.file_name,
                "start_time": r.start_time,
                "url": "".join(clip_address(r.file_name, r.url_root, r.url_part)),
                "label_state": r.label_state,
                "label_state_admin": r.label_state_admin,
                "label": final_label(r.label_state, r.label_state_admin),
            }
        )
    return out


def _event_json(
    event: Event, reviewer: str | None, clips: list[dict[str, Any]], zone: ZoneInfo
) -> dict[str, Any]:
    def url(name: str | None) -> str | None:
        return None if name is None else EVIDENCE_URL + name

    return {
        "id": event.id,
        "detection_id": event.detection_id,
        "camera_id": event.camera_id,
        "view_id": event.view_id,
        "start_time": event.start_time,
        "end_time": event.end_time,
        "local_start": _local(event.start_time, zone),
        "local_end": _local(event.end_time, zone),
        "start_frame": event.start_frame,
        "end_frame": event.end_frame,
        "max_probability": event.max_probability,
        "status": event.status,
        "reviewer": reviewer,
        "review_time": event.review_time,
        "evidence_clip_url": url(event.evidence_clip),
        "evidence_gif_url": url(event.evidence_gif),
        "clips": clips,
    }


def _events_json(session: Session, events: list[Event], zone: ZoneInfo) -> list[dict[str, Any]]:
    clips = _clips(session, [e.id for e in events])
    reviewer_ids = {e.reviewer_id for e in events if e.reviewer_id is not None}
    names: dict[int | None, str] = {}
    if reviewer_ids:
        query = select(User.id, User.client_id).where(User.id.in_(reviewer_ids))
        names.update((int(uid), str(cid)) for uid, cid in session.execute(query))
    return [_event_json(e, _name(names.get(e.reviewer_id)), clips[e.id], zone) for e in events]


def day_events(session: Session, day: str | None, timezone: str) -> dict[str, Any]:
    """The events of one day (default: the last day with events) by view, with their clips,
    and the days with events before and after it."""
    zone = _zone(timezone)
    if day is None:
        last = session.scalar(select(func.max(Event.start_time)))
        if last is None:
            return {
                "timezone": timezone,
                "date": None,
                "day_start": None,
                "day_end": None,
                "previous_date": None,
                "next_date": None,
                "views": [],
            }
        day = _local_day(float(last), zone)
    start, end = _day_bounds(day, zone)
    events = list(
        session.scalars(
            select(Event)
            .where(Event.start_time >= start, Event.start_time < end)
            .order_by(Event.camera_id, Event.view_id, Event.start_time, Event.id)
        )
    )
    before = session.scalar(select(func.max(Event.start_time)).where(Event.start_time < start))
    after = session.scalar(select(func.min(Event.start_time)).where(Event.start_time >= end))
    views: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for item in _events_json(session, events, zone):
        views.setdefault((item["camera_id"], item["view_id"]), []).append(item)
    return {
        "timezone": timezone,
        "date": day,
        "day_start": start,
        "day_end": end,
        "previous_date": None if before is None else _local_day(float(before), zone),
        "next_date": None if after is None else _local_day(float(after), zone),
        "views": [
            {"camera_id": cam, "view_id": view, "events": items}
            for (cam, view), items in views.items()
        ],
    }


def review_event(
    session: Session, user: Caller, event_id: int, status: str, timezone: str
) -> dict[str, Any]:
    """Confirm or reject an event (``status``: confirmed or rejected) and label its clips;
    the event as :func:`day_events` gives it. The same verdict again writes nothing."""
    if status not in _ANSWERS:
        raise EventError(f"status must be one of {', '.join(_ANSWERS)}, got {status!r}")
    event = session.scalar(select(Event).where(Event.id == event_id).with_for_update())
    if event is None:
        raise EventError(f"No such event: {event_id}", 404)
    if event.status != status:
        states = session.execute(
            select(Video.id, Video.label_state_admin)
            .join(EventClip, EventClip.video_id == Video.id)
            .where(EventClip.event_id == event.id)
            .order_by(Video.id)
        ).all()
        answers = [(int(vid), _ANSWERS[status]) for vid, admin in states if admin not in _KEPT]
        if answers:
            set_researcher_states(session, user, answers)
        event.status = status
        event.reviewer_id = user.id
        event.review_time = int(time.time())
        session.flush()
    return _events_json(session, [event], _zone(timezone))[0]
