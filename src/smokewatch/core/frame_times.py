"""When each timelapse frame was taken: the ``frames.json`` sidecar, one concept in one place.

A timelapse stitched from camera photos is not evenly spaced: a camera takes a photo about
every 10 s, and a network drop or a reboot leaves a gap of minutes. The video itself only
knows frame numbers (12 fps), so the true time of every frame travels beside it, in a sidecar
that the writer (``camera.timelapse``), ``clips extract`` and ``smokewatch detect`` all read
through this module:

* ``DAY.mp4`` has ``DAY.frames.json`` beside it; a folder of frame images has
  ``FOLDER/frames.json`` inside it (:func:`sidecar_for`, :func:`find_sidecar`);
* the file is ``{"schema": 1, "frames": [epoch seconds, one per frame, strictly increasing],
  "gaps": [{"after_frame": i, "start": t_i, "end": t_i+1, "seconds": ...}], "gap_seconds": G}``
  where ``gaps`` lists every step longer than ``G`` (for people and tools that want to see
  them without reading every time); other keys are allowed and kept by nobody;
* a plain JSON list of times, or ``{"frames": [...]}`` alone (what ``detect --frame-times``
  always read) is read too.

Readers never trust ``gaps``: a window's gap rule is recomputed from the times with the
limit the reader is given (:meth:`FrameTimes.spans_gap`). When the file states
``gap_seconds``, its ``gaps`` must be what the times give, else the file was edited by hand
and is refused. Spine rules: standard library only (no numpy), errors name the file.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smokewatch.core.atomic import atomic_write_text
from smokewatch.core.epoch import epoch_problem
from smokewatch.core.files import read_user_json
from smokewatch.errors import SmokewatchError

__all__ = [
    "DEFAULT_GAP_SECONDS",
    "SCHEMA",
    "SIDECAR_NAME",
    "FrameTimes",
    "FrameTimesError",
    "Gap",
    "check_gap_seconds",
    "find_sidecar",
    "parse_frame_times",
    "read_frame_times",
    "sidecar_for",
    "write_frame_times",
]

#: The sidecar schema this module reads and writes.
SCHEMA = 1
#: The sidecar's name inside a folder of frame images.
SIDECAR_NAME = "frames.json"
#: Steps longer than this are gaps unless a caller says otherwise: six missed photos at RISE's
#: ~10 s, far more than the jitter of a camera that is working.
DEFAULT_GAP_SECONDS = 60.0

_RESERVED = frozenset({"schema", "frames", "gaps", "gap_seconds"})


class FrameTimesError(SmokewatchError, ValueError):
    """Frame times that cannot be right (not increasing, not numbers, a tampered file); the
    message names the file and the entry."""


@dataclass(frozen=True, slots=True)
class Gap:
    """A step between frame ``after_frame`` (taken at ``start``) and the next (at ``end``)."""

    after_frame: int
    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start

    def as_dict(self) -> dict[str, Any]:
        """The sidecar's shape: ``after_frame``, ``start``, ``end``, ``seconds``."""
        return {
            "after_frame": self.after_frame,
            "start": self.start,
            "end": self.end,
            "seconds": self.seconds,
        }


def _finite(value: float) -> bool:
    """``math.isfinite`` for any JSON number: an integer too large for a float (a 400-digit
    one parses fine) is not finite either, rather than an OverflowError traceback."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def check_gap_seconds(limit: float) -> float:
    """``limit`` as a gap limit in seconds, or a ValueError saying why it cannot be one.

    Writers call it before their work (``camera.timelapse``): an infinite or negative limit
    found only when the sidecar is written would cost a whole day's encoding.
    """
    if isinstance(limit, bool) or not (
        isinstance(limit, int | float) and _finite(limit) and limit > 0
    ):
        raise ValueError(
            f"a gap limit must be a finite, positive number of seconds, got {_shown(limit)}"
        )
    return float(limit)


def _shown(value: object) -> str:
    """``repr(value)``, but a huge integer by its size (Python refuses to print one with
    over 4300 digits, and a person cannot read one with 400)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**30:
        return f"an integer of about {int(value.bit_length() * 0.30103) + 1} digits"
    return repr(value)


@dataclass(frozen=True, slots=True)
class FrameTimes:
    """Frame ``i`` was taken at ``times[i]`` (epoch seconds, strictly increasing).

    ``gap_seconds`` is the limit the writer used for the file's ``gaps`` (``None`` for a
    file that does not say); readers pass their own limit to :meth:`gaps` and
    :meth:`spans_gap`, falling back to it, then to :data:`DEFAULT_GAP_SECONDS`.
    """

    times: tuple[float, ...]
    gap_seconds: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "times", tuple(self.times))
        problem = _problem(self.times)
        if problem is not None:
            raise FrameTimesError(problem)
        if self.gap_seconds is not None:
            object.__setattr__(self, "gap_seconds", check_gap_seconds(self.gap_seconds))

    def __len__(self) -> int:
        return len(self.times)

    def _limit(self, limit: float | None) -> float:
        if limit is not None:
            return check_gap_seconds(limit)
        return self.gap_seconds if self.gap_seconds is not None else DEFAULT_GAP_SECONDS

    def gaps(self, limit: float | None = None) -> list[Gap]:
        """Every step longer than ``limit`` seconds (default: ``gap_seconds``, else 60)."""
        g = self._limit(limit)
        t = self.times
        return [Gap(i, t[i], t[i + 1]) for i in range(len(t) - 1) if t[i + 1] - t[i] > g]

    def spans_gap(self, first_frame: int, last_frame: int, limit: float | None = None) -> bool:
        """Whether frames ``first_frame..last_frame`` (inclusive) hold a step over ``limit``:
        such a window would show a jump in time as if it were continuous motion."""
        if not 0 <= first_frame <= last_frame < len(self.times):
            raise IndexError(
                f"frames {first_frame}..{last_frame} are not within the {len(self.times)} frames"
            )
        g = self._limit(limit)
        t = self.times
        return any(t[i + 1] - t[i] > g for i in range(first_frame, last_frame))

    def to_dict(self, *, gap_seconds: float | None = None, **extra: Any) -> dict[str, Any]:
        """The sidecar's JSON shape; ``gaps`` by ``gap_seconds`` (default: this value's)."""
        clash = _RESERVED & extra.keys()
        if clash:
            raise ValueError(f"extra sidecar keys may not replace {sorted(clash)}")
        g = self._limit(gap_seconds)
        return {
            "schema": SCHEMA,
            "frames": list(self.times),
            "gaps": [gap.as_dict() for gap in self.gaps(g)],
            "gap_seconds": g,
            **extra,
        }


