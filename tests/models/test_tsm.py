"""models.tsm: the temporal shift (exact values) and I3D with a shift before every block."""

from __future__ import annotations

import copy

import pytest
import torch

from smokewatch.models.i3d import I3D
from smokewatch.models.tsm import MIXED, TemporalShift, add_temporal_shift, temporal_shift

torch.set_num_threads(1)


def ramp(channels: int, frames: int) -> torch.Tensor:
    """x[0, c, t, 0, 0] = 10 c + t + 1 (never zero, so zero padding shows)."""
    c = torch.arange(channels, dtype=torch.float32).view(1, channels, 1, 1, 1)
    t = torch.arange(frames, dtype=torch.float32).view(1, 1, frames, 1, 1)
    return 10 * c + t + 1


def test_shift_exact_values() -> None:
    out = temporal_shift(ramp(8, 3), shift_fraction=0.25)  # 1/4 of 8: one channel each way
    expected = ramp(8, 3)[0, :, :, 0, 0].clone()
    expected[0] = torch.tensor([2.0, 3.0, 0.0])  # backward: frame t holds t + 1
    expected[1] = torch.tensor([0.0, 11.0, 12.0])  # forward: frame t holds t - 1
    assert torch.equal(out[0, :, :, 0, 0], expected)


def test_shift_fold_and_spatial_values() -> None:
    x = torch.randn(2, 16, 4, 3, 5)
    out = temporal_shift(x, shift_fraction=0.5)  # 4 channels each way
    assert torch.equal(out[:, :4, :-1], x[:, :4, 1:])
    assert torch.equal(out[:, :4, -1], torch.zeros_like(out[:, :4, -1]))
    assert torch.equal(out[:, 4:8, 1:], x[:, 4:8, :-1])
    assert torch.equal(out[:, 4:8, 0], torch.zeros_like(out[:, 4:8, 0]))
    assert torch.equal(out[:, 8:], x[:, 8:])


def test_shift_zero_fraction_and_errors() -> None:
    x = torch.randn(1, 8, 3, 2, 2)
    assert torch.equal(temporal_shift(x, 0.0), x)
    with pytest.raises(ValueError, match="shift_fraction"):
        temporal_shift(x, 1.5)
    with pytest.raises(ValueError, match="batch, C, T, H, W"):
        temporal_shift(x[0])


def test_shift_gradient_is_the_reverse_shift() -> None:
    x = torch.randn(1, 8, 4, 2, 2, requires_grad=True)
    g = torch.randn(1, 8, 4, 2, 2)
    loss = torch.sum(temporal_shift(x) * g)
    torch.autograd.backward(loss)
    assert x.grad is not None
    expected = g.clone()
    expected[:, 0] = torch.cat([torch.zeros_like(g[:, 0, :1]), g[:, 0, :-1]], dim=1)
    expected[:, 1] = torch.cat([g[:, 1, 1:], torch.zeros_like(g[:, 1, :1])], dim=1)
    assert torch.equal(x.grad, expected)


@pytest.fixture(scope="module")
def models() -> tuple[I3D, I3D]:
    """Plain I3D and the same weights with shifts. Train mode without dropout: batch statistics
    keep random-weight activations O(1) (fresh running statistics shrink them to ~1e-5)."""
    torch.manual_seed(0)
    plain = I3D(num_classes=1, dropout=0.0).train()
    return plain, add_temporal_shift(copy.deepcopy(plain)).train()


def test_every_inception_block_sees_shifted_input(models: tuple[I3D, I3D]) -> None:
    _, tsm = models
    seen: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    handles = []
    for name in MIXED:
        wrapper = getattr(tsm, name)
        assert isinstance(wrapper, TemporalShift)

        def record(_m: object, args: tuple[torch.Tensor], out: torch.Tensor, n: str = name) -> None:
            seen[n] = (args[0], seen[n][1])

        def inner(_m: object, args: tuple[torch.Tensor], n: str = name) -> None:
            seen[n] = (torch.empty(0), args[0])

        handles.append(wrapper.net.register_forward_pre_hook(inner))
        handles.append(wrapper.register_forward_hook(record))
    with torch.no_grad():
        tsm(torch.randn(2, 3, 16, 64, 64))
    for h in handles:
        h.remove()
    assert set(seen) == set(MIXED) and len(MIXED) == 9
    for name, (block_in, net_in) in seen.items():
        assert torch.equal(net_in, temporal_shift(block_in, 0.25)), name


def test_frame_order_matters_differently_from_plain_i3d(models: tuple[I3D, I3D]) -> None:
    """Same weights; the shift changes the output and how it changes when frames are reversed."""
    plain, tsm = models
    x = torch.randn(2, 3, 16, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        p, p_rev = plain(x), plain(x.flip(2))
        s, s_rev = tsm(x), tsm(x.flip(2))
    assert (p - s).abs().max() > 0.01
    assert ((p - p_rev) - (s - s_rev)).abs().max() > 0.01


def test_no_double_shift(models: tuple[I3D, I3D]) -> None:
    with pytest.raises(ValueError, match="already"):
        add_temporal_shift(copy.deepcopy(models[1]))


def test_shift_fraction_configurable() -> None:
    from smokewatch.models.registry import get_model

    model = get_model("i3d-tsm", shift_fraction=0.125)
    assert all(getattr(model, n).shift_fraction == 0.125 for n in MIXED)
