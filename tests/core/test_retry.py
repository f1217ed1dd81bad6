"""core.retry: the one retry loop the clip downloader and the alert sender share.

Waits go through an injected ``wait`` that records them and returns at once; ``jitter=(1, 1)``
makes the waits exact where a test compares them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from smokewatch.core.retry import Backoff, GaveUp, Retryable, retry, retry_after_seconds

EXACT = Backoff(attempts=5, base=1.0, cap=4.0, jitter=(1.0, 1.0))


class Waits(list[float]):
    """Records each wait; ``cancel_at``: the wait (counted from 1) that reports a cancel."""

    def __init__(self, cancel_at: int | None = None) -> None:
        super().__init__()
        self.cancel_at = cancel_at

    def __call__(self, seconds: float) -> bool:
        self.append(seconds)
        return len(self) == self.cancel_at


def failing(
    times: int, *, retry_after: float | None = None
) -> tuple[Callable[[int], str], list[int]]:
    """An operation that fails ``times`` times (transiently), then returns "ok"; and its
    calls (the attempt numbers it was given)."""
    calls: list[int] = []

    def once(attempt: int) -> str:
        calls.append(attempt)
        if len(calls) <= times:
            raise Retryable(f"fail {attempt}", retry_after)
        return "ok"

    return once, calls


def test_success_is_returned_and_tries_are_counted_from_one() -> None:
    once, calls = failing(2)
    waits = Waits()
    assert retry(once, EXACT, wait=waits) == "ok"
    assert calls == [1, 2, 3]
    assert waits == [1.0, 2.0]


def test_waits_double_up_to_the_cap() -> None:
    once, _ = failing(4)
    waits = Waits()
    retry(once, EXACT, wait=waits)
    assert waits == [1.0, 2.0, 4.0, 4.0]


def test_gives_up_after_the_last_attempt_without_waiting_after_it() -> None:
    once, calls = failing(10)
    waits = Waits()
    with pytest.raises(GaveUp) as caught:
        retry(once, EXACT, wait=waits)
    assert caught.value.why == "attempts" and caught.value.attempts == 5
    assert str(caught.value.last) == "fail 5" and str(caught.value) == "fail 5"
    assert calls == [1, 2, 3, 4, 5] and len(waits) == 4


def test_one_attempt_means_no_retry() -> None:
    once, calls = failing(1)
    with pytest.raises(GaveUp) as caught:
        retry(once, Backoff(attempts=1, base=1.0, cap=1.0), wait=Waits())
    assert caught.value.attempts == 1 and calls == [1]


def test_other_exceptions_pass_through_at_once() -> None:
    calls: list[int] = []

    def once(attempt: int) -> str:
        calls.append(attempt)
        raise KeyError("not transient")

    waits = Waits()
    with pytest.raises(KeyError):
        retry(once, EXACT, wait=waits)
    assert calls == [1] and waits == []


def test_jitter_stays_within_its_range() -> None:
    policy = Backoff(attempts=200, base=2.0, cap=2.0, jitter=(0.5, 1.0))
    once, _ = failing(199)
    waits = Waits()
    retry(once, policy, wait=waits)
    assert len(waits) == 199 and all(1.0 <= w <= 2.0 for w in waits)


def test_retry_after_at_least_is_a_floor_capped_like_the_backoff() -> None:
    policy = Backoff(attempts=3, base=1.0, cap=10.0, jitter=(1.0, 1.0), retry_after="at_least")
    assert policy.delay(1, retry_after=0.0) == 1.0  # shorter than the backoff: the backoff
    assert policy.delay(1, retry_after=7.0) == 7.0
    assert policy.delay(1, retry_after=3600.0) == 10.0  # a huge hint stops at the cap
    assert policy.delay(3, retry_after=None) == 4.0


def test_retry_after_exact_is_the_wait_however_short_or_long() -> None:
    policy = Backoff(attempts=3, base=1.0, cap=10.0, jitter=(1.0, 1.0), retry_after="exact")
    assert policy.delay(3, retry_after=0.0) == 0.0
    assert policy.delay(1, retry_after=3600.0) == 3600.0
    once, _ = failing(1, retry_after=7.0)
    waits = Waits()
    retry(once, policy, wait=waits)
    assert waits == [7.0]


def test_max_wait_gives_up_before_a_wait_that_would_end_past_it() -> None:
    now = [100.0]

    def clock() -> float:
        return now[0]

    def wait(seconds: float) -> bool:
        now[0] += seconds
        return False

    policy = Backoff(attempts=10, base=1.0, cap=100.0, jitter=(1.0, 1.0), max_wait=6.0)
    once, calls = failing(10)
    with pytest.raises(GaveUp) as caught:
        retry(once, policy, wait=wait, clock=clock)
    # waits 1 + 2 = 3 s; the next (4 s) would start at 7 s, past 6 s
    assert caught.value.why == "max_wait" and caught.value.attempts == 3 and calls == [1, 2, 3]

    hinted = Backoff(attempts=10, base=1.0, cap=1.0, retry_after="exact", max_wait=60.0)
    once, calls = failing(10, retry_after=3600.0)
    waits = Waits()
    with pytest.raises(GaveUp) as caught:
        retry(once, hinted, wait=waits, clock=clock)
    assert caught.value.why == "max_wait" and calls == [1] and waits == []


def test_a_cancelled_wait_stops_the_loop() -> None:
    once, calls = failing(10)
    waits = Waits(cancel_at=2)
    with pytest.raises(GaveUp) as caught:
        retry(once, EXACT, wait=waits)
    assert caught.value.why == "cancelled" and caught.value.attempts == 2 and calls == [1, 2]


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(None, None), ("", None), ("7", 7.0), ("1.5", 1.5), ("-3", 0.0), ("soon", None)],
)
def test_retry_after_seconds_reads_a_delay(value: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(value, clock=lambda: 0.0) == seconds


def test_retry_after_seconds_reads_an_http_date_against_the_clock() -> None:
    when = datetime(2024, 5, 1, 12, 0, 30, tzinfo=UTC)
    header = format_datetime(when, usegmt=True)  # "Wed, 01 May 2024 12:00:30 GMT"
    now = when.timestamp() - 30
    assert retry_after_seconds(header, clock=lambda: now) == 30.0
    assert retry_after_seconds(header, clock=lambda: now + 90) == 0.0  # already past


@pytest.mark.parametrize("zone", ["UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago"])
@pytest.mark.parametrize(
    "header",
    [
        "Wed, 01 May 2024 12:00:30 GMT",  # IMF-fixdate
        "Wed May  1 12:00:30 2024",  # asctime, which recipients must accept: GMT too
        "Wed, 01 May 2024 12:00:30 -0000",  # RFC 5322's "UTC, offset unknown"
    ],
)
def test_an_http_date_is_gmt_whatever_the_machines_zone(
    header: str, zone: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC).timestamp()
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        assert retry_after_seconds(header, clock=lambda: now) == 30.0
    finally:
        monkeypatch.undo()
        time.tzset()
