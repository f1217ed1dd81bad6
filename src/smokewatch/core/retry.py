"""Try again after a transient failure: exponential backoff with jitter, a server's
``Retry-After``, a bounded number of tries and, optionally, a bounded total time.

Downloading clips (``clips.download``) and delivering alerts (``detect.alerts``) both retry
HTTP requests; the loop, the wait and the header live here once. Each caller keeps its own
policy: which failures are transient (it raises :class:`Retryable` for those, anything else
ends the loop at once), how many tries, how the wait is jittered, how a ``Retry-After`` counts,
and how a wait is cut short (a cancel event, or an injected sleep in tests). Standard library
only: core imports no HTTP client, so callers read the header and pass its text.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Literal, TypeVar

__all__ = ["Backoff", "GaveUp", "Retryable", "retry", "retry_after_seconds"]

T = TypeVar("T")

#: Why :func:`retry` stopped: no tries left, the next would start past ``max_wait``, or
#: ``wait`` reported a cancellation.
StopReason = Literal["attempts", "max_wait", "cancelled"]


class Retryable(Exception):
    """A failure worth another try; ``retry_after``: the server's hint, in seconds."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class GaveUp(Exception):
    """:func:`retry` stopped trying. ``last`` is the final failure, ``attempts`` the tries
    made, ``why`` the reason; the caller words the message (its readers differ)."""

    def __init__(self, last: Retryable, attempts: int, why: StopReason) -> None:
        super().__init__(str(last))
        self.last = last
        self.attempts = attempts
        self.why: StopReason = why


@dataclass(frozen=True, slots=True)
class Backoff:
    """How often and how long to wait between tries.

    The wait after try ``n`` is ``min(cap, base * 2 ** (n - 1))`` times a uniform draw from
    ``jitter`` (so many clients do not come back in lockstep). A ``Retry-After`` hint counts
    as ``"at_least"`` (a floor on that wait, itself capped at ``cap``, so a huge hint cannot
    stall a batch) or ``"exact"`` (the wait, however long or short; ``max_wait`` bounds it).
    """

    attempts: int  #: tries, the first included
    base: float  #: seconds before the first retry; doubled each retry
    cap: float  #: the longest wait the doubling reaches
    jitter: tuple[float, float] = (0.5, 1.5)
    retry_after: Literal["at_least", "exact"] = "at_least"
    #: give up when the next try would start later than this many seconds after the first
    max_wait: float | None = None

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed try ``attempt`` (counted from 1)."""
        wait: float = min(self.cap, self.base * 2 ** (attempt - 1))
        low, high = self.jitter
        wait *= random.uniform(low, high)
        if retry_after is not None:
            if self.retry_after == "exact":
                wait = retry_after
            else:
                wait = max(wait, min(retry_after, self.cap))
        return wait


def retry(
    once: Callable[[int], T],
    backoff: Backoff,
    *,
    wait: Callable[[float], bool],
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Return ``once(attempt)`` (attempt counted from 1), calling it again after each
    :class:`Retryable` it raises, as ``backoff`` says; any other exception propagates at once.

    ``wait(seconds)`` waits between tries and returns True when the caller has given up
    meanwhile (``threading.Event.wait`` does both; tests pass a recorder that returns at
    once). ``clock`` measures ``backoff.max_wait``. Raises :class:`GaveUp` when it stops.
    """
    started = clock()
    attempt = 0
    while True:
        attempt += 1
        try:
            return once(attempt)
        except Retryable as exc:
            if attempt >= backoff.attempts:
                raise GaveUp(exc, attempt, "attempts") from None
            delay = backoff.delay(attempt, exc.retry_after)
            if backoff.max_wait is not None and delay > backoff.max_wait - (clock() - started):
                raise GaveUp(exc, attempt, "max_wait") from None
            if wait(delay):
                raise GaveUp(exc, attempt, "cancelled") from None


def retry_after_seconds(value: str | None, clock: Callable[[], float] = time.time) -> float | None:
    """A ``Retry-After`` header value in seconds (a delay, or an HTTP date measured from
    ``clock``'s now), never negative; None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # asctime or "-0000": HTTP dates are GMT, never the machine's zone
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - clock())
