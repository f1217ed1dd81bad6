"""Password sign-in under attack: wrong passwords are limited per account and per client
address, and password checks run on a few threads of their own.

Each check is an argon2 hash (tens of milliseconds of CPU, by design). Run in the request
threads, 8 connections guessing passwords held all of them, and every other route waited
(measured: p50 10 ms → 3.6 s). Here at most ``login_hash_threads`` checks run at once per
worker process, beside the request threads, and the rest wait their turn on the event loop.

The counts live in memory, per worker process: nothing to expire in the database, and no
write (on SQLite, the one write lock) per guess. The price: with N workers a guesser may get
up to N times the limit. The state grows with wrong guesses only, which arrive no faster
than the hash threads check them, and expired entries are swept.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import anyio
import anyio.to_thread

from smokewatch.labeling.errors import ServiceError
from smokewatch.settings import Settings

__all__ = ["LoginLimits", "TooManyAttempts"]

T = TypeVar("T")
_WRONG_PASSWORD = 401  # the only refusal that counts (users.password_sign_in's one message)


class TooManyAttempts(ServiceError):
    """429: this account or this address gave too many wrong passwords lately."""

    default_status = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Too many failed sign-in attempts; try again in {retry_after} s")
        self.retry_after = retry_after


class LoginLimits:
    """Wrong-password counts in a sliding window, and the password-check threads.

    Used from the event loop only (no lock): ``attempt`` reserves a place *before* the
    check, so guesses sent all at once are counted as they arrive, not as they finish.
    """

    def __init__(
        self,
        attempts: int,
        window: float,
        hash_threads: int,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.attempts = attempts
        self.window = window
        self.hash_threads = hash_threads
        self.clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._sweep_above = 1024  # entries; and once per window
        self._swept = clock()
        self._hashing: anyio.CapacityLimiter | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> LoginLimits:
        return cls(settings.login_attempts, settings.login_window, settings.login_hash_threads)

    @contextmanager
    def attempt(self, name: str, address: str) -> Iterator[None]:
        """A sign-in attempt for account ``name`` from ``address``: refused with
        ``TooManyAttempts`` if either gave ``attempts`` wrong passwords in the window; counted
        if it fails with a wrong password (401), forgotten otherwise."""
        now = self.clock()
        keys = [("account", name), ("address", address)]
        for key in keys:
            seen = self._recent(key, now)
            if len(seen) >= self.attempts:
                raise TooManyAttempts(max(1, math.ceil(seen[0] + self.window - now)))
        for key in keys:
            self._failures.setdefault(key, deque()).append(now)
        counted = False
        try:
            yield
        except ServiceError as exc:
            counted = exc.status == _WRONG_PASSWORD
            raise
        finally:
            if not counted:
                for key in keys:
                    self._forget(key, now)
            if len(self._failures) > self._sweep_above or now - self._swept >= self.window:
                self._sweep(now)

    async def check(self, work: Callable[[], T]) -> T:
        """Run ``work`` (which checks a password) on a hash thread; at most ``hash_threads``
        at once, none of them a request thread."""
        if self._hashing is None:
            self._hashing = anyio.CapacityLimiter(self.hash_threads)
        return await anyio.to_thread.run_sync(work, limiter=self._hashing)

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        seen = self._failures.get(key)
        if seen is None:
            return deque()
        while seen and seen[0] <= now - self.window:
            seen.popleft()
        if not seen:
            del self._failures[key]
        return seen

    def _forget(self, key: tuple[str, str], stamp: float) -> None:
        seen = self._failures.get(key)
        if seen is not None and stamp in seen:  # (not if it expired meanwhile)
            seen.remove(stamp)
            if not seen:
                del self._failures[key]

    def _sweep(self, now: float) -> None:
        for key in list(self._failures):
            self._recent(key, now)
        self._sweep_above = max(1024, 2 * len(self._failures))
        self._swept = now
