"""Volunteers, accounts and roles.

Anonymous volunteers are known by a client id their browser generates and keeps; researchers
and experts have accounts with an argon2-hashed password. A user's role is read from the
database on every request (the token names only the user), so a role change or a ban takes
effect on the very next request — RISE's tokens carried the role and kept it forever.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from smokewatch.core.clip import MAX_INT
from smokewatch.labeling.db import Database
from smokewatch.labeling.errors import ServiceError
from smokewatch.labeling.tables import Connection, Role, User

__all__ = [
    "AccountError",
    "Caller",
    "CALLER_STATEMENT",
    "active_caller",
    "ACCOUNT_PREFIX",
    "account_client_id",
    "add_account",
    "connect",
    "get_or_create_volunteer",
    "is_row_id",
    "parse_row_id",
    "password_matches",
    "password_sign_in",
    "set_password",
    "set_role",
    "volunteer_caller",
]

ACCOUNT_PREFIX = "account."
#: crowd workers' client ids (``crowd.work``): made only by joining a study
CROWD_PREFIX = "crowd."
_NAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{2,64}$")
_CLIENT_ID_RE = re.compile(r"^[\x21-\x7e]{1,255}$")
_hasher = PasswordHasher()


class AccountError(ServiceError):
    """A sign-in or user-management request that cannot be done."""


def is_row_id(number: int) -> bool:
    """Whether a row can have id ``number``: ids are 32-bit (PostgreSQL ``integer``), and
    SQLite cannot even bind a number beyond 64 bits (OverflowError), so any other names none."""
    return 0 <= number <= MAX_INT


def parse_row_id(text: str) -> int | None:
    """``text`` as a row id, or None when it is not one (then it is a name).

    Only ASCII digits: ``'²'.isdigit()`` is true but ``int`` refuses it, and ``int`` reads
    ``'١٢'`` as 12. A number no row can have is None too, as is one too long for ``int``.
    """
    if not (text.isascii() and text.isdecimal()) or len(text.lstrip("0")) > 10:
        return None
    number = int(text)
    return number if is_row_id(number) else None


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is making a request, as the database says *now* (one indexed read)."""

    id: int
    client_type: int
    score: int
    raw_score: int
    #: a paid crowd worker (client id in ``CROWD_PREFIX``): never a volunteer, so the
    #: volunteers' pages refuse it (its answers would be exported as a citizen's)
    is_crowd: bool = False


_USER = User.__table__
#: The caller's row (``p_uid``), read on every request; ``active_caller`` checks it.
CALLER_STATEMENT = select(
    _USER.c.id, _USER.c.client_type, _USER.c.score, _USER.c.raw_score, _USER.c.client_id
).where(_USER.c.id == bindparam("p_uid"))


def active_caller(rows: Sequence[Any]) -> Caller:
    """The caller from ``CALLER_STATEMENT``'s rows: 401 if there is no such user, 403 if
    banned (roles are read on every request, so a ban takes effect at once)."""
    if not rows:
        raise AccountError("Invalid user token: no such user", 401)
    row = rows[0]
    crowd = isinstance(row[4], str) and row[4].startswith(CROWD_PREFIX)
    caller = Caller(int(row[0]), int(row[1]), int(row[2]), int(row[3]), crowd)
    if caller.client_type == Role.BANNED:
        raise AccountError("Permission denied", 403)
    return caller


def volunteer_caller(rows: Sequence[Any]) -> Caller:
    """``active_caller`` for the volunteers' pages (``get_batch``, ``send_batch``): a crowd
    worker's token is refused (403), or its paid answers would count as a citizen's."""
    caller = active_caller(rows)
    if caller.is_crowd:
        raise AccountError(
            "Crowd workers label through their study's task page (/crowd), not volunteer "
            "pages: their answers are kept apart from the citizens'",
            403,
        )
    return caller


def account_client_id(name: str) -> str:
    if not _NAME_RE.match(name):
        raise AccountError(
            f"account name {name!r}: use 2-64 letters, digits or . _ @ - (no spaces)"
        )
    return ACCOUNT_PREFIX + name


