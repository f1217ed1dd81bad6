"""RISE's train/validation/test splits S0–S5, by RISE's rules (``split_metadata.py``).

Made from RISE's metadata they hold the published files' records, labels and weights; the
order of records within a file differs (RISE's follow its database's query order, which the
metadata does not keep), so the files are equal as sets, not byte for byte.

Five splits hold camera views out (S0, S1, S2, S4, S5): a model is tested on views it never
saw in training. The views of cameras 1 and 2 are always in the test set, since they are the
only views of their sites. Each part lists its views, as RISE's did, so a clip of a view RISE
did not have (another camera) is in no part of a camera split: :attr:`Split.left_out`. One
split (S3) holds days out: the 30 labeled days newest first, the 10 newest for testing, the
next 2 for validation, the 18 oldest for training.

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

#: The views of camera 0 (the plant seen from across the river) that camera splits train,
#: validate and test on: every one of them not tested or validated on is trained on.
CAMERA_0_VIEWS: tuple[str, ...] = tuple(f"0-{i}" for i in range(15))


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

    @property
    def train_views(self) -> tuple[str, ...]:
        """A camera split's training views: camera 0's, less its test and validation views."""
        held = set(self.test_views) | set(self.validation_views)
        return tuple(v for v in CAMERA_0_VIEWS if v not in held)


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
    #: labeled clips of views no part of a camera split names (written nowhere)
    left_out: list[Clip] = field(default_factory=list)

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

    Unlabeled and bad clips are left out, and so are the gold standards: RISE's dataset came
    from its service's ``get_pos_labels``/``get_neg_labels``, which never list them (they
    check volunteers' pages, so their answers stay unpublished).
    """
    out = []
    for clip in clips:
        labeled = clip.with_label()
        if labeled.label is not None and not labeled.is_bad and not labeled.is_gold:
            out.append(labeled)
    return out


def split_by_views(
    clips: Sequence[Clip],
    spec: SplitSpec,
    *,
    always_test: Sequence[str] = ALWAYS_TEST_VIEWS,
) -> Split:
    """Hold out views: test views plus ``always_test``, validation views, and the training
    views; a clip of any other view is left out."""
    test = set(spec.test_views) | set(always_test)
    validation = set(spec.validation_views)
    if test & validation:
        raise ValueError(
            f"{spec.name}: views {sorted(test & validation)} are both test and validation"
        )
    train = set(spec.train_views) - test
    return _assign(clips, spec, lambda clip: clip.view, test, validation, train)


def _assign(
    clips: Sequence[Clip],
    spec: SplitSpec,
    key: Callable[[Clip], Hashable],
    test: set[Any],
    validation: set[Any],
    train: set[Any] | None = None,
) -> Split:
    """Put each clip in test, validation or train by its key (a view or a day); with
    ``train`` given, a clip whose key is in none of the three is left out."""
    split = Split(spec)
    for clip in clips:
        k = key(clip)
        if k in test:
            split.test.append(clip)
        elif k in validation:
            split.validation.append(clip)
        elif train is None or k in train:
            split.train.append(clip)
        else:
            split.left_out.append(clip)
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


def make_splits(
    clips: Sequence[Clip],
    names: Iterable[str] | None = None,
    *,
    errors: list[str] | None = None,
) -> dict[str, Split]:
    """The RISE splits (all six, or ``names`` among S0–S5) of ``clips``.

    A split the clips cannot give (S3 with too few days) raises ValueError; with ``errors``
    it is left out and the reason appended there instead."""
    chosen = list(names) if names is not None else list(RISE_SPLITS)
    unknown = [n for n in chosen if n not in RISE_SPLITS]
    if unknown:
        raise ValueError(
            f"unknown split {', '.join(unknown)}; expected some of {', '.join(RISE_SPLITS)}"
        )
    labeled = labeled_clips(clips)
    made = {}
    for name in chosen:
        try:
            made[name] = _split_labeled(labeled, RISE_SPLITS[name])
        except ValueError as exc:
            if errors is None:
                raise
            errors.append(str(exc))
    return made


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
