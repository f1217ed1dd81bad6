"""bench/rise_i3d_reference.py (RISE's I3D structure, the speed baseline) equals our I3D."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

from smokewatch.models import get_model
from smokewatch.models.i3d import tf_same_padding
from smokewatch.models.i3d_weights import load_i3d_checkpoint

torch.set_num_threads(1)

REFERENCE = Path(__file__).resolve().parents[2] / "bench" / "rise_i3d_reference.py"


@pytest.fixture(scope="module")
def rise() -> ModuleType:
    spec = importlib.util.spec_from_file_location("rise_i3d_reference", REFERENCE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _pair(rise: ModuleType) -> tuple[torch.nn.Module, torch.nn.Module]:
    """Our I3D with random weights and batch-norm statistics, and the reference loaded from it
    through the RISE checkpoint path (``module.``-prefixed keys, as RISE saves them)."""
    torch.manual_seed(0)
    ref = rise.RiseI3D(num_classes=2).eval()
    for m in ref.modules():
        if isinstance(m, torch.nn.BatchNorm3d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    checkpoint = {f"module.{k}": v for k, v in ref.state_dict().items()}
    ours = load_i3d_checkpoint(get_model("i3d", num_classes=2), checkpoint).eval()
    return ref, ours


def test_reference_pads_like_tf_same(rise: ModuleType) -> None:
    for size, kernel, stride in [
        (36, 7, 2),
        (224, 7, 2),
        (112, 3, 2),
        (45, 3, 2),
        (9, 2, 2),
        (7, 3, 1),
    ]:
        before, after = tf_same_padding(size, kernel, stride)
        assert rise._pad_arg((size,) * 3, (kernel,) * 3, (stride,) * 3)[:2] == (before, after)


def test_reference_has_our_state_dict_layout(rise: ModuleType) -> None:
    ref, ours = rise.RiseI3D(num_classes=2), get_model("i3d", num_classes=2)
    assert ref.state_dict().keys() == ours.state_dict().keys()
    assert sum(p.numel() for p in ref.parameters()) == sum(p.numel() for p in ours.parameters())


def test_mixed_5c_map_equals_ours(rise: ModuleType) -> None:
    ref, ours = _pair(rise)
    x = torch.rand(2, 3, 8, 64, 64) * 2 - 1
    with torch.inference_mode():
        expected = ours.extract_endpoint(x, "Mixed_5c")
        got = ref.extract_conv_output(x)
    assert got.shape == expected.shape == (2, 1024, 1, 2, 2)
    assert torch.allclose(got, expected, atol=1e-4, rtol=1e-4)
    assert expected.abs().mean() > 1e-3


def test_logits_equal_ours_where_the_heads_coincide(rise: ModuleType) -> None:
    """9 frames at 193^2 give a 2x7x7 Mixed_5c map: the [2, 7, 7] window is a global average."""
    ref, ours = _pair(rise)
    x = torch.rand(1, 3, 9, 193, 193) * 2 - 1
    with torch.inference_mode():
        got = ref(x)
        expected = ours(x)
    assert got.shape == (1, 2, 1)  # per-time logits, one time step here
    assert torch.allclose(got[:, :, 0], expected, atol=1e-4, rtol=1e-4)
