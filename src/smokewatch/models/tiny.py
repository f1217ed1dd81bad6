"""``tiny3d``: a few-thousand-parameter 3D CNN for tests and pipeline checks, not for accuracy.

It has what the training loop uses of the I3D family -- a clip head and ``frame_logits`` (the
RISE loss) -- with no batch norm, so a run split over several processes computes exactly what
one process computes with the same global batch (the DDP equivalence test relies on that).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from smokewatch.models.registry import register_model

__all__ = ["Tiny3D", "tiny3d"]


class Tiny3D(nn.Module):
    def __init__(self, *, num_classes: int = 1, in_channels: int = 3, width: int = 8) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.body = nn.Sequential(
            nn.Conv3d(in_channels, width, 3, stride=(1, 2, 2), padding=1),
            nn.ReLU(inplace=True),
            nn.Conv3d(width, 2 * width, 3, stride=(1, 2, 2), padding=1),
            nn.ReLU(inplace=True),
        )
        self.logits = nn.Conv3d(2 * width, num_classes, 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, 2 * width)``: the last feature map averaged over time and space (SVM input)."""
        h: torch.Tensor = self.body(x)
        return h.mean(dim=(2, 3, 4))

    def frame_logits(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, num_classes, T)``: the head applied to each time step's spatial mean."""
        h: torch.Tensor = self.body(x)
        out: torch.Tensor = self.logits(h.mean(dim=(3, 4), keepdim=True))
        return out.flatten(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 5 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"expected input (batch, {self.in_channels}, frames, height, width), "
                f"got {tuple(x.shape)}"
            )
        return self.frame_logits(x).mean(dim=2)


@register_model("tiny3d")
def tiny3d(*, weights: Any = None, num_classes: int = 1, **kwargs: Any) -> Tiny3D:
    """A tiny 3D CNN (no batch norm) for tests and quick pipeline checks; no released weights."""
    if weights is not None:
        from smokewatch.models.registry import ModelError

        raise ModelError("tiny3d has no released weights")
    return Tiny3D(num_classes=num_classes, **kwargs)
