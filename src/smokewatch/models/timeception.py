"""I3D + Timeception: one Timeception layer on I3D's Mixed_5c (Hussein et al., CVPR 2019).

A Timeception layer splits its ``C`` input channels into ``groups`` (8) groups; within each
group, five branches each reduce the group's channels with a 1x1x1 convolution to
``C_b = floor(C * expansion / (5 * groups))`` channels and then: (1) nothing more; (2-4) a
depthwise temporal convolution, one per kernel size ``(3, 5, 7)`` (or one size at several
``dilations``: ``kernel_sizes=(3, 3, 3), dilations=(1, 2, 3)``); (5) a temporal max pool over
two frames (stride 1, the first frame repeated in front). The branches are batch-normalised and
concatenated (``groups * 5 * C_b`` channels: 1280 for Mixed_5c's 1024 at expansion 1.25), then a
ReLU, a channel shuffle across groups, and a temporal max pool (2, stride 2, ceil mode).

``i3d-tc`` is I3D up to Mixed_5c, one such layer, then global average pooling, dropout and a
linear head. The backbone is frozen by default (the paper's fine-tuning from RGB-I3D).
Written from the paper; the 1x1x1 reductions of all groups and branches are one grouped
convolution, and the depthwise convolutions one per scale across all groups.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from smokewatch.models._backbone import FEATURES, I3DWithTemporalHead, i3d_backbone
from smokewatch.models.i3d import I3D, I3DWeights
from smokewatch.models.registry import register_model

__all__ = ["I3DTimeception", "Timeception", "i3d_tc"]


class Timeception(nn.Module):
    """One Timeception layer: ``(batch, C, T, H, W)`` -> ``(batch, out_channels, ceil(T/2), H, W)``.

    ``kernel_sizes`` and ``dilations`` (same length) give the temporal branches; with the
    1x1x1-only branch and the max-pool branch there are ``len(kernel_sizes) + 2`` per group.
    """

    def __init__(
        self,
        in_channels: int,
        *,
        groups: int = 8,
        expansion: float = 1.25,
        kernel_sizes: Sequence[int] = (3, 5, 7),
        dilations: Sequence[int] = (1, 1, 1),
        temporal_pool: bool = True,
    ) -> None:
        super().__init__()
        if in_channels % groups:
            raise ValueError(f"in_channels {in_channels} is not divisible by groups {groups}")
        if len(kernel_sizes) != len(dilations):
            raise ValueError("kernel_sizes and dilations must have the same length")
        if any(k % 2 == 0 for k in kernel_sizes):
            raise ValueError(f"temporal kernel sizes must be odd, got {tuple(kernel_sizes)}")
        self.groups = groups
        self.branches = len(kernel_sizes) + 2
        self.branch_channels = int(in_channels * expansion / (self.branches * groups))
        if self.branch_channels < 1:
            raise ValueError(f"{in_channels} channels are too few for {groups} groups")
        self.out_channels = groups * self.branches * self.branch_channels
        per_scale = groups * self.branch_channels
        # The 1x1x1 reductions of every (group, branch): output channel g*B*Cb + b*Cb + c.
        self.reduce = nn.Conv3d(in_channels, self.out_channels, 1, groups=groups, bias=False)
        self.temporal = nn.ModuleList(
            nn.Conv3d(
                per_scale,
                per_scale,
                (k, 1, 1),
                padding=(d * (k - 1) // 2, 0, 0),
                dilation=(d, 1, 1),
                groups=per_scale,
                bias=False,
            )
            for k, d in zip(kernel_sizes, dilations, strict=True)
        )
        # Batch norm is per channel, so one over the concatenation equals one per branch.
        self.bn = nn.BatchNorm3d(self.out_channels)
        self.pool: nn.Module = (
            nn.MaxPool3d((2, 1, 1), (2, 1, 1), ceil_mode=True) if temporal_pool else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, t, h, w = x.shape
        g, b, cb = self.groups, self.branches, self.branch_channels
        y = self.reduce(x).view(n, g, b, cb, t, h, w)
        outs = [y[:, :, 0]]  # branch 1: the reduction only
        for i, conv in enumerate(self.temporal, start=1):
            outs.append(conv(y[:, :, i].reshape(n, g * cb, t, h, w)).view(n, g, cb, t, h, w))
        last = y[:, :, b - 1]  # branch 5: max over frames t-1 and t (frame 0 repeated)
        outs.append(torch.maximum(last, torch.cat([last[:, :, :, :1], last[:, :, :, :-1]], 3)))
        z = torch.stack(outs, dim=2).reshape(n, self.out_channels, t, h, w)  # group-major
        z = torch.relu(self.bn(z))
        # Channel shuffle: (group, branch, c) -> (branch, c, group), mixing groups.
        z = z.view(n, g, b * cb, t, h, w).transpose(1, 2).reshape(n, self.out_channels, t, h, w)
        out: torch.Tensor = self.pool(z)
        return out


class I3DTimeception(I3DWithTemporalHead):
    """I3D backbone -> Timeception on Mixed_5c -> global average pool -> dropout -> linear."""

    def __init__(
        self,
        backbone: I3D,
        *,
        num_classes: int = 1,
        dropout: float = 0.5,
        freeze_backbone: bool = True,
        **timeception: Any,
    ) -> None:
        super().__init__(backbone, freeze_backbone=freeze_backbone)
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes = num_classes
        self.tc = Timeception(FEATURES, **timeception)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(self.tc.out_channels, num_classes)

    def replace_logits(self, num_classes: int) -> None:
        """A new, randomly initialized final layer with ``num_classes`` outputs."""
        self.num_classes = num_classes
        self.fc = nn.Linear(self.tc.out_channels, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The Timeception output averaged over time and space: ``(batch, 1280)``."""
        pooled: torch.Tensor = self.tc(self.backbone_features(x)).mean(dim=(2, 3, 4))
        return pooled

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.fc(self.dropout(self.features(x)))
        return logits


@register_model("i3d-tc")
def i3d_tc(
    *,
    weights: I3DWeights | str | None = None,
    num_classes: int = 1,
    groups: int = 8,
    expansion: float = 1.25,
    kernel_sizes: Sequence[int] = (3, 5, 7),
    dilations: Sequence[int] = (1, 1, 1),
    dropout: float = 0.5,
    freeze_backbone: bool = True,
    **kwargs: Any,
) -> I3DTimeception:
    """I3D + one Timeception layer (8 groups, expansion 1.25, temporal kernels 3/5/7) on Mixed_5c.

    ``weights``: I3D backbone weights (e.g. ``"kinetics400"``); backbone frozen by default.
    Other keyword arguments go to the ``i3d`` builder.
    """
    return I3DTimeception(
        i3d_backbone(weights=weights, **kwargs),
        num_classes=num_classes,
        dropout=dropout,
        freeze_backbone=freeze_backbone,
        groups=groups,
        expansion=expansion,
        kernel_sizes=kernel_sizes,
        dilations=dilations,
    )
