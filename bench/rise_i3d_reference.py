"""The plain eager I3D with the structure of RISE's ``model/pytorch_i3d.py`` (bench-only).

The speed baseline of ``bench/models.py``: the network as RISE's deep-smoke-machine runs it
(itself taken from piergiaj/pytorch-i3d), rewritten here, not copied, with the same structure
and the same module names, so RISE's checkpoints and our own ``I3D`` state dicts load into it:

* ``Unit3D``: an unpadded ``Conv3d`` (no bias), then ``BatchNorm3d(eps=1e-3, momentum=0.01)``
  and ReLU; TensorFlow "SAME" padding is computed from the input size and applied with
  ``F.pad`` on every forward, for every unit (a copy even where the padding is zero: 1x1x1).
* ``MaxPool3dSamePadding``: the same per-forward ``F.pad`` (with zeros, as the original: every
  pool follows a ReLU, so zeros never beat a real value), then ``nn.MaxPool3d``.
* ``InceptionModule``: four branches run one after the other, concatenated on channels.
* The head: ``AvgPool3d([2, 7, 7], stride 1)``, dropout, a 1x1x1 ``logits`` unit with bias;
  ``forward`` returns per-time logits ``(batch, classes, time')`` as the original does (RISE
  interpolates them to the frame count). The 7x7 window needs a 7x7 Mixed_5c map, i.e. 224^2
  input (RISE resizes its 180^2 clips to 224^2).

Where the head's window covers the whole Mixed_5c map (T'=2, e.g. 16 frames at 224^2), the
logits equal those of ``smokewatch.models.i3d.I3D`` (global average); the Mixed_5c map
(``extract_conv_output``) is equal at every input size. ``tests/models/test_rise_reference.py``
checks both to 1e-4.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["RiseI3D", "RiseInceptionModule", "RiseMaxPool3dSamePadding", "RiseUnit3D"]

Triple = tuple[int, int, int]


def _same_pad(size: int, kernel: int, stride: int) -> int:
    """Total TF "SAME" padding of one dimension (as the original's ``compute_pad``)."""
    remainder = size % stride
    return max(kernel - (stride if remainder == 0 else remainder), 0)


def _pad_arg(shape: Sequence[int], kernel: Triple, stride: Triple) -> tuple[int, ...]:
    """``F.pad``'s argument (w, h, t order): the smaller half before, the rest after."""
    pads: list[int] = []
    for size, k, s in reversed(list(zip(shape, kernel, stride, strict=True))):
        total = _same_pad(size, k, s)
        pads += [total // 2, total - total // 2]
    return tuple(pads)


class RiseMaxPool3dSamePadding(nn.MaxPool3d):
    """``nn.MaxPool3d`` after a per-forward ``F.pad`` to TF "SAME" (zeros, as the original)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kernel: Triple = tuple(self.kernel_size)  # type: ignore[assignment,arg-type]
        stride: Triple = tuple(self.stride)  # type: ignore[assignment,arg-type]
        x = F.pad(x, _pad_arg(x.shape[2:], kernel, stride))
        out: torch.Tensor = super().forward(x)
        return out


class RiseUnit3D(nn.Module):
    """Per-forward "SAME" ``F.pad``, unpadded ``Conv3d``, optional batch norm, optional ReLU."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: Triple = (1, 1, 1),
        stride: Triple = (1, 1, 1),
        *,
        relu: bool = True,
        batch_norm: bool = True,
        bias: bool = False,
    ) -> None:
        super().__init__()
        self.kernel = kernel
        self.stride = stride
        self.relu = relu
        self.conv3d = nn.Conv3d(in_channels, out_channels, kernel, stride=stride, padding=0,
                                bias=bias)  # fmt: skip
        self.bn = nn.BatchNorm3d(out_channels, eps=1e-3, momentum=0.01) if batch_norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, _pad_arg(x.shape[2:], self.kernel, self.stride))
        x = self.conv3d(x)
        if self.bn is not None:
            x = self.bn(x)
        if self.relu:
            x = F.relu(x)
        return x


