"""Shared by the I3D variants that put a temporal head on Mixed_5c (``i3d-lstm``, ``i3d-tc``).

The backbone is a plain :class:`~smokewatch.models.i3d.I3D` built through the registry (so
``weights="kinetics400"`` loads the Kinetics backbone) with its own logits layer removed: its
state-dict keys are I3D's (``backbone.Mixed_5c.b0.conv3d.weight``) minus ``logits``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from smokewatch.models.i3d import FEATURES, I3D, I3DWeights
from smokewatch.models.registry import get_model

__all__ = ["FEATURES", "I3DWithTemporalHead", "i3d_backbone"]


def i3d_backbone(*, weights: I3DWeights | str | None = None, **kwargs: Any) -> I3D:
    """An I3D (``get_model("i3d", ...)``) without its logits layer: use ``extract_endpoint``."""
    model: I3D = get_model("i3d", weights=weights, num_classes=1, **kwargs)
    del model.logits  # unused: no dead parameters (DDP) and no 400-way head in the count
    return model


class I3DWithTemporalHead(nn.Module):
    """An I3D backbone up to Mixed_5c and a head of the subclass's own (``forward`` there).

    ``freeze_backbone``: the backbone's parameters get ``requires_grad=False`` and it stays in
    eval mode (batch-norm statistics fixed) whatever ``train()`` says; only the head trains --
    the paper's fine-tuning of a temporal head on an RGB-I3D already trained on RISE.
    """

    def __init__(self, backbone: I3D, *, freeze_backbone: bool = True) -> None:
        super().__init__()
        self.backbone = backbone
        self.freeze_backbone = freeze_backbone
        if freeze_backbone:
            backbone.requires_grad_(False)
            backbone.eval()

    def train(self, mode: bool = True) -> I3DWithTemporalHead:
        super().train(mode)
        if self.freeze_backbone:
            self.backbone.eval()
        return self

    def backbone_features(self, x: torch.Tensor) -> torch.Tensor:
        """Mixed_5c map ``(batch, 1024, T', H', W')`` of input ``(batch, C, T, H, W)``."""
        if x.dim() != 5 or x.shape[1] != self.backbone.in_channels:
            raise ValueError(
                f"expected input (batch, {self.backbone.in_channels}, frames, height, width), "
                f"got {tuple(x.shape)}"
            )
        return self.backbone.extract_endpoint(x, "Mixed_5c")
