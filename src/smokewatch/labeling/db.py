"""Engine and sessions: SQLite (WAL) by default, PostgreSQL by URL; migrations on start.

SQLite serializes writers; to make that explicit (and to avoid "database is locked" on a
read-then-write upgrade) every write transaction starts with ``BEGIN IMMEDIATE``, while reads
use plain deferred transactions that WAL lets run beside a writer. On PostgreSQL the
service takes row locks (``SELECT ... FOR UPDATE``) instead.

A connection lost mid-request (even during COMMIT) or a database that stays busy is
``DatabaseUnavailable``, a 503 asking the client to send again: that is safe, since a batch
already saved answers 409 the second time.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import sys
from collections.abc import Generator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import Engine, Executable, create_engine, event
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from smokewatch.errors import SmokewatchError
from smokewatch.labeling.errors import ServiceError
from smokewatch.settings import Settings

__all__ = [
    "Database",
    "DatabaseUnavailable",
    "unavailable",
    "Plan",
    "Step",
    "Together",
    "drive",
    "migrate",
    "open_database",
    "open_service_database",
    "compiled_for",
    "driver_calls",
    "run_together",
]

_MIGRATIONS = Path(__file__).with_name("migrations")
_log = logging.getLogger(__name__)


class DatabaseUnavailable(ServiceError):
    """The connection was lost (a restart, a network cut, even during COMMIT) or the database
    stayed locked: whether the request's transaction was saved is unknown, and sending it
    again is safe (a batch saved already answers 409)."""

    default_status = 503


def unavailable(exc: BaseException) -> DatabaseUnavailable | None:
    """``exc`` as a 503 if it says the database could not be reached or stayed busy; None for
    any other error (a bug or a constraint: it stays a 500, or whatever its caller decides)."""
    lost = isinstance(exc, DBAPIError) and exc.connection_invalidated
    driver = exc.orig if isinstance(exc, DBAPIError) else exc
    if isinstance(driver, sqlite3.OperationalError):
        lost = lost or any(word in str(driver) for word in ("locked", "busy"))
    psycopg = sys.modules.get("psycopg")  # loaded if PostgreSQL is in use, never imported here
    if psycopg is not None and isinstance(driver, psycopg.OperationalError):
        lost = True  # connection failures, admin shutdown, lock and statement timeouts
    if not lost:
        return None
    reason = str(driver).strip().splitlines()[0] if str(driver).strip() else type(driver).__name__
    _log.warning("database unavailable, answered 503: %s", reason)
    return DatabaseUnavailable(
        "The database connection was lost or the database is busy; send the request again",
    )


@contextmanager
def _unavailable_is_503() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        error = unavailable(exc)
        if error is None:
            raise
        raise error from exc


@dataclass
class Database:
    """The engine and two session factories: ``read()`` and ``write()`` transactions."""

    engine: Engine
    _reader: sessionmaker[Session]
    _writer: sessionmaker[Session]

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def read(self) -> Iterator[Session]:
        with _unavailable_is_503(), self._reader() as session, session.begin():
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A transaction that will write: committed on success, rolled back on any error."""
        with _unavailable_is_503(), self._writer() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    """The engine; on PostgreSQL a pool of ``pool_size`` connections, and as many again in a
    burst (the service sizes it to its request threads: the batch routes have their own)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=8
        )
        _sqlite_setup(engine)
        return engine
    # the ping costs a round trip per checkout; the batch routes, which are most of the
    # traffic, do not use this pool on PostgreSQL (see db_async)
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision (creates it on an empty database)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")


def open_database(settings: Settings, *, run_migrations: bool = True) -> Database:
    """Connect to the settings' database and (by default) migrate it."""
    engine = make_engine(settings.resolved_database_url, pool_size=settings.worker_threads + 1)
    if run_migrations:
        migrate(engine)
    writer_engine = engine.execution_options(sqlite_begin="IMMEDIATE")
    return Database(
        engine=engine,
        _reader=sessionmaker(engine, expire_on_commit=False),
        _writer=sessionmaker(writer_engine, expire_on_commit=False),
    )


def _shown_url(url: str) -> str:
    """The database URL as it may be printed: a password in it becomes ``***``."""
    return re.sub(r"(://[^/@]*?:)[^/]*@", r"\1***@", url)


def open_service_database(settings: Settings) -> Database:
    """:func:`open_database` for a command a person runs: what they can fix is a
    :class:`SmokewatchError` naming the database, one line (a file that is not a database, a
    URL that does not parse or names no installed driver, a server that does not answer, a
    folder that cannot be made, a schema newer than this smokewatch)."""
    from alembic.util.exc import CommandError
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    url = settings.resolved_database_url
    try:
        return open_database(settings)
    except NoSuchModuleError:
        kind = url.split("://", 1)[0] if "://" in url else url
        problem = f"no database driver for {kind!r} (use sqlite:///FILE or postgresql+psycopg://…)"
    except ArgumentError as exc:
        problem = f"not a database URL ({exc})"
    except ModuleNotFoundError as exc:
        if (exc.name or "").startswith("smokewatch"):
            raise  # our own module missing: a bug, not the user's
        problem = f"its driver {exc.name!r} is not installed"
    except DBAPIError as exc:
        problem = str(exc.orig)
    except CommandError as exc:  # e.g. a revision this version does not know
        problem = f"cannot migrate it: {exc}"
    except OSError as exc:  # the SQLite file's folder cannot be made
        problem = f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc)
    problem = " ".join(problem.split())  # a driver's message can span lines
    raise SmokewatchError(f"cannot open the database {_shown_url(url)!r}: {problem}")


