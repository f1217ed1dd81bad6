"""I3D with non-local blocks in its last Inception stage (Wang et al., CVPR 2018).

A non-local block (embedded Gaussian) follows each of ``Mixed_5b`` and ``Mixed_5c`` by default
(832 and 1024 channels; ``positions`` picks other Inception blocks). Each block computes
``z = x + BN(W(softmax(theta(x)^T phi(x)) g(x)))`` over all time-space positions, with
``theta``, ``phi``, ``g`` 1x1x1 convolutions to half the channels, ``phi`` and ``g`` max-pooled
(1, 2, 2) in space as in the paper, and ``W`` a 1x1x1 convolution back to the full channels. The
batch norm after ``W`` starts with scale and shift zero, so each block starts as the identity
(a pretrained I3D's outputs are unchanged until training moves it) -- but the blocks are in the
path: RISE's ``i3d-nl`` wrapped modules it then never called (RISE issue #13); here a test
changes the norm's scale and sees the output change.

State-dict keys: the I3D block moves under ``net`` and the non-local block is ``nonlocal_``
(``Mixed_5b.net.b0.conv3d.weight``, ``Mixed_5b.nonlocal_.theta.weight``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from smokewatch.models.i3d import ENDPOINTS, I3D, I3DWeights, InceptionModule
from smokewatch.models.registry import get_model, register_model

__all__ = ["NonLocalBlock3d", "WithNonLocal", "add_non_local", "i3d_nl"]

#: Where ``i3d-nl`` puts its two blocks: after each Inception block of the last stage.
DEFAULT_POSITIONS: tuple[str, ...] = ("Mixed_5b", "Mixed_5c")


class NonLocalBlock3d(nn.Module):
    """Embedded-Gaussian non-local block with a residual connection; starts as the identity.

    ``inter_channels`` defaults to half of ``channels``; ``sub_sample`` max-pools the keys and
    values (``phi``, ``g``) by 2 in height and width (ceil mode, so 1x1 maps work too).
    """

    def __init__(
        self,
        channels: int,
        *,
        inter_channels: int | None = None,
        sub_sample: bool = True,
        bn_eps: float = 1e-5,
    ) -> None:
        super().__init__()
        inter = inter_channels if inter_channels is not None else max(channels // 2, 1)
        self.channels = channels
        self.inter_channels = inter
        self.theta = nn.Conv3d(channels, inter, 1)
        self.phi = nn.Conv3d(channels, inter, 1)
        self.g = nn.Conv3d(channels, inter, 1)
        self.pool: nn.Module = (
            nn.MaxPool3d((1, 2, 2), (1, 2, 2), ceil_mode=True) if sub_sample else nn.Identity()
        )
        self.W = nn.Conv3d(inter, channels, 1)
        self.bn = nn.BatchNorm3d(channels, eps=bn_eps)
        nn.init.zeros_(self.bn.weight)
        nn.init.zeros_(self.bn.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, t, h, w = x.shape
        query = self.theta(x).flatten(2).transpose(1, 2)  # (n, THW, inter)
        key = self.pool(self.phi(x)).flatten(2)  # (n, inter, T h' w')
        value = self.pool(self.g(x)).flatten(2).transpose(1, 2)  # (n, T h' w', inter)
        attention = F.softmax(torch.bmm(query, key), dim=-1)  # (n, THW, T h' w')
        y = torch.bmm(attention, value).transpose(1, 2).reshape(n, self.inter_channels, t, h, w)
        out: torch.Tensor = x + self.bn(self.W(y))
        return out

    def extra_repr(self) -> str:
        return f"channels={self.channels}, inter_channels={self.inter_channels}"


class WithNonLocal(nn.Module):
    """``nonlocal_(net(x))``: an Inception block followed by a non-local block."""

    def __init__(self, net: InceptionModule, **kwargs: Any) -> None:
        super().__init__()
        self.net = net
        self.nonlocal_ = NonLocalBlock3d(net.out_channels, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.nonlocal_(self.net(x))
        return out


def add_non_local(
    model: I3D, *, positions: Sequence[str] = DEFAULT_POSITIONS, **kwargs: Any
) -> I3D:
    """Put a :class:`NonLocalBlock3d` after each Inception block named in ``positions``.

    In place; the I3D weights are kept. ``kwargs`` go to :class:`NonLocalBlock3d`.
    """
    mixed = [name for name in ENDPOINTS if name.startswith("Mixed_")]
    for name in positions:
        if name not in mixed:
            raise ValueError(
                f"non-local blocks go after an Inception block ({mixed}), not {name!r}"
            )
        block = getattr(model, name)
        if not isinstance(block, InceptionModule):
            raise ValueError(f"{name} is not a plain Inception block ({type(block).__name__})")
        setattr(model, name, WithNonLocal(block, **kwargs))
    return model


@register_model("i3d-nl")
def i3d_nl(
    *,
    weights: I3DWeights | str | None = None,
    num_classes: int = 1,
    positions: Sequence[str] = DEFAULT_POSITIONS,
    **kwargs: Any,
) -> I3D:
    """I3D with two non-local blocks (embedded Gaussian) after Mixed_5b and Mixed_5c.

    ``weights``: I3D backbone weights (e.g. ``"kinetics400"``), loaded before the blocks are
    inserted (they start as the identity); ``num_classes``: the head (1: binary smoke logit).
    Other keyword arguments go to the ``i3d`` builder.
    """
    model: I3D = get_model("i3d", weights=weights, num_classes=num_classes, **kwargs)
    return add_non_local(model, positions=positions)
