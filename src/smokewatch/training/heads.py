"""``kind: heads`` models: small heads on cached frozen features, chosen by inner CV.

Training (:func:`train_heads`) runs exactly the selection that ``experiments cv --nested``
scores on held-out folds (:func:`smokewatch.training.nested.choose_on`) on all training clips:
the feature sets, head kinds and ``C`` of the preset's ``heads:`` section are tried by inner
cross-validation, the best of each family fused with weights chosen there, the threshold set
where inner out-of-fold F1 is best; then the chosen heads are refitted on every clip.

The model directory holds ``heads.skops`` (:class:`HeadsModel`, a skops file: no code runs
when it is loaded). Its probability is ``sigmoid(slope * (fused score - threshold))``: 0.5
exactly at the chosen threshold, so every consumer that cuts at 0.5 (``evaluate``,
``detect``) uses the threshold the inner CV chose, and the slope is fitted (Platt) on the
inner out-of-fold scores.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from smokewatch.errors import SmokewatchError
from smokewatch.training.config import FeatureSpec, TrainConfig
from smokewatch.training.nested import Candidate, Choice, FittedHead

__all__ = [
    "HeadsFileError",
    "HeadsModel",
    "candidates_of",
    "feature_matrices",
    "predict_heads",
    "train_heads",
]

_FORMAT = "smokewatch.training.heads.HeadsModel"
_VERSION = 1
#: The types a saved heads model holds beyond skops's default trusted set.
TRUSTED = (
    "smokewatch.training.nested.Candidate",
    "smokewatch.training.nested.Choice",
    "smokewatch.training.nested.FittedHead",
)


class HeadsFileError(SmokewatchError, ValueError):
    """A ``heads.skops`` that is missing, unreadable or not a smokewatch heads model."""


def candidates_of(config: TrainConfig) -> list[Candidate]:
    """Every (feature set, head kind) pair the preset lets the inner CV choose among."""
    if config.heads is None:
        raise ValueError(f"{config.name}: not a heads preset")
    return [
        Candidate(f"{name}/{kind}", name, kind, spec.family())
        for name, spec in config.heads.candidates.items()
        for kind in config.heads.kinds
    ]


def feature_matrices(
    specs: dict[str, FeatureSpec],
    paths: Sequence[Path],
    *,
    cache_dir: Path | None,
    weights_cache_dir: Path | None = None,
    batch_size: int = 4,
    on_batch: Callable[[int], None] | None = None,
) -> dict[str, np.ndarray]:
    """One ``(N, D)`` matrix per named feature set, from cached summaries (extracted once).

    An extraction two feature sets share (:func:`extraction_key`) runs once for both, cached
    or not. ``on_batch`` counts clips: its calls add up to ``len(paths)`` however many
    feature sets and extractions there are, so a progress bar over the clips ends at its
    total and moves at the pace of the work.
    """
    from smokewatch.training.features import (
        cached_summaries,
        extraction_key,
        spec_extractors,
        vectorize,
    )

    wanted = {
        extraction_key(ext, spec): (ext, spec)
        for spec in specs.values()
        for ext in spec_extractors(spec)
    }
    passes = max(1, len(wanted))
    units = 0

    def per_clip(n: int) -> None:
        nonlocal units
        before, units = units // passes, units + n
        if on_batch is not None and units // passes > before:
            on_batch(units // passes - before)

    networks: dict[str, Any] = {}  # one I3D for every extraction that reads it
    made = {
        key: cached_summaries(
            paths,
            spec,
            cache_dir=cache_dir,
            weights_cache_dir=weights_cache_dir,
            batch_size=batch_size,
            on_batch=per_clip,
            extractors=[ext],
            networks=networks,
        )
        for key, (ext, spec) in wanted.items()
    }
    out = {}
    for name, spec in specs.items():
        keys = [extraction_key(ext, spec) for ext in spec_extractors(spec)]
        summaries = [
            {k: v for key in keys for k, v in made[key][i].items()} for i in range(len(paths))
        ]
        out[name] = np.stack([vectorize(s, spec) for s in summaries])
    return out


@dataclass
class HeadsModel:
    """The chosen heads, their fusion and threshold: P(smoke) from feature matrices."""

    specs: dict[str, FeatureSpec]
    choice: Choice
    heads: list[FittedHead]
    _extractors: dict[str, Any] = field(default_factory=dict, repr=False)
    #: frozen networks the extractors share (one I3D for the whole frame and its crops)
    _networks: dict[str, Any] = field(default_factory=dict, repr=False)

    def used_specs(self) -> dict[str, FeatureSpec]:
        """Only the feature sets the chosen heads read (the others need not be extracted)."""
        return {h.candidate.features: self.specs[h.candidate.features] for h in self.heads}

    def probabilities(self, features: dict[str, np.ndarray]) -> np.ndarray:
        from smokewatch.training.nested import fused_scores

        centred = fused_scores(
            self.heads, [features[h.candidate.features] for h in self.heads], self.choice
        )
        from scipy.special import expit  # the logistic, without exp's overflow far out

        return np.asarray(expit(self.choice.slope * centred), dtype=np.float64)

    def predict_arrays(
        self,
        clips: Sequence[np.ndarray] | np.ndarray,
        *,
        batch_size: int = 4,
        weights_cache_dir: Path | None = None,
    ) -> np.ndarray:
        """P(smoke) of in-memory uint8 clips ``[B, T, H, W, 3]``; the networks built once and
        run only on what the chosen heads read."""
        from smokewatch.training.features import (
            make_extractor,
            spec_extractors,
            summaries_of_arrays,
            vectorize,
        )

        features = {}
        for name, spec in self.used_specs().items():
            for ext in spec_extractors(spec):
                key = f"{name}:{ext}"
                if key not in self._extractors:
                    self._extractors[key] = make_extractor(
                        ext, spec, weights_cache_dir, only_needed=True, networks=self._networks
                    )
            runs = {ext: self._extractors[f"{name}:{ext}"] for ext in spec_extractors(spec)}
            summaries = summaries_of_arrays(list(clips), spec, runs, batch_size=batch_size)
            features[name] = np.stack([vectorize(s, spec) for s in summaries])
        return self.probabilities(features)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the heads as a skops file (:mod:`smokewatch.models.safe_store`), atomically."""
        from smokewatch.models import safe_store

        payload = {
            "format": _FORMAT,
            "version": _VERSION,
            "specs": {k: v.model_dump(mode="json") for k, v in self.specs.items()},
            "choice": self.choice,
            "heads": self.heads,
        }
        safe_store.dump(payload, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> HeadsModel:
        """Read a model written by :meth:`save`; no code from the file runs."""
        from smokewatch.models import safe_store

        payload = safe_store.load(
            path, TRUSTED, error=HeadsFileError, what="heads model", marker=(_FORMAT, _VERSION)
        )
        return cls._from_payload(Path(path), payload)

    @classmethod
    def load_pickle(cls, path: str | os.PathLike[str]) -> HeadsModel:
        """Read the older pickled (``joblib``) form, trusting it: for ``models convert`` only."""
        from smokewatch.models import safe_store

        payload = safe_store.load_pickle(
            path, error=HeadsFileError, what="heads model", marker=(_FORMAT, _VERSION)
        )
        return cls._from_payload(Path(path), payload)

    @classmethod
    def _from_payload(cls, p: Path, payload: dict[str, Any]) -> HeadsModel:
        """A HeadsModel of a payload whose format and version ``safe_store`` checked."""
        try:
            specs = {str(k): FeatureSpec(**v) for k, v in payload["specs"].items()}
            choice, heads = payload["choice"], list(payload["heads"])
        except Exception as exc:  # missing keys, wrong shapes, invalid specs
            raise HeadsFileError(f"{p}: incomplete heads model ({exc})") from None
        if not isinstance(choice, Choice) or not all(isinstance(h, FittedHead) for h in heads):
            raise HeadsFileError(f"{p}: incomplete heads model (its choice or heads are missing)")
        model = cls(specs, choice, heads)
        try:  # a trial on zeros: every part present, of the right kind and size
            if not heads or not all(isinstance(h.candidate, Candidate) for h in heads):
                raise ValueError("heads without their candidates")
            zeros = {h.candidate.features: np.zeros((1, len(h.mean))) for h in heads}
            if not set(zeros) <= set(specs):
                raise ValueError("heads without features")
            if not np.isfinite(model.probabilities(zeros)).all():
                raise ValueError("it gives no probability")
        except Exception as exc:  # trusted types with the wrong contents raise almost anything
            raise HeadsFileError(f"{p}: incomplete heads model ({exc})") from None
        return model


def train_heads(
    config: TrainConfig,
    train_items: Sequence[Any],
    out_dir: Path,
    *,
    cache_dir: Path | None = None,
    weights_cache_dir: Path | None = None,
    progress: bool = True,
    batch_size: int = 4,
    groups: np.ndarray | None = None,
) -> Any:
    """Choose (inner CV on ``train_items``) and fit a heads model into ``out_dir/model``.

    ``groups`` (one per clip, e.g. :func:`smokewatch.training.nested.scene_groups`): inner
    folds keep each group whole, so the choices favour what carries over to unseen views,
    as in the grouped nested CV that scores the recipe.
    """
    from smokewatch.training.build import TrainingError
    from smokewatch.training.features import spec_extractors
    from smokewatch.training.loop import TrainResult
    from smokewatch.training.nested import choose_on, refit
    from smokewatch.training.progress import Progress
    from smokewatch.training.saved import write_model_dir

    started = time.perf_counter()
    assert config.heads is not None
    y = np.array([it.label for it in train_items])
    if min(np.bincount(y, minlength=2)) < config.heads.inner_folds:
        raise TrainingError(
            f"{config.name}: each class needs at least {config.heads.inner_folds} clips for "
            f"its {config.heads.inner_folds}-fold inner cross-validation"
        )
    if groups is not None and len(np.unique(groups)) < config.heads.inner_folds:
        raise TrainingError(
            f"{config.name}: {len(np.unique(groups))} scene groups cannot fill "
            f"{config.heads.inner_folds} grouped inner folds"
        )
    specs = dict(config.heads.candidates)
    # what was extracted for the choice (each crop is a pass of its own), for model.json
    extractors = {e for s in specs.values() for e in spec_extractors(s)}
    with Progress(progress, len(train_items), f"{config.name}: features") as bar:
        features = feature_matrices(
            specs,
            [Path(it.path) for it in train_items],
            cache_dir=cache_dir,
            weights_cache_dir=weights_cache_dir,
            batch_size=batch_size,
            on_batch=bar.advance,
        )
    everything = np.arange(len(y))
    choice = choose_on(
        features,
        y,
        everything,
        candidates_of(config),
        inner_folds=config.heads.inner_folds,
        seed=config.seed,
        groups=groups,
        fuse=config.heads.fuse,
        c_grid=config.heads.c_grid,
    )
    heads = refit(features, y, everything, choice)
    model = HeadsModel(specs, choice, heads)
    train_prob = model.probabilities(features)
    model_dir = write_model_dir(
        out_dir / "model",
        config,
        heads=model,
        info={
            "train_clips": len(train_items),
            "train_accuracy": float(np.mean((train_prob >= 0.5) == (y == 1))),
            "extractors": sorted(extractors),
            "chosen": [
                {"candidate": m.name, "C": c, "weight": w}
                for m, c, w in zip(choice.members, choice.cs, choice.weights, strict=True)
            ],
            "threshold": choice.threshold,
            "inner_roc_auc": choice.inner_auc,
            "inner_roc_auc_by_candidate": choice.table,
            "inner_folds_grouped": groups is not None,
        },
    )
    return TrainResult(model_dir, 0, None, [], time.perf_counter() - started)


def predict_heads(
    model: HeadsModel,
    items: Sequence[Any],
    *,
    cache_dir: Path | None = None,
    weights_cache_dir: Path | None = None,
    batch_size: int = 4,
    on_batch: Callable[[int], None] | None = None,
    **_: Any,
) -> np.ndarray:
    """P(smoke) per clip of files (``items``), features from the cache when it has them."""
    features = feature_matrices(
        model.used_specs(),
        [Path(it.path) for it in items],
        cache_dir=cache_dir,
        weights_cache_dir=weights_cache_dir,
        batch_size=batch_size,
        on_batch=on_batch,
    )
    return model.probabilities(features)
