"""Grad-CAM through a heads model on frozen I3D features (rise-best's kind), on tiny clips.

The Kinetics weights are replaced by a seeded random I3D (no download); the extractor and the
explainer both load them through the same loader, as they load the real ones.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from smokewatch.dataset.torch_data import items_from_labels_csv
from smokewatch.explain.gradcam import Explainer, ExplainError
from smokewatch.explain.heads import HeadsOnI3D
from smokewatch.training.saved import load_model_dir
from smokewatch.video import read_clip

PRESET = """\
name: tiny-i3d-heads
kind: heads
model: i3d
weights: kinetics400
frames: 8
size: 64
heads:
  candidates:
    i3d: {parts: [i3d], endpoints: [Mixed_4f, Mixed_5c], pyramid: true, temporal: 2,
          stats: [std], power: true, frames: 8, size: 64}
  kinds: [KIND]
  c_grid: [1.0]
  inner_folds: 2
  fuse: false
"""


@pytest.fixture(autouse=True)
def no_download(kinetics_loads: list[Path]) -> None:
    """Kinetics weights: the suite's seeded stand-in (tests/conftest.py)."""


def _preset(kind: str, parts: str = "[i3d]") -> str:
    return PRESET.replace("KIND", kind).replace("[i3d]", parts)


@pytest.mark.parametrize("kind", ["svm-rbf", "svm-linear"])
def test_grad_cam_flows_through_the_heads_and_keeps_the_probability(
    tiny_clips: Path, tmp_path: Path, kind: str, train_heads_preset: Callable[[str], Path]
) -> None:
    model_dir = train_heads_preset(_preset(kind))
    trained = load_model_dir(model_dir)
    items = items_from_labels_csv(tiny_clips / "labels.csv", tiny_clips)
    clips = np.stack([read_clip(it.path) for it in items[:4]])
    expected = trained.predict_arrays(clips, weights_cache_dir=tmp_path / "w")
    explainer = Explainer(trained, weights_cache_dir=tmp_path / "w")
    assert explainer.target_layer == "backbone.Mixed_5c"
    probs, volumes = explainer.explain(clips, raw=True)
    # the torch chain is the model: same probabilities as the cached-feature path
    np.testing.assert_allclose(probs, expected, atol=1e-4)
    assert volumes.shape == clips.shape[:4] and np.isfinite(volumes).all()
    # the gradient reaches the backbone: no clip's map is flat, and clips' maps differ
    assert volumes.std(axis=(1, 2, 3)).min() > 1e-3
    assert np.abs(volumes[0] - volumes[2]).mean() > 1e-3
    # the map answers to the heads: a model whose fused score is turned around gives the
    # opposite probabilities and the opposite map (Grad-CAM is linear in the gradient)
    model = explainer.model
    assert isinstance(model, HeadsOnI3D)
    model.slope = -model.slope
    flipped, opposite = explainer.explain(clips, raw=True)
    np.testing.assert_allclose(flipped, 1.0 - probs, atol=1e-6)
    np.testing.assert_allclose(opposite, -volumes, atol=1e-4 * np.abs(volumes).max())
    # a head that reads only Mixed_4f can be explained there, named as a target layer
    raw = Explainer(trained, weights_cache_dir=tmp_path / "w", target_layer="backbone.Mixed_4f")
    assert np.isfinite(raw.explain(clips[:1], raw=True)[1]).all()


def test_heads_on_other_features_ask_for_no_cam(
    tmp_path: Path, train_heads_preset: Callable[[str], Path]
) -> None:
    model_dir = train_heads_preset(_preset("svm-linear", parts="[diff]"))
    with pytest.raises(ExplainError, match="only frame differences: score it with --no-cam"):
        Explainer(load_model_dir(model_dir), weights_cache_dir=tmp_path / "w")


def test_grad_cam_of_heads_that_read_crops_keeps_the_probability(
    tiny_clips: Path,
    tmp_path: Path,
    train_heads_preset: Callable[[str], Path],
    kinetics_loads: list[Path],
) -> None:
    preset = PRESET.replace("KIND", "svm-rbf").replace(
        "frames: 8, size: 64}", "frames: 8, size: 64, crops: [tl, br], crop_size: 48}"
    )
    assert "crops" in preset
    trained = load_model_dir(train_heads_preset(preset))
    items = items_from_labels_csv(tiny_clips / "labels.csv", tiny_clips)
    clips = np.stack([read_clip(it.path) for it in items[:3]])
    kinetics_loads.clear()  # the loads of training
    expected = trained.predict_arrays(clips, weights_cache_dir=tmp_path / "w")
    assert len(kinetics_loads) == 1  # one I3D in memory for the whole frame and its two crops
    explainer = Explainer(trained, weights_cache_dir=tmp_path / "w", batch_size=2)
    probs, volumes = explainer.explain(clips, raw=True)
    # the crops' readings are in the score: the same probabilities as the cached path
    np.testing.assert_allclose(probs, expected, atol=1e-4)
    # ... and the module reads them: other crop grids give another score
    model = explainer.model
    assert isinstance(model, HeadsOnI3D)
    x = explainer.transform(explainer._model_input(clips))
    with model.given(clips), torch.no_grad():
        read = model(x)
        assert model._crop_grids is not None
        for grids in model._crop_grids.values():
            for ep in grids:
                grids[ep] = torch.zeros_like(grids[ep])
        assert not torch.allclose(model(x), read, atol=1e-3)
    np.testing.assert_allclose(torch.sigmoid(read[:, 0]).numpy(), probs, atol=1e-4)
    # outside given() the crops are unknown: refused, not read as zeros
    with pytest.raises(ExplainError, match="need the batch's uint8 clips"), torch.no_grad():
        model(x)
    # the map flows through the whole frame's reading: finite, and not flat
    assert volumes.shape == clips.shape[:4] and np.isfinite(volumes).all()
    assert volumes.std(axis=(1, 2, 3)).min() > 1e-3
