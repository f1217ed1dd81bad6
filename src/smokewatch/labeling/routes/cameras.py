"""Cameras' API: a camera posts its photos, one request each, with its own key."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, File, Form, Header, UploadFile
from fastapi import Path as PathParam
from starlette.concurrency import run_in_threadpool

from smokewatch.core.epoch import epoch_problem
from smokewatch.labeling import cameras
from smokewatch.labeling.context import ServiceContext, get_context
from smokewatch.labeling.schemas import Message, PhotoReceipt

router = APIRouter(prefix="/api/v1", tags=["cameras"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Message, "description": "Not a JPEG or PNG photo, corrupt or truncated"},
    401: {"model": Message, "description": "Missing or wrong camera key"},
    404: {"model": Message, "description": "No such camera"},
    413: {"model": Message, "description": "Photo larger than max_photo_bytes"},
}


def _bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


@router.post(
    "/cameras/{camera_id}/photos",
    response_model=PhotoReceipt,
    status_code=201,
    responses={**_ERRORS, 200: {"model": PhotoReceipt, "description": "Sent before"}},
)
async def post_photo(
    camera_id: int = PathParam(..., ge=1, le=2**31 - 1, description="The camera's id."),
    photo: UploadFile = File(..., description="The photo: JPEG or PNG."),
    taken: float | None = Form(
        None, description="When it was taken (epoch seconds); default: EXIF, else arrival."
    ),
    authorization: str | None = Header(None, description="Bearer <camera key>"),
    ctx: ServiceContext = Depends(get_context),
) -> Any:
    """A camera's photo into its inbox for continuous mode (``smokewatch watch``); 201, or
    200 with ``duplicate`` true for a photo sent before (a retry is safe)."""
    from fastapi.responses import JSONResponse

    key = _bearer(authorization)

    def check() -> None:
        with ctx.db.read() as session:
            cameras.check_key(session, camera_id, key)

    await run_in_threadpool(check)
    problem = None if taken is None else epoch_problem(taken)
    if problem is not None:
        raise cameras.CameraError(f"taken: {problem}", 400)
    limit = ctx.settings.max_photo_bytes
    data = await photo.read(limit + 1)
    stored = await run_in_threadpool(
        cameras.store_photo,
        ctx.settings.data_dir,
        camera_id,
        data,
        taken=taken,
        max_bytes=limit,
        timezone=ctx.settings.timezone,
    )
    receipt = PhotoReceipt(
        camera_id=camera_id,
        name=stored.name,
        time=stored.time,
        sha256=stored.sha256,
        duplicate=stored.duplicate,
    )
    return JSONResponse(receipt.model_dump(), status_code=200 if stored.duplicate else 201)
