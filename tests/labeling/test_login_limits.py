"""Password sign-in under attack: wrong passwords are limited per account and per address
(429 with Retry-After), and password checks never take the request threads.

Time is a clock the tests move (``LoginLimits.clock``), never a sleep."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from service_helpers import make_settings

from smokewatch.labeling import users
from smokewatch.labeling.app import create_app
from smokewatch.labeling.db import DatabaseUnavailable, open_database
from smokewatch.labeling.login_limits import LoginLimits, TooManyAttempts
from smokewatch.labeling.users import AccountError, add_account


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _wrong(limits: LoginLimits, name: str, address: str) -> None:
    with pytest.raises(AccountError), limits.attempt(name, address):
        raise AccountError("Wrong account name or password", 401)


def test_wrong_passwords_are_limited_per_account_and_per_address() -> None:
    clock = Clock()
    limits = LoginLimits(3, 60, 1, clock=clock)
    for address in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):  # one account, guessed from 3 places
        _wrong(limits, "rita", address)
    with pytest.raises(TooManyAttempts) as refused, limits.attempt("rita", "10.0.0.9"):
        pass
    assert refused.value.status == 429 and refused.value.retry_after == 60
    assert "try again in 60 s" in refused.value.message
    for name in ("a", "b", "c"):  # one address guessing 3 accounts
        _wrong(limits, name, "10.0.0.7")
    with pytest.raises(TooManyAttempts), limits.attempt("dora", "10.0.0.7"):
        pass
    with limits.attempt("dora", "10.0.0.8"):  # another account from another address: fine
        pass
    clock.now += 45
    with pytest.raises(TooManyAttempts) as later, limits.attempt("rita", "10.0.0.9"):
        pass
    assert later.value.retry_after == 15  # the window slides: the oldest expires first
    clock.now += 15
    with limits.attempt("rita", "10.0.0.9"):
        pass


def test_only_wrong_passwords_count_and_pending_guesses_count_at_once() -> None:
    """A sign-in that works, or fails for another reason (the database away), costs nothing;
    guesses sent together are counted as they arrive, before any check has finished."""
    limits = LoginLimits(2, 60, 1, clock=Clock())
    for _ in range(5):
        with limits.attempt("rita", "10.0.0.1"):
            pass
        with pytest.raises(DatabaseUnavailable), limits.attempt("rita", "10.0.0.1"):
            raise DatabaseUnavailable("The database connection was lost")
    with ExitStack() as pending:
        pending.enter_context(limits.attempt("rita", "10.0.0.1"))
        pending.enter_context(limits.attempt("rita", "10.0.0.2"))
        with pytest.raises(TooManyAttempts), limits.attempt("rita", "10.0.0.3"):
            pass


def test_the_state_of_expired_guesses_is_swept() -> None:
    clock = Clock()
    limits = LoginLimits(5, 60, 1, clock=clock)
    for i in range(1100):
        _wrong(limits, f"name{i}", f"10.0.{i // 250}.{i % 250}")
    clock.now += 61
    _wrong(limits, "late", "10.9.9.9")
    assert len(limits._failures) == 2  # noqa: SLF001 (only the late guess's account and address)


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Any:
    return make_settings(
        tmp_path,
        f"sqlite:///{tmp_path / 'labels.db'}",
        login_attempts=3,
        worker_threads=4,
        login_hash_threads=2,
    )


def test_the_service_answers_429_with_retry_after_then_lets_the_account_in(
    sqlite_settings: Any,
) -> None:
    db = open_database(sqlite_settings)
    with db.write() as s:
        add_account(s, "rita", "correct horse battery")
    app = create_app(sqlite_settings, database=db)
    clock = Clock()
    app.state.ctx.logins.clock = clock
    right = {"name": "rita", "password": "correct horse battery"}
    with TestClient(app) as client:
        for _ in range(3):
            wrong = client.post("/api/v1/login_password", json={**right, "password": "nope"})
            assert wrong.status_code == 401
        refused = client.post("/api/v1/login_password", json=right)
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == str(sqlite_settings.login_window)
        assert refused.json() == {
            "message": f"Too many failed sign-in attempts; try again in "
            f"{sqlite_settings.login_window} s"
        }
        assert client.post("/api/v1/login", json={"client_id": "uuid.v"}).status_code == 200
        clock.now += sqlite_settings.login_window
        assert client.post("/api/v1/login_password", json=right).status_code == 200
    db.dispose()


class BlockingHasher:
    """Password checks that wait to be released, counting how many run at once."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0

    def _blocking(self, work: Callable[[], Any]) -> Any:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            assert self.release.wait(60), "never released"
            return work()
        finally:
            with self.lock:
                self.running -= 1

    def verify(self, stored: str, password: str) -> Any:
        return self._blocking(lambda: self.real.verify(stored, password))

    def hash(self, password: str) -> str:
        return str(self._blocking(lambda: self.real.hash(password)))

    def check_needs_rehash(self, stored: str) -> bool:
        return bool(self.real.check_needs_rehash(stored))


@pytest.fixture
def blocking_hasher(monkeypatch: pytest.MonkeyPatch) -> Iterator[BlockingHasher]:
    hasher = BlockingHasher(users._hasher)  # noqa: SLF001
    monkeypatch.setattr(users, "_hasher", hasher)
    yield hasher
    hasher.release.set()  # never leave a thread waiting


def test_password_checks_never_take_the_request_threads(
    sqlite_settings: Any, blocking_hasher: BlockingHasher
) -> None:
    """8 guesses at once (an account's, and accounts that do not exist): at most
    ``login_hash_threads`` checks run at once, and while they are all stuck, routes that
    need a request thread still answer."""
    settings = sqlite_settings.model_copy(update={"login_attempts": 100})
    db = open_database(settings)
    with db.write() as s:
        blocking_hasher.release.set()  # the account's own hash is made before the attack
        add_account(s, "rita", "correct horse battery")
        blocking_hasher.release.clear()
    blocking_hasher.most = 0
    app = create_app(settings, database=db)

    async def until(check: Callable[[], bool], what: str) -> None:
        for _ in range(3000):  # a bound against hanging, not a timing assertion
            if check():
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"never happened: {what}")

    async def answered(request: Any) -> httpx.Response:
        try:
            return await asyncio.wait_for(request, 30)  # a bound against hanging
        except TimeoutError:
            raise AssertionError(
                "no request thread came free while passwords were checked"
            ) from None

    async def scenario() -> list[httpx.Response]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                guesses = [
                    asyncio.create_task(
                        client.post(
                            "/api/v1/login_password",
                            json={"name": "rita" if i % 2 else f"nobody{i}", "password": "x"},
                        )
                    )
                    for i in range(8)
                ]
                await until(lambda: blocking_hasher.running >= 2, "two checks running")
                assert blocking_hasher.running == settings.login_hash_threads
                for _ in range(3):  # while those are stuck, routes in request threads answer
                    stats = await answered(client.get("/api/v1/get_label_statistics"))
                    assert stats.status_code == 200
                    volunteer = await answered(
                        client.post("/api/v1/login", json={"client_id": "uuid.v"})
                    )
                    assert volunteer.status_code == 200
                assert blocking_hasher.running == 2
                blocking_hasher.release.set()
                return list(await asyncio.gather(*guesses))

    async def released() -> list[httpx.Response]:
        try:
            return await scenario()
        finally:  # a failed assertion must not leave the checks (and asyncio.run) waiting
            blocking_hasher.release.set()

    answers = asyncio.run(released())
    assert [a.status_code for a in answers] == [401] * 8
    assert blocking_hasher.most == settings.login_hash_threads
    db.dispose()
