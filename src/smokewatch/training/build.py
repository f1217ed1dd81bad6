"""From a :class:`TrainConfig` to a model ready to train: weights, freezing, the loss's view of it.

The loop never asks which architecture it trains: every model in the registry gives a clip logit
from ``forward``; the RISE loss also needs per-time-step logits, which :func:`frame_logits`
takes from a model's own ``frame_logits`` or, for the I3D family, from Mixed_5c and the head.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from smokewatch.errors import SmokewatchError
from smokewatch.training.config import TrainConfig

__all__ = [
    "TrainModule",
    "apply_frozen_eval",
    "build_model",
    "clip_scores",
    "frame_logits",
    "freeze_until",
    "load_init",
    "loss_fn",
    "stretch_to_frames",
]


class TrainingError(SmokewatchError, ValueError):
    """A configuration the model cannot be trained with."""


def _i3d_of(model: nn.Module) -> nn.Module | None:
    """The I3D inside ``model`` (itself, or its ``backbone``), found by its endpoint names."""
    for candidate in (model, getattr(model, "backbone", None)):
        if candidate is not None and hasattr(candidate, "Mixed_5c"):
            return candidate
    return None


def freeze_until(model: nn.Module, endpoint: str) -> list[nn.Module]:
    """Freeze the I3D endpoints up to and including ``endpoint``; return the frozen modules."""
    from smokewatch.models.i3d import ENDPOINTS

    i3d = _i3d_of(model)
    if i3d is None:
        raise TrainingError(f"freeze_until needs an I3D-family model, not {type(model).__name__}")
    if endpoint not in ENDPOINTS[:-1]:
        raise TrainingError(f"freeze_until: unknown endpoint {endpoint!r}; one of {ENDPOINTS}")
    frozen = []
    for name in ENDPOINTS[: ENDPOINTS.index(endpoint) + 1]:
        module = getattr(i3d, name, None)
        if module is not None:
            module.requires_grad_(False)
            frozen.append(module)
    return frozen


def apply_frozen_eval(frozen: Iterable[nn.Module]) -> None:
    """Frozen layers keep their batch-norm statistics: eval mode whatever ``train()`` said."""
    for module in frozen:
        module.eval()


def load_init(model: nn.Module, model_dir: Path) -> None:
    """Start from another run's trained weights (``init_from``).

    A model of the same architecture loads them all; a temporal-head variant (``i3d-lstm``,
    ``i3d-tc``) loads an RGB-I3D's weights into its backbone, leaving its new head as built.
    """
    weights = model_dir / "model.pt"
    if not weights.is_file():
        raise TrainingError(f"init_from: {weights} does not exist (train that model first)")
    state = torch.load(weights, map_location="cpu", weights_only=True)
    target = model
    backbone = getattr(model, "backbone", None)
    if backbone is not None and not any(k.startswith("backbone.") for k in state):
        target = backbone
        state = {k: v for k, v in state.items() if not k.startswith("logits.")}
    missing, unexpected = target.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith("logits.")] if target is backbone else missing
    if missing or unexpected:
        raise TrainingError(
            f"init_from {model_dir}: the weights do not fit {type(model).__name__} "
            f"(missing {missing[:5]}, unexpected {unexpected[:5]})"
        )


def build_model(
    config: TrainConfig, *, init_dir: Path | None = None, weights_cache_dir: Path | None = None
) -> tuple[nn.Module, list[nn.Module]]:
    """The model of ``config`` with a one-logit head; returns (model, frozen modules).

    ``weights_cache_dir``: where pretrained ``config.weights`` are kept (the caller's settings).
    """
    from smokewatch.models import get_model

    model: nn.Module = get_model(
        config.model,
        weights=config.weights,
        num_classes=1,
        **pretrained_from(config, weights_cache_dir),
        **config.model_kwargs,
    )
    if init_dir is not None:
        load_init(model, init_dir)
    frozen = freeze_until(model, config.freeze_until) if config.freeze_until else []
    if not any(p.requires_grad for p in model.parameters()):
        raise TrainingError(f"{config.name}: every parameter is frozen; nothing to train")
    return model, frozen


def pretrained_from(config: TrainConfig, weights_cache_dir: Path | None) -> dict[str, Any]:
    """The builder's ``cache_dir`` keyword when ``config`` asks for pretrained weights."""
    return {} if config.weights is None else {"cache_dir": weights_cache_dir}


def frame_logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``(batch, T')`` logits per time step of the model (T' = T / 8 for I3D)."""
    own = getattr(model, "frame_logits", None)
    if callable(own):
        out: torch.Tensor = own(x)
        return out.flatten(1)
    from smokewatch.models.i3d import I3D

    if isinstance(model, I3D):
        h = model.extract_endpoint(x, "Mixed_5c").mean(dim=(3, 4), keepdim=True)
        logits: torch.Tensor = model.logits(model.dropout(h))
        return logits.flatten(1)
    raise TrainingError(
        f"loss 'rise' needs per-frame logits; {type(model).__name__} has none (use loss: bce)"
    )


def stretch_to_frames(logits: torch.Tensor, frames: int) -> torch.Tensor:
    """``(batch, T')`` per-time-step logits linearly stretched to ``(batch, frames)``.

    RISE's ``make_pred``: ``F.interpolate(..., frames, mode="linear", align_corners=True)``,
    so that every input frame has a logit (the first and last steps land on the first and
    last frames).
    """
    if logits.shape[1] == frames:
        return logits
    out = F.interpolate(logits[:, None, :], size=frames, mode="linear", align_corners=True)
    return out[:, 0]


class TrainModule(nn.Module):
    """What DDP wraps: the model's output as the loss needs it (so gradients sync either way).

    ``loss="bce"``: the clip logit ``(B,)``; ``loss="rise"``: per-frame logits ``(B, T)``, the
    model's per-time-step logits stretched to the input's ``T`` frames as RISE did.
    """

    def __init__(self, model: nn.Module, loss: str) -> None:
        super().__init__()
        self.model = model
        self.loss = loss

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.loss == "rise":
            return stretch_to_frames(frame_logits(self.model, x), x.shape[2])
        out: torch.Tensor = self.model(x)
        return out.flatten(1)[:, 0]


def loss_fn(out: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """BCE with logits of the clip logit ``(B,)``, or RISE's loss of per-frame logits ``(B, T)``.

    RISE (``i3d_learner.fit``, after pytorch-i3d): half a localisation loss -- BCE of every
    frame's logit against its clip's label -- and half a classification loss -- BCE of the
    clip's max logit over time, the score it is tested by (:func:`clip_scores`).
    """
    target = labels.to(out.dtype)
    if out.dim() == 1:
        return F.binary_cross_entropy_with_logits(out, target)
    per_frame = F.binary_cross_entropy_with_logits(out, target[:, None].expand_as(out))
    clip = F.binary_cross_entropy_with_logits(clip_scores(out), target)
    return 0.5 * per_frame + 0.5 * clip


def clip_scores(out: torch.Tensor) -> torch.Tensor:
    """Clip logits: the output itself, or the max over time of per-frame logits (RISE tested
    a clip by the max over its frames of the stretched logits)."""
    return out.amax(dim=1) if out.dim() == 2 else out


def unwrap(module: nn.Module) -> Any:
    return getattr(module, "module", module)
