"""What every request handler needs, built once per app: settings, database, tokens, policy.

Errors raised by the service layers (tokens, batches, accounts) carry their HTTP status; the app
turns each into RISE's error shape, ``{"message": ...}``, never a 500.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TypeVar

from fastapi import Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from smokewatch.labeling.batches import BatchPolicy
from smokewatch.labeling.db import Database, Plan, drive
from smokewatch.labeling.db_async import AsyncPostgres
from smokewatch.labeling.errors import ServiceError
from smokewatch.labeling.login_limits import LoginLimits
from smokewatch.labeling.tables import Role
from smokewatch.labeling.tokens import TokenService, UserClaims
from smokewatch.labeling.users import CALLER_STATEMENT, Caller, active_caller
from smokewatch.settings import Settings

__all__ = ["ApiError", "ServiceContext", "get_context"]

T = TypeVar("T")


class ApiError(ServiceError):
    """A refusal decided in a route (permissions, malformed input)."""


@dataclass
class ServiceContext:
    settings: Settings
    db: Database
    tokens: TokenService
    policy: BatchPolicy
    #: the site's signing key (crowd completion codes derive their own key from it)
    site_key: bytes = b""
    #: the hot routes' driver on PostgreSQL, opened with the app (None: SQLite)
    hot: AsyncPostgres | None = None
    _rng: threading.local = field(default_factory=threading.local)

    @property
    def rng(self) -> random.Random:
        """A random generator per thread (``random.Random`` is not thread-safe to share)."""
        rng = getattr(self._rng, "rng", None)
        if rng is None:
            rng = self._rng.rng = random.Random()
        return rng

    @cached_property
    def logins(self) -> LoginLimits:
        """Password sign-in's limits, per worker process (built on first use, on the loop)."""
        return LoginLimits.from_settings(self.settings)

    async def run_plan(self, make: Callable[[bool], Plan[T]]) -> T:
        """Run a plan (``make(postgres)`` builds it) in a write transaction of its own: on
        PostgreSQL on the event loop (``hot``), elsewhere in a request thread."""
        if self.hot is not None:
            return await self.hot.drive(lambda: make(True))

        def in_thread() -> T:
            with self.db.write() as session:
                return drive(session, make(not self.db.is_sqlite))

        return await run_in_threadpool(in_thread)

    def user(self, session: Session, token: object) -> tuple[Caller, UserClaims]:
        """The user a token names, with the role as it is *now*; banned users get 403."""
        claims = self.tokens.check_user(token)
        rows = session.connection().execute(CALLER_STATEMENT, {"p_uid": claims.user_id}).all()
        return active_caller(rows), claims

    def researcher(self, session: Session, token: object) -> tuple[Caller, UserClaims]:
        user, claims = self.user(session, token)
        if user.client_type != Role.RESEARCHER:
            raise ApiError("Permission denied", 403)
        return user, claims


async def get_context(request: Request) -> ServiceContext:
    """The app's context (``async``: FastAPI runs a plain ``def`` dependency in a thread)."""
    ctx: ServiceContext = request.app.state.ctx
    return ctx