def get_or_create_volunteer(session: Session, client_id: str) -> User:
    """The user with this browser-generated client id, created on first sight (layperson)."""
    if not isinstance(client_id, str) or not _CLIENT_ID_RE.match(client_id):
        raise AccountError("client_id must be 1-255 printable characters without spaces")
    if client_id.startswith(ACCOUNT_PREFIX):
        raise AccountError("accounts sign in with a password", 403)
    if client_id.startswith(CROWD_PREFIX):
        raise AccountError("crowd workers sign in through their study (crowd/join)", 403)
    user = session.scalar(select(User).where(User.client_id == client_id))
    if user is not None:
        return user
    try:
        with session.begin_nested():
            user = User(client_id=client_id, register_time=int(time.time()))
            session.add(user)
    except IntegrityError:  # the same browser logged in twice at once: take the other row
        user = session.scalar(select(User).where(User.client_id == client_id))
        assert user is not None
    return user


def connect(session: Session, user: User) -> Connection:
    """Record a login (a session, in RISE's terms); banned users are refused."""
    if user.client_type == Role.BANNED:
        raise AccountError("Permission denied", 403)
    connection = Connection(time=int(time.time()), client_type=user.client_type, user_id=user.id)
    session.add(connection)
    session.flush()
    return connection


def add_account(session: Session, name: str, password: str, role: int = Role.RESEARCHER) -> User:
    """Create a password account (researchers and experts sign in this way)."""
    client_id = account_client_id(name)
    if len(password) < 8:
        raise AccountError("a password needs at least 8 characters")
    if session.scalar(select(User).where(User.client_id == client_id)) is not None:
        raise AccountError(f"account {name!r} exists already", 409)
    user = User(
        client_id=client_id,
        client_type=role,
        register_time=int(time.time()),
        password_hash=_hasher.hash(password),
    )
    session.add(user)
    session.flush()
    return user


def _wrong() -> AccountError:
    """One message for every failure (no user probing); login_limits counts these (401)."""
    return AccountError("Wrong account name or password", 401)


def _account(session: Session, name: str) -> User | None:
    try:
        client_id = account_client_id(name)
    except AccountError:
        return None
    return session.scalar(select(User).where(User.client_id == client_id))


def password_matches(stored: str | None, password: str) -> bool:
    """The argon2 check (tens of ms of CPU); with no stored hash, the same work for nothing,
    so that a missing account takes as long as a wrong password."""
    if stored is None:
        _hasher.hash("timing-equaliser")
        return False
    try:
        return bool(_hasher.verify(stored, password))
    except (VerificationError, InvalidHashError):
        return False


def password_sign_in(db: Database, name: str, password: str) -> tuple[User, Connection]:
    """Check an account's password and record the login. The check runs between two short
    transactions, not inside one: on SQLite a write transaction holds the one write lock, and
    on PostgreSQL a pooled connection, for as long as the hash takes."""
    with db.read() as session:
        user = _account(session, name)
        user_id, stored = (user.id, user.password_hash) if user else (None, None)
    if not password_matches(stored, password):
        raise _wrong()
    assert stored is not None
    rehashed = _hasher.hash(password) if _hasher.check_needs_rehash(stored) else None
    with db.write() as session:
        user = session.get(User, user_id)
        if user is None or user.password_hash != stored:  # deleted or changed meanwhile
            raise _wrong()
        if rehashed is not None:
            user.password_hash = rehashed
        return user, connect(session, user)


def find_user(session: Session, who: str) -> User:
    """A user by account name, client id or numeric id."""
    number = parse_row_id(who)
    user = session.get(User, number) if number is not None else None
    if user is None:
        user = session.scalar(select(User).where(User.client_id.in_([who, ACCOUNT_PREFIX + who])))
    if user is None:
        raise AccountError(f"no user {who!r} (give an account name, client id or user id)", 404)
    return user


def set_role(session: Session, who: str, role: str | int) -> User:
    try:
        number = Role.parse(role)
    except ValueError as exc:
        raise AccountError(str(exc)) from None
    user = find_user(session, who)
    user.client_type = number
    return user


def set_password(session: Session, name: str, password: str) -> User:
    """Give an existing password account a new password."""
    if len(password) < 8:
        raise AccountError("a password needs at least 8 characters")
    user = session.scalar(select(User).where(User.client_id == account_client_id(name)))
    if user is None:
        raise AccountError(f"no account {name!r}", 404)
    user.password_hash = _hasher.hash(password)
    return user
