"""The event rule on its own: thresholds, gap filling, splitting long runs."""

from __future__ import annotations

import pytest

from smokewatch.core.detections import Window
from smokewatch.detect.rule import EventRule, RuleError, contiguous, find_events, split_run

SMOKE, CLEAR = (0.95, 0.6), (0.1, None)


def windows(*scores: tuple[float, float | None], step: int = 18, length: int = 36) -> list[Window]:
    """Windows every ``step`` frames (5 s a frame) with the given (probability, ratio)."""
    return [
        Window(i * step, i * step + length - 1, 5.0 * i * step, 5.0 * (i * step + length - 1), p, r)
        for i, (p, r) in enumerate(scores)
    ]


def spans(
    ws: list[Window], rule: EventRule | None = None
) -> list[tuple[int, int, tuple[int, ...]]]:
    return [(e.start_frame, e.end_frame, e.windows) for e in find_events(ws, rule or EventRule())]


def test_a_smoke_window_needs_both_probability_and_ratio() -> None:
    rule = EventRule()
    assert rule.is_smoke(0.86, 0.41)
    assert not rule.is_smoke(0.85, 0.9)  # strictly over the threshold
    assert not rule.is_smoke(0.99, 0.4)
    assert not rule.is_smoke(0.99, None)  # no ratio computed: not smoke while the rule uses it
    assert EventRule(use_ratio=False).is_smoke(0.99, None)
    assert not EventRule(use_ratio=False).is_smoke(0.8, 0.9)
    assert EventRule(smoke_probability=0.5, smoke_ratio=0.1).is_smoke(0.6, 0.2)


def test_one_window_events_and_no_events() -> None:
    assert spans(windows(CLEAR, CLEAR, CLEAR)) == []
    assert spans(windows(CLEAR, SMOKE, CLEAR)) == [(18, 53, (1,))]
    assert spans(windows((0.95, 0.2), (0.5, 0.9))) == []  # each misses one threshold


def test_gaps_of_one_window_are_filled_longer_gaps_split() -> None:
    assert spans(windows(SMOKE, CLEAR, SMOKE)) == [(0, 71, (0, 1, 2))]
    assert spans(windows(SMOKE, CLEAR, CLEAR, SMOKE)) == [(0, 35, (0,)), (54, 89, (3,))]
    assert spans(windows(SMOKE, CLEAR, CLEAR, SMOKE), EventRule(max_gap=2)) == [
        (0, 89, (0, 1, 2, 3))  # 90 frames: 72, and a rest of 18 merged
    ]
    assert spans(windows(SMOKE, CLEAR, SMOKE), EventRule(max_gap=0)) == [
        (0, 35, (0,)),
        (36, 71, (2,)),
    ]
    # a gap at the end (or start) is not filled: only between smoke windows
    assert spans(windows(CLEAR, SMOKE, CLEAR)) == [(18, 53, (1,))]


def test_long_runs_are_cut_into_72_frame_events_a_short_rest_merged() -> None:
    rule = EventRule()
    assert split_run(0, 71, rule) == [(0, 71)]
    assert split_run(0, 72, rule) == [(0, 72)]  # 73 frames: a 1-frame rest joins
    assert split_run(0, 143, rule) == [(0, 71), (72, 143)]  # whole events, no merge
    assert split_run(0, 149, rule) == [(0, 71), (72, 149)]  # rest 6 < 36: merged
    assert split_run(0, 179, rule) == [(0, 71), (72, 143), (144, 179)]  # rest 36: its own
    assert split_run(10, 45, EventRule(max_frames=36, min_frames=36)) == [(10, 45)]
    # 8 smoke windows every 18 frames: frames 0..161 -> 0..71, 72..161 (rest 18 merged)
    events = find_events(windows(*[SMOKE] * 8), rule)
    assert [(e.start_frame, e.end_frame) for e in events] == [(0, 71), (72, 161)]
    # each event lists the windows that overlap it
    assert events[0].windows == (0, 1, 2, 3)
    assert events[1].windows == (3, 4, 5, 6, 7)


def test_runs_break_where_windows_are_not_contiguous() -> None:
    ws = windows(SMOKE, CLEAR, SMOKE)
    # a lost stretch: the third window starts well after the first ends
    moved = Window(100, 135, 500.0, 675.0, *SMOKE)
    assert not contiguous(ws[1], moved)
    assert spans([ws[0], ws[1], moved]) == [(0, 35, (0,)), (100, 135, (2,))]
    # same frames, another day (the time jumps): not contiguous either
    later = Window(36, 71, 86400.0 + 180, 86400.0 + 355, *SMOKE)
    assert not contiguous(ws[0], later)
    # back-to-back clips (next starts right after) are contiguous
    assert contiguous(Window(0, 35, 0.0, 175.0, 0.9), Window(36, 71, 180.0, 355.0, 0.9))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"smoke_probability": 1.5},
        {"smoke_ratio": -0.1},
        {"max_gap": -1},
        {"max_frames": 30, "min_frames": 36},
        {"min_frames": 0},
    ],
)
def test_bad_rules_are_errors(kwargs: dict[str, float]) -> None:
    with pytest.raises(RuleError):
        EventRule(**kwargs)  # type: ignore[arg-type]


def test_windows_that_share_frames_join_whatever_the_gap() -> None:
    """Step 9, windows of 36: windows 0 and 3 share frames 27-35, with two windows between."""
    ws = windows(SMOKE, CLEAR, CLEAR, SMOKE, CLEAR, CLEAR, CLEAR, CLEAR, SMOKE, step=9)
    assert spans(ws) == [(0, 62, (0, 1, 2, 3)), (72, 107, (8,))]
    assert spans(windows(SMOKE, CLEAR, SMOKE, step=9), EventRule(max_gap=0)) == [(0, 53, (0, 1, 2))]
    # whatever the pattern, no two events of a view share a frame
    for pattern in range(1 << 8):
        scores = [SMOKE if pattern >> k & 1 else CLEAR for k in range(8)]
        for step in (4, 9, 12, 18):
            for rule in (EventRule(), EventRule(max_gap=0)):
                events = spans(windows(*scores, step=step), rule)
                for (_, end, _), (start, _, _) in zip(events, events[1:], strict=False):
                    assert end < start, (pattern, step, rule.max_gap, events)
