"""Researchers' API for the events of detection runs: a day's events, and a verdict on one."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from smokewatch.labeling import events
from smokewatch.labeling.context import ServiceContext, get_context
from smokewatch.labeling.schemas import (
    DayEvents,
    EventItem,
    EventsRequest,
    EventStatusRequest,
    Message,
)

router = APIRouter(prefix="/api/v1", tags=["events"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Message, "description": "Malformed request"},
    401: {"model": Message, "description": "Missing, tampered or expired token"},
    403: {"model": Message, "description": "Not a researcher"},
}


@router.post("/get_events", response_model=DayEvents, responses=_ERRORS)
def get_events(body: EventsRequest, ctx: ServiceContext = Depends(get_context)) -> DayEvents:
    """Researchers: one day's events (default: the last day with events) by camera view, with
    their evidence and the clips of their windows; times also in the cameras' time zone."""
    with ctx.db.read() as session:
        ctx.researcher(session, body.user_token)
        day = events.day_events(session, body.date, ctx.settings.timezone)
    return DayEvents.model_validate(day)


@router.post(
    "/set_event_status",
    response_model=EventItem,
    responses={**_ERRORS, 404: {"model": Message, "description": "No such event"}},
)
def set_event_status(
    body: EventStatusRequest, ctx: ServiceContext = Depends(get_context)
) -> EventItem:
    """Researchers: confirm an event (its clips get the researcher label smoke) or reject it
    (no smoke), through the label-state rules; gold standards and bad clips keep theirs.
    Sending the same verdict again changes nothing."""
    with ctx.db.write() as session:
        user, _ = ctx.researcher(session, body.user_token)
        event = events.review_event(
            session, user, body.event_id, body.status, ctx.settings.timezone
        )
    return EventItem.model_validate(event)
