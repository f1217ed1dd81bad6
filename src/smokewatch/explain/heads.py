"""A ``kind: heads`` model on one frozen network as one torch module, so Grad-CAM can explain it.

A heads model standardises each chosen head's feature vector, scores it with an SVM and fuses
the decision values. The modules here recompute that chain in torch, with the functions the
cached path uses, so that gradients flow from the decision back into the frozen network. The
SVMs are :class:`~smokewatch.explain.svm.KernelSVC`; the output is the logit whose sigmoid is
the model's P(smoke).

:class:`HeadsOnI3D` (``rise-best``): the frozen Kinetics I3D's ``Mixed_4f`` and ``Mixed_5c``
maps pooled into summaries (:func:`~smokewatch.training.features.i3d_cells`,
:func:`~smokewatch.training.features.i3d_vector`). It explains the part of the score that
flows through the target layer (by default the last endpoint the heads read, ``Mixed_5c``); a
head that also reads ``Mixed_4f`` gets part of its score straight from that earlier layer, and
that part is not in the map. Heads that read crops too (``FeatureSpec.crops``, test-time
augmentation) average the whole frame's grids with those of the crops, which the module reads
from the uint8 clips (:meth:`FusedHeads.given`) without a graph: the map explains the part of
the score that flows through the whole frame's reading, and the probability is the model's.

:class:`HeadsOnLite0` (``rise-fast``): the frozen ImageNet EfficientNet-Lite0 on the
``lite_frames`` sampled frames (:func:`~smokewatch.training.features.lite0_frame_features`,
:func:`~smokewatch.training.features.lite_vector`). Its target is the layer the heads read
(``FeatureSpec.lite_layer``: the Lite0 ``head``, or the last block of the 112-channel stage),
a 2D map per sampled frame; each input frame gets the map of the sampled frame that stands for
it.

Frame-difference heads (``diff``) have no network: their decision values are computed from
the uint8 clips with the cached path's numpy code and added as a constant (set them with
:meth:`FusedHeads.given`). They move the probability but not the map, which explains only the
network's part of the score. A model whose heads read no network, two networks, flow
statistics, several extractors in one head, or flip test-time augmentation is an
:class:`~smokewatch.explain.gradcam.ExplainError` naming ``--no-cam``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from smokewatch.explain.gradcam import ExplainError
from smokewatch.explain.svm import KernelSVC

__all__ = ["FusedHeads", "HeadsOnI3D", "HeadsOnLite0", "heads_module"]

#: heads a network feeds, and the extractor whose decision is a constant for Grad-CAM
NETWORKS = ("i3d", "lite0")
CONSTANT = "diff"


class FusedHeads(nn.Module):
    """The fusion shared by :class:`HeadsOnI3D` and :class:`HeadsOnLite0`: clips -> logit
    ``[B, 1]``. A subclass gives the network heads' vectors (:meth:`vectors`), its clip shape
    (``frames``, ``size``) and ``default_target``; ``diff`` heads come from :meth:`given`."""

    frames: int
    size: int
    default_target: str

    def __init__(self, heads: Any) -> None:
        super().__init__()
        network, specs = explainable(heads)
        self.network = network
        networked: list[tuple[Any, Any, float, float, float]] = []
        #: the heads without a network: (fitted head, spec, weight, mean, std)
        self.constant_heads: list[tuple[Any, Any, float, float, float]] = []
        choice = heads.choice
        for h, spec, w, (mu, sd) in zip(
            heads.heads, specs, choice.weights, choice.scale, strict=True
        ):
            into = self.constant_heads if spec.parts == (CONSTANT,) else networked
            into.append((h, spec, float(w), float(mu), float(sd)))
        self.specs = [spec for _, spec, *_ in networked]
        self.svcs = nn.ModuleList(
            KernelSVC(h.model, h.mean, h.std * math.sqrt(len(h.mean))) for h, *_ in networked
        )
        self.terms = [(w, mu, sd) for *_, w, mu, sd in networked]
        self.threshold = float(heads.choice.threshold)
        self.slope = float(heads.choice.slope)
        self._given: torch.Tensor | None = None

    def vectors(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Each network head's feature vector ``[B, D]`` (before power normalisation)."""
        raise NotImplementedError

    def constant_scores(self, clips: np.ndarray) -> np.ndarray:
        """The ``diff`` heads' weighted, scaled decision values of uint8 clips
        ``[B, T, H, W, 3]`` (float64 ``[B]``; zeros without such heads): the numpy path
        ``predict`` takes, since they have no network for a gradient to reach."""
        from smokewatch.training.features import diff_summary, vectorize

        total = np.zeros(len(clips))
        if self.constant_heads:
            summaries = [{CONSTANT: diff_summary(np.asarray(c))} for c in clips]
            for head, spec, w, mu, sd in self.constant_heads:
                xs = np.stack([vectorize(s, spec) for s in summaries])
                total += w * (head.decision(xs) - mu) / sd
        return total

    @contextlib.contextmanager
    def given(self, clips: np.ndarray) -> Iterator[None]:
        """Within: the module scores the batch made of these uint8 clips ``[B, T, H, W, 3]``
        (the constant ``diff`` part of its logit comes from them)."""
        self._given = torch.from_numpy(self.constant_scores(clips))
        try:
            self.read_constants(clips)
            yield
        finally:
            self._given = None
            self.read_constants(None)

    def read_constants(self, clips: np.ndarray | None) -> None:
        """Read (``None``: forget) what else of the batch's uint8 clips the logit takes as a
        constant: nothing here; :class:`HeadsOnI3D` reads its crops."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from smokewatch.training.features import power_normalise

        total = torch.zeros(x.shape[0], dtype=torch.float64, device=x.device)
        if self.constant_heads:
            if self._given is None or len(self._given) != x.shape[0]:
                raise ExplainError(
                    "heads on frame differences need the batch's uint8 clips: call the module "
                    "inside given(clips)"
                )
            total = total + self._given.to(x.device)
        vectors = self.vectors(x)
        for spec, svc, v, (w, mu, sd) in zip(
            self.specs, self.svcs, vectors, self.terms, strict=True
        ):
            if spec.power:
                v = power_normalise(v)
            total = total + w * (svc(v) - mu) / sd
        return (self.slope * (total - self.threshold))[:, None]

    def _one_shape(self, shapes: set[tuple[int, int]]) -> tuple[int, int]:
        if len(shapes) != 1:
            raise ExplainError(
                f"heads read {self.network} features of different clip shapes: {shapes}"
            )
        return shapes.pop()


class HeadsOnI3D(FusedHeads):
    """I3D clips ``[B, 3, T, H, W]`` -> the heads model's logit ``[B, 1]`` (see the module doc)."""

    def __init__(self, backbone: nn.Module, heads: Any) -> None:
        super().__init__(heads)
        from smokewatch.models.i3d import ENDPOINTS

        if self.network != "i3d":
            raise ExplainError(f"these heads read {self.network}, not I3D features")
        self.frames, self.size = self._one_shape({(s.frames, s.size) for s in self.specs})
        used = {ep for s in self.specs for ep in s.endpoints}
        self.endpoints = [ep for ep in ENDPOINTS if ep in used]
        #: the last endpoint a head reads: where the score's gradient has the most to say
        self.default_target = f"backbone.{self.endpoints[-1]}"
        self.backbone = backbone
        #: the crops' grids of the batch in :meth:`given`, by (crop, size) and endpoint
        self._crop_grids: dict[tuple[str, int], dict[str, torch.Tensor]] | None = None

    def read_constants(self, clips: np.ndarray | None) -> None:
        """The grids of every crop a head reads, from the uint8 clips as the extractor reads
        them (:func:`~smokewatch.training.features.crop_grids`), without a graph."""
        from smokewatch.training.features import crop_grids

        if clips is None or not any(spec.crops for spec in self.specs):
            self._crop_grids = None
            return
        device = next(self.backbone.parameters()).device
        endpoints: Any = self.backbone.endpoints

        def maps(x: torch.Tensor) -> dict[str, torch.Tensor]:
            with torch.no_grad():
                got: dict[str, torch.Tensor] = endpoints(x.to(device), self.endpoints)
                return got

        self._crop_grids = {}
        for spec in self.specs:
            for where in spec.crops:
                key = (where, spec.crop_size or spec.size)
                if key not in self._crop_grids:
                    self._crop_grids[key] = crop_grids(maps, list(clips), spec, where)

    def vectors(self, x: torch.Tensor) -> list[torch.Tensor]:
        from smokewatch.training.features import i3d_cells, i3d_vector, with_crops

        endpoints: Any = self.backbone.endpoints
        cells = {ep: i3d_cells(m) for ep, m in endpoints(x, self.endpoints).items()}
        grids = {ep: grid for ep, (grid, _) in cells.items()}
        maxes = {ep: peak for ep, (_, peak) in cells.items()}
        if self._crop_grids is None and any(spec.crops for spec in self.specs):
            raise ExplainError(
                "heads that read crops need the batch's uint8 clips: call the module "
                "inside given(clips)"
            )
        read = self._crop_grids or {}
        out = []
        for spec in self.specs:
            crops = [read[(w, spec.crop_size or spec.size)] for w in spec.crops]
            averaged = {ep: with_crops(grid, [c[ep] for c in crops]) for ep, grid in grids.items()}
            out.append(i3d_vector(averaged, maxes, spec))
        return out