class RiseInceptionModule(nn.Module):
    def __init__(self, in_channels: int, c: Sequence[int]) -> None:
        super().__init__()
        one, three = (1, 1, 1), (3, 3, 3)
        self.b0 = RiseUnit3D(in_channels, c[0], one)
        self.b1a = RiseUnit3D(in_channels, c[1], one)
        self.b1b = RiseUnit3D(c[1], c[2], three)
        self.b2a = RiseUnit3D(in_channels, c[3], one)
        self.b2b = RiseUnit3D(c[3], c[4], three)
        self.b3a = RiseMaxPool3dSamePadding(kernel_size=three, stride=one, padding=0)
        self.b3b = RiseUnit3D(in_channels, c[5], one)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b0 = self.b0(x)
        b1 = self.b1b(self.b1a(x))
        b2 = self.b2b(self.b2a(x))
        b3 = self.b3b(self.b3a(x))
        return torch.cat([b0, b1, b2, b3], dim=1)


#: (endpoint, in channels, branch channels) of the Inception blocks, as in the original.
_BLOCKS: tuple[tuple[str, int, tuple[int, ...]], ...] = (
    ("Mixed_3b", 192, (64, 96, 128, 16, 32, 32)),
    ("Mixed_3c", 256, (128, 128, 192, 32, 96, 64)),
    ("Mixed_4b", 480, (192, 96, 208, 16, 48, 64)),
    ("Mixed_4c", 512, (160, 112, 224, 24, 64, 64)),
    ("Mixed_4d", 512, (128, 128, 256, 24, 64, 64)),
    ("Mixed_4e", 512, (112, 144, 288, 32, 64, 64)),
    ("Mixed_4f", 528, (256, 160, 320, 32, 128, 128)),
    ("Mixed_5b", 832, (256, 160, 320, 32, 128, 128)),
    ("Mixed_5c", 832, (384, 192, 384, 48, 128, 128)),
)


class RiseI3D(nn.Module):
    """InceptionI3d as RISE runs it: endpoints in a fixed order, then the [2, 7, 7] head."""

    ENDPOINTS = (
        "Conv3d_1a_7x7", "MaxPool3d_2a_3x3", "Conv3d_2b_1x1", "Conv3d_2c_3x3", "MaxPool3d_3a_3x3",
        "Mixed_3b", "Mixed_3c", "MaxPool3d_4a_3x3", "Mixed_4b", "Mixed_4c", "Mixed_4d",
        "Mixed_4e", "Mixed_4f", "MaxPool3d_5a_2x2", "Mixed_5b", "Mixed_5c",
    )  # fmt: skip

    def __init__(self, num_classes: int = 400, in_channels: int = 3, dropout: float = 0.5) -> None:
        super().__init__()
        self.Conv3d_1a_7x7 = RiseUnit3D(in_channels, 64, (7, 7, 7), (2, 2, 2))
        self.MaxPool3d_2a_3x3 = RiseMaxPool3dSamePadding((1, 3, 3), (1, 2, 2), padding=0)
        self.Conv3d_2b_1x1 = RiseUnit3D(64, 64)
        self.Conv3d_2c_3x3 = RiseUnit3D(64, 192, (3, 3, 3))
        self.MaxPool3d_3a_3x3 = RiseMaxPool3dSamePadding((1, 3, 3), (1, 2, 2), padding=0)
        for name, in_ch, channels in _BLOCKS:
            if name == "Mixed_4b":
                self.MaxPool3d_4a_3x3 = RiseMaxPool3dSamePadding((3, 3, 3), (2, 2, 2), padding=0)
            if name == "Mixed_5b":
                self.MaxPool3d_5a_2x2 = RiseMaxPool3dSamePadding((2, 2, 2), (2, 2, 2), padding=0)
            self.add_module(name, RiseInceptionModule(in_ch, channels))
        self.avg_pool = nn.AvgPool3d(kernel_size=(2, 7, 7), stride=(1, 1, 1))
        self.dropout = nn.Dropout(dropout)
        self.logits = RiseUnit3D(1024, num_classes, relu=False, batch_norm=False, bias=True)

    def extract_conv_output(self, x: torch.Tensor) -> torch.Tensor:
        """The Mixed_5c map ``(batch, 1024, T', H', W')``."""
        for name in self.ENDPOINTS:
            x = self._modules[name](x)  # type: ignore[misc]
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Per-time logits ``(batch, classes, time')``, spatial dimensions squeezed."""
        x = self.logits(self.dropout(self.avg_pool(self.extract_conv_output(x))))
        return x.squeeze(3).squeeze(3)
