"""The hot routes' plans on PostgreSQL, run on the event loop: no thread per request.

``get_batch`` and ``send_batch`` are most of the service's traffic. Run in FastAPI's thread
pool, each request hands over to a thread and back, and each database round trip wakes a
thread that must take the GIL again: on a small machine that costs more than the work
(see bench/labeling_load.py). Here the same plans (``db.Plan``: the statements and the
decisions between them, written once) run on psycopg's async connections from a small pool.
SQLite has no such driver: there the plans run in a thread with ``db.drive``.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

from sqlalchemy.engine import Dialect, make_url

from smokewatch.labeling.db import Plan, Step, driver_calls, unavailable
from smokewatch.labeling.errors import ServiceError

__all__ = ["AsyncPostgres", "Busy", "server_has_closed"]

T = TypeVar("T")


class Busy(ServiceError):
    """Every pooled connection stayed in use for longer than a request may wait (503)."""


#: how often a request waiting for a connection looks whether the pool is failing to connect
_LOOK_EVERY = 0.25


class AsyncPostgres:
    """A pool of psycopg ``AsyncConnection``s and a driver for plans; open it in the loop."""

    def __init__(self, url: str, dialect: Dialect, *, max_size: int, wait: float = 30) -> None:
        parsed = make_url(url).set(drivername="postgresql")
        self._conninfo = parsed.render_as_string(hide_password=False)
        self._dialect = dialect
        self._max_size = max_size
        self._wait = wait
        self._pool: Any = None
        #: connections this driver has taken from the pool and not put back
        self._out = 0
        #: the pool's count of failed connection attempts when a connection was last had
        self._errors_seen = 0

    async def open(self) -> None:
        from psycopg_pool import AsyncConnectionPool

        self._pool = AsyncConnectionPool(
            self._conninfo,
            min_size=1,
            max_size=self._max_size,
            open=False,
            check=_check,
            name="smokewatch-hot-routes",
        )
        await self._pool.open(wait=True, timeout=30)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def drive(self, make: Callable[[], Plan[T]]) -> T:
        """Run the plan ``make()`` builds in a transaction of its own (rolled back unless the
        plan committed).

        A connection the server closed just before it was used (a restart: the pool's check
        can only see the goodbye once it has arrived) fails before anything was done: the
        plan then runs again, once, on another connection. Never after its COMMIT was sent:
        a connection lost then (or twice) is ``db.DatabaseUnavailable``, a 503 asking the
        client to send again.
        """
        if self._pool is None:
            raise RuntimeError("AsyncPostgres.open() was not called")
        import psycopg
        from psycopg.pq import TransactionStatus

        for attempt in (1, 2):
            conn = await self._getconn()
            committing = False
            try:
                plan = make()
                request = next(plan)
                while True:
                    committing = committing or request.commit
                    rows = await self._together(conn, request.steps, request.commit)
                    request = plan.send(rows)
            except StopIteration as done:
                return cast(T, done.value)
            except psycopg.OperationalError as exc:
                if attempt == 2 or committing or not conn.broken:
                    raise (unavailable(exc) or exc) from exc
            finally:
                try:
                    if not conn.closed and conn.info.transaction_status != TransactionStatus.IDLE:
                        # a failing rollback must not hide the plan's own error; the pool
                        # then throws the connection away
                        with contextlib.suppress(psycopg.Error):
                            await conn.rollback()
                finally:
                    await self._putconn(conn)
        raise AssertionError("unreachable")

    async def _getconn(self) -> Any:
        """A pooled connection, waiting up to ``wait`` seconds for one to come free (503
        ``Busy`` after that). A pool that is *failing to connect* is not busy: with none of
        its connections in use and an attempt to connect failed since one was last had (the
        database is down or gone), waiting cannot help, so the request fails at once with
        the other routes' 503 for a lost database (send again).

        One wait in the pool's queue, looked at every ``_LOOK_EVERY`` s (not a new wait each
        time, which would send a request back to the end of the queue of a busy pool)."""
        import psycopg
        from psycopg_pool import PoolTimeout

        waiter = asyncio.ensure_future(self._pool.getconn(timeout=self._wait))
        try:
            while not waiter.done():
                await asyncio.wait({waiter}, timeout=_LOOK_EVERY)
                if waiter.done() or self._out or self._connect_errors() <= self._errors_seen:
                    continue
                waiter.cancel()  # the pool hands back a connection it had just given
                try:
                    conn = await waiter
                except (asyncio.CancelledError, PoolTimeout):
                    error = psycopg.OperationalError("the pool cannot connect to the database")
                    raise (unavailable(error) or error) from None
                return self._took(conn)
            try:
                return self._took(waiter.result())
            except PoolTimeout:
                raise Busy(
                    f"The service is busy: no database connection came free in "
                    f"{self._wait:g} s; try again",
                    503,
                ) from None
        except BaseException:
            if not waiter.done():
                waiter.cancel()
            raise

    def _took(self, conn: Any) -> Any:
        self._out += 1
        self._errors_seen = self._connect_errors()
        return conn

    async def _putconn(self, conn: Any) -> None:
        self._out -= 1
        await self._pool.putconn(conn)  # a broken one is replaced by the pool

    def _connect_errors(self) -> int:
        """The pool's count of failed connection attempts so far (psycopg_pool's stats)."""
        return int(self._pool.get_stats().get("connections_errors", 0))

    async def _together(self, conn: Any, steps: Sequence[Step], commit: bool) -> list[list[Any]]:
        from psycopg import AsyncRawCursor
        from psycopg.rows import namedtuple_row

        cursors = []
        async with conn.pipeline():
            for sql, args, many in driver_calls(steps, self._dialect):
                cursor = AsyncRawCursor(conn, row_factory=namedtuple_row)
                await (cursor.executemany if many else cursor.execute)(sql, args)
                cursors.append(cursor)
            if commit:
                await conn.commit()
        return [await c.fetchall() if c.description is not None else [] for c in cursors]


def server_has_closed(connection: Any) -> bool:
    """Whether an idle psycopg connection is closed or has something to read (the server's
    goodbye, or its end of the socket closed): either way it is no use. One ``poll`` call,
    where ``pool_pre_ping`` would cost a round trip per request (``poll``, not ``select``:
    ``select`` fails on descriptors past 1024, as a busy worker's are)."""
    if connection.closed or getattr(connection, "broken", False):
        return True
    fd = connection.pgconn.socket
    try:
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            return bool(poller.poll(0))
        readable, _, _ = select.select([fd], [], [], 0)
    except (OSError, ValueError):  # a closed socket
        return True
    return bool(readable)


async def _check(conn: Any) -> None:
    """A pooled connection the server has closed is replaced (no round trip)."""
    if server_has_closed(conn):
        await conn.close()  # so that the pool discards it (and opens another)
        raise ConnectionError("the server closed the connection")
