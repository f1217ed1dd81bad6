"""Researchers' API: set label states directly (gold, bad, overrides) and export the labels."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Header, Query, Response

from smokewatch.core.metadata import METADATA_FIELDS, dumps_csv, dumps_json
from smokewatch.labeling import catalog
from smokewatch.labeling.context import ServiceContext, get_context
from smokewatch.labeling.pages import set_researcher_states
from smokewatch.labeling.schemas import Message, SetLabelStateRequest

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
