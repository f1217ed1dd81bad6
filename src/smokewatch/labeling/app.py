"""``create_app(settings)``: the labeling service as a FastAPI app (no module-level state)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from smokewatch import __version__
from smokewatch.labeling.batches import BatchPolicy
from smokewatch.labeling.context import ServiceContext
from smokewatch.labeling.db import Database, open_database
from smokewatch.labeling.db_async import AsyncPostgres
from smokewatch.labeling.errors import ServiceError
from smokewatch.labeling.login_limits import TooManyAttempts
from smokewatch.labeling.tokens import TokenService, load_signing_key
from smokewatch.settings import Settings

__all__ = ["create_app", "create_app_from_env"]


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413, counted as they stream in."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or {}).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send)
            return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = f'{{"message": "Request body larger than {self.limit} bytes"}}'.encode()
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


class _TooLarge(Exception):
    pass


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
    return f"{where or 'body'}: {first.get('msg', 'invalid')}"


def create_app(settings: Settings, *, database: Database | None = None) -> FastAPI:
    """Build the service from settings (tests pass their own; ``serve`` reads the environment)."""
    db = database or open_database(settings)
    ctx = ServiceContext(
        settings=settings,
        db=db,
        tokens=TokenService(load_signing_key(settings), settings),
        policy=BatchPolicy(settings.page_size, settings.gold_per_page, settings.partial_ratio),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        import anyio.to_thread

        # Handlers run in threads (the database calls block), except the page routes on
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

    from smokewatch.labeling.routes import pages, public, researcher, volunteer

    app.include_router(volunteer.router)
    app.include_router(researcher.router)
    app.include_router(public.router)
    app.include_router(pages.router)

    @app.get("/healthz", tags=["service"])
    def healthz() -> dict[str, Any]:
        """Liveness and the database it serves from."""
        return {"status": "ok", "version": __version__, "database": db.engine.dialect.name}

    settings.videos_dir.mkdir(parents=True, exist_ok=True)
    app.mount("/videos", StaticFiles(directory=settings.videos_dir, check_dir=False), name="videos")
    app.mount("/static", StaticFiles(directory=pages.WEB_DIR / "static"), name="static")
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    return app


def create_app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` (each worker builds its app from the environment)."""
    from smokewatch.settings import load_settings

    return create_app(load_settings())
