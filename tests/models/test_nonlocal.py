"""models.nonlocal_: the embedded-Gaussian block, and two of them really in I3D's path."""

from __future__ import annotations

import copy

import pytest
import torch

from smokewatch.models.i3d import I3D
from smokewatch.models.nonlocal_ import NonLocalBlock3d, WithNonLocal, add_non_local
from smokewatch.models.registry import get_model

torch.set_num_threads(1)


def test_block_starts_as_identity_and_learns() -> None:
    torch.manual_seed(0)
    block = NonLocalBlock3d(16).train()
    x = torch.randn(2, 16, 3, 5, 5)
    assert torch.equal(block(x), x)  # BN after W starts with scale and shift zero
    torch.nn.init.ones_(block.bn.weight)
    y = block(x)
    assert y.shape == x.shape and not torch.allclose(y, x)
    y.square().sum().backward()
    for name in ("theta", "phi", "g", "W"):
        grad = getattr(block, name).weight.grad
        assert grad is not None and grad.abs().sum() > 0, name


def test_block_matches_the_formula() -> None:
    """z = x + BN(W(softmax(theta^T phi) g)) with no sub-sampling, computed by hand."""
    torch.manual_seed(0)
    block = NonLocalBlock3d(6, inter_channels=3, sub_sample=False).eval()
    torch.nn.init.normal_(block.bn.weight)
    x = torch.randn(1, 6, 2, 3, 3)
    flat = x.flatten(2)[0]  # (6, 18)

    def conv(m: torch.nn.Conv3d, v: torch.Tensor) -> torch.Tensor:
        assert m.bias is not None
        return m.weight.flatten(1) @ v + m.bias[:, None]

    theta, phi, g = conv(block.theta, flat), conv(block.phi, flat), conv(block.g, flat)
    y = g @ torch.softmax(theta.T @ phi, dim=-1).T  # (3, 18)
    w = conv(block.W, y)
    bn = block.bn
    assert bn.running_var is not None and bn.running_mean is not None
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    z = flat + scale[:, None] * (w - bn.running_mean[:, None]) + bn.bias[:, None]
    assert torch.allclose(block(x).flatten(2)[0], z, atol=1e-5)


def test_sub_sampling_works_on_tiny_maps() -> None:
    block = NonLocalBlock3d(8)
    for size in (1, 2, 3, 7):
        x = torch.randn(2, 8, 2, size, size)
        assert block(x).shape == x.shape


@pytest.fixture(scope="module")
def models() -> tuple[I3D, I3D]:
    """Plain I3D and the same weights with non-local blocks (train mode, no dropout: batch
    statistics keep random-weight activations O(1))."""
    torch.manual_seed(0)
    plain = I3D(num_classes=1, dropout=0.0).train()
    return plain, add_non_local(copy.deepcopy(plain)).train()


def test_blocks_are_in_the_last_stage(models: tuple[I3D, I3D]) -> None:
    _, nl = models
    wrapped = [n for n, m in nl.named_children() if isinstance(m, WithNonLocal)]
    assert wrapped == ["Mixed_5b", "Mixed_5c"]
    assert isinstance(nl.Mixed_5b, WithNonLocal) and isinstance(nl.Mixed_5c, WithNonLocal)
    assert nl.Mixed_5b.nonlocal_.channels == 832 and nl.Mixed_5c.nonlocal_.channels == 1024


def test_parameter_count_grows(models: tuple[I3D, I3D]) -> None:
    plain, nl = models
    extra = sum(p.numel() for p in nl.parameters()) - sum(p.numel() for p in plain.parameters())
    assert extra == 3_489_952


def test_output_changes_once_the_blocks_move(models: tuple[I3D, I3D]) -> None:
    """Identity at init (same output as plain I3D); a non-zero W-BN scale in either block
    changes the output, so both blocks are in the forward path (unlike RISE issue #13)."""
    plain, nl = models
    x = torch.randn(2, 3, 8, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        reference = plain(x)
        assert torch.allclose(nl(x), reference, atol=1e-6)
        for name in ("Mixed_5b", "Mixed_5c"):
            moved = copy.deepcopy(nl)
            torch.nn.init.ones_(getattr(moved, name).nonlocal_.bn.weight)
            assert (moved(x) - reference).abs().max() > 1e-3, name


def test_positions_configurable_and_checked() -> None:
    model = get_model("i3d-nl", positions=("Mixed_4f",))
    assert isinstance(model.Mixed_4f, WithNonLocal)
    assert not isinstance(model.Mixed_5b, WithNonLocal)
    with pytest.raises(ValueError, match="Inception block"):
        add_non_local(I3D(num_classes=1), positions=("Conv3d_2c_3x3",))
    with pytest.raises(ValueError, match="not a plain"):
        add_non_local(model, positions=("Mixed_4f",))