#: One statement and its parameters (a list of parameter sets: run once per set).
Step = tuple[Executable, Mapping[str, Any] | Sequence[Mapping[str, Any]]]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Together:
    """Statements a plan needs run together (one round trip on PostgreSQL); ``commit``: the
    plan's last, committing its transaction."""

    steps: Sequence[Step]
    commit: bool = False


#: A unit of database work written once for every driver: a generator that yields
#: ``Together`` requests, is sent each one's rows, and returns its result. ``drive`` runs it
#: in a session (SQLite and PostgreSQL, in a thread); ``AsyncPostgres.drive`` on the event
#: loop (the service's hot routes on PostgreSQL).
Plan = Generator[Together, list[list[Any]], T]


def drive(session: Session, plan: Plan[T]) -> T:
    """Run a plan in ``session``'s transaction."""
    try:
        request = next(plan)
        while True:
            rows = run_together(session, request.steps, commit=request.commit)
            request = plan.send(rows)
    except StopIteration as done:
        return cast(T, done.value)


def run_together(
    session: Session, steps: Sequence[Step], *, commit: bool = False
) -> list[list[Any]]:
    """Run ``steps`` in order in the session's transaction; each step's rows come back.

    On PostgreSQL (psycopg 3) the statements go in one round trip, in pipeline mode; with
    ``commit``, the COMMIT goes in it too, and the caller must run nothing more in this
    transaction. Elsewhere (SQLite, in-process) they run one by one and the session commits
    as usual. A batch costs a handful of tiny statements, and on a small machine their
    round trips (each a wake-up of the server process and of a database backend) cost more
    than the statements: see bench/labeling_load.py.

    Rows are named tuples on both paths (``row.id``, ``row[0]``). A failing statement raises
    here, and the transaction is then rolled back as with any error.
    """
    connection = session.connection()
    raw: Any = connection.connection.dbapi_connection
    if connection.dialect.name != "postgresql" or not hasattr(raw, "pipeline"):
        out: list[list[Any]] = []
        for statement, params in steps:
            result = connection.execute(statement, params)
            out.append(list(result.all()) if result.returns_rows else [])
        return out
    from psycopg import RawCursor
    from psycopg.rows import namedtuple_row

    cursors = []
    with raw.pipeline():
        for sql, args, many in driver_calls(steps, connection.dialect):
            cursor = RawCursor(raw, row_factory=namedtuple_row)
            (cursor.executemany if many else cursor.execute)(sql, args)
            cursors.append(cursor)
        if commit:
            raw.commit()  # queued behind the statements; the session's own commit is a no-op
    return [c.fetchall() if c.description is not None else [] for c in cursors]


def driver_calls(steps: Sequence[Step], dialect: Dialect) -> list[tuple[str, Any, bool]]:
    """Each step as psycopg takes it: (``$n`` SQL, positional arguments, executemany?)."""
    calls = []
    for statement, params in steps:
        sql, prepare = compiled_for(statement, dialect)
        if isinstance(params, Mapping):
            calls.append((sql, prepare(params), False))
        else:
            calls.append((sql, [prepare(p) for p in params], True))
    return calls


_COMPILED: dict[tuple[int, int], tuple[Executable, str, Any]] = {}


def compiled_for(statement: Executable, dialect: Dialect) -> tuple[str, Any]:
    """The statement's SQL with ``$n`` placeholders and a function making its positional
    parameters (with SQLAlchemy's type processing, e.g. JSON), compiled once per statement.

    ``$n`` SQL goes to the server as it is (psycopg's ``RawCursor``): psycopg parses
    ``%(name)s`` SQL on every execution when it is over 4 KB, as a batch's draw is.
    """
    key = (id(statement), id(dialect))
    hit = _COMPILED.get(key)
    if hit is not None and hit[0] is statement:
        return hit[1], hit[2]
    compiled = statement.compile(dialect=_numeric_dollar(dialect))  # type: ignore[attr-defined]
    if (
        any(b.expanding for b in compiled.binds.values())
        or compiled.literal_execute_params
        or compiled.insert_prefetch
        or compiled.update_prefetch
    ):
        # values SQLAlchemy fills in at execution time (IN lists, Python-side column
        # defaults), which this shortcut past its execution would silently drop
        raise ValueError(
            "run_together takes statements whose parameters are all given: no expanding or "
            "literal-execute parameters, no Python-side column defaults"
        )
    order = list(compiled.positiontup or ())
    processors = dict(compiled._bind_processors)  # SQLAlchemy's type processing (JSON, ...)

    def prepare(params: Mapping[str, Any]) -> list[Any]:
        values = compiled.construct_params(params)
        out = []
        for name in order:
            value = values[name]
            process = processors.get(name)
            out.append(process(value) if process is not None else value)
        return out

    if len(_COMPILED) > 256:  # statements are module constants; this only bounds a leak
        _COMPILED.clear()
    _COMPILED[key] = (statement, compiled.string, prepare)
    return compiled.string, prepare


_DOLLAR: dict[int, tuple[Dialect, Dialect]] = {}


def _numeric_dollar(dialect: Dialect) -> Dialect:
    """A copy of the engine's dialect that writes ``$1, $2 ...`` placeholders."""
    hit = _DOLLAR.get(id(dialect))
    if hit is None or hit[0] is not dialect:
        copy = cast(Any, type(dialect))(paramstyle="numeric_dollar")
        hit = _DOLLAR[id(dialect)] = (dialect, copy)
    return hit[1]
