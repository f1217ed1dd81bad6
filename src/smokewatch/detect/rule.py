"""The event rule: which scored windows are smoke, and how runs of them become events.

RISE's production rule (deep-smoke-machine ``recognize_smoke.py``) by default: a window is
smoke when its probability is over 0.85 and its Grad-CAM activation ratio over 0.4; a gap of
at most one window between smoke windows is filled; a run is cut into events of at most 72
frames, a last piece under 36 frames joining the event before it. docs/detections.md has the
rule in words; this module is pure (no I/O), so the rule is tested on its own.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from smokewatch.core.detections import Window
from smokewatch.errors import SmokewatchError

__all__ = ["EventRule", "EventSpan", "RuleError", "contiguous", "find_events", "split_run"]


class RuleError(SmokewatchError, ValueError):
    """An event rule or detection setting that cannot work (a threshold out of [0, 1], ...)."""


@dataclass(frozen=True, slots=True)
class EventRule:
    """When a window is smoke, and how smoke windows join into events.

    ``use_ratio`` False (detection without Grad-CAM) decides on the probability alone.
    ``max_gap``: non-smoke windows between two smoke windows that still join them.
    ``max_frames``/``min_frames``: a run longer than ``max_frames`` is cut into events of
    ``max_frames``; a last piece shorter than ``min_frames`` joins the event before it.
    """

    smoke_probability: float = 0.85
    smoke_ratio: float = 0.4
    use_ratio: bool = True
    max_gap: int = 1
    max_frames: int = 72
    min_frames: int = 36

    def __post_init__(self) -> None:
        for name in ("smoke_probability", "smoke_ratio"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise RuleError(f"{name} must be in [0, 1], got {value}")
        if self.max_gap < 0:
            raise RuleError(f"max_gap must be 0 or more windows, got {self.max_gap}")
        if not 1 <= self.min_frames <= self.max_frames:
            raise RuleError(
                f"event frames: need 1 <= min_frames ({self.min_frames}) <= max_frames "
                f"({self.max_frames})"
            )

    def is_smoke(self, probability: float, ratio: float | None) -> bool:
        """A smoke window: probability over the threshold, and (with the ratio) a large
        enough activated area; a window whose ratio was not computed is not smoke then."""
        if probability <= self.smoke_probability:
            return False
        if not self.use_ratio:
            return True
        return ratio is not None and ratio > self.smoke_ratio

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class EventSpan:
    """An event before its evidence exists: frames ``start_frame..end_frame`` (inclusive)
    and the indices of the windows it covers (into the view's window list)."""

    start_frame: int
    end_frame: int
    windows: tuple[int, ...]


def contiguous(before: Window, after: Window) -> bool:
    """Whether ``after`` continues ``before``: it starts inside or right after it, in frames
    and in time (so a lost frame, the night or another day breaks a run).

    Frames and times alone cannot see local midnight when daytime is all day (the next
    frame is 5 s later either way): :func:`find_events` also compares the windows'
    stretches, and a window of another stretch never continues a run.
    """
    if not before.start_frame < after.start_frame <= before.end_frame + 1:
        return False
    frames = before.end_frame - before.start_frame
    frame_seconds = (before.end_time - before.start_time) / frames if frames else 0.0
    return before.start_time <= after.start_time <= before.end_time + 1.5 * frame_seconds


def split_run(start: int, end: int, rule: EventRule) -> list[tuple[int, int]]:
    """Frames ``start..end`` as events of at most ``max_frames``, a short last piece merged.

    (RISE merged a remainder of exactly 0 frames too, making a run of twice ``max_frames``
    one event; here a run that divides evenly gives whole events.)
    """
    length = end - start + 1
    if length <= rule.max_frames:
        return [(start, end)]
    pieces = [
        (s, s + rule.max_frames - 1)
        for s in range(start, start + length - rule.max_frames + 1, rule.max_frames)
    ]
    rest = length % rule.max_frames
    if rest and rest < rule.min_frames:
        pieces[-1] = (pieces[-1][0], end)
    elif rest:
        pieces.append((end - rest + 1, end))
    return pieces


def _runs(
    windows: Sequence[Window], rule: EventRule, stretches: Sequence[Hashable] | None
) -> list[list[int]]:
    """Maximal runs of smoke windows (gaps filled), as lists of window indices.

    A smoke window whose frames overlap the run's last window joins it whatever the number
    of windows between (with a step under half a window, three windows on can still share
    frames): two events of one view never share a frame.
    """
    runs: list[list[int]] = []
    chain_start = 0
    for i in range(1, len(windows) + 1):
        if (
            i < len(windows)
            and contiguous(windows[i - 1], windows[i])
            and (stretches is None or stretches[i - 1] == stretches[i])
        ):
            continue
        smoke = [
            j
            for j in range(chain_start, i)
            if rule.is_smoke(windows[j].probability, windows[j].activation_ratio)
        ]
        for j in smoke:
            last = runs[-1][-1] if runs and runs[-1][0] >= chain_start else None
            if last is not None and (
                j - last - 1 <= rule.max_gap or windows[j].start_frame <= windows[last].end_frame
            ):
                runs[-1].extend(range(last + 1, j + 1))
            else:
                runs.append([j])
        chain_start = i
    return runs


def find_events(
    windows: Sequence[Window], rule: EventRule, stretches: Sequence[Hashable] | None = None
) -> list[EventSpan]:
    """The events of one view's windows (in time order), by ``rule``.

    ``stretches`` (one per window; by default each window's own ``stretch``): the unbroken
    stretch of frames each window was cut from (a day, or a part of one between night, lost
    frames and gaps); a run never joins windows of two stretches, even when their frames and
    times follow each other (a day watched around the clock, across local midnight).
    Windows that do not know theirs (``None``: a file written before it was kept) are joined
    by frames and times alone.
    """
    if stretches is None and any(w.stretch is not None for w in windows):
        stretches = [w.stretch for w in windows]
    if stretches is not None and len(stretches) != len(windows):
        raise ValueError(f"{len(stretches)} stretches for {len(windows)} windows")
    events = []
    for run in _runs(windows, rule, stretches):
        start, end = windows[run[0]].start_frame, windows[run[-1]].end_frame
        for first, last in split_run(start, end, rule):
            covered = tuple(
                j for j in run if windows[j].start_frame <= last and windows[j].end_frame >= first
            )
            events.append(EventSpan(first, last, covered))
    return events
