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

__all__ = ["train_svm"]


def train_svm(
    config: TrainConfig,
    train_items: Sequence[Any],
    out_dir: Path,
    *,
    device: str | None = None,
    cache_dir: Path | None = None,
    progress: bool = True,
    batch_size: int = 4,
) -> TrainResult:
    import time

    from smokewatch.models.svm import FeatureSVM
    from smokewatch.training.predict import extract_clip_features
    from smokewatch.training.saved import write_model_dir

    started = time.perf_counter()
    labels = np.array([item.label for item in train_items])
    if np.unique(labels).size < 2:
        from smokewatch.training.build import TrainingError

        raise TrainingError("an SVM needs training clips of both classes")
    with feature_progress(progress, len(train_items), f"{config.name}: features") as tick:
        features = extract_clip_features(
            config, train_items, device=device or "cpu", batch_size=batch_size,
            workers=config.workers, cache_dir=cache_dir, on_batch=tick,
        )
    params = {"random_state": config.seed, **config.svm, "probability": True}
    svm = FeatureSVM(**params).fit(features, labels)
    model_dir = write_model_dir(out_dir / "model", config, svm=svm, info={
        "train_clips": len(train_items), "train_accuracy": svm.score(features, labels),
    })
    return TrainResult(model_dir, 0, None, [], time.perf_counter() - started)


class feature_progress:
    """A rich progress bar over clips (a context manager yielding the advance callback)."""

    def __init__(self, enabled: bool, total: int, title: str) -> None:
        self.enabled, self.total, self.title = enabled, total, title
        self.bar: Any = None

    def __enter__(self) -> Any:
        if not self.enabled:
            return lambda n: None
        from rich.progress import (
            BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
            TimeRemainingColumn,
        )

        from smokewatch.cli._common import err_console

        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), TimeRemainingColumn(), console=err_console)
        task = self.bar.add_task(self.title, total=self.total)
        self.bar.start()
        return lambda n: self.bar.advance(task, n)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()
