"""Grad-CAM (Selvaraju et al., ICCV 2017) for every registered model, as a volume per clip.

Which voxels made the model say smoke: the target layer's activations ``A`` (``[C, t, h, w]``
per clip) weighted by the gradient of the clip logit averaged over the layer's time and space
(one weight per channel), summed over channels, upsampled (trilinear) to the input's
``T x H x W`` (the *raw* map), then ReLU and scaled per clip to [0, 1] for pictures
(:func:`normalise_cam`). RISE's production code measured "how much of the view is smoke" on
the raw map: :func:`activation_ratio` (docs/explain.md says why it is not the picture's scale).

Our own hooks (pytorch-grad-cam needs torchvision): a forward hook swaps the layer's output
for a detached leaf that requires grad and keeps it; the gradient of the clip logits with
respect to that leaf is taken with :func:`torch.autograd.grad`. So nothing before the layer
records a graph (the model's parameters are switched to ``requires_grad=False`` for the call,
then restored), no parameter's ``.grad`` is touched, and a frozen backbone (``i3d-lstm``,
``i3d-tc``) works like any other. Grad-CAM needs autograd: it runs on a model *not* prepared
for inference (:func:`smokewatch.models.inference.prepare_for_inference` swaps in
oneDNN-only layers); :class:`Explainer` takes care of that for a trained model directory.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from smokewatch.errors import SmokewatchError

__all__ = [
    "ExplainError",
    "Explainer",
    "activation_ratio",
    "default_target_layer",
    "grad_cam",
    "normalise_cam",
]

#: RISE's production rule: a voxel is "active" where 1 + the raw map is above this.
PIXEL_THRESHOLD = 0.85


class ExplainError(SmokewatchError, ValueError):
    """A layer, model or clip Grad-CAM cannot explain; the message says which and why."""


# --------------------------------------------------------------------------------------------
# Target layers


def _parts(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The model itself and, for wrappers (temporal heads, the SVM), its ``backbone``."""
    found = [("", model)]
    backbone = getattr(model, "backbone", None)
    if isinstance(backbone, nn.Module):
        found.append(("backbone.", backbone))
    return found


def default_target_layer(model: nn.Module) -> str:
    """The last block, by dotted module name: where Grad-CAM looks unless told otherwise.

    I3D family (``i3d``, ``i3d-tsm``, ``i3d-nl``, ``i3d-flow``; ``i3d-lstm`` and ``i3d-tc``
    through their ``backbone``): ``Mixed_5c``. ``efficientnet-lite0-tsm``: ``head``, its last
    convolution block (per frame). ``tiny3d``: the output of its last convolution (after its
    ReLU). Any other model: its last ``Conv2d``/``Conv3d``.
    """
    from smokewatch.models.efficientnet_tsm import EfficientNetLite0TSM
    from smokewatch.models.tiny import Tiny3D

    for prefix, part in _parts(model):
        if isinstance(getattr(part, "Mixed_5c", None), nn.Module):
            return f"{prefix}Mixed_5c"
        if isinstance(part, EfficientNetLite0TSM):
            return f"{prefix}head"
        if isinstance(part, Tiny3D):
            return f"{prefix}body.{len(part.body) - 1}"
    convs: list[str] = [
        str(n) for n, m in model.named_modules() if isinstance(m, nn.Conv2d | nn.Conv3d)
    ]
    if not convs:
        raise ExplainError(
            f"{type(model).__name__} has no convolution to explain; name a target layer"
        )
    return convs[-1]


def _layer(model: nn.Module, name: str) -> nn.Module:
    try:
        return model.get_submodule(name)
    except AttributeError:
        pass
    names = [
        f"{prefix}{child}" for prefix, part in _parts(model) for child, _ in part.named_children()
    ]
    shown = ", ".join(names[-8:])
    raise ExplainError(
        f"{type(model).__name__} has no layer {name!r}; dotted module names such as {shown} "
        f"(default: {default_target_layer(model)})"
    )


def _check_autograd(model: nn.Module) -> None:
    from smokewatch.models.inference import FastInception, FastMaxPool3d, FastUnit3D

    if any(isinstance(m, FastUnit3D | FastMaxPool3d | FastInception) for m in model.modules()):
        raise ExplainError(
            f"this {type(model).__name__} was prepared for inference (its layers cannot "
            "backpropagate); Grad-CAM needs the model as built or loaded"
        )
    if torch.is_inference_mode_enabled():
        raise ExplainError("Grad-CAM needs autograd: call it outside torch.inference_mode()")


