"""The Explainer of a trained model directory: evaluation's probabilities, maps on the clip."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from smokewatch.dataset.torch_data import items_from_labels_csv
from smokewatch.explain.gradcam import Explainer, ExplainError
from smokewatch.training.config import TrainConfig
from smokewatch.training.saved import TrainedModel, load_model_dir, write_model_dir
from smokewatch.video import read_clip


def _decoded(items: list) -> np.ndarray:
    """The clips as predict decodes them (PyAV), so both sides see the same frames."""
    return np.stack([read_clip(item.path) for item in items])


def _items(clips: Path, n: int = 4) -> list:
    return items_from_labels_csv(clips / "labels.csv", clips)[:n]


@pytest.mark.parametrize(
    "settings",
    [{}, {"loss": "rise"}, {"perturb_frames": True, "seed": 5}],
    ids=["bce", "rise-loss", "perturbed-frames"],
)
def test_probabilities_are_predicts(
    tiny_clips: Path, tiny_model_dir: Callable[..., Path], tmp_path: Path, settings: dict
) -> None:
    trained = load_model_dir(tiny_model_dir(tmp_path / "m", init=1, **settings))
    items = _items(tiny_clips)
    explainer = Explainer(trained)
    probs, volumes = explainer.explain(_decoded(items))
    expected = trained.predict(items)
    assert np.abs(probs - expected).max() < 1e-4
    assert np.ptp(expected) > 1e-3  # the clips score differently: a real comparison
    assert volumes.shape == (4, 8, 32, 32) and volumes.dtype == np.float32  # the input's T, H, W
    assert volumes.min() >= 0 and volumes.max() <= 1
    assert explainer.target_layer == "body.3"


def _i3d_dir(out: Path, **settings: object) -> Path:
    from smokewatch.models import get_model

    config = TrainConfig(name="small-i3d", weights=None, frames=8, size=32, workers=0, **settings)
    torch.manual_seed(0)
    model = get_model(config.model, weights=None, num_classes=1)
    for module in model.modules():  # batch-norm statistics that matter once folded
        if isinstance(module, nn.BatchNorm3d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    return write_model_dir(out, config, state_dict=model.state_dict())


@pytest.mark.parametrize(
    "settings", [{"model": "i3d"}, {"model": "i3d-flow", "modality": "flow"}], ids=["rgb", "flow"]
)
def test_an_i3d_prepared_by_predict_is_explained_from_its_weights(
    tiny_clips: Path, tmp_path: Path, settings: dict
) -> None:
    """predict folds and fuses a loaded I3D in place; the Explainer still backpropagates."""
    trained = load_model_dir(_i3d_dir(tmp_path / "m", **settings))
    items = _items(tiny_clips, 3)
    before = Explainer(trained)  # a copy of the model as loaded
    expected = trained.predict(items)
    assert trained.prepared
    after = Explainer(trained)  # loaded again: the prepared one cannot backpropagate
    clips = _decoded(items)
    for explainer in (before, after):
        probs, volumes = explainer.explain(clips)
        assert np.abs(probs - expected).max() < 1e-4
        assert volumes.shape == (3, 8, 32, 32)
        assert explainer.target_layer == "Mixed_5c"
    assert np.allclose(trained.predict(items), expected, atol=1e-6)  # predict is unaffected


class SeesOneBox(nn.Module):
    """Like test_gradcam's OneRegion, on a model input of 6 frames of 24x24: one box only."""

    def __init__(self) -> None:
        super().__init__()
        mask = torch.zeros(6, 24, 24)
        mask[:3, :12, 12:] = 1.0  # the first half of the frames, top right quarter
        self.register_buffer("mask", mask)
        self.conv = nn.Conv3d(3, 4, (1, 3, 3), padding=(0, 1, 1), bias=False)  # frame by frame
        self.act = nn.ReLU()
        self.head = nn.Linear(4, 1)
        with torch.no_grad():
            self.conv.weight.copy_(
                torch.randn(self.conv.weight.shape, generator=torch.Generator().manual_seed(0))
            )
            self.head.weight.fill_(1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.head(self.act(self.conv(x * self.mask)).mean(dim=(2, 3, 4)))
        return out


def test_each_input_frame_gets_the_map_of_the_frame_that_stands_for_it(tmp_path: Path) -> None:
    """12 frames of 32x48 in, the model sees 6 frames of 24x24: the box maps back onto the clip."""
    config = TrainConfig(name="box", model="tiny3d", weights=None, frames=6, size=24)
    trained = TrainedModel(tmp_path, config, {}, SeesOneBox())
    clips = np.random.default_rng(0).integers(0, 256, (2, 12, 32, 48, 3), dtype=np.uint8)
    _, volumes = Explainer(trained, target_layer="act").explain(clips)
    assert volumes.shape == (2, 12, 32, 48)
    inside = np.zeros((12, 32, 48), dtype=bool)
    inside[:6, :16, 24:] = True  # model frames 0-2 stand for input frames 0-5
    for v in volumes:
        assert v[inside].mean() > 0.1
        assert v[inside].mean() > 10 * v[~inside].mean()
        assert v[6:].max() == 0.0  # frames that stand for model frames 3-5 stay cold


def test_svm_directories_are_explained_through_their_decision_function(
    tiny_clips: Path, tmp_path: Path
) -> None:
    """The SVC (RBF or linear, Platt-scaled) in torch on its backbone: predict's probabilities."""
    from smokewatch.training.fit_svm import train_svm

    items = items_from_labels_csv(tiny_clips / "labels.csv", tiny_clips)
    for kernel in ("rbf", "linear"):
        config = TrainConfig(
            name=f"tiny-svm-{kernel}",
            kind="svm",
            model="tiny3d",
            weights=None,
            frames=6,
            size=24,
            workers=0,
            svm={"C": 1.0, "kernel": kernel, "gamma": "scale", "standardize": kernel == "linear"},
        )
        torch.manual_seed(0)  # a backbone without weights is drawn from the global RNG
        result = train_svm(config, items, tmp_path / kernel, progress=False)
        trained = load_model_dir(result.model_dir)
        torch.manual_seed(0)
        expected = trained.predict(items[:4])
        torch.manual_seed(0)
        explainer = Explainer(trained)
        probs, volumes = explainer.explain(_decoded(items[:4]))
        assert np.abs(probs - expected).max() < 1e-4, kernel
        assert np.ptp(expected) > 1e-3
        assert explainer.target_layer == "backbone.body.3"
        assert volumes.shape == (4, 8, 32, 32) and volumes.max() <= 1


def test_an_svm_with_another_kernel_is_a_clear_error(tiny_clips: Path, tmp_path: Path) -> None:
    from smokewatch.models.svm import FeatureSVM

    rng = np.random.default_rng(0)
    features = rng.normal(size=(20, 16))
    svm = FeatureSVM(kernel="poly", probability=True).fit(features, np.arange(20) % 2)
    config = TrainConfig(name="poly", kind="svm", model="tiny3d", weights=None, frames=6, size=24)
    with pytest.raises(ExplainError, match="poly kernel"):
        Explainer(TrainedModel(tmp_path, config, {}, svm))


def test_clips_it_cannot_explain_are_clear_errors(tiny_model: Path) -> None:
    explainer = Explainer(load_model_dir(tiny_model))
    with pytest.raises(ExplainError, match="uint8 clips"):
        explainer.explain(np.zeros((1, 8, 32, 32, 3), dtype=np.float32))
    with pytest.raises(ExplainError, match="4 frames; this model needs 6"):
        explainer.explain(np.zeros((1, 4, 32, 32, 3), dtype=np.uint8))
    with pytest.raises(ExplainError, match="no layer 'nope'"):
        Explainer(load_model_dir(tiny_model), target_layer="nope")
