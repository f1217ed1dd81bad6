"""The SVM presets (RGB-SVM, Flow-SVM): frozen backbone features, then scikit-learn's SVC.

No steps, no validation: RISE fitted ``SVC(C=4, gamma="scale")`` once on the training clips.
The SVM is fitted with Platt scaling (``probability``) so that ``evaluate`` reports a
probability like every other model; its ranking (ROC-AUC) is that of the decision values.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from smokewatch.training.config import TrainConfig
from smokewatch.training.loop import TrainResult
from smokewatch.training.progress import Progress

__all__ = ["train_svm"]


def train_svm(
    config: TrainConfig,
    train_items: Sequence[Any],
    out_dir: Path,
    *,
    device: str | None = None,
    cache_dir: Path | None = None,
    weights_cache_dir: Path | None = None,
    progress: bool = True,
    batch_size: int = 4,
) -> TrainResult:
    import time

    from smokewatch.models.svm import FeatureSVM
    from smokewatch.training.predict import extract_clip_features
    from smokewatch.training.saved import write_model_dir

    started = time.perf_counter()
    from smokewatch.training.build import TrainingError

    labels = np.array([item.label for item in train_items])
    if min(np.bincount(labels, minlength=2)) < 2:
        raise TrainingError("an SVM needs at least 2 training clips of each class")
    params = {"random_state": config.seed, **config.svm, "probability": True}
    try:  # a typo in the svm settings: say so before the long feature extraction
        FeatureSVM(**params)
    except TypeError as exc:
        raise TrainingError(f"{config.name}: bad svm setting ({exc})") from None
    with Progress(progress, len(train_items), f"{config.name}: features") as bar:
        features = extract_clip_features(
            config,
            train_items,
            device=device or "cpu",
            batch_size=batch_size,
            workers=config.workers,
            cache_dir=cache_dir,
            weights_cache_dir=weights_cache_dir,
            on_batch=bar.advance,
        )
    svm = FeatureSVM(**params).fit(features, labels)
    model_dir = write_model_dir(
        out_dir / "model",
        config,
        svm=svm,
        info={
            "train_clips": len(train_items),
            "train_accuracy": svm.score(features, labels),
        },
    )
    return TrainResult(model_dir, 0, None, [], time.perf_counter() - started)