class HeadsOnLite0(FusedHeads):
    """Clips ``[B, 3, T, S, S]`` in [-1, 1] (``S``: the heads' ``lite_size``) -> the heads
    model's logit ``[B, 1]``. Lite0 runs on the ``lite_frames`` of the ``T`` that the cached
    path samples (all of them when ``T`` is ``lite_frames``, as :class:`Explainer` gives it),
    frame by frame; see the module doc."""

    def __init__(self, backbone: nn.Module, heads: Any) -> None:
        super().__init__(heads)
        if self.network != "lite0":
            raise ExplainError(f"these heads read {self.network}, not EfficientNet-Lite0 features")
        from smokewatch.training.features import LITE_LAYERS

        self.frames, self.size = self._one_shape({(s.lite_frames, s.lite_size) for s in self.specs})
        layers = {s.lite_layer for s in self.specs}
        if len(layers) != 1:
            raise ExplainError(f"heads read Lite0 at different layers: {sorted(layers)}")
        self.layer = layers.pop()
        last = LITE_LAYERS[self.layer]
        #: the layer the heads read (Lite0's last convolution block by default), one 2D map
        #: per sampled frame
        self.default_target = "backbone.head" if last is None else f"backbone.blocks.{last}"
        self.backbone = backbone

    def vectors(self, x: torch.Tensor) -> list[torch.Tensor]:
        from smokewatch.models.efficientnet_tsm import sample_frames
        from smokewatch.training.features import lite0_frame_features, lite_vector

        x = x.index_select(2, sample_frames(x.shape[2], self.frames).to(x.device))
        b, c, t, h, w = x.shape
        frames = x.transpose(1, 2).reshape(b * t, c, h, w)
        pooled = lite0_frame_features(self.backbone, frames, layer=self.layer, grad=True)
        pooled = pooled.view(b, t, *pooled.shape[1:])
        return [lite_vector(pooled, spec) for spec in self.specs]


