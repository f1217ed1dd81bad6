"""Clips in memory score as the same clips read from files (detection relies on it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from smokewatch.dataset.torch_data import items_from_labels_csv
from smokewatch.models import get_model
from smokewatch.models.svm import FeatureSVM
from smokewatch.training.config import TrainConfig
from smokewatch.training.saved import load_model_dir, write_model_dir
from smokewatch.video import read_clip


@pytest.mark.parametrize(
    "config",
    [
        TrainConfig(name="rgb", model="tiny3d", weights=None, frames=6, size=24),
        TrainConfig(
            name="flow",
            model="tiny3d",
            weights=None,
            frames=6,
            size=24,
            modality="flow",
            model_kwargs={"in_channels": 2},
        ),  # fmt: skip
        TrainConfig(
            name="fp", model="tiny3d", weights=None, frames=6, size=24, perturb_frames=True
        ),  # fmt: skip
    ],
    ids=["rgb", "flow", "perturbed"],
)
def test_torch_arrays_score_as_files(tiny_clips: Path, tmp_path: Path, config: TrainConfig) -> None:
    torch.manual_seed(0)
    model = get_model("tiny3d", num_classes=1, **config.model_kwargs)
    trained = load_model_dir(write_model_dir(tmp_path, config, state_dict=model.state_dict()))
    items = items_from_labels_csv(tiny_clips / "labels.csv", tiny_clips)
    from_files = trained.predict(items, batch_size=4)
    clips = np.stack([read_clip(item.path) for item in items])
    from_arrays = trained.predict_arrays(clips, batch_size=4)
    assert from_arrays.shape == (len(items),)
    np.testing.assert_allclose(from_arrays, from_files, atol=1e-5)
    assert np.ptp(from_arrays) > 0  # the clips do score differently


def test_svm_arrays_score_as_files(tiny_clips: Path, tmp_path: Path) -> None:
    config = TrainConfig(name="svm", kind="svm", model="tiny3d", weights=None, frames=6, size=24)
    items = items_from_labels_csv(tiny_clips / "labels.csv", tiny_clips)
    rng = np.random.default_rng(0)
    labels = [item.label for item in items]
    svm = FeatureSVM(probability=True, random_state=0).fit(rng.normal(size=(12, 16)), labels)
    trained = load_model_dir(write_model_dir(tmp_path, config, svm=svm))
    # a backbone without weights is drawn from torch's RNG each time one is built: seed both
    torch.manual_seed(1)
    from_files = trained.predict(items, batch_size=4)
    torch.manual_seed(1)
    clips = np.stack([read_clip(item.path) for item in items])
    from_arrays = trained.predict_arrays(clips, batch_size=4)
    np.testing.assert_allclose(from_arrays, from_files, atol=1e-6)
