"""Crowd studies' API: researchers create studies and watch them; workers join one from the
platform's link, qualify through the tutorial, take tasks and get a completion code.

Workers' ids arrive in the URL the platform opens (MTurk's ``workerId``, ``assignmentId``,
``hitId``; Prolific's ``PROLIFIC_PID``, ``STUDY_ID``, ``SESSION_ID``): the page sends them
here as JSON strings, kept as data (docs/crowd.md).
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse
from pydantic import Field, StrictBool, StrictInt, StrictStr
from sqlalchemy import select

from smokewatch.labeling import catalog
from smokewatch.labeling.context import ApiError, ServiceContext, get_context
from smokewatch.labeling.crowd import codes, work
from smokewatch.labeling.schemas import (
    MAX_ID,
    Answer,
    Message,
    Token,
    TokenRequest,
    VideoId,
    _Body,
)
from smokewatch.labeling.tables import Video

router = APIRouter(prefix="/api/v1/crowd", tags=["crowd studies"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Message, "description": "Malformed request"},
    401: {"model": Message, "description": "Missing, tampered or expired token"},
    403: {"model": Message, "description": "Not allowed (not qualified, not a researcher)"},
    404: {"model": Message, "description": "No such study or assignment"},
}

StudyId = Annotated[StrictInt, Field(ge=1, le=MAX_ID)]
ExternalId = Annotated[StrictStr, Field(min_length=1, max_length=255)]
Platform = Literal["mturk", "prolific", "other"]


class JoinRequest(_Body):
    study_id: StudyId
    platform: Platform
    worker_id: ExternalId


class TaskRequest(_Body):
    user_token: Token
    study_id: StudyId
    platform: Platform
    worker_id: ExternalId
    assignment_id: ExternalId
    hit_id: ExternalId | None = None


class SubmitRequest(_Body):
    user_token: Token
    assignment_id: Annotated[StrictInt, Field(ge=1, le=MAX_ID)]
    data: Annotated[list[Answer], Field(min_length=1, max_length=64)]


class CreateStudyRequest(_Body):
    user_token: Token
    name: Annotated[StrictStr, Field(min_length=1, max_length=255)]
    video_ids: Annotated[list[VideoId], Field(max_length=100_000)] = []
    file_names: Annotated[list[Annotated[StrictStr, Field(max_length=255)]],
                          Field(max_length=100_000)] = []  # fmt: skip
    assignments: Annotated[StrictInt, Field(ge=1, le=100)] = 5
    reward_cents: Annotated[StrictInt, Field(ge=0, le=100_000)] = 0
    min_tutorial_action: Annotated[StrictInt, Field(ge=0, le=4)] = 2
    moves_states: StrictBool = False
    hold_seconds: Annotated[StrictInt, Field(ge=60, le=7 * 86400)] = 3600
    seed: StrictInt | None = None


class StudyRequest(_Body):
    user_token: Token
    study_id: StudyId


class OpenRequest(StudyRequest):
    is_open: StrictBool


@router.post("/join", responses=_ERRORS)
def join(body: JoinRequest, ctx: ServiceContext = Depends(get_context)) -> dict[str, Any]:
    """A worker arrives from the platform: its user (``crowd.<platform>.<id>``), a token, and
    whether it has passed the tutorial (the study's qualification) yet."""
    with ctx.db.write() as session:
        user, connection, study = work.join_study(
            session, body.study_id, body.platform, body.worker_id
        )
        token = ctx.tokens.user_token(
            user_id=user.id,
            connection_id=connection.id,
            client_type=user.client_type,
            score=user.score,
            raw_score=user.raw_score,
        )
        return {
            "user_token": token,
            "qualified": work.qualified(user, study),
            "best_tutorial_action": user.best_tutorial_action,
            "study": {
                "id": study.id,
                "name": study.name,
                "reward_cents": study.reward_cents,
                "min_tutorial_action": study.min_tutorial_action,
                "is_open": study.is_open,
            },
        }


@router.post(
    "/get_task",
    responses={
        **_ERRORS,
        204: {"description": "No task left for this worker"},
        409: {
            "model": Message,
            "description": "Another worker's assignment id, or the worker holds another open one",
        },
        410: {"model": Message, "description": "The study is closed, or the hold ran out"},
    },
)
def get_task(body: TaskRequest, ctx: ServiceContext = Depends(get_context)) -> Response:
    """The worker's task for this assignment (the same one on a reload): 16 clips, 4 of them
    hidden gold standards, and ``seconds_left`` before answers are refused; 403 until the
    tutorial is passed. An assignment submitted already answers with its completion code
    again (``completion_code``, no clips): the code is not lost with a closed tab."""
    with ctx.db.write() as session:
        caller, _ = ctx.user(session, body.user_token)
        given = work.give_task(
            session,
            study_id=body.study_id,
            user_id=caller.id,
            platform=body.platform,
            worker_ref=body.worker_id,
            assignment_ref=body.assignment_id,
            hit_ref=body.hit_id,
        )
        if given is None:
            return Response(status_code=204)
        if isinstance(given, codes.Completion):
            return JSONResponse(_done(ctx, given))
        rows = {
            r.id: r
            for r in session.execute(
                select(Video.id, Video.file_name, Video.url_root, Video.url_part).where(
                    Video.id.in_(given.video_ids)
                )
            )
        }
    items = []
    for vid in given.video_ids:
        row = rows[vid]
        url_root, url_part = catalog.clip_address(row.file_name, row.url_root, row.url_part)
        items.append(
            {"id": vid, "file_name": row.file_name, "url_root": url_root, "url_part": url_part}
        )
    now = int(time.time())
    wait = max(0, given.given_time + ctx.settings.page_min_seconds - now)
    return JSONResponse(
        {
            "assignment_id": given.assignment_id,
            "task": given.task_number,
            "wait_seconds": wait,
            "seconds_left": max(0, given.expire_time - now),
            "data": items,
        }
    )


def _done(ctx: ServiceContext, completion: codes.Completion) -> dict[str, Any]:
    """A submitted assignment's answer: its completion code (the same each time)."""
    return {
        "task": completion.task,
        "submitted": True,
        "completion_code": codes.issue_code(ctx.site_key, completion),
    }


@router.post(
    "/submit_task",
    responses={
        **_ERRORS,
        409: {"model": Message, "description": "Sent at the same moment by another request"},
        410: {"model": Message, "description": "The assignment's hold ran out"},
        425: {"model": Message, "description": "Submitted too soon after it was given"},
    },
)
def submit_task(body: SubmitRequest, ctx: ServiceContext = Depends(get_context)) -> dict[str, Any]:
    """Answers for every clip of the task, once; the answer is the completion code to paste
    into the platform (signed: the requester verifies it offline). Sent again, the same code
    and nothing changed (the first answers stay): a lost response must not cost the pay."""
    with ctx.db.write() as session:
        caller, _ = ctx.user(session, body.user_token)
        done = work.submit_task(
            session,
            user_id=caller.id,
            assignment_id=body.assignment_id,
            answers=[(a.video_id, a.label) for a in body.data],
            min_seconds=ctx.settings.page_min_seconds,
        )
    return _done(ctx, done)


@router.post("/create_study", responses=_ERRORS)
def create_study(
    body: CreateStudyRequest, ctx: ServiceContext = Depends(get_context)
) -> dict[str, Any]:
    """Researchers: a study over clips given by id or RISE file name, in that order."""
    with ctx.db.write() as session:
        caller, _ = ctx.researcher(session, body.user_token)
        ids = list(body.video_ids)
        if body.file_names:
            found = {
                r[0]: r[1]
                for r in session.execute(
                    select(Video.file_name, Video.id).where(Video.file_name.in_(body.file_names))
                )
            }
            missing = [n for n in body.file_names if n not in found]
            if missing:
                raise ApiError(f"no clip named {missing[0]!r}", 404)
            ids += [found[n] for n in body.file_names]
        study = work.create_study(
            session,
            name=body.name,
            video_ids=ids,
            assignments=body.assignments,
            reward_cents=body.reward_cents,
            min_tutorial_action=body.min_tutorial_action,
            moves_states=body.moves_states,
            hold_seconds=body.hold_seconds,
            creator_id=caller.id,
            seed=body.seed,
        )
        return work.study_row(session, study)


@router.post("/get_studies", responses=_ERRORS)
def get_studies(body: TokenRequest, ctx: ServiceContext = Depends(get_context)) -> dict[str, Any]:
    """Researchers: every study with its progress, newest first."""
    with ctx.db.read() as session:
        ctx.researcher(session, body.user_token)
        return {"data": work.list_studies(session)}


@router.post("/get_study", responses=_ERRORS)
def get_study(body: StudyRequest, ctx: ServiceContext = Depends(get_context)) -> dict[str, Any]:
    """Researchers: a study's progress (assignments done of wanted, pay) and its workers'
    reliability on the gold standards."""
    with ctx.db.read() as session:
        ctx.researcher(session, body.user_token)
        return work.study_report(session, body.study_id)


@router.post("/set_study_open", responses=_ERRORS)
def set_study_open(body: OpenRequest, ctx: ServiceContext = Depends(get_context)) -> dict[str, Any]:
    """Researchers: close a study to new assignments (open ones may still be sent), or reopen."""
    with ctx.db.write() as session:
        ctx.researcher(session, body.user_token)
        study = work.close_study(session, body.study_id, body.is_open)
        return work.study_row(session, study)
