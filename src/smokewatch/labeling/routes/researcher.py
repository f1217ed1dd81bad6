"""Researchers' API: set label states directly (gold, bad, overrides) and export the labels."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Header, Query, Response

from smokewatch.core.metadata import METADATA_FIELDS, dumps_csv, dumps_json
from smokewatch.labeling import catalog, dashboard
from smokewatch.labeling.batches import set_researcher_states
from smokewatch.labeling.context import ServiceContext, get_context
from smokewatch.labeling.gallery import label_statistics
from smokewatch.labeling.schemas import (
    Dashboard,
    Message,
    SetLabelStateRequest,
    SetRoleRequest,
    TokenRequest,
    UserInfo,
)

router = APIRouter(prefix="/api/v1", tags=["researchers"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Message, "description": "Malformed request"},
    401: {"model": Message, "description": "Missing, tampered or expired token"},
    403: {"model": Message, "description": "Not a researcher"},
}


@router.post("/set_label_state", status_code=204, responses=_ERRORS)
def set_label_state(
    body: SetLabelStateRequest, ctx: ServiceContext = Depends(get_context)
) -> Response:
    """Set researcher states: 1/0, 23/16 (strong), 19/20 (weak), 47/32 (gold), -2 bad, -1 reset.

    The citizens' state is never touched: the researcher state wins in the final label.
    """
    with ctx.db.write() as session:
        user, _ = ctx.researcher(session, body.user_token)
        set_researcher_states(session, user, [(a.video_id, a.label) for a in body.data])
    return Response(status_code=204)


def _bearer(authorization: str | None) -> str | None:
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return None


@router.get(
    "/export",
    responses={**_ERRORS, 200: {"content": {"application/json": {}, "text/csv": {}}}},
)
def export(
    format: str = Query("json", pattern="^(json|csv)$", description="json (RISE metadata) or csv"),
    only_labeled: bool = Query(False, description="Only clips that have a final label."),
    user_token: str | None = Query(
        None, description="Researcher token (or an Authorization: Bearer header)."
    ),
    authorization: str | None = Header(None),
    ctx: ServiceContext = Depends(get_context),
) -> Response:
    """All clips with their current states, in RISE's metadata layout (ordered by id)."""
    with ctx.db.read() as session:
        ctx.researcher(session, _bearer(authorization) or user_token)
        clips = list(catalog.export_clips(session, only_labeled=only_labeled))
    if format == "csv":
        return Response(
            dumps_csv(clips, METADATA_FIELDS),
            media_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="metadata.csv"'},
        )
    return Response(
        dumps_json(clips, METADATA_FIELDS),
        media_type="application/json",
        headers={"Content-Disposition": 'attachment; filename="metadata.json"'},
    )


@router.post("/get_dashboard", response_model=Dashboard, responses=_ERRORS)
def get_dashboard(body: TokenRequest, ctx: ServiceContext = Depends(get_context)) -> Dashboard:
    """Researchers: label statistics, progress per UTC day, and users (accounts first, then
    volunteers by score) with their contributions and reliability."""
    with ctx.db.read() as session:
        ctx.researcher(session, body.user_token)
        return Dashboard.model_validate(
            {
                "statistics": label_statistics(session),
                "progress": dashboard.progress_by_day(session),
                "users": dashboard.user_rows(session),
            }
        )


@router.post(
    "/set_user_role",
    response_model=UserInfo,
    responses={**_ERRORS, 404: {"model": Message, "description": "No such user"}},
)
def set_user_role(body: SetRoleRequest, ctx: ServiceContext = Depends(get_context)) -> UserInfo:
    """Researchers: change a user's role (or ban: -1); effective on that user's next request.

    Researcher and expert roles need a password account; nobody changes their own role.
    """
    with ctx.db.write() as session:
        user, _ = ctx.researcher(session, body.user_token)
        changed = dashboard.set_user_role(session, user.id, body.user_id, body.client_type)
        session.flush()
        return UserInfo.model_validate(dashboard.user_info(changed))
