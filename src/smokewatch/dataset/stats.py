"""The paper's dataset tables: views, clips, frames, smoke ratio, seasons, hours, split ratios.

Seasons and hours are counted in the cameras' local time (RISE's cameras are in Pittsburgh:
US/Eastern), from each clip's start time; meteorological seasons (December–February winter).
The hour bins are RISE's: 6–10 am, 11 am–3 pm, 4–8 pm (a bin holds clips starting in any of
those hours).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from smokewatch.core.clip import Clip
from smokewatch.dataset.splits import PARTS, labeled_clips, make_splits

__all__ = ["DatasetStats", "HOUR_BINS", "SEASONS", "compute_stats", "season_of", "hour_bin_of"]

SEASONS = ("winter", "spring", "summer", "fall")
_SEASON_OF_MONTH = {12: 0, 1: 0, 2: 0, 3: 1, 4: 1, 5: 1, 6: 2, 7: 2, 8: 2, 9: 3, 10: 3, 11: 3}

#: RISE's daytime hour bins (inclusive local hours) and their printed names.
HOUR_BINS: dict[str, tuple[int, int]] = {
    "6-10 am": (6, 10),
    "11 am-3 pm": (11, 15),
    "4-8 pm": (16, 20),
}
_OTHER_HOURS = "other hours"


def season_of(moment: datetime) -> str:
    """Meteorological season of a local time (December–February is winter)."""
    return SEASONS[_SEASON_OF_MONTH[moment.month]]


def hour_bin_of(moment: datetime) -> str:
    """RISE's hour bin of a local time, or ``"other hours"`` outside 6 am–8 pm."""
    for name, (first, last) in HOUR_BINS.items():
        if first <= moment.hour <= last:
            return name
    return _OTHER_HOURS


@dataclass(slots=True)
class DatasetStats:
    """Everything the paper's dataset tables report, as plain data (``to_dict`` for JSON)."""

    clips: int
    frames: int
    views: dict[str, int]
    days: int
    smoke: int
    no_smoke: int
    unlabeled: int
    seasons: dict[str, int]
    hours: dict[str, int]
    splits: dict[str, dict[str, int]] = field(default_factory=dict)
    gold: int = 0  #: gold standards: labeled, but never in RISE's dataset (nor here)
    bad: int = 0  #: marked unusable
    #: per view, the clips labeled smoke and no smoke (gold and bad clips left out)
    view_labels: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def smoke_ratio(self) -> float:
        labeled = self.smoke + self.no_smoke
        return self.smoke / labeled if labeled else 0.0

    def split_ratios(self) -> dict[str, dict[str, float]]:
        """Each split's part sizes as fractions of that split's labeled clips."""
        out = {}
        for name, sizes in self.splits.items():
            total = sum(sizes.values())
            out[name] = {p: (sizes[p] / total if total else 0.0) for p in PARTS}
        return out

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["smoke_ratio"] = self.smoke_ratio
        data["split_ratios"] = self.split_ratios()
        return data


def compute_stats(
    clips: Sequence[Clip], *, timezone: str = "US/Eastern", frames_per_clip: int = 36
) -> DatasetStats:
    """Count the dataset as the paper's tables do; splits are made from ``clips`` themselves."""
    try:
        tz = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {timezone!r} (use an IANA name like US/Eastern)"
        ) from None
    views = Counter(c.view for c in clips)
    order = {c.view: (c.camera_id, c.view_id) for c in clips}  # "0-2" before "0-10"
    seasons = Counter({s: 0 for s in SEASONS})
    hours = Counter({h: 0 for h in HOUR_BINS})
    labels: Counter[int | str | None] = Counter()
    by_view: dict[str, Counter[int | None]] = {}
    for clip in clips:
        moment = datetime.fromtimestamp(clip.start_time, tz)
        seasons[season_of(moment)] += 1
        hours[hour_bin_of(moment)] += 1
        kind = "bad" if clip.is_bad else "gold" if clip.is_gold else clip.derived_label
        labels[kind] += 1
        if kind in (0, 1):
            by_view.setdefault(clip.view, Counter())[kind] += 1
    splits = {}
    if labeled_clips(clips):
        # too few days for a date split: that split does not exist (left out, not an error)
        made = make_splits(clips, errors=[])
        splits = {name: split.sizes() for name, split in made.items()}
    return DatasetStats(
        clips=len(clips),
        frames=len(clips) * frames_per_clip,
        views={v: views[v] for v in sorted(views, key=order.__getitem__)},
        days=len({c.day for c in clips}),
        smoke=labels[1],
        no_smoke=labels[0],
        unlabeled=labels[None],
        seasons=dict(seasons),
        hours=dict(hours),
        splits=splits,
        gold=labels["gold"],
        bad=labels["bad"],
        view_labels={
            v: {"smoke": by_view[v][1], "no_smoke": by_view[v][0]}
            for v in sorted(by_view, key=order.__getitem__)
        },
    )
