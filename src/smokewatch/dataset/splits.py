"""RISE's train/validation/test splits S0–S5, made exactly as the published files were.

Five splits hold camera views out (S0, S1, S2, S4, S5): a model is tested on views it never
saw in training. The views of cameras 1 and 2 are always in the test set, since they are the
only views of their sites. One split (S3) holds days out: the 30 labeled days newest first,
the 10 newest for testing, the next 2 for validation, the 18 oldest for training.

Paper names and file names differ (S3 is ``split_by_date``, S4 is ``split_3``...); both live in
:data:`RISE_SPLITS` so nothing else needs to know.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from smokewatch.core.clip import Clip
from smokewatch.core.metadata import SPLIT_FIELDS, write_metadata

__all__ = [
    "ALWAYS_TEST_VIEWS",
    "PARTS",
    "RISE_SPLITS",
    "Split",
    "SplitSpec",
    "labeled_clips",
    "make_split",
    "make_splits",
    "split_by_date",
    "split_by_views",
    "write_splits",
]

PARTS = ("train", "validation", "test")

#: Views that are the only ones of their site: always tested on, never trained on.
ALWAYS_TEST_VIEWS: tuple[str, ...] = ("1-0", "2-0", "2-1", "2-2")


@dataclass(frozen=True, slots=True)
class SplitSpec:
    """How one split is made: by held-out views, or by the newest days."""

    name: str  #: paper name, e.g. "S0"
    file_key: str  #: RISE file-name key, e.g. "split_0_by_camera"
    kind: Literal["camera", "date"]
    test_views: tuple[str, ...] = ()
    validation_views: tuple[str, ...] = ()
    test_days: int = 10
    validation_days: int = 2


RISE_SPLITS: dict[str, SplitSpec] = {
    s.name: s
    for s in (
        SplitSpec("S0", "split_0_by_camera", "camera", ("0-1", "0-7", "0-13"), ("0-4", "0-10")),
        SplitSpec("S1", "split_1_by_camera", "camera", ("0-2", "0-9", "0-14"), ("0-5", "0-11")),
        SplitSpec("S2", "split_2_by_camera", "camera", ("0-0", "0-6", "0-12"), ("0-3", "0-8")),
        SplitSpec("S3", "split_by_date", "date"),
        SplitSpec("S4", "split_3_by_camera", "camera", ("0-4", "0-8", "0-10"), ("0-7", "0-9")),
        SplitSpec("S5", "split_4_by_camera", "camera", ("0-3", "0-5", "0-11"), ("0-4", "0-6")),
    )
}


@dataclass(slots=True)
class Split:
    """The clips of one split, by part; each clip carries its RISE ``label`` and ``weight``."""

    spec: SplitSpec
    train: list[Clip] = field(default_factory=list)
    validation: list[Clip] = field(default_factory=list)
    test: list[Clip] = field(default_factory=list)

    def part(self, name: str) -> list[Clip]:
        if name not in PARTS:
            raise ValueError(f"unknown split part {name!r}; expected one of {', '.join(PARTS)}")
        clips: list[Clip] = getattr(self, name)
        return clips

    def file_name(self, part: str) -> str:
        """RISE's file name for a part, e.g. ``metadata_train_split_0_by_camera.json``."""
        return f"metadata_{part}_{self.spec.file_key}.json"

    def sizes(self) -> dict[str, int]:
        return {p: len(self.part(p)) for p in PARTS}


def labeled_clips(clips: Iterable[Clip]) -> list[Clip]:
    """Clips that have a final label, each with ``label`` and ``weight`` filled in.

    Unlabeled and bad clips are left out, as RISE left them out of its split files.
    """
    out = []
    for clip in clips:
        labeled = clip.with_label()
        if labeled.label is not None and not labeled.is_bad:
            out.append(labeled)
    return out


def split_by_views(
    clips: Sequence[Clip],
    spec: SplitSpec,
    *,
    always_test: Sequence[str] = ALWAYS_TEST_VIEWS,
) -> Split:
    """Hold out views: test views plus ``always_test``, validation views, the rest train."""
    test = set(spec.test_views) | set(always_test)
    validation = set(spec.validation_views)
    if test & validation:
        raise ValueError(
            f"{spec.name}: views {sorted(test & validation)} are both test and validation"
        )
    return _assign(clips, spec, lambda clip: clip.view, test, validation)


def _assign(
    clips: Sequence[Clip],
    spec: SplitSpec,
    key: Callable[[Clip], Hashable],
    test: set[Any],
    validation: set[Any],
) -> Split:
    """Put each clip in test or validation by its key (a view or a day), else in train."""
    split = Split(spec)
    for clip in clips:
        k = key(clip)
        part = split.test if k in test else split.validation if k in validation else split.train
        part.append(clip)
    return split


def split_by_date(clips: Sequence[Clip], spec: SplitSpec) -> Split:
    """Hold out days: the newest ``test_days`` test, the next ``validation_days`` validate."""
    days = sorted({c.day for c in clips}, reverse=True)
    if len(days) <= spec.test_days + spec.validation_days:
        raise ValueError(
            f"{spec.name}: {len(days)} days cannot give {spec.test_days} test and "
            f"{spec.validation_days} validation days and still leave days to train on"
        )
    test = set(days[: spec.test_days])
    validation = set(days[spec.test_days : spec.test_days + spec.validation_days])
    return _assign(clips, spec, lambda clip: clip.day, test, validation)


def make_split(clips: Sequence[Clip], spec: SplitSpec) -> Split:
    """One split of the labeled clips among ``clips`` (labels and weights filled in)."""
    return _split_labeled(labeled_clips(clips), spec)


def _split_labeled(labeled: Sequence[Clip], spec: SplitSpec) -> Split:
    return split_by_date(labeled, spec) if spec.kind == "date" else split_by_views(labeled, spec)


def make_splits(clips: Sequence[Clip], names: Iterable[str] | None = None) -> dict[str, Split]:
    """The RISE splits (all six, or ``names`` among S0–S5) of ``clips``."""
    chosen = list(names) if names is not None else list(RISE_SPLITS)
    unknown = [n for n in chosen if n not in RISE_SPLITS]
    if unknown:
        raise ValueError(
            f"unknown split {', '.join(unknown)}; expected some of {', '.join(RISE_SPLITS)}"
        )
    labeled = labeled_clips(clips)
    return {name: _split_labeled(labeled, RISE_SPLITS[name]) for name in chosen}


def write_splits(splits: Iterable[Split], out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write each split's three parts in RISE's split-file layout (atomically); return the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for split in splits:
        for part in PARTS:
            path = out / split.file_name(part)
            write_metadata(split.part(part), path, SPLIT_FIELDS)
            paths.append(path)
    return paths
