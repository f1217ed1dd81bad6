"""I3D for optical-flow frames: a 2-channel stem (the paper's Flow-I3D).

Input: ``(batch, 2, frames, height, width)``, the horizontal and vertical flow of each frame
(``dataset/flow.py``: clipped to +-20 px and scaled to [-1, 1] like RISE). Everything but the
stem's convolution (``Conv3d_1a_7x7.conv3d``: 2 -> 64 channels, 7x7x7) is RGB I3D's.

With ``weights`` (RGB weights such as ``"kinetics400"``: DeepMind's Kinetics-400 *flow* I3D is
not among the released weights here) the RGB model loads and its stem kernel is averaged over
the three colour channels and that average copied to both flow channels (the cross-modality
initialisation of TSN, Wang et al. 2016); the rest of the network keeps the RGB weights.
Without ``weights`` the network is randomly initialised.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from smokewatch.models.i3d import I3D, I3DWeights
from smokewatch.models.registry import get_model, register_model

__all__ = ["FLOW_CHANNELS", "i3d_flow", "rgb_stem_to_flow"]

FLOW_CHANNELS = 2  #: x and y displacement


def rgb_stem_to_flow(model: I3D, in_channels: int = FLOW_CHANNELS) -> I3D:
    """Give ``model`` an ``in_channels`` stem whose kernel is the RGB kernel's channel mean.

    In place: ``Conv3d_1a_7x7.conv3d`` is replaced and ``model.in_channels`` updated.
    """
    old = model.Conv3d_1a_7x7.conv3d
    new = nn.Conv3d(
        in_channels,
        old.out_channels,
        old.kernel_size,  # type: ignore[arg-type]  # a 3-tuple of ints on a Conv3d
        stride=old.stride,  # type: ignore[arg-type]
        padding=old.padding,  # type: ignore[arg-type]
        bias=old.bias is not None,
    )
    with torch.no_grad():
        mean = old.weight.mean(dim=1, keepdim=True)
        new.weight.copy_(mean.expand(-1, in_channels, -1, -1, -1))
        if old.bias is not None and new.bias is not None:
            new.bias.copy_(old.bias)
    model.Conv3d_1a_7x7.conv3d = new
    model.in_channels = in_channels
    return model


@register_model("i3d-flow")
def i3d_flow(
    *,
    weights: I3DWeights | str | None = None,
    num_classes: int = 1,
    **kwargs: Any,
) -> I3D:
    """I3D with a 2-channel stem for optical-flow frames (x, y); random init by default.

    ``weights``: RGB I3D weights (e.g. ``"kinetics400"``); the stem then starts as the RGB
    stem's kernel averaged over colour channels. Other keyword arguments go to ``i3d``.
    """
    if "in_channels" in kwargs:
        raise TypeError("i3d-flow has a 2-channel stem; in_channels cannot be set")
    if weights is None:
        model: I3D = get_model(
            "i3d", weights=None, num_classes=num_classes, in_channels=FLOW_CHANNELS, **kwargs
        )
        return model
    model = get_model("i3d", weights=weights, num_classes=num_classes, **kwargs)
    return rgb_stem_to_flow(model)
