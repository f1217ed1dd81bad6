"""I3D + LSTM: an LSTM over the time axis of I3D's Mixed_5c features (the paper's I3D-LSTM).

The Mixed_5c map ``(batch, 1024, T', H', W')`` is averaged over space, giving one 1024-d vector
per time step (``T' = ceil(T / 8)``: 5 for RISE's 36 frames); a one-layer LSTM with 128 hidden
units reads them in order, and a linear layer maps its hidden state to the logits -- the mean of
the hidden states over time (``readout="mean"``, the same as RISE's per-step logits averaged over
time) or the last one (``readout="last"``). The backbone is frozen by default.

RISE's version fed the LSTM the whole flattened map (1024 x 7 x 7 per step, 25.7 M LSTM
weights); pooling space first keeps the head at 0.59 M parameters and makes it size-agnostic
(224x224 and 180x180 alike).
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import nn

from smokewatch.models._backbone import FEATURES, I3DWithTemporalHead, i3d_backbone
from smokewatch.models.i3d import I3D, I3DWeights
from smokewatch.models.registry import register_model

__all__ = ["I3DLSTM", "i3d_lstm"]

Readout = Literal["mean", "last"]


class I3DLSTM(I3DWithTemporalHead):
    """I3D backbone -> spatial mean of Mixed_5c -> LSTM (``hidden_size``) -> dropout -> linear.

    ``forward`` returns ``(batch, num_classes)`` logits.
    """

    def __init__(
        self,
        backbone: I3D,
        *,
        num_classes: int = 1,
        hidden_size: int = 128,
        readout: Readout = "mean",
        dropout: float = 0.5,
        freeze_backbone: bool = True,
    ) -> None:
        super().__init__(backbone, freeze_backbone=freeze_backbone)
        if readout not in ("mean", "last"):
            raise ValueError(f"readout must be 'mean' or 'last', got {readout!r}")
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.readout = readout
        self.num_classes = num_classes
        self.lstm = nn.LSTM(FEATURES, hidden_size, num_layers=1, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden_size, num_classes)

    def replace_logits(self, num_classes: int) -> None:
        """A new, randomly initialized final layer with ``num_classes`` outputs."""
        self.num_classes = num_classes
        self.fc = nn.Linear(self.lstm.hidden_size, num_classes)

    def sequence(self, x: torch.Tensor) -> torch.Tensor:
        """The LSTM's hidden states ``(batch, T', hidden_size)``."""
        steps = self.backbone_features(x).mean(dim=(3, 4)).transpose(1, 2)  # (batch, T', 1024)
        hidden: torch.Tensor = self.lstm(steps)[0]
        return hidden

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.sequence(x)
        state = hidden.mean(dim=1) if self.readout == "mean" else hidden[:, -1]
        logits: torch.Tensor = self.fc(self.dropout(state))
        return logits


@register_model("i3d-lstm")
def i3d_lstm(
    *,
    weights: I3DWeights | str | None = None,
    num_classes: int = 1,
    hidden_size: int = 128,
    readout: Readout = "mean",
    dropout: float = 0.5,
    freeze_backbone: bool = True,
    **kwargs: Any,
) -> I3DLSTM:
    """I3D + LSTM (128 hidden) over time on spatially pooled Mixed_5c; backbone frozen by default.

    ``weights``: I3D backbone weights (e.g. ``"kinetics400"``); a fine-tuned RGB-I3D's state
    dict can be loaded into ``model.backbone`` afterwards. Other keyword arguments go to the
    ``i3d`` builder.
    """
    return I3DLSTM(
        i3d_backbone(weights=weights, **kwargs),
        num_classes=num_classes,
        hidden_size=hidden_size,
        readout=readout,
        dropout=dropout,
        freeze_backbone=freeze_backbone,
    )
