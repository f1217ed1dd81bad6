"""Epoch seconds: the range a frame time may have, and its local time in a camera's zone."""

from __future__ import annotations

import time
from zoneinfo import ZoneInfo

import pytest

from smokewatch.core.epoch import MAX_EPOCH, epoch_problem, local_time


def test_frame_times_outside_1970_to_2100_are_named() -> None:
    assert epoch_problem(1_700_000_000.0) is None
    assert "milliseconds?" in (epoch_problem(1_700_000_000_000.0) or "")
    assert "not epoch seconds" in (epoch_problem(-1.0) or "")
    assert "not a finite time" in (epoch_problem(float("nan")) or "")
    assert epoch_problem(MAX_EPOCH) is not None


@pytest.mark.parametrize("machine", ["UTC", "Pacific/Chatham", "America/St_Johns"])
def test_local_time_is_the_cameras_not_the_machines(
    monkeypatch: pytest.MonkeyPatch, machine: str
) -> None:
    monkeypatch.setenv("TZ", machine)
    time.tzset()
    try:
        # 23:59:30 UTC on 7 December: the next day in Chatham (+13:45), the same in Pittsburgh
        epoch = 1_765_151_970.0
        assert local_time(epoch).isoformat() == "2025-12-07T23:59:30+00:00"
        pittsburgh = local_time(epoch, ZoneInfo("America/New_York"))
        assert pittsburgh.strftime("%Y-%m-%d %H:%M:%S %Z") == "2025-12-07 18:59:30 EST"
        chatham = local_time(epoch, ZoneInfo("Pacific/Chatham"))
        assert chatham.isoformat() == "2025-12-08T13:44:30+13:45"
    finally:
        monkeypatch.undo()
        time.tzset()
