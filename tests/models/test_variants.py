"""The paper's I3D variants together: registry names, output shapes, gradient flow, parameter
counts against plain I3D, and backbone weights passed through (offline: a fake Kinetics set)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import smokewatch.models.flow_i3d
import smokewatch.models.lstm
import smokewatch.models.nonlocal_
import smokewatch.models.timeception
import smokewatch.models.tsm  # noqa: F401  (the imports register the variants)
from smokewatch.models.registry import ModelError, get_model, list_models

torch.set_num_threads(1)

VARIANTS = ["i3d-tsm", "i3d-nl", "i3d-lstm", "i3d-tc", "i3d-flow"]
HEAD_ONLY = {"i3d-lstm", "i3d-tc"}  # frozen backbone by default


def in_channels(name: str) -> int:
    return 2 if name == "i3d-flow" else 3


def clip(name: str, batch: int = 2, frames: int = 8, size: int = 64, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, in_channels(name), frames, size, size, generator=g)


def n_params(model: nn.Module, trainable: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable)


@pytest.fixture(scope="module")
def plain_count() -> int:
    return n_params(get_model("i3d", num_classes=1))


def test_registered() -> None:
    assert set(VARIANTS) <= set(list_models())


@pytest.mark.parametrize("name", VARIANTS)
@pytest.mark.parametrize("num_classes", [1, 3])
def test_output_shape(name: str, num_classes: int) -> None:
    torch.manual_seed(0)
    model = get_model(name, num_classes=num_classes).eval()
    with torch.inference_mode():
        out = model(clip(name))
    assert out.shape == (2, num_classes)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", VARIANTS)
def test_rise_input_size(name: str) -> None:
    """RISE's native 180x180 works (adaptive pooling), batch 1."""
    torch.manual_seed(0)
    model = get_model(name).eval()
    with torch.inference_mode():
        assert model(clip(name, batch=1, frames=8, size=180)).shape == (1, 1)


@pytest.mark.parametrize("name", VARIANTS)
def test_gradient_flow(name: str) -> None:
    """Every trainable parameter gets a finite gradient; the stem and the head a non-zero one."""
    torch.manual_seed(0)
    model = get_model(name, freeze_backbone=False) if name in HEAD_ONLY else get_model(name)
    model.train()
    loss = F.binary_cross_entropy_with_logits(
        model(clip(name)).squeeze(1), torch.tensor([0.0, 1.0])
    )
    torch.autograd.backward(loss)
    named = dict(model.named_parameters())
    missing = [k for k, p in named.items() if p.grad is None]
    assert not missing
    assert all(torch.isfinite(p.grad).all() for p in named.values() if p.grad is not None)
    stem = next(p for k, p in named.items() if k.endswith("Conv3d_1a_7x7.conv3d.weight"))
    head = list(named.values())[-2]  # the last layer's weight (its bias comes after)
    assert stem.grad is not None and stem.grad.abs().sum() > 0
    assert head.grad is not None and head.grad.abs().sum() > 0


@pytest.mark.parametrize("name", sorted(HEAD_ONLY))
def test_frozen_backbone_gets_no_gradient(name: str) -> None:
    torch.manual_seed(0)
    model = get_model(name)  # freeze_backbone=True by default, as in the paper
    model.train()
    model(clip(name)).sum().backward()
    for key, p in model.named_parameters():
        if key.startswith("backbone."):
            assert not p.requires_grad and p.grad is None, key
        else:
            assert p.requires_grad and p.grad is not None, key


def _nl_added(channels: int) -> int:
    inter = channels // 2
    return 3 * (channels * inter + inter) + (inter * channels + channels) + 2 * channels


def _tc_added() -> int:  # 1024 -> 1280 channels: 8 groups x 5 branches x 32
    return 1024 * 1280 // 8 + 256 * (3 + 5 + 7) + 2 * 1280


def test_parameter_counts(plain_count: int) -> None:
    """Against plain I3D with a binary head (12,288,289 parameters)."""
    assert plain_count == 12_288_289
    assert n_params(get_model("i3d-tsm")) == plain_count  # the shift has no parameters
    assert n_params(get_model("i3d-nl")) == plain_count + _nl_added(832) + _nl_added(1024)
    assert _nl_added(832) + _nl_added(1024) == 3_489_952
    backbone = plain_count - (1024 + 1)  # I3D without its logits layer
    lstm = 4 * 128 * (1024 + 128) + 2 * 4 * 128 + (128 + 1)
    assert n_params(get_model("i3d-lstm"), trainable=True) == lstm == 590_977
    assert n_params(get_model("i3d-lstm")) == backbone + lstm
    tc = _tc_added() + 1280 + 1
    assert n_params(get_model("i3d-tc"), trainable=True) == tc == 171_521
    assert n_params(get_model("i3d-tc")) == backbone + tc
    assert n_params(get_model("i3d-flow")) == plain_count - 64 * 7**3  # 2 input channels, not 3


@pytest.fixture(autouse=True)
def no_download(kinetics_loads: list[Path]) -> None:
    """Kinetics weights: the suite's seeded stand-in (tests/conftest.py)."""


def _wrapped(blocks: tuple[str, ...]) -> Callable[[str], str]:
    """I3D key -> the key once the named blocks are wrapped (``Mixed_5b.net.b0...``)."""

    def key(k: str) -> str:
        block, _, rest = k.partition(".")
        return f"{block}.net.{rest}" if block in blocks else k

    return key


MIXED = tuple(f"Mixed_{s}" for s in ("3b", "3c", "4b", "4c", "4d", "4e", "4f", "5b", "5c"))
KEYS: dict[str, Callable[[str], str]] = {
    "i3d-tsm": _wrapped(MIXED),
    "i3d-nl": _wrapped(("Mixed_5b", "Mixed_5c")),
    "i3d-lstm": lambda k: "backbone." + k,
    "i3d-tc": lambda k: "backbone." + k,
}


@pytest.mark.parametrize("name", sorted(KEYS))
def test_backbone_weights_pass_through(
    name: str, fake_kinetics: dict[str, torch.Tensor], tmp_path: Path
) -> None:
    model = get_model(name, weights="kinetics400", cache_dir=tmp_path)
    state = model.state_dict()
    for key, value in fake_kinetics.items():
        if key.startswith("logits."):
            continue  # a new binary head
        assert torch.equal(state[KEYS[name](key)], value), key


def test_pretrained_weights_need_the_callers_cache_dir(
    fake_kinetics: dict[str, torch.Tensor],
) -> None:
    # Settings are passed in: the library never falls back to reading them itself.
    for name in ["i3d", *sorted(KEYS), "i3d-flow"]:
        with pytest.raises(ModelError, match="need cache_dir"):
            get_model(name, weights="kinetics400")


def test_flow_stem_from_rgb_weights(fake_kinetics: dict[str, torch.Tensor], tmp_path: Path) -> None:
    model = get_model("i3d-flow", weights="kinetics400", cache_dir=tmp_path)
    stem = model.Conv3d_1a_7x7.conv3d.weight
    rgb = fake_kinetics["Conv3d_1a_7x7.conv3d.weight"]
    assert stem.shape == (64, 2, 7, 7, 7)
    assert torch.allclose(stem, rgb.mean(dim=1, keepdim=True).expand(-1, 2, -1, -1, -1))
    state = model.state_dict()
    assert torch.equal(
        state["Mixed_5c.b0.conv3d.weight"], fake_kinetics["Mixed_5c.b0.conv3d.weight"]
    )
    with torch.inference_mode():
        assert model.eval()(clip("i3d-flow")).shape == (2, 1)
