"""``create_app(settings)``: the labeling service as a FastAPI app (no module-level state)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from smokewatch import __version__
from smokewatch.core.style import STATIC
from smokewatch.labeling.batches import BatchPolicy
from smokewatch.labeling.clipfiles import ClipFiles, EvidenceFiles
from smokewatch.labeling.context import ServiceContext
from smokewatch.labeling.db import Database, open_database
from smokewatch.labeling.db_async import AsyncPostgres
from smokewatch.labeling.errors import ServiceError
from smokewatch.labeling.login_limits import TooManyAttempts
from smokewatch.labeling.tokens import TokenService, load_signing_key
from smokewatch.labeling.web_policy import SecurityHeaders
from smokewatch.settings import Settings

__all__ = ["create_app", "create_app_from_env"]


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413, on every route (cameras' photo
    uploads: over ``photo_limit``, plus room for their multipart envelope).

    A declared length is checked before anything runs; a chunked body (no length) is read up
    to the limit first, since a route that never reads its body would otherwise never see it.
    """

    def __init__(self, app: ASGIApp, limit: int, photo_limit: int | None = None) -> None:
        self.app = app
        self.limit = limit
        self.photo_limit = (photo_limit if photo_limit is not None else limit) + 64 * 1024

    def _limit_for(self, scope: Scope) -> int:
        path = str(scope.get("path", ""))
        if path.startswith("/api/v1/cameras/") and path.endswith("/photos"):
            return self.photo_limit
        return self.limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit_for(scope)
        declared = dict(scope.get("headers") or {}).get(b"content-length")
        if declared is None or not declared.isdigit():
            # chunked (no length): read it all, up to the limit, before any route runs, so
            # a route that never reads its body refuses it too
            await self._buffered(scope, receive, send, limit)
            return
        if int(declared) > limit:
            await self._refuse(send, limit)
            return
        await self.app(scope, receive, send)  # the server stops a body at its declared length

    async def _buffered(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > limit:
                await self._refuse(send, limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send, limit: int) -> None:
        body = f'{{"message": "Request body larger than {limit} bytes"}}'.encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _validation_message(exc: RequestValidationError) -> str:
    """One readable line: RISE's "Missing field: x" for absent fields, else the first problem."""
    errors = exc.errors()
    if not errors:
        return "Malformed request"
    first = errors[0]
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "header")]
    where = ".".join(loc)
    if first.get("type") == "missing":
        return f"Missing field: {where}" if where else "Missing json"
    if first.get("type") in ("model_attributes_type", "dict_type") and not where:
        return "Missing json"
    if first.get("type") == "json_invalid":
        return "Malformed JSON body"
    message = str(first.get("msg", "invalid"))
    if first.get("type") == "value_error":  # our own validators' words, without pydantic's tag
        message = message.removeprefix("Value error, ")
    return f"{where or 'body'}: {message}"


def create_app(settings: Settings, *, database: Database | None = None) -> FastAPI:
    """Build the service from settings (tests pass their own; ``serve`` reads the environment)."""
    db = database or open_database(settings)
    site_key = load_signing_key(settings)
    ctx = ServiceContext(
        settings=settings,
        db=db,
        site_key=site_key,
        tokens=TokenService(site_key, settings),
        policy=BatchPolicy(settings.page_size, settings.gold_per_page, settings.partial_ratio),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        import anyio.to_thread

        # Handlers run in threads (the database calls block), except the batch routes on
        # PostgreSQL, which run on the loop (``ctx.hot``). Fewer threads than anyio's 40: past
        # a few, threads only contend for the GIL (measured: see bench/labeling_load.py).
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.worker_threads
        if not db.is_sqlite:
            ctx.hot = AsyncPostgres(
                settings.resolved_database_url,
                db.engine.dialect,
                max_size=settings.page_connections,
            )
            await ctx.hot.open()
        try:
            yield
        finally:
            if ctx.hot is not None:
                await ctx.hot.close()
                ctx.hot = None
            if database is None:
                db.dispose()

    app = FastAPI(
        title="smokewatch labeling service",
        version=__version__,
        description=(
            "Citizen-science labeling of industrial smoke clips. API-compatible with RISE's "
            '/api/v1: errors are `{"message": ...}`, and an empty result is a 204.'
        ),
        lifespan=lifespan,
        redoc_url=None,
    )
    app.state.ctx = ctx

    def _error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"message": message}, status_code=status)

    @app.exception_handler(ServiceError)
    async def _refused(_r: Request, exc: ServiceError) -> JSONResponse:
        return _error(exc.status, exc.message)

    @app.exception_handler(TooManyAttempts)
    async def _too_many(_r: Request, exc: TooManyAttempts) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after)}
        return JSONResponse({"message": exc.message}, status_code=429, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_r: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(400, _validation_message(exc))

    # Starlette's own refusals (no such route or file 404, wrong method 405) in RISE's shape
    @app.exception_handler(StarletteHTTPException)
    async def _http(_r: Request, exc: StarletteHTTPException) -> JSONResponse:
        response = _error(exc.status_code, str(exc.detail))
        response.headers.update(exc.headers or {})
        return response

    from smokewatch.labeling.routes import (
        cameras,
        crowd,
        events,
        pages,
        public,
        researcher,
        volunteer,
    )

    app.include_router(volunteer.router)
    app.include_router(researcher.router)
    app.include_router(events.router)
    app.include_router(crowd.router)
    app.include_router(cameras.router)
    app.include_router(public.router)
    app.include_router(pages.router)

    @app.get("/healthz", tags=["service"])
    def healthz() -> dict[str, Any]:
        """Liveness and the database it serves from."""
        return {"status": "ok", "version": __version__, "database": db.engine.dialect.name}

    settings.videos_dir.mkdir(parents=True, exist_ok=True)
    settings.evidence_dir.mkdir(parents=True, exist_ok=True)
    app.mount("/videos", ClipFiles(directory=settings.videos_dir, check_dir=False), name="videos")
    app.mount(
        "/evidence",
        EvidenceFiles(directory=settings.evidence_dir, check_dir=False),
        name="evidence",
    )
    # The site's own files, then the house style it shares with the detection report (core).
    static = StaticFiles(directory=pages.WEB_DIR / "static", packages=[STATIC])
    app.mount("/static", static, name="static")
    app.add_middleware(
        BodyLimit, limit=settings.max_body_bytes, photo_limit=settings.max_photo_bytes
    )
    # added last, so outermost: the body limit's 413 carries the policy and CORS headers too
    app.add_middleware(SecurityHeaders, docs_paths=frozenset({"/docs", "/docs/oauth2-redirect"}))
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "Authorization"],
            max_age=600,
        )
    return app


def create_app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` (each worker builds its app from the environment)."""
    from smokewatch.settings import load_settings

    return create_app(load_settings())