def _problem(times: Iterable[Any], where: str = "frames") -> str | None:
    """Why ``times`` are not frame times, or ``None`` when they are."""
    before: float | None = None
    count = 0
    for i, value in enumerate(times):
        count += 1
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"{where}[{i}]: expected epoch seconds, got {value!r}"
        try:
            t = float(value)
        except OverflowError:  # an integer too large for a float (JSON has no limit)
            return f"{where}[{i}]: {_shown(value)} is not epoch seconds"
        problem = epoch_problem(t)
        if problem is not None:
            return f"{where}[{i}]: {problem}"
        if before is not None and t <= before:
            return (
                f"{where}[{i}]: {value!r} is not after the frame before it ({before!r}); "
                "frame times must strictly increase"
            )
        before = t
    if count == 0:
        return f"{where}: no frame times"
    return None


def parse_frame_times(data: Any, *, source: str = "frame times") -> FrameTimes:
    """Validate parsed JSON (a list of times, or a sidecar object) as :class:`FrameTimes`."""

    def fail(message: str) -> FrameTimesError:
        return FrameTimesError(f"{source}: {message}")

    if isinstance(data, list):
        raw: Any = data
        obj: Mapping[str, Any] = {}
    elif isinstance(data, dict):
        obj = data
        schema = obj.get("schema", SCHEMA)
        if schema != SCHEMA:
            raise fail(f"schema {schema!r} is not supported (this reads {SCHEMA})")
        if "frames" not in obj:
            raise fail("missing field 'frames' (one epoch time per frame)")
        raw = obj["frames"]
        if not isinstance(raw, list):
            raise fail(f"frames: expected a list of epoch seconds, got {type(raw).__name__}")
    else:
        raise fail("expected a list of epoch seconds, or an object with a 'frames' list")
    problem = _problem(raw)
    if problem is not None:
        raise fail(problem)
    gap_seconds = obj.get("gap_seconds")
    if gap_seconds is not None:
        if isinstance(gap_seconds, bool) or not isinstance(gap_seconds, int | float):
            raise fail(f"gap_seconds: expected a number of seconds, got {gap_seconds!r}")
        if not (_finite(gap_seconds) and gap_seconds > 0):
            raise fail(f"gap_seconds: expected a positive number, got {_shown(gap_seconds)}")
    times = FrameTimes(tuple(float(t) for t in raw), gap_seconds)
    if gap_seconds is not None and "gaps" in obj:
        stated = obj["gaps"]
        expected = [gap.as_dict() for gap in times.gaps()]
        if not isinstance(stated, list) or _gap_keys(stated) != _gap_keys(expected):
            raise fail(
                f"gaps do not match its frames: the times hold {len(expected)} steps over "
                f"{gap_seconds} s, the file lists "
                f"{len(stated) if isinstance(stated, list) else stated!r} "
                "(edited by hand? write the times again)"
            )
    return times


def _gap_keys(gaps: list[Any]) -> list[Any]:
    """What a gap list says, comparable (``after_frame`` each, in order)."""
    return [g.get("after_frame") if isinstance(g, dict) else g for g in gaps]


def read_frame_times(path: str | os.PathLike[str]) -> FrameTimes:
    """Read a sidecar (or a plain list of times); every problem is one error naming the file."""
    p = Path(path)
    data = read_user_json(p, what="frame-times file", error=FrameTimesError)
    return parse_frame_times(data, source=str(p))


def write_frame_times(
    path: str | os.PathLike[str],
    times: Iterable[float] | FrameTimes,
    *,
    gap_seconds: float = DEFAULT_GAP_SECONDS,
    **extra: Any,
) -> FrameTimes:
    """Write the sidecar atomically (a reader sees the old file or the new one) and return
    the times written; ``extra`` keys (e.g. the camera) are added beside the standard ones."""
    value = times if isinstance(times, FrameTimes) else FrameTimes(tuple(times))
    value = FrameTimes(value.times, gap_seconds)
    text = json.dumps(value.to_dict(**extra), indent=1, allow_nan=False)
    atomic_write_text(path, text + "\n")
    return value


def sidecar_for(timelapse: str | os.PathLike[str]) -> Path:
    """Where ``timelapse``'s sidecar is: ``DAY.frames.json`` beside a video ``DAY.mp4``, or
    ``frames.json`` inside a folder of frames (an existing folder)."""
    p = Path(timelapse)
    if p.is_dir():
        return p / SIDECAR_NAME
    return p.with_name(f"{p.stem if p.suffix else p.name}.{SIDECAR_NAME}")


def find_sidecar(timelapse: str | os.PathLike[str]) -> Path | None:
    """``timelapse``'s sidecar when it exists, else ``None`` (an evenly spaced timelapse)."""
    path = sidecar_for(timelapse)
    return path if path.is_file() else None
