"""The epoch seconds a camera frame can have: from 1970 up to 2100.

A time outside that range is a mistake, most often milliseconds where seconds belong (a
camera's or a browser's clock), and names, local dates and reports cannot be made from it
(Python's dates stop at year 9999). Every reader of frame and clip times checks here.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, tzinfo

__all__ = ["MAX_EPOCH", "epoch_problem", "local_time"]

#: 2100-01-01 00:00 UTC.
MAX_EPOCH = 4_102_444_800


def epoch_problem(value: float) -> str | None:
    """Why ``value`` is not a frame time (``None`` when it is one), said for a person."""
    if not math.isfinite(value):
        return f"{value!r} is not a finite time"
    if 0 <= value < MAX_EPOCH:
        return None
    hint = " (milliseconds? frame times are epoch seconds)" if 0 < value / 1000 < MAX_EPOCH else ""
    return f"{value!r} is not epoch seconds between 1970 and 2100{hint}"


def local_time(epoch: float, zone: tzinfo | None = None) -> datetime:
    """``epoch`` as an aware time in ``zone`` (UTC without one), never in the machine's zone:
    reports, alerts and pages say a camera's times in the camera's zone whatever ``TZ`` is."""
    return datetime.fromtimestamp(epoch, UTC).astimezone(zone or UTC)