def explainable(heads: Any) -> tuple[str, list[Any]]:
    """(the one network the heads read, each chosen head's feature spec), or an
    :class:`ExplainError` naming ``--no-cam`` for heads Grad-CAM cannot explain."""
    specs = [heads.specs[h.candidate.features] for h in heads.heads]
    for head, spec in zip(heads.heads, specs, strict=True):
        if spec.flip or len(spec.parts) != 1 or spec.parts[0] not in (*NETWORKS, CONSTANT):
            raise ExplainError(
                f"Grad-CAM explains heads on I3D or on EfficientNet-Lite0 features (with "
                f"frame-difference heads as a constant); head {head.candidate.name!r} reads "
                f"{'+'.join(spec.parts)}{' with flip TTA' if spec.flip else ''}: "
                "score it with --no-cam"
            )
    networks = sorted({spec.parts[0] for spec in specs} - {CONSTANT})
    if len(networks) != 1:
        what = " and ".join(networks) if networks else "no network, only frame differences"
        raise ExplainError(
            f"Grad-CAM explains heads on one network; these read {what}: score it with --no-cam"
        )
    return networks[0], specs


def heads_module(heads: Any, weights_cache_dir: Path | None) -> FusedHeads:
    """The heads of a model directory on the frozen network their features came from, built
    as the feature extractor builds it."""
    from smokewatch.models import get_model
    from smokewatch.training.features import lite0_backbone

    network, _ = explainable(heads)  # fail before building the network
    if network == "lite0":
        return HeadsOnLite0(lite0_backbone(cache_dir=weights_cache_dir), heads)
    backbone = get_model("i3d", weights="kinetics400", num_classes=1, cache_dir=weights_cache_dir)
    return HeadsOnI3D(backbone.eval(), heads)
