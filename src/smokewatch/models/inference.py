"""Inference on CPUs: I3D rewritten for oneDNN, batch norm folded, channels-last, optional bf16.

Training needs batch norm as a separate layer and "SAME" padding that follows the input size;
inference needs neither. :func:`prepare_for_inference` changes a model in place:

* **batch norm folded** into the preceding convolution (in eval mode it is a fixed per-channel
  scale and shift): one pass over the activations less per layer;
* **channels-last-3d** weights and input, the layout oneDNN's fastest 3D kernels use;
* **I3D's units rewritten** (:class:`FastUnit3D`, :class:`FastMaxPool3d`,
  :class:`FastInception`): every convolution goes straight to oneDNN with its ReLU fused
  (PyTorch's own dispatch sends some batch-1 3x3x3 convolutions to a slow im2col path, whose
  contiguous output then drags the rest of the network out of channels-last); "SAME" padding
  inside the convolution or pooling window where an equivalent exists (a ``ceil_mode`` pool for
  the asymmetric stride-2 pools), one ``F.pad`` only where none does (the stem's 7x7x7/2 conv,
  on 3 channels); optionally (``merge_branches``; measured slower here, so off) the three 1x1x1
  convolutions of each Inception block that read the same input merged into one;
* ``torch.inference_mode``; ``torch.compile`` and bf16 optional.

Outputs stay equal to the unprepared model within float32 rounding (tested to 1e-4); bf16
does not (about 1e-1 on I3D's logits), so it is off by default. ``bench/models.py`` measures it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from smokewatch.models.i3d import (
    InceptionModule,
    SameMaxPool3d,
    Unit3D,
    _dynamic_pad,
    _static_same,
    tf_same_padding,
)

__all__ = [
    "FastInception",
    "FastMaxPool3d",
    "FastUnit3D",
    "bf16_supported",
    "conv_backend",
    "fold_batch_norm",
    "fuse_i3d_units",
    "prepare_for_inference",
]

Triple = tuple[int, int, int]


def _fold(conv: nn.Conv3d | nn.Conv2d, bn: nn.BatchNorm3d | nn.BatchNorm2d) -> None:
    assert bn.running_mean is not None and bn.running_var is not None
    scale = (bn.weight if bn.weight is not None else torch.ones_like(bn.running_var)) / torch.sqrt(
        bn.running_var + bn.eps
    )
    shift = bn.bias if bn.bias is not None else torch.zeros_like(bn.running_mean)
    bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    with torch.no_grad():
        conv.weight.mul_(scale.reshape(-1, *[1] * (conv.weight.dim() - 1)))
        new_bias = (bias - bn.running_mean) * scale + shift
        if conv.bias is None:
            conv.bias = nn.Parameter(new_bias)
        else:
            conv.bias.copy_(new_bias)


def fold_batch_norm(model: nn.Module) -> int:
    """Fold each ``conv3d`` + ``bn`` pair (I3D's ``Unit3D``) and each ``conv`` + ``bn`` pair
    (EfficientNet-Lite's ``ConvBNReLU6``) in place; returns how many.

    Only for inference: the model must be in eval mode (batch norm uses its running
    statistics), and afterwards its batch norm layers are gone (``Unit3D`` skips a missing
    one; a 2D unit's becomes an identity).
    """
    if model.training:
        raise ValueError("fold batch norm only into a model in eval mode (call model.eval())")
    folded = 0
    for module in list(model.modules()):
        bn = getattr(module, "bn", None)
        conv3d, conv2d = getattr(module, "conv3d", None), getattr(module, "conv", None)
        if isinstance(conv3d, nn.Conv3d) and isinstance(bn, nn.BatchNorm3d):
            _fold(conv3d, bn)
            module.bn = None  # type: ignore[assignment]  # Unit3D skips a missing norm layer
            folded += 1
        elif isinstance(conv2d, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
            _fold(conv2d, bn)
            module.bn = nn.Identity()
            folded += 1
    return folded


def bf16_supported() -> bool:
    """Whether this CPU runs bfloat16 matrix math natively (AVX512-BF16 / AMX)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


# --------------------------------------------------------------------------------------------
# Convolution backends


def _conv_fused(
    x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None, pad: list[int], stride: list[int],
    relu: bool,
) -> torch.Tensor:  # fmt: skip
    out: torch.Tensor = torch.ops.mkldnn._convolution_pointwise(
        x, w, b, pad, stride, [1, 1, 1], 1, "relu" if relu else "none", [], None
    )
    return out


def _conv_mkldnn(
    x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None, pad: list[int], stride: list[int],
    relu: bool,
) -> torch.Tensor:  # fmt: skip
    out = torch.mkldnn_convolution(x, w, b, pad, stride, [1, 1, 1], 1)
    return F.relu(out, inplace=True) if relu else out


def _conv_native(
    x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None, pad: list[int], stride: list[int],
    relu: bool,
) -> torch.Tensor:  # fmt: skip
    out = F.conv3d(x, w, b, stride, pad)
    return F.relu(out, inplace=True) if relu else out


_BACKENDS: dict[str, Callable[..., torch.Tensor]] = {
    "fused": _conv_fused,  # oneDNN convolution with the ReLU as a post-op
    "mkldnn": _conv_mkldnn,  # oneDNN convolution, then ReLU
    "native": _conv_native,  # PyTorch's dispatch (may pick its im2col path)
}


@functools.cache
def conv_backend() -> str:
    """The fastest convolution call that works in this torch build, checked once on a tiny input.

    ``"fused"`` (oneDNN with the ReLU fused, the op ``torch.compile`` emits on CPU), else
    ``"mkldnn"`` (``torch.mkldnn_convolution``), else ``"native"`` (``F.conv3d``): the first two
    are torch internals, so each must reproduce ``F.conv3d`` here before it is used.
    """
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(1, 4, 3, 6, 6, generator=gen).contiguous(memory_format=torch.channels_last_3d)
    w = torch.randn(5, 4, 3, 3, 3, generator=gen).contiguous(memory_format=torch.channels_last_3d)
    b = torch.randn(5, generator=gen)
    expected = F.relu(F.conv3d(x, w, b, 1, 1))
    for name in ("fused", "mkldnn"):
        try:
            with torch.inference_mode():
                got = _BACKENDS[name](x, w, b, [1, 1, 1], [1, 1, 1], True)
        except (AttributeError, RuntimeError, NotImplementedError):
            continue
        if got.shape == expected.shape and torch.allclose(got, expected, atol=1e-4, rtol=1e-4):
            return name
    return "native"


# --------------------------------------------------------------------------------------------
# I3D's units, for inference


class FastUnit3D(nn.Module):
    """A ``Unit3D`` for inference: batch norm already folded into ``weight``/``bias``, ReLU fused.

    Built by :meth:`from_units` from one unit, or from several units that read the same input
    (their outputs concatenated on channels: one convolution instead of several).
    """

    weight: torch.Tensor
    bias: torch.Tensor | None

    def __init__(
        self,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        kernel: Triple,
        stride: Triple,
        relu: bool,
        backend: str,
    ) -> None:
        super().__init__()
        self.register_buffer(
            "weight", weight.detach().contiguous(memory_format=torch.channels_last_3d)
        )
        self.register_buffer("bias", None if bias is None else bias.detach().contiguous())
        self.kernel, self.stride, self.relu, self.backend = kernel, stride, relu, backend
        static = _static_same(kernel, stride)  # "SAME" as symmetric padding, where one exists
        self.padding = list(static) if static is not None else [0, 0, 0]
        self._dynamic = static is None
        self._stride = list(stride)
        self._conv = _BACKENDS[backend]

    @classmethod
    def from_units(cls, units: list[Unit3D], backend: str) -> FastUnit3D:
        """One convolution computing ``torch.cat([unit(x) for unit in units], dim=1)``."""
        first = units[0]
        for unit in units:
            if unit.bn is not None:
                raise ValueError("fold batch norm first (fold_batch_norm)")
            if (unit.kernel_size, unit.stride, unit.activation) != (
                first.kernel_size, first.stride, first.activation
            ):  # fmt: skip
                raise ValueError("only units of the same shape and activation merge")
        convs = [unit.conv3d for unit in units]
        weight = torch.cat([c.weight for c in convs])
        biases = [c.bias if c.bias is not None else torch.zeros(c.out_channels) for c in convs]
        bias = torch.cat(biases) if any(c.bias is not None for c in convs) else None
        return cls(weight, bias, first.kernel_size, first.stride, first.activation, backend)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._dynamic:
            x = _dynamic_pad(x, self.kernel, self.stride, 0.0)
        if x.dtype != self.weight.dtype:
            x = x.to(self.weight.dtype)
        if self.backend != "native":
            x = x.contiguous(memory_format=torch.channels_last_3d)
        return self._conv(x, self.weight, self.bias, self.padding, self._stride, self.relu)

    def extra_repr(self) -> str:
        out, inp = self.weight.shape[:2]
        return (f"{inp}, {out}, kernel={self.kernel}, stride={self.stride}, relu={self.relu}, "
                f"backend={self.backend}")  # fmt: skip


def _pool_window(n: int, k: int, s: int, pad: int, ceil_mode: bool) -> int:
    """Output positions of PyTorch's max pooling (its formula, ``ceil_mode`` rule included)."""
    out = (n + 2 * pad - k + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= n + pad:
        out -= 1
    return out


def _pool_args(shape: Triple, kernel: Triple, stride: Triple) -> tuple[list[int], bool] | None:
    """``(padding, ceil_mode)`` making ``F.max_pool3d`` equal TF "SAME" pooling, if any.

    SAME's windows start at ``-before + i * stride`` for ``ceil(n / stride)`` positions; PyTorch's
    at ``-padding + i * stride``. Equal padding before and an equal count give the same windows
    (positions past the input are ignored by both).
    """
    befores = [tf_same_padding(n, k, s)[0] for n, k, s in zip(shape, kernel, stride, strict=True)]
    if any(p > k // 2 for p, k in zip(befores, kernel, strict=True)):
        return None
    for ceil_mode in (False, True):
        if all(
            _pool_window(n, k, s, p, ceil_mode) == -(-n // s)
            for n, k, s, p in zip(shape, kernel, stride, befores, strict=True)
        ):
            return befores, ceil_mode
    return None


class FastMaxPool3d(nn.Module):
    """TF "SAME" max pooling without padding the input where PyTorch's own padding can do it."""

    def __init__(self, kernel: Triple, stride: Triple) -> None:
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape: Triple = (int(x.shape[-3]), int(x.shape[-2]), int(x.shape[-1]))
        args = _pool_args(shape, self.kernel, self.stride)
        if args is None:
            x = _dynamic_pad(x, self.kernel, self.stride, float("-inf"))
            return F.max_pool3d(x, self.kernel, self.stride)
        padding, ceil_mode = args
        return F.max_pool3d(x, self.kernel, self.stride, padding, ceil_mode=ceil_mode)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel}, stride={self.stride}, padding=SAME"


class FastInception(nn.Module):
    """An Inception block for inference; ``merge``: one 1x1x1 convolution for b0, b1a and b2a."""

    def __init__(self, block: InceptionModule, backend: str, *, merge: bool = True) -> None:
        super().__init__()
        fast = functools.partial(FastUnit3D.from_units, backend=backend)
        self.merge = merge
        if merge:
            self.reduce = fast([block.b0, block.b1a, block.b2a])
            self.splits = [u.conv3d.out_channels for u in (block.b0, block.b1a, block.b2a)]
        else:
            self.b0, self.b1a, self.b2a = fast([block.b0]), fast([block.b1a]), fast([block.b2a])
        self.b1b, self.b2b, self.b3b = fast([block.b1b]), fast([block.b2b]), fast([block.b3b])
        self.b3a = FastMaxPool3d(block.b3a.kernel_size, block.b3a.stride)
        self.out_channels = block.out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.merge:
            y0, y1, y2 = self.reduce(x).split(self.splits, dim=1)
        else:
            y0, y1, y2 = self.b0(x), self.b1a(x), self.b2a(x)
        return torch.cat([y0, self.b1b(y1), self.b2b(y2), self.b3b(self.b3a(x))], dim=1)


def fuse_i3d_units(model: nn.Module, *, merge: bool = True, backend: str | None = None) -> int:
    """Replace I3D's ``Unit3D``/``SameMaxPool3d``/``InceptionModule`` by their fast forms in place.

    Batch norm must be folded first (:func:`fold_batch_norm`). Works on any model built from
    these units (the I3D variants too); returns how many modules were replaced.
    """
    backend = backend or conv_backend()
    replaced = 0

    def convert(module: nn.Module) -> nn.Module | None:
        if isinstance(module, InceptionModule):
            units = [module.b0, module.b1a, module.b1b, module.b2a, module.b2b, module.b3b]
            if all(isinstance(u, Unit3D) and u.bn is None for u in units):
                return FastInception(module, backend, merge=merge)
        elif isinstance(module, Unit3D) and module.bn is None:
            return FastUnit3D.from_units([module], backend)
        elif isinstance(module, SameMaxPool3d):
            return FastMaxPool3d(module.kernel_size, module.stride)
        return None

    def walk(parent: nn.Module) -> None:
        nonlocal replaced
        for name, child in list(parent.named_children()):
            new = convert(child)
            if new is None:
                walk(child)
            else:
                setattr(parent, name, new)
                replaced += 1

    walk(model)
    return replaced


def prepare_for_inference(
    model: nn.Module,
    *,
    fold_bn: bool = True,
    channels_last: bool = True,
    fuse: bool = True,
    merge_branches: bool = False,
    bf16: bool | None = False,
    compile: bool = False,
) -> Callable[[torch.Tensor], torch.Tensor]:
    """A function ``clips -> outputs`` running ``model`` (modified in place) as fast as it can.

    ``fuse`` (needs ``fold_bn``) rewrites I3D's units for oneDNN (see the module docstring);
    ``merge_branches`` merges each Inception block's parallel 1x1x1 convolutions (off: on this
    CPU it measured slower, as the split outputs must be copied before the 3x3x3 convolutions).
    ``bf16=None`` means "if the CPU supports it"; bf16 changes outputs by about 1e-1, so it is
    off by default. ``compile`` uses ``torch.compile`` (slow to start; see ``bench/models.py``
    for whether it pays on this CPU).
    """
    model.eval()
    if fold_bn:
        fold_batch_norm(model)
    use_bf16 = bf16_supported() if bf16 is None else bf16
    if fold_bn and fuse:
        fuse_i3d_units(model, merge=merge_branches)
        if use_bf16:  # fast units call oneDNN directly, outside autocast: give them bf16 weights
            for unit in model.modules():
                if isinstance(unit, FastUnit3D):
                    unit.weight = unit.weight.to(torch.bfloat16)
                    if unit.bias is not None:
                        unit.bias = unit.bias.to(torch.bfloat16)
    # channels-last-3d for models with 3D convolutions; a 2D frame model reshapes its input and
    # only pays for the copy (measured: 0.69x on efficientnet-lite0-tsm)
    conv3d = [m for m in model.modules() if isinstance(m, nn.Conv3d)]
    has_3d = bool(conv3d) or any(isinstance(m, FastUnit3D) for m in model.modules())
    memory = torch.channels_last_3d if channels_last and has_3d else torch.contiguous_format
    for module in conv3d if channels_last else []:
        module.weight.data = module.weight.data.contiguous(memory_format=memory)
    run: Any = torch.compile(model) if compile else model

    def infer(x: torch.Tensor) -> torch.Tensor:
        autocast = torch.autocast("cpu", dtype=torch.bfloat16) if use_bf16 else nullcontext()
        with torch.inference_mode(), autocast:
            out: torch.Tensor = run(x.contiguous(memory_format=memory))
        return out.float()

    return infer
