"""Volunteers' API: sign in, get a batch of clips, send its answers, tutorial records."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import update

from smokewatch.labeling import batches, catalog, dashboard, tutorial, users
from smokewatch.labeling.context import ApiError, ServiceContext, get_context
from smokewatch.labeling.schemas import (
    BatchResponse,
    LoginRequest,
    LoginResponse,
    Message,
    PasswordLoginRequest,
    ScoreResponse,
    SendBatchRequest,
    TokenRequest,
    TutorialRequest,
    UserInfo,
)
from smokewatch.labeling.tables import Connection, Role, Tutorial, User

router = APIRouter(prefix="/api/v1", tags=["volunteers"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Message, "description": "Malformed request"},
    401: {"model": Message, "description": "Missing, tampered or expired token"},
    403: {"model": Message, "description": "Banned, or not allowed"},
}


def _login_tokens(ctx: ServiceContext, user: User, connection: Connection) -> LoginResponse:
    common = {
        "user_id": user.id,
        "client_type": user.client_type,
        "score": user.score,
        "raw_score": user.raw_score,
    }
    return LoginResponse(
        user_token=ctx.tokens.user_token(connection_id=connection.id, **common),
        user_token_for_other_app=ctx.tokens.user_token(connection_id=-1, **common),
    )


@router.post("/login", response_model=LoginResponse, responses=_ERRORS)
def login(body: LoginRequest, ctx: ServiceContext = Depends(get_context)) -> LoginResponse:
    """Sign in an anonymous volunteer by the client id their browser generated and kept."""
    if body.client_id is None:
        if body.google_id_token is not None:
            raise ApiError(
                "Google sign-in is not supported; use client_id or /api/v1/login_password"
            )
        raise ApiError("Missing field: google_id_token or client_id")
    with ctx.db.write() as session:
        user = users.get_or_create_volunteer(session, body.client_id)
        connection = users.connect(session, user)
        return _login_tokens(ctx, user, connection)


@router.post(
    "/login_password",
    response_model=LoginResponse,
    responses={
        **_ERRORS,
        429: {"model": Message, "description": "Too many wrong passwords lately (Retry-After)"},
    },
)
async def login_password(
    body: PasswordLoginRequest, request: Request, ctx: ServiceContext = Depends(get_context)
) -> LoginResponse:
    """Sign in a researcher or expert account with its password (wrong passwords are limited
    per account and per address; the checks run beside the request threads)."""
    address = request.client.host if request.client else ""
    with ctx.logins.attempt(body.name, address):
        user, connection = await ctx.logins.check(
            lambda: users.password_sign_in(ctx.db, body.name, body.password)
        )
    return _login_tokens(ctx, user, connection)


@router.post(
    "/get_batch",
    response_model=BatchResponse,
    response_model_exclude_none=True,
    responses={**_ERRORS, 204: {"description": "Not enough clips left for a batch"}},
)
async def get_batch(body: TokenRequest, ctx: ServiceContext = Depends(get_context)) -> Response:
    """A batch of 16 clips (for volunteers: 12 to label and 4 hidden gold standards).

    Researchers get clips without a researcher label, each with the citizens' state as prior.
    """
    claims = ctx.tokens.check_user(body.user_token)
    connection_id = claims.connection_id if claims.connection_id > 0 else None
    given = await ctx.run_plan(
        lambda postgres: batches.give_batch_plan(
            claims.user_id,
            ctx.policy,
            ctx.rng,
            connection_id=connection_id,
            hold_seconds=ctx.settings.page_token_ttl,
            postgres=postgres,
        )
    )
    if given is None:
        return Response(status_code=204)
    user = given.user
    researcher = user.client_type == Role.RESEARCHER
    items = []
    for row in given.batch.clips:
        url_root, url_part = catalog.clip_address(row.file_name, row.url_root, row.url_part)
        item = {
            "id": row.id,
            "file_name": row.file_name,
            "url_root": url_root,
            "url_part": url_part,
        }
        if researcher:
            item["label_state"] = row.label_state
        items.append(item)
    token = ctx.tokens.batch_token(
        batch_id=given.batch_id, user_id=user.id, video_ids=given.batch.ids, jti=given.jti
    )
    return JSONResponse({"data": items, "video_token": token})


@router.post(
    "/send_batch",
    response_model=ScoreResponse,
    responses={
        **_ERRORS,
        403: {"model": Message, "description": "Banned; or a researcher's batch, no longer one"},
        409: {
            "model": Message,
            "description": "This batch was submitted already, or holds a clip answered already",
        },
        425: {"model": Message, "description": "Submitted too soon after the batch was given"},
    },
)
async def send_batch(
    body: SendBatchRequest, ctx: ServiceContext = Depends(get_context)
) -> Response:
    """Answers for a batch: accepted (and counted) only if all its gold standards are right."""
    batch = ctx.tokens.check_batch(body.video_token)
    claims = ctx.tokens.check_user(body.user_token)
    answers = [(a.video_id, a.label) for a in body.data]
    score = await ctx.run_plan(
        lambda postgres: batches.submit_batch_plan(
            claims.user_id,
            batch_id=batch.batch_id,
            jti=batch.jti,
            token_video_ids=batch.video_ids,
            answers=answers,
            postgres=postgres,
            token_user_id=batch.user_id,
        )
    )
    return JSONResponse(
        {"data": {"score": {"batch": score.batch, "user": score.user, "raw": score.raw}}}
    )


@router.post("/add_tutorial_record", status_code=204, responses=_ERRORS)
def add_tutorial_record(
    body: TutorialRequest, ctx: ServiceContext = Depends(get_context)
) -> Response:
    """Record a tutorial event (action 0 took it … 4 passed first try; query 0–2: where from)."""
    with ctx.db.write() as session:
        user, claims = ctx.user(session, body.user_token)
        if claims.connection_id <= 0:
            raise ApiError("This token cannot record tutorial events (no session)")
        session.add(
            Tutorial(
                connection_id=claims.connection_id,
                action_type=body.action_type,
                query_type=body.query_type,
                time=int(time.time()),
            )
        )
        session.execute(
            update(User)
            .where(User.id == user.id, User.best_tutorial_action < body.action_type)
            .values(best_tutorial_action=body.action_type)
        )
    return Response(status_code=204)


@router.post("/get_user_info", response_model=UserInfo, responses=_ERRORS)
def get_user_info(body: TokenRequest, ctx: ServiceContext = Depends(get_context)) -> UserInfo:
    """Who a token belongs to now: role, score, pages submitted/accepted, reliability."""
    with ctx.db.read() as session:
        caller, _ = ctx.user(session, body.user_token)
        user = session.get(User, caller.id)
        assert user is not None  # ctx.user found it in this transaction
        return UserInfo.model_validate(dashboard.user_info(user))


@router.get(
    "/get_tutorial",
    responses={503: {"model": Message, "description": "The lessons file is invalid"}},
)
def get_tutorial(ctx: ServiceContext = Depends(get_context)) -> dict[str, Any]:
    """The tutorial's lessons: clips (with ``url``), right answers, explanations, smoke regions
    (boxes as fractions of the frame: left, top, right, bottom), a hint per lesson."""
    return tutorial.lessons_for_page(ctx.settings)
