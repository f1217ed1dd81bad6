"""I3D with a temporal shift before every Inception block (Lin et al., ICCV 2019, *TSM*).

Before each of the nine Inception blocks (``Mixed_3b`` ... ``Mixed_5c``) a fraction of the
block's input channels is shifted one step in time: the first ``shift_fraction / 2`` of the
channels one step backward (frame ``t`` sees frame ``t + 1``), the next ``shift_fraction / 2``
one step forward (frame ``t`` sees ``t - 1``), zero-padded at the ends; the rest pass through.
The shift has no parameters, so ``i3d-tsm`` has exactly the parameters of ``i3d`` and any I3D
backbone weights load into it.

The paper shifts 1/4 of the channels in total (``shift_fraction=0.25``, TSM's ``fold_div=8``).
RISE's code (``pytorch_i3d_tsm.py``) used ``n_div=16``, i.e. 1/8 in total: pass
``shift_fraction=0.125`` to match it. Each block is wrapped as ``TemporalShift(net=block)``, so
state-dict keys read ``Mixed_3b.net.b0.conv3d.weight`` (the layout of RISE's and TSM's
``TemporalShift``, whose wrapped module is also ``net``).

>>> from smokewatch.models import get_model
>>> model = get_model("i3d-tsm")                                   # random weights, binary head
>>> model = get_model("i3d-tsm", weights="kinetics400", cache_dir=cache)  # Kinetics backbone
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from smokewatch.models.i3d import ENDPOINTS, I3D, I3DWeights
from smokewatch.models.registry import get_model, register_model

__all__ = ["TemporalShift", "add_temporal_shift", "i3d_tsm", "temporal_shift"]

#: The Inception blocks of I3D, each of which gets a shift before it.
MIXED: tuple[str, ...] = tuple(name for name in ENDPOINTS if name.startswith("Mixed_"))


def _fold(channels: int, shift_fraction: float) -> int:
    """Channels shifted each way: half of ``shift_fraction`` of ``channels``, rounded down."""
    return int(channels * shift_fraction / 2)


def temporal_shift(x: torch.Tensor, shift_fraction: float = 0.25) -> torch.Tensor:
    """Shift channels of ``x`` ``(batch, C, T, H, W)`` by one frame in time, zero-padded.

    With ``fold = int(C * shift_fraction / 2)``: channels ``[0, fold)`` move one step backward
    (output frame ``t`` holds input frame ``t + 1``; the last frame is zero), channels
    ``[fold, 2 * fold)`` one step forward (output ``t`` holds input ``t - 1``; the first frame
    is zero), the others are unchanged. Not in place; gradients flow through.
    """
    if x.dim() != 5:
        raise ValueError(f"expected (batch, C, T, H, W), got {tuple(x.shape)}")
    if not 0.0 <= shift_fraction <= 1.0:
        raise ValueError(f"shift_fraction must be in [0, 1], got {shift_fraction}")
    fold = _fold(x.shape[1], shift_fraction)
    if fold == 0:
        return x
    # F.pad's last pair is the time axis: (W before/after, H before/after, T before/after).
    backward = F.pad(x[:, :fold, 1:], (0, 0, 0, 0, 0, 1))
    forward = F.pad(x[:, fold : 2 * fold, :-1], (0, 0, 0, 0, 1, 0))
    return torch.cat([backward, forward, x[:, 2 * fold :]], dim=1)


class TemporalShift(nn.Module):
    """``net(temporal_shift(x, shift_fraction))``: a shift in front of any module."""

    def __init__(self, net: nn.Module, *, shift_fraction: float = 0.25) -> None:
        super().__init__()
        if not 0.0 <= shift_fraction <= 1.0:
            raise ValueError(f"shift_fraction must be in [0, 1], got {shift_fraction}")
        self.net = net
        self.shift_fraction = shift_fraction

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(temporal_shift(x, self.shift_fraction))
        return out

    def extra_repr(self) -> str:
        return f"shift_fraction={self.shift_fraction}"


def add_temporal_shift(model: I3D, *, shift_fraction: float = 0.25) -> I3D:
    """Put a :class:`TemporalShift` in front of every Inception block of ``model`` (in place).

    Weights are kept; state-dict keys of the blocks gain ``.net`` (``Mixed_3b.net.b0...``).
    """
    for name in MIXED:
        block = getattr(model, name)
        if isinstance(block, TemporalShift):
            raise ValueError(f"{name} already has a temporal shift")
        setattr(model, name, TemporalShift(block, shift_fraction=shift_fraction))
    return model


@register_model("i3d-tsm")
def i3d_tsm(
    *,
    weights: I3DWeights | str | None = None,
    num_classes: int = 1,
    shift_fraction: float = 0.25,
    **kwargs: Any,
) -> I3D:
    """I3D with a temporal shift (TSM, 1/4 of the channels) before every Inception block.

    ``weights``: I3D backbone weights (e.g. ``"kinetics400"``), loaded before the shifts are
    inserted (the shift has no parameters); ``num_classes``: the head (1: binary smoke logit).
    Other keyword arguments go to the ``i3d`` builder (``dropout``, ``cache_dir`` ...).
    """
    model: I3D = get_model("i3d", weights=weights, num_classes=num_classes, **kwargs)
    return add_temporal_shift(model, shift_fraction=shift_fraction)
