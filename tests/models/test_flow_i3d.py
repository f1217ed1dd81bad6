"""models.flow_i3d: I3D with a 2-channel stem for optical-flow frames."""

from __future__ import annotations

import copy

import pytest
import torch

from smokewatch.models.flow_i3d import i3d_flow, rgb_stem_to_flow
from smokewatch.models.i3d import I3D

torch.set_num_threads(1)


def test_two_channel_stem() -> None:
    torch.manual_seed(0)
    model = i3d_flow().eval()
    assert model.in_channels == 2
    assert model.Conv3d_1a_7x7.conv3d.weight.shape == (64, 2, 7, 7, 7)
    with torch.no_grad():
        assert model(torch.randn(2, 2, 8, 64, 64)).shape == (2, 1)
    with pytest.raises(ValueError, match="expected input"):
        model(torch.randn(1, 3, 8, 64, 64))
    with pytest.raises(TypeError, match="in_channels"):
        i3d_flow(in_channels=3)


def test_rgb_stem_averaged_over_colour_channels() -> None:
    torch.manual_seed(0)
    rgb = I3D(num_classes=1)
    flow = rgb_stem_to_flow(copy.deepcopy(rgb))
    old, new = rgb.Conv3d_1a_7x7.conv3d, flow.Conv3d_1a_7x7.conv3d
    assert (new.stride, new.padding, new.kernel_size) == (old.stride, old.padding, old.kernel_size)
    mean = old.weight.mean(dim=1)
    assert torch.allclose(new.weight[:, 0], mean) and torch.allclose(new.weight[:, 1], mean)
    a, b = rgb.state_dict(), flow.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a if k != "Conv3d_1a_7x7.conv3d.weight")
    # A flow clip with both channels equal to one grey level acts like that grey RGB clip x 2/3.
    grey = torch.randn(1, 1, 8, 64, 64)
    with torch.no_grad():
        stem_rgb = rgb.Conv3d_1a_7x7.conv3d(grey.expand(-1, 3, -1, -1, -1))
        stem_flow = flow.Conv3d_1a_7x7.conv3d(grey.expand(-1, 2, -1, -1, -1))
    assert torch.allclose(stem_flow, stem_rgb * 2 / 3, atol=1e-5)
