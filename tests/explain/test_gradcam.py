"""Grad-CAM itself: it points where the model looks, it depends on the weights, and it leaves
every registered model as it found it."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn
from videos import synthetic_frames

from smokewatch.explain.gradcam import (
    ExplainError,
    activation_ratio,
    default_target_layer,
    grad_cam,
    normalise_cam,
)
from smokewatch.models import get_model, list_models

SHAPE = (8, 24, 40)  # T, H, W: not square, so a swapped height and width would show


class OneRegion(nn.Module):
    """A conv net that sees one box of its input only: the rest is masked before the conv."""

    def __init__(self, box: tuple[slice, slice, slice], seed: int = 0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        mask = torch.zeros(SHAPE)
        mask[box] = 1.0
        self.register_buffer("mask", mask)
        self.conv = nn.Conv3d(3, 6, 3, stride=(1, 2, 2), padding=1, bias=False)
        self.act = nn.ReLU()
        self.head = nn.Linear(6, 1)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=gen) * 0.2)
            self.head.weight.copy_(torch.rand(1, 6, generator=gen) + 0.1)  # every channel counts

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.head(self.act(self.conv(x * self.mask)).mean(dim=(2, 3, 4)))
        return out


def _inside(box: tuple[slice, slice, slice]) -> np.ndarray:
    inside = np.zeros(SHAPE, dtype=bool)
    inside[box] = True
    return inside


def test_a_model_that_sees_one_region_lights_up_that_region_only() -> None:
    """The same clips, two models looking at different boxes: each map follows its model."""
    top_right_early = (slice(0, 4), slice(0, 12), slice(20, 40))
    bottom_left_late = (slice(4, 8), slice(12, 24), slice(0, 20))
    x = torch.rand(2, 3, *SHAPE, generator=torch.Generator().manual_seed(1))  # texture everywhere
    for box in (top_right_early, bottom_left_late):
        _, volumes = grad_cam(OneRegion(box), x, target_layer="act")
        inside = _inside(box)
        for v in volumes:
            assert v[inside].mean() > 0.4
            assert v[inside].mean() > 10 * v[~inside].mean()
            assert v.max() == pytest.approx(1.0)


def _ranks(a: np.ndarray) -> np.ndarray:
    r = np.empty(a.size)
    r[np.argsort(a.ravel(), kind="stable")] = np.arange(a.size)
    return r


def _rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(_ranks(a), _ranks(b))[0, 1])


def test_randomising_the_top_layers_changes_the_map() -> None:
    """Adebayo et al. (2018): a map that survives randomising the model explains nothing."""
    clip = torch.from_numpy(synthetic_frames(8, 32, seed=3)).permute(3, 0, 1, 2)[None]
    x = clip.float() / 127.5 - 1
    gen = torch.Generator().manual_seed(100)
    for seed in (0, 1):
        torch.manual_seed(seed)
        model = get_model("tiny3d", weights=None, num_classes=1)
        _, before = grad_cam(model, x)
        _, again = grad_cam(model, x)
        assert np.array_equal(before, again)  # deterministic: the control
        randomised = copy.deepcopy(model)
        for name in ("logits", "body.2"):  # cascading, from the top
            layer = randomised.get_submodule(name)
            with torch.no_grad():
                layer.weight.copy_(
                    torch.randn(layer.weight.shape, generator=gen) * layer.weight.std()
                )
            _, after = grad_cam(randomised, x)
            assert before.max() == after.max() == pytest.approx(1.0)  # neither map is empty
            assert _rank_correlation(before, after) < 0.5, (seed, name)


def _input(name: str, batch: int = 2) -> torch.Tensor:
    gen = torch.Generator().manual_seed(7)
    channels = 2 if name == "i3d-flow" else 3
    frames, size = (4, 16) if name == "tiny3d" else (8, 64)  # I3D: 8 frames, 32 pixels at least
    return torch.rand(batch, channels, frames, size, size, generator=gen) * 2 - 1


TORCH_MODELS = [name for name in list_models() if name != "svm"]


def test_every_registered_torch_model_is_covered() -> None:
    assert {"i3d", "i3d-tsm", "i3d-nl", "i3d-lstm", "i3d-tc", "i3d-flow"} <= set(TORCH_MODELS)
    assert {"efficientnet-lite0-tsm", "tiny3d"} <= set(TORCH_MODELS)


def _hooks(model: nn.Module) -> int:
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
        for m in model.modules()
    )


@pytest.mark.parametrize("name", TORCH_MODELS)
def test_every_model_gives_maps_in_range_and_is_left_as_it_was(name: str) -> None:
    torch.manual_seed(0)
    model = get_model(name, weights=None, num_classes=1)
    model.train()
    modes = [m.training for m in model.modules()]  # a frozen backbone stays in eval mode
    flags = [p.requires_grad for p in model.parameters()]
    x = _input(name)
    rng = torch.get_rng_state()
    probs, volumes = grad_cam(model, x)
    assert torch.equal(torch.get_rng_state(), rng)
    assert [m.training for m in model.modules()] == modes
    assert [p.requires_grad for p in model.parameters()] == flags
    assert all(p.grad is None for p in model.parameters())
    assert _hooks(model) == 0
    assert probs.dtype == np.float64 and probs.shape == (2,)
    assert volumes.dtype == np.float32 and volumes.shape == (2, *x.shape[2:])
    assert volumes.min() >= 0.0 and volumes.max() <= 1.0
    for v in volumes:  # scaled per clip: peak 1, or all zero when nothing raised the logit
        assert v.max() in (0.0, pytest.approx(1.0))
    with torch.no_grad():
        expected = torch.sigmoid(model.eval()(x)[:, 0]).double().numpy()
    assert np.allclose(probs, expected, atol=1e-6)


def test_default_layers_are_the_last_blocks() -> None:
    expected = {
        "i3d": "Mixed_5c",
        "i3d-tsm": "Mixed_5c",
        "i3d-nl": "Mixed_5c",
        "i3d-flow": "Mixed_5c",
        "i3d-lstm": "backbone.Mixed_5c",
        "i3d-tc": "backbone.Mixed_5c",
        "efficientnet-lite0-tsm": "head",
        "tiny3d": "body.3",
    }
    for name, layer in expected.items():
        assert default_target_layer(get_model(name, weights=None, num_classes=1)) == layer


def test_a_per_frame_model_keeps_each_clips_frames_together() -> None:
    """efficientnet-lite0-tsm runs 2D per frame ([B*t, C, h, w]): maps come back per clip."""
    torch.manual_seed(0)
    model = get_model("efficientnet-lite0-tsm", weights=None, num_classes=1, num_segments=4)
    x = torch.rand(2, 3, 4, 64, 64, generator=torch.Generator().manual_seed(7)) * 2 - 1
    _, both = grad_cam(model, x)
    _, first = grad_cam(model, x[:1])
    _, second = grad_cam(model, x[1:])
    assert both.shape == (2, 4, 64, 64)
    assert first.max() > 0 and second.max() > 0
    assert not np.allclose(first[0], second[0], atol=1e-3)  # a mix-up of clips would show
    assert np.allclose(both[0], first[0], atol=1e-4)
    assert np.allclose(both[1], second[0], atol=1e-4)


def test_an_unknown_layer_is_named_with_valid_ones_and_nothing_is_left_behind() -> None:
    torch.manual_seed(0)
    model = get_model("tiny3d", weights=None, num_classes=1)
    with pytest.raises(ExplainError, match=r"no layer 'body\.9'.*logits.*default: body\.3"):
        grad_cam(model, _input("tiny3d"), target_layer="body.9")
    model.train()
    with pytest.raises(ValueError, match="expected input"):  # fails inside the forward pass
        grad_cam(model, torch.zeros(1, 5, 4, 16, 16))
    assert _hooks(model) == 0 and model.training
    assert all(p.requires_grad for p in model.parameters())


def test_a_model_prepared_for_inference_is_refused() -> None:
    from smokewatch.models.inference import prepare_for_inference

    torch.manual_seed(0)
    model = get_model("i3d", weights=None, num_classes=1)
    prepare_for_inference(model)
    with pytest.raises(ExplainError, match="prepared for inference"):
        grad_cam(model, _input("i3d"))
    with torch.inference_mode(), pytest.raises(ExplainError, match="autograd"):
        grad_cam(get_model("tiny3d", weights=None, num_classes=1), _input("tiny3d"))


def test_the_rise_loss_explains_the_max_over_time() -> None:
    """With per-frame logits (loss rise) the clip score is their max, as evaluation takes it."""
    from smokewatch.training.build import frame_logits

    torch.manual_seed(0)
    model = get_model("tiny3d", weights=None, num_classes=1)
    x = _input("tiny3d")
    probs, _ = grad_cam(model, x, loss="rise")
    with torch.no_grad():
        expected = torch.sigmoid(frame_logits(model, x).amax(dim=1)).double().numpy()
    assert np.allclose(probs, expected, atol=1e-6)


def test_activation_ratio_is_rises_share_of_voxels_not_clearly_against_smoke() -> None:
    """RISE: a voxel is active where 1 + the raw map > 0.85, i.e. raw > -0.15."""
    raw = np.full((4, 5, 5), -1.0, dtype=np.float32)
    raw[0, :2] = 0.3  # 10 voxels for smoke
    raw[1, 0] = -0.1  # 5 voxels a little against it: still active
    raw[2, 0, 0] = -0.15  # at the threshold: not above it
    assert activation_ratio(raw) == pytest.approx(15 / 100)
    assert activation_ratio(raw, pixel_threshold=1.0) == pytest.approx(10 / 100)
    assert activation_ratio(np.zeros((0, 3, 3))) == 0.0


def test_raw_maps_are_the_pictures_before_relu_and_scaling() -> None:
    torch.manual_seed(0)
    model = get_model("tiny3d", weights=None, num_classes=1)
    x = _input("tiny3d")
    probs, pictures = grad_cam(model, x)
    probs_raw, raws = grad_cam(model, x, raw=True)
    assert np.allclose(probs, probs_raw)
    assert (raws < 0).any()  # the raw map keeps the evidence against smoke
    assert np.allclose(normalise_cam(raws), pictures, atol=1e-6)
    for picture in pictures:
        assert picture.max() == pytest.approx(1.0) or picture.max() == 0.0
