"""A ``kind: heads`` model on frozen I3D features as one torch module, so Grad-CAM can explain it.

``rise-best`` pools the frozen Kinetics I3D's ``Mixed_4f`` and ``Mixed_5c`` maps into summaries,
builds each head's vector from them, standardises it, and fuses the SVMs' decision values.
:class:`HeadsOnI3D` recomputes that chain in torch, with the same functions the cached path
uses (:func:`~smokewatch.training.features.i3d_cells` and
:func:`~smokewatch.training.features.i3d_vector`). The SVMs are
:class:`~smokewatch.explain.svm.KernelSVC`. Its output is the logit whose sigmoid is the
model's P(smoke), so gradients flow from the decision back into the backbone.

Only heads that read I3D features alone can be explained. EfficientNet frames, frame
differences and flow statistics are not a 3D map that Grad-CAM could place in the clip. Flip
test-time augmentation is not supported either.

The map explains only the part of the score that flows through the target layer (by default
the last endpoint the heads read, ``Mixed_5c``). A head that also reads ``Mixed_4f`` gets part
of its score straight from that earlier layer, and that part is not in the map.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from smokewatch.explain.gradcam import ExplainError
from smokewatch.explain.svm import KernelSVC

__all__ = ["HeadsOnI3D", "heads_on_i3d"]


class HeadsOnI3D(nn.Module):
    """I3D clips ``[B, 3, T, H, W]`` -> the heads model's logit ``[B, 1]`` (see the module doc)."""

    def __init__(self, backbone: nn.Module, heads: Any) -> None:
        super().__init__()
        from smokewatch.models.i3d import ENDPOINTS

        self.specs = _explainable_specs(heads)
        shapes = {(s.frames, s.size) for s in self.specs}
        if len(shapes) != 1:
            raise ExplainError(f"heads read I3D features of different clip shapes: {shapes}")
        self.frames, self.size = shapes.pop()
        used = {ep for s in self.specs for ep in s.endpoints}
        self.endpoints = [ep for ep in ENDPOINTS if ep in used]
        #: the last endpoint a head reads: where the score's gradient has the most to say
        self.default_target = f"backbone.{self.endpoints[-1]}"
        self.backbone = backbone
        self.svcs = nn.ModuleList(
            KernelSVC(h.model, h.mean, h.std * math.sqrt(len(h.mean))) for h in heads.heads
        )
        choice = heads.choice
        self.weights = [float(w) for w in choice.weights]
        self.scale = [(float(mu), float(sd)) for mu, sd in choice.scale]
        self.threshold = float(choice.threshold)
        self.slope = float(choice.slope)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from smokewatch.training.features import i3d_cells, i3d_vector, power_normalise

        endpoints: Any = self.backbone.endpoints
        cells = {ep: i3d_cells(m) for ep, m in endpoints(x, self.endpoints).items()}
        grids = {ep: grid for ep, (grid, _) in cells.items()}
        maxes = {ep: peak for ep, (_, peak) in cells.items()}
        total = torch.zeros(x.shape[0], dtype=torch.float64, device=x.device)
        for spec, svc, w, (mu, sd) in zip(
            self.specs, self.svcs, self.weights, self.scale, strict=True
        ):
            v = i3d_vector(grids, maxes, spec)
            if spec.power:
                v = power_normalise(v)
            total = total + w * (svc(v) - mu) / sd
        return (self.slope * (total - self.threshold))[:, None]


def _explainable_specs(heads: Any) -> list[Any]:
    """Each chosen head's feature spec, or an :class:`ExplainError` for one not on I3D alone."""
    specs = [heads.specs[h.candidate.features] for h in heads.heads]
    for head, spec in zip(heads.heads, specs, strict=True):
        if tuple(spec.parts) != ("i3d",) or spec.flip:
            raise ExplainError(
                f"Grad-CAM explains heads on I3D features alone; head "
                f"{head.candidate.name!r} reads {'+'.join(spec.parts)}"
                f"{' with flip TTA' if spec.flip else ''}: score it with --no-cam"
            )
    return specs


def heads_on_i3d(heads: Any, weights_cache_dir: Path | None) -> HeadsOnI3D:
    """The heads of a model directory on the frozen Kinetics I3D their features came from."""
    from smokewatch.models import get_model

    _explainable_specs(heads)  # fail before building the network
    backbone = get_model("i3d", weights="kinetics400", num_classes=1, cache_dir=weights_cache_dir)
    return HeadsOnI3D(backbone.eval(), heads)
