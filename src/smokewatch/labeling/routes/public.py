"""The gallery queries and label statistics (RISE's ``get_*_labels`` and friends).

As in RISE, the gallery takes an optional ``user_token`` and paging (``pageNumber``,
``pageSize``) from a form-encoded body or the query string, on GET and POST; an empty page is
a 204. Researcher-only queries need a researcher's or expert's token.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BeforeValidator, Field
from sqlalchemy import insert

from smokewatch.labeling.context import ApiError, ServiceContext, get_context
from smokewatch.labeling.gallery import (
    MAX_PAGE_SIZE,
    QUERIES,
    clip_facets,
    gallery_page,
    label_statistics,
    user_gallery_page,
)
from smokewatch.labeling.schemas import MAX_ID, ClipFacets, Message, Statistics
from smokewatch.labeling.tables import Role, View

router = APIRouter(prefix="/api/v1", tags=["gallery"])


async def _form(request: Request) -> dict[str, str]:
    """Fields of a form-encoded (or JSON object) body; RISE's gallery read the raw body."""
    raw = await request.body()
    if not raw:
        return {}
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):  # RecursionError: nested deeper than Python goes
            raise ApiError("Malformed JSON body") from None
        if not isinstance(data, dict):
            raise ApiError("Expected a JSON object")
        fields: dict[str, str] = {}
        for key, value in data.items():
            if isinstance(value, (dict, list)):
                raise ApiError(f"{key} must be a string or a number")
            if value is not None:
                fields[key] = str(value)
        return fields
    try:
        form = parse_qs(raw.decode("utf-8"), strict_parsing=False)
    except UnicodeDecodeError:
        raise ApiError("Body is not UTF-8") from None
    return {k: v[0] for k, v in form.items() if v}


def _digits(value: object) -> object:
    """A number as RISE's pages send one: ASCII digits only, for the query string and the
    body alike. (``int()`` also takes "5_0", " 5", "+5" and other scripts' digits such as
    "５"; pydantic's integers take "5.0" too.) Other values are left to the type's check."""
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit()):
            raise ValueError(f"expected digits 0-9, got {value[:40]!r}")
        return int(value)
    return value


#: A query-string integer, parsed by :func:`_digits` (documented as an integer); an id.
Digits = Annotated[int, BeforeValidator(_digits)]
DigitsId = Annotated[int, Field(ge=0, le=MAX_ID), BeforeValidator(_digits)]


def _user_id(
    user_id: Annotated[
        DigitsId | None, Query(description="Clips this user said have smoke.")
    ] = None,
) -> int | None:
    """``?user_id=`` of ``get_pos_labels``. (A dependency: a handler's annotations cannot
    name its factory's variables, so the two ways of documenting it are two functions.)"""
    return user_id


def _ignored_user_id(
    user_id: Annotated[DigitsId | None, Query(include_in_schema=False)] = None,
) -> int | None:
    """``?user_id=`` of the other queries: checked, not documented, not used."""
    return user_id


def _int(value: str | int, name: str, low: int, high: int) -> int:
    """A body field (text) or a query value (already parsed) as an integer in [low, high]."""
    try:
        number = _digits(value)
    except ValueError as exc:  # not digits, or more digits than int() converts
        raise ApiError(f"{name}: {exc}") from None
    if not isinstance(number, int) or not low <= number <= high:
        raise ApiError(f"{name} must be between {low} and {high}, got {number}")
    return number


def _day_range(day: str, timezone: str) -> tuple[int, int]:
    """[start, end) epoch seconds of a calendar day in the cameras' time zone.

    Clipped to what the clips' start times can hold (32-bit seconds): a day outside has no
    clips, and its seconds would not fit the column on PostgreSQL.
    """
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    try:
        start = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=ZoneInfo(timezone))
        end = (start + timedelta(days=1)).replace(tzinfo=ZoneInfo(timezone))
        first, last = int(start.timestamp()), int(end.timestamp())
    except (ValueError, OverflowError):  # OverflowError: the day after 9999-12-31
        raise ApiError(f"date must be a day YYYY-MM-DD before 9999-12-31, got {day!r}") from None
    low, high = -(2**31), 2**31 - 1
    return min(max(first, low), high), min(max(last, low), high)