# --------------------------------------------------------------------------------------------
# Grad-CAM


@contextlib.contextmanager
def _untouched(model: nn.Module, device: torch.device) -> Iterator[None]:
    """Eval mode and no parameter gradients for the call; every flag and the RNG as they were."""
    modes = [(m, m.training) for m in model.modules()]
    grads = [(p, p.requires_grad) for p in model.parameters()]
    devices = [device] if device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=devices):
            model.eval()
            for p, _ in grads:
                p.requires_grad_(False)
            yield
    finally:
        for m, mode in modes:
            m.training = mode
        for p, flag in grads:
            p.requires_grad_(flag)


def _as_volume(t: torch.Tensor, batch: int, layer: str) -> torch.Tensor:
    """``[B, C, t, h, w]`` from a 3D layer's map or a per-frame 2D one's ``[B*t, C, h, w]``."""
    if t.dim() == 5 and t.shape[0] == batch:
        return t
    if t.dim() == 4 and t.shape[0] % batch == 0:
        frames = t.shape[0] // batch
        return t.reshape(batch, frames, *t.shape[1:]).transpose(1, 2)
    raise ExplainError(
        f"layer {layer!r} gives shape {tuple(t.shape)} for {batch} clips; Grad-CAM needs a "
        "feature map [B, C, t, h, w] or per-frame maps [B*t, C, h, w]"
    )


