"""models.timeception: the Timeception layer (groups, multi-scale temporal kernels, 1.25x
channels) and I3D + Timeception."""

from __future__ import annotations

import pytest
import torch

from smokewatch.models.timeception import I3DTimeception, Timeception, i3d_tc

torch.set_num_threads(1)


def test_layer_shapes_and_channel_expansion() -> None:
    layer = Timeception(1024)
    assert (layer.groups, layer.branches, layer.branch_channels) == (8, 5, 32)
    assert layer.out_channels == 1280  # 1024 x 1.25
    for frames, out_frames in ((5, 3), (4, 2), (1, 1)):  # RISE's 36 frames give 5 at Mixed_5c
        out = layer(torch.randn(2, 1024, frames, 3, 3))
        assert out.shape == (2, 1280, out_frames, 3, 3)
    convs = [c for c in layer.temporal if isinstance(c, torch.nn.Conv3d)]
    assert [c.kernel_size[0] for c in convs] == [3, 5, 7]
    assert all(c.groups == c.in_channels == 256 for c in convs)  # depthwise


def temporal_reach(layer: Timeception, frames: int = 15, at: int = 7) -> set[int]:
    """Input frames that output frame ``at`` depends on (eval mode: no batch coupling)."""
    layer.eval()
    x = torch.randn(1, layer.reduce.in_channels, frames, 2, 2, requires_grad=True)
    layer(x)[:, :, at].abs().sum().backward()
    assert x.grad is not None
    return {t for t in range(frames) if x.grad[:, :, t].abs().sum() > 0}


@pytest.mark.parametrize(("kernels", "dilations"), [((3, 5, 7), (1, 1, 1)), ((3, 3, 3), (1, 2, 3))])
def test_multi_scale_temporal_reach(kernels: tuple[int, ...], dilations: tuple[int, ...]) -> None:
    """Without the final pool, frame t sees t-3 ... t+3: the widest scale (kernel 7, or kernel 3
    at dilation 3)."""
    torch.manual_seed(0)
    layer = Timeception(64, kernel_sizes=kernels, dilations=dilations, temporal_pool=False)
    assert temporal_reach(layer) == set(range(4, 11))
    one = Timeception(64, kernel_sizes=(3,), dilations=(1,), temporal_pool=False)
    assert temporal_reach(one) == {6, 7, 8}


def test_groups_are_shuffled() -> None:
    """Each reduction sees only its group's input channels; after the shuffle, consecutive
    output channels come from different groups."""
    torch.manual_seed(0)
    layer = Timeception(64, groups=8).eval()  # 8 input channels per group, 2 per branch
    assert layer.out_channels == 80
    x = torch.zeros(1, 64, 4, 1, 1)
    x[:, :8] = torch.randn(1, 8, 4, 1, 1)  # only group 0 is non-zero
    with torch.no_grad():
        torch.nn.init.normal_(layer.bn.bias)  # zero input -> bias; make it visible per channel
        base = layer(torch.zeros_like(x))
        out = layer(x)
    changed = (out - base).abs().sum(dim=(0, 2, 3, 4)) > 0
    assert changed.view(10, 8)[:, 0].any() and not changed.view(10, 8)[:, 1:].any()


def test_i3d_tc_frozen_head_trains() -> None:
    torch.manual_seed(0)
    model = i3d_tc().train()
    assert isinstance(model, I3DTimeception) and not model.backbone.training
    x = torch.randn(2, 3, 16, 64, 64)
    assert model.features(x).shape == (2, 1280)
    model(x).sum().backward()
    assert all(p.grad is None for p in model.backbone.parameters())
    assert all(p.grad is not None for p in model.tc.parameters())
    model.replace_logits(4)
    assert model.eval()(x[:1]).shape == (1, 4)


def test_rejects_bad_configuration() -> None:
    with pytest.raises(ValueError, match="divisible"):
        Timeception(100, groups=8)
    with pytest.raises(ValueError, match="odd"):
        Timeception(64, kernel_sizes=(2, 4, 6))
    with pytest.raises(ValueError, match="same length"):
        Timeception(64, kernel_sizes=(3, 5), dilations=(1,))