def _handler(name: str) -> Callable[..., Awaitable[Response]]:
    query = QUERIES[name]
    by_user = name == "pos_labels"

    async def handler(
        request: Request,
        pageNumber: Annotated[Digits, Query(description="Page, from 1.")] = 1,  # noqa: N803 (RISE's names)
        pageSize: Annotated[  # noqa: N803
            Digits, Query(description=f"Clips per page, at most {MAX_PAGE_SIZE}.")
        ] = 16,
        camera_id: Annotated[DigitsId | None, Query(description="Only this camera.")] = None,
        view_id: Annotated[
            DigitsId | None, Query(description="Only this view of the camera.")
        ] = None,
        date: str | None = Query(
            None,
            description="Only clips of this day (YYYY-MM-DD, the cameras' time zone).",
        ),
        user_id: int | None = Depends(_user_id if by_user else _ignored_user_id),
        ctx: ServiceContext = Depends(get_context),
    ) -> Response:
        form = await _form(request)
        page = _int(form.get("pageNumber", pageNumber), "pageNumber", 1, 10**9)
        size = _int(form.get("pageSize", pageSize), "pageSize", 1, MAX_PAGE_SIZE)
        token = form.get("user_token")
        time_range = _day_range(date, ctx.settings.timezone) if date else None
        if query.admin_only and not token:
            raise ApiError("Missing fields: user_token")

        def run() -> Response:
            # a volunteer's query records what they looked at (RISE's View rows): a write
            with ctx.db.write() if token else ctx.db.read() as session:
                caller = ctx.user(session, token) if token else None
                role = caller[0].client_type if caller else None
                if query.admin_only and role not in (Role.RESEARCHER, Role.EXPERT):
                    raise ApiError("Permission denied", 403)
                if by_user and user_id is not None:
                    items, total = user_gallery_page(
                        session,
                        user_id,
                        page=page,
                        size=size,
                        researcher_caller=role == Role.RESEARCHER,
                        admin_view=role in (Role.RESEARCHER, Role.EXPERT),
                    )
                    query_type = 1
                else:
                    items, total = gallery_page(
                        session,
                        name,
                        page=page,
                        size=size,
                        admin_view=role in (Role.RESEARCHER, Role.EXPERT),
                        camera_id=camera_id,
                        view_id=view_id,
                        time_range=time_range,
                    )
                    query_type = 0
                if (
                    caller
                    and role != Role.RESEARCHER
                    and caller[1].connection_id > 0
                    and items
                    and name != "all_labels"
                ):
                    now = int(time.time())
                    session.execute(
                        insert(View),
                        [
                            {
                                "connection_id": caller[1].connection_id,
                                "video_id": it["id"],
                                "query_type": query_type,
                                "time": now,
                            }
                            for it in items
                        ],
                    )
            if not items:
                return Response(status_code=204)
            body: dict[str, Any] = {"data": items}
            if name != "all_labels":
                body["total"] = total
            return JSONResponse(body)

        return await run_in_threadpool(run)

    handler.__name__ = f"get_{name}"
    return handler


_SUMMARIES = {
    "pos_labels": "Clips with smoke (a researcher's label first); ?user_id=N: by user",
    "neg_labels": "Clips without smoke (researchers' label first, else the citizens')",
    "maybe_pos_labels": "Clips one volunteer said have smoke",
    "maybe_neg_labels": "Clips one volunteer said have no smoke",
    "discorded_labels": "Clips two volunteers disagreed on",
    "pos_labels_by_citizen": "Researchers: clips the citizens said have smoke",
    "neg_labels_by_citizen": "Researchers: clips the citizens said have no smoke",
    "pos_labels_by_researcher": "Researchers: clips a researcher said have smoke",
    "neg_labels_by_researcher": "Researchers: clips a researcher said have no smoke",
    "pos_gold_labels": "Researchers: gold standards with smoke",
    "neg_gold_labels": "Researchers: gold standards without smoke",
    "bad_labels": "Researchers: clips marked bad",
    "all_labels": "Researchers: every clip with its states (not paginated)",
}

for _name, _query in QUERIES.items():
    for _method in ["POST"] if _query.admin_only else ["GET", "POST"]:
        router.add_api_route(
            f"/get_{_name}",
            _handler(_name),
            methods=[_method],
            operation_id=f"get_{_name}_{_method.lower()}",
            summary=_SUMMARIES[_name],
            responses={
                204: {"description": "No clips on this page"},
                400: {"model": Message},
                401: {"model": Message},
                403: {"model": Message},
            },
        )


@router.get("/get_label_statistics", response_model=Statistics)
def get_label_statistics(ctx: ServiceContext = Depends(get_context)) -> Statistics:
    """How many clips there are, and how many are fully or partly labeled."""
    with ctx.db.read() as session:
        return Statistics(**label_statistics(session))


@router.get("/get_clip_facets", response_model=ClipFacets)
def get_clip_facets(ctx: ServiceContext = Depends(get_context)) -> ClipFacets:
    """What the gallery can be filtered by: cameras and their views, the first and last day."""
    with ctx.db.read() as session:
        return ClipFacets.model_validate(clip_facets(session, ctx.settings.timezone))