def grad_cam(
    model: nn.Module,
    x: torch.Tensor,
    *,
    target_layer: str | None = None,
    loss: str = "bce",
    raw: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """(P(smoke) per clip ``[B]`` float64, Grad-CAM volumes ``[B, T, H, W]`` float32 in [0, 1]).

    ``raw``: the volumes before ReLU and scaling (the weighted sum, upsampled), which
    :func:`activation_ratio` measures and :func:`normalise_cam` turns into the [0, 1] map.

    ``x``: a batch ``[B, C, T, H, W]`` already transformed as evaluation does
    (:func:`smokewatch.training.predict.eval_transform`), on the model's device. The clip logit
    is the one evaluation uses (:func:`smokewatch.training.build.clip_scores`; ``loss="rise"``:
    the max over time of per-frame logits), and the map explains it. ``target_layer``: a dotted
    module name (default :func:`default_target_layer`). A clip whose map is all zero (nothing
    pushed its logit up) keeps an all-zero volume.

    The model must not be prepared for inference (see the module doc). It runs in eval mode;
    its training flags, ``requires_grad`` flags, gradients and the global RNG are as they
    were afterwards, and its hooks are removed, also when something fails.
    """
    from smokewatch.training.build import TrainModule, clip_scores

    if x.dim() != 5:
        raise ExplainError(f"expected clips [B, C, T, H, W], got shape {tuple(x.shape)}")
    _check_autograd(model)
    name = target_layer or default_target_layer(model)
    layer = _layer(model, name)
    kept: list[torch.Tensor] = []

    def keep(module: nn.Module, inputs: Any, output: Any) -> torch.Tensor:
        if not isinstance(output, torch.Tensor):
            raise ExplainError(f"layer {name!r} returns {type(output).__name__}, not a tensor")
        if kept:
            raise ExplainError(f"layer {name!r} runs more than once per clip; name another")
        leaf = output.detach().requires_grad_(True)
        kept.append(leaf)
        return leaf.clone()  # a later in-place op (ReLU) must not write into the leaf

    handle = layer.register_forward_hook(keep)
    try:
        with _untouched(model, x.device), torch.enable_grad(), _rnn_backward(model, x):
            logits = clip_scores(TrainModule(model, loss)(x).float())
            if not kept:
                raise ExplainError(f"layer {name!r} did not run in the forward pass")
            (grad,) = torch.autograd.grad(logits.sum(), kept[0], allow_unused=True)
    finally:
        handle.remove()
    acts = _as_volume(kept[0].detach().float(), x.shape[0], name)
    grads = torch.zeros_like(acts) if grad is None else _as_volume(grad.float(), x.shape[0], name)
    weights = grads.mean(dim=(2, 3, 4), keepdim=True)
    cam = (weights * acts).sum(dim=1, keepdim=True)
    cam = F.interpolate(cam, size=tuple(x.shape[2:]), mode="trilinear", align_corners=False)[:, 0]
    probs = torch.sigmoid(logits.detach()).double().cpu().numpy()
    volumes = cam.cpu().numpy().astype(np.float32)
    return probs, volumes if raw else normalise_cam(volumes)


def normalise_cam(raw: np.ndarray) -> np.ndarray:
    """Raw Grad-CAM volumes ``[B, ...]`` as pictures show them: ReLU, then each clip scaled
    so its peak is 1 (a clip with nothing positive stays all zero)."""
    cam: np.ndarray = np.maximum(np.asarray(raw, dtype=np.float32), 0.0)
    if cam.ndim == 0 or cam.shape[0] == 0:
        return cam
    peak = cam.reshape(cam.shape[0], -1).max(axis=1).reshape((-1,) + (1,) * (cam.ndim - 1))
    scaled: np.ndarray = np.divide(cam, peak, out=np.zeros_like(cam), where=peak > 0)
    out: np.ndarray = np.clip(scaled, 0.0, 1.0).astype(np.float32)
    return out


def _rnn_backward(model: nn.Module, x: torch.Tensor) -> contextlib.AbstractContextManager[Any]:
    """cuDNN's RNNs backpropagate in training mode only: off for a model with one, on CUDA."""
    if x.is_cuda and any(isinstance(m, nn.RNNBase) for m in model.modules()):
        return torch.backends.cudnn.flags(enabled=False)
    return contextlib.nullcontext()


def activation_ratio(raw: np.ndarray, pixel_threshold: float = PIXEL_THRESHOLD) -> float:
    """RISE's production activation ratio of one raw volume (``grad_cam(..., raw=True)``).

    RISE's Grad-CAM started its sum from ones and, in production, was not rescaled, so a
    voxel counted as active where ``1 + raw > 0.85``: wherever the evidence does not argue
    clearly *against* smoke. The share of such voxels is what its rule compares with 0.4.
    On the [0, 1] picture scale the same threshold would keep only the peak's neighbourhood
    (a share near 0.001 on real clips), and the rule would never fire.
    """
    v = np.asarray(raw, dtype=np.float64)
    return float(np.count_nonzero(1.0 + v > pixel_threshold)) / v.size if v.size else 0.0


# --------------------------------------------------------------------------------------------
# A trained model directory


class Explainer:
    """Grad-CAM for a trained model directory, on decoded clips as evaluation sees them.

    ``explain(clips)`` takes uint8 clips ``[B, T, H, W, 3]`` (RISE: 36 x 180 x 180), selects
    frames as :class:`~smokewatch.dataset.torch_data.ClipDataset` does (``config.frames``;
    flow models get the clip's flow), transforms them as evaluation does, and returns the
    probabilities (those of :meth:`TrainedModel.predict` within 1e-4) and one volume per clip
    ``[B, T, H, W]`` aligned with the *input*: each input frame gets the map of the model frame
    that stands for it, at the clip's own size, so a volume overlays its clip frame for frame.

    The model is a private copy: ``trained.model`` may later be prepared for fast inference
    (``predict`` does that in place), and one already prepared is loaded again from its
    directory. An SVM directory is explained through its decision function written in torch
    on top of its backbone (:mod:`smokewatch.explain.svm`), a heads directory on I3D or
    EfficientNet-Lite0 features through its whole feature and fusion chain
    (:mod:`smokewatch.explain.heads`; frame-difference heads add a constant).
    ``weights_cache_dir``: where an SVM's or heads model's pretrained backbone weights are
    kept; a backbone without weights (``weights: null``)
    is built from torch's global RNG, as ``predict`` builds it.
    """

    def __init__(
        self,
        trained: Any,
        *,
        target_layer: str | None = None,
        device: str = "cpu",
        weights_cache_dir: Path | None = None,
        batch_size: int = 4,
    ) -> None:
        from smokewatch.training.device import resolve_device
        from smokewatch.training.predict import eval_transform

        self.config = trained.config
        self.path = Path(trained.path)
        self.device = resolve_device(device)
        self.batch_size = max(1, batch_size)
        default_target: str | None = None
        model: nn.Module
        #: a heads model's module: its constant (frame-difference) part needs the uint8 clips
        self._heads: Any = None
        if self.config.kind == "heads":
            from smokewatch.explain.heads import heads_module

            try:
                heads = heads_module(trained.model, weights_cache_dir)
            except ExplainError as exc:
                raise ExplainError(f"{trained.path}: {exc}") from None
            model = self._heads = heads
            default_target = heads.default_target
            # the clip as the features were extracted: their frames and size
            self.config = self.config.model_copy(
                update={"frames": heads.frames, "size": heads.size}
            )
            self.loss = "bce"
        elif self.config.kind == "svm":
            from smokewatch.explain.svm import svm_on_backbone

            model = svm_on_backbone(trained.model, self.config, weights_cache_dir)
            self.loss = "bce"
        else:
            model = _unprepared(trained)
            self.loss = self.config.loss
        self.model = model.to(self.device).eval()
        self.target_layer = target_layer or default_target or default_target_layer(self.model)
        _layer(self.model, self.target_layer)  # a wrong name fails here, before any clip
        self.transform = eval_transform(self.config, self.device)

    def explain(self, clips: np.ndarray, *, raw: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(P(smoke) ``[B]`` float64, volumes ``[B, T, H, W]`` float32 in [0, 1]; ``raw``:
        before ReLU and scaling, see :func:`grad_cam`)."""
        arr = np.asarray(clips)
        if arr.dtype != np.uint8 or arr.ndim != 5 or arr.shape[-1] != 3:
            raise ExplainError(
                f"expected uint8 clips [B, T, H, W, 3], got {arr.dtype} {tuple(arr.shape)}"
            )
        batch, length, height, width, _ = arr.shape
        frames = self.config.frames
        if length < frames:
            raise ExplainError(f"clips have {length} frames; this model needs {frames}")
        if batch == 0:
            return np.zeros(0), np.zeros((0, length, height, width), np.float32)
        video = self._model_input(arr)
        # input frame i lies in segment (i * frames) // length, whose middle frame the model saw
        segment = torch.from_numpy((np.arange(length) * frames) // length)
        probs, volumes = [], []
        with torch.random.fork_rng(devices=[]):
            if self.config.perturb_frames:  # -FP: the frame order evaluation draws (seeded)
                torch.manual_seed(self.config.seed)
            for start in range(0, batch, self.batch_size):
                chunk = video[start : start + self.batch_size].to(self.device)
                order = torch.arange(frames).expand(len(chunk), frames)
                if self.config.perturb_frames:
                    state = torch.get_rng_state()
                    order = torch.argsort(torch.rand(len(chunk), frames), dim=1)
                    torch.set_rng_state(state)  # so the transform draws this same permutation
                x = self.transform(chunk)
                given = (
                    self._heads.given(arr[start : start + self.batch_size])
                    if self._heads is not None
                    else contextlib.nullcontext()
                )
                with given:
                    p, cams = grad_cam(
                        self.model, x, target_layer=self.target_layer, loss=self.loss, raw=True
                    )
                cam = torch.from_numpy(cams)
                where = torch.argsort(order, dim=1)  # model position of each selected frame
                picked = torch.stack([c[where[i, segment]] for i, c in enumerate(cam)])
                if picked.shape[-2:] != (height, width):
                    picked = F.interpolate(
                        picked, size=(height, width), mode="bilinear", align_corners=False
                    )
                probs.append(p)
                volumes.append(picked.numpy().astype(np.float32))
        both, scores = np.concatenate(volumes), np.concatenate(probs)
        if not np.isfinite(scores).all():  # a map of a NaN score means nothing either
            from smokewatch.training.saved import BrokenModelError

            raise BrokenModelError(
                f"{self.path}: the model gives no probability (NaN) for "
                f"{int(np.count_nonzero(~np.isfinite(scores)))} of {len(scores)} clips: it is "
                "broken (diverged in training?); retrain it"
            )
        return scores, both if raw else normalise_cam(both)

    def _model_input(self, arr: np.ndarray) -> torch.Tensor:
        """uint8 ``[B, C, frames, H, W]``: the frames (or flow) ClipDataset would give."""
        from smokewatch.dataset.torch_data import frame_indices

        idx = frame_indices(arr.shape[1], self.config.frames)
        if self.config.modality == "rgb":
            picked = arr[:, idx]
        else:
            from smokewatch.dataset.flow import compute_flow, flow_to_uint8

            method: Any = self.config.flow_method
            picked = np.stack([flow_to_uint8(compute_flow(clip, method))[idx] for clip in arr])
        return torch.from_numpy(np.ascontiguousarray(picked)).permute(0, 4, 1, 2, 3)


def _unprepared(trained: Any) -> nn.Module:
    """A copy of the trained network that can backpropagate (see :class:`Explainer`)."""
    from smokewatch.models.inference import FastInception, FastMaxPool3d, FastUnit3D

    fast = (FastUnit3D, FastMaxPool3d, FastInception)
    if trained.prepared or any(isinstance(m, fast) for m in trained.model.modules()):
        from smokewatch.training.saved import load_model_dir

        fresh: nn.Module = load_model_dir(trained.path).model
        return fresh
    copied: nn.Module = copy.deepcopy(trained.model)
    return copied
