"""Frozen features for small heads: rich per-clip summaries, extracted once, cached on disk.

A few hundred labeled clips are too few to fine-tune a video network honestly on a 2-core CPU
(``cpu-small`` underfits, and nested cross-validation of fine-tuning would take days), but
plenty to choose a small classifier on frozen features. What the head sees matters more than
the head: smoke often fills one corner of a 180x180 view and is texture that moves, so a
single global mean of I3D's last layer throws most of the signal away. So each *extractor*
writes, per clip, a compact summary that keeps space, time and motion:

``i3d``     the frozen Kinetics I3D at ``Mixed_4f`` and ``Mixed_5c``: each map average-pooled
            to a 2x2 grid per time step (``<endpoint>.grid``: C x T' x 2 x 2) and max-pooled
            over space per time step (``<endpoint>.max``: C x T'). ``flip`` runs the
            mirrored clip too (test-time augmentation: the maps of both are averaged).
``i3d-crop-<where>``  the same I3D on one crop of the clip (:func:`crop`: a corner's or the
            centre's 80% square, resized to ``crop_size``): only the grids
            (``<endpoint>.grid.crop-<where>``), averaged with the whole frame's cell by cell
            for a spec with ``crops`` (test-time augmentation). One cache per crop and size.
``lite0``   EfficientNet-Lite0 (ImageNet), frame by frame, no temporal shift (the frozen 2D
            weights never learned one): the pooled 1280-d feature of every frame (``frames``:
            T x 1280), or with ``lite_layer: mbconv-112`` the end of the 112-channel stage as
            a 2x2 grid per frame (``mbconv-112.grid``: T x 112 x 2 x 2; the blocks after it
            never run). Cached for all 36 frames, so any frame subset is a slice; a model
            that needs only ``lite_frames`` of them runs only those (:func:`make_extractor`).
``diff``    cheap hand-made statistics, no network: grey frame differences per cell of a
            global + 2x2 + 3x3 pyramid as mean / std / max over time, and each cell's
            brightness, saturation and temporal contrast.
``flow``    DIS optical flow statistics (magnitude, upward component) on the same pyramid.

:func:`vectorize` then builds the vector a head reads from a summary and a
:class:`FeatureSpec` (which endpoints, pyramid or global, which temporal statistics, how many
frames for ``lite0``) in microseconds, so every variant is compared on one cached extraction.

The cache: ``CACHE/features/<extractor>-<settings hash>/<clip stem>.<size>-<mtime>.npz``, one
file per clip written atomically as soon as it exists (an interrupted extraction resumes where
it stopped), and a ``settings.json`` saying what made them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from smokewatch.core.atomic import atomic_path, atomic_write_text
from smokewatch.training.config import FeatureSpec

__all__ = [
    "EXTRACTORS",
    "LITE_LAYERS",
    "FeatureSpec",
    "Summary",
    "cached_summaries",
    "crop",
    "extraction_key",
    "make_extractor",
    "diff_summary",
    "flow_summary",
    "i3d_cells",
    "i3d_vector",
    "lite0_backbone",
    "lite0_frame_features",
    "lite_vector",
    "power_normalise",
    "spec_extractors",
    "vectorize",
]

Summary = dict[str, np.ndarray]
Extractor = Callable[[Sequence[np.ndarray]], list[Summary]]
CROPS = ("tl", "tr", "bl", "br", "c")
#: a crop's side as a share of the frame's (144 of RISE's 180): large enough to keep the
#: context of a stack, small enough that a corner's smoke fills more of I3D's view
CROP_SHARE = 0.8
CROP_EXTRACTORS = tuple(f"i3d-crop-{where}" for where in CROPS)
EXTRACTORS = ("i3d", "i3d-flip", *CROP_EXTRACTORS, "lite0", "diff", "flow")
I3D_ENDPOINTS = ("Mixed_4f", "Mixed_5c")
#: ``FeatureSpec.lite_layer`` -> the index of the last Lite0 block run (``None``: all, and the
#: head). ``mbconv-112``: the 112-channel stage's last block (stride 16), which scored above
#: the head on the shared clips (``bench/lite0_levers.py``)
LITE_LAYERS: dict[str, int | None] = {"head": None, "mbconv-112": 10}
#: pyramid cells of the motion statistics: global, 2x2, 3x3
MOTION_LEVELS = (1, 2, 3)


# --------------------------------------------------------------------------------------------
# Vectors from summaries
# --------------------------------------------------------------------------------------------


def i3d_cells(m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """An I3D endpoint's map ``[B, C, T, H, W]`` -> what a summary keeps of it: the 2x2 grid
    per time step ``[B, C, T, 2, 2]`` and the spatial maximum per time step ``[B, C, T]``."""
    m = m.float()
    grid = torch.nn.functional.adaptive_avg_pool3d(m, (m.shape[2], 2, 2))
    return grid, m.amax(dim=(3, 4))


def i3d_vector(
    grids: dict[str, torch.Tensor], maxes: dict[str, torch.Tensor], spec: FeatureSpec
) -> torch.Tensor:
    """The I3D part of the vector a head reads, ``[B, D]``, from each endpoint's grid and
    spatial maxima (:func:`i3d_cells`). Written in torch so that Grad-CAM can flow through
    it (``explain.heads``); cached summaries take the same path (:func:`vectorize`)."""
    out = []
    for ep in spec.endpoints:
        grid = grids[ep]  # B x C x T x 2 x 2
        batch = grid.shape[0]
        per_t = grid.mean(dim=(3, 4))  # B x C x T
        out.append(per_t.mean(dim=2))
        if spec.temporal > 1:
            stretches = torch.arange(per_t.shape[2]).tensor_split(
                min(spec.temporal, per_t.shape[2])
            )
            out += [per_t[:, :, s].mean(dim=2) for s in stretches]
        if spec.pyramid:
            out.append(grid.mean(dim=2).reshape(batch, -1))
        if "std" in spec.stats:
            out.append(per_t.std(dim=2, unbiased=False))
        if "max" in spec.stats:
            out.append(per_t.amax(dim=2))
        if spec.spatial_max:
            out.append(maxes[ep].mean(dim=2))
    return torch.cat(out, dim=1)


def with_crops(grid: torch.Tensor, crops: Sequence[torch.Tensor]) -> torch.Tensor:
    """The whole frame's grid averaged cell by cell with its crops' (``FeatureSpec.crops``):
    one function for the cached path and for Grad-CAM, so both sum in the same order."""
    if not crops:
        return grid
    return torch.stack([grid, *crops]).mean(dim=0)


def _i3d_vector(s: Summary, spec: FeatureSpec) -> list[np.ndarray]:
    grids, maxes = {}, {}
    for ep in spec.endpoints:
        grid = s[f"{ep}.grid"]  # C x T x 2 x 2
        if spec.flip and f"{ep}.grid.flip" in s:
            # the mirrored clip's grid, mirrored back so each cell is the same place
            grid = 0.5 * (grid + s[f"{ep}.grid.flip"][..., ::-1])
        grids[ep] = with_crops(
            torch.from_numpy(np.ascontiguousarray(grid, dtype=np.float32))[None],
            [
                torch.from_numpy(np.asarray(s[f"{ep}.grid.crop-{w}"], dtype=np.float32))[None]
                for w in spec.crops
            ],
        )
        if spec.spatial_max:
            maxes[ep] = torch.from_numpy(np.asarray(s[f"{ep}.max"], dtype=np.float32))[None]
    return [i3d_vector(grids, maxes, spec)[0].numpy()]


def lite_vector(frames: torch.Tensor, spec: FeatureSpec) -> torch.Tensor:
    """The Lite0 part of the vector a head reads, ``[B, D]``, from per-frame features
    ``[B, T, C]`` (the head's) or grids ``[B, T, C, 2, 2]`` (another ``lite_layer``'s): the
    mean (and ``spec.stats``) of the global feature (a grid's: the mean of its cells) over the
    ``lite_frames`` sampled of the ``T``, and with ``spec.pyramid`` the mean grid (pooled
    features have none: the pyramid is then I3D's alone, as before Lite0 had layers, so
    older models read the same). Written in torch so that Grad-CAM can flow
    through it (``explain.heads``); cached summaries take the same path (:func:`vectorize`).
    The standard deviation's gradient is zero, not NaN, where a feature is the same in every
    frame (a dead ReLU channel)."""
    from smokewatch.models.efficientnet_tsm import sample_frames

    chosen = frames[:, sample_frames(frames.shape[1], spec.lite_frames).to(frames.device)]
    grid = chosen if chosen.dim() == 5 else None
    if grid is not None:
        chosen = grid.mean(dim=(3, 4))  # each frame's global feature: B x T x C
    mean = chosen.mean(dim=1)
    out = [mean]
    if spec.pyramid and grid is not None:
        out.append(grid.mean(dim=1).reshape(grid.shape[0], -1))
    if "std" in spec.stats:
        var = (chosen - mean[:, None]).square().mean(dim=1)
        flat = var == 0
        std = torch.where(flat, torch.ones_like(var), var).sqrt()  # no sqrt'(0) in the graph
        out.append(torch.where(flat, torch.zeros_like(var), std))
    if "max" in spec.stats:
        out.append(chosen.amax(dim=1))
    return torch.cat(out, dim=1)


def _lite_key(spec: FeatureSpec) -> str:
    """Where a ``lite0`` summary keeps the layer ``spec`` reads: the head's pooled features
    under ``frames`` (as before Lite0 had layers), another layer's grids under its name."""
    return "frames" if spec.lite_layer == "head" else f"{spec.lite_layer}.grid"


def _lite_vector(s: Summary, spec: FeatureSpec) -> list[np.ndarray]:
    frames = torch.from_numpy(np.asarray(s[_lite_key(spec)], dtype=np.float32))[None]
    return [lite_vector(frames, spec)[0].numpy()]


def vectorize(summary: Summary, spec: FeatureSpec) -> np.ndarray:
    """The float32 vector a head reads for one clip (the summary must hold ``spec.parts``)."""
    parts: list[np.ndarray] = []
    for part in spec.parts:
        if part == "i3d":
            parts += _i3d_vector(summary, spec)
        elif part == "lite0":
            parts += _lite_vector(summary, spec)
        else:
            parts.append(summary[part])
    vector = np.concatenate([np.asarray(p, dtype=np.float32).reshape(-1) for p in parts])
    if spec.power:
        vector = power_normalise(torch.from_numpy(vector)).numpy()
    return vector


def power_normalise(v: torch.Tensor) -> torch.Tensor:
    """Signed square root of every value (``FeatureSpec.power``), for cached vectors and for
    Grad-CAM alike: its gradient stays finite at 0, where the plain square root's is not."""
    zero = v == 0
    magnitude = torch.where(zero, torch.ones_like(v), v.abs())  # no sqrt'(0) in the graph
    return torch.where(zero, torch.zeros_like(v), torch.sign(v) * magnitude.sqrt())


# --------------------------------------------------------------------------------------------
# Extractors
# --------------------------------------------------------------------------------------------


def _cells(x: np.ndarray, levels: Sequence[int]) -> np.ndarray:
    """``x``: T x H x W -> T x cells (float64), the mean of each cell of each pyramid level,
    cells row-major per level, cell ``i`` of ``n`` spanning ``[i*H//n, (i+1)*H//n)``.

    One integral image of all frames stacked gives every cell of every frame by four
    look-ups: one pass over ``x`` instead of a copy per cell. uint8 input is summed exactly
    in int32 where that cannot overflow (``bench/models.py --fast`` times this path)."""
    import cv2

    t, h, w = x.shape
    exact = x.dtype == np.uint8 and t * h * w * 255 < 2**31
    if x.dtype != np.uint8:
        x = x.astype(np.float64)
    table = cv2.integral(
        np.ascontiguousarray(x).reshape(t * h, w), sdepth=cv2.CV_32S if exact else cv2.CV_64F
    )
    bounds = np.array(
        [
            (i * h // n, (i + 1) * h // n, j * w // n, (j + 1) * w // n)
            for n in levels
            for i in range(n)
            for j in range(n)
        ]
    )
    r0, r1, c0, c1 = bounds.T
    top, bottom = np.arange(t)[:, None] * h + r0, np.arange(t)[:, None] * h + r1
    sums = table[bottom, c1].astype(np.float64) - table[top, c1] - table[bottom, c0]
    sums += table[top, c0]
    out: np.ndarray = sums / ((r1 - r0) * (c1 - c0))
    return out


def _time_stats(x: np.ndarray) -> np.ndarray:
    return np.concatenate([x.mean(axis=0), x.std(axis=0), x.max(axis=0)])


def _convert(clip: np.ndarray, code: int) -> np.ndarray:
    """``cv2.cvtColor`` of every frame of a ``(T, H, W, 3)`` clip in one call: the
    conversions are per pixel, so the frames stacked as one tall image give the same."""
    import cv2

    t, h, w, _ = clip.shape
    out: np.ndarray = cv2.cvtColor(np.ascontiguousarray(clip).reshape(t * h, w, 3), code)
    return out.reshape(t, h, w, *out.shape[2:])


def _holding(peak: int) -> type[np.unsignedinteger[Any]]:
    """The narrowest unsigned type a sum up to ``peak`` fits: narrow sums run 2-3x faster."""
    for kind in (np.uint16, np.uint32):
        if peak <= np.iinfo(kind).max:
            return kind
    return np.uint64


def diff_summary(clip: np.ndarray) -> np.ndarray:
    """Cheap motion and appearance statistics of a uint8 ``(T, H, W, 3)`` clip (no network).

    Per cell of a global + 2x2 + 3x3 pyramid: grey frame differences as mean / std / max over
    time, and the cell's mean grey, saturation and temporal grey std (steam is white and
    bright, smoke greyer), on a 0-1 scale. About 3 ms per 36x180x180 clip: the sums are exact
    integer sums of the uint8 frames, never a float copy of the clip.
    """
    import cv2

    t, h, w, _ = clip.shape
    if t < 2:
        raise ValueError(f"frame differences need at least 2 frames, got {t}")
    grey = _convert(clip, cv2.COLOR_RGB2GRAY)
    sat = _convert(clip, cv2.COLOR_RGB2HSV)[..., 1]
    diff = cv2.absdiff(grey[1:].reshape(-1, w), grey[:-1].reshape(-1, w)).reshape(t - 1, h, w)
    total = grey.sum(axis=0, dtype=_holding(t * 255))
    squares = np.square(grey, dtype=np.uint16).sum(axis=0, dtype=_holding(t * 255**2))
    mean = total / t  # exact integers in, so E[x^2] - E[x]^2 loses nothing that matters
    std = np.sqrt(np.maximum(squares / t - mean * mean, 0.0))
    parts = [
        _time_stats(_cells(diff, MOTION_LEVELS)),
        _cells(mean[None], MOTION_LEVELS)[0],
        _cells(sat.sum(axis=0, dtype=_holding(t * 255))[None] / t, MOTION_LEVELS)[0],
        _cells(std[None], MOTION_LEVELS)[0],
    ]
    return (np.concatenate(parts) / 255).astype(np.float32)


def flow_summary(clip: np.ndarray) -> np.ndarray:
    """DIS optical flow statistics of a uint8 ``(T, H, W, 3)`` clip: per pyramid cell the flow
    magnitude and its upward component (smoke rises), as mean / std / max over time."""
    from smokewatch.dataset.flow import compute_flow

    flow = compute_flow(clip, "dis").astype(np.float32)  # T x H x W x 2 (dx, dy)
    mag = np.sqrt((flow**2).sum(axis=-1))
    parts = [
        _time_stats(_cells(mag, MOTION_LEVELS)),
        _time_stats(_cells(-flow[..., 1], MOTION_LEVELS)),
    ]
    return np.concatenate(parts).astype(np.float32)


def _to_input(clips: Sequence[np.ndarray], size: int) -> torch.Tensor:
    """uint8 ``(T, H, W, 3)`` clips -> float ``[B, 3, T, size, size]`` in [-1, 1]."""
    from smokewatch.dataset.augment import VideoAugment

    video = torch.from_numpy(np.stack(clips)).permute(0, 4, 1, 2, 3)
    out: torch.Tensor = VideoAugment(size, train=False)(video)
    return out


def crop(clip: np.ndarray, where: str) -> np.ndarray:
    """The ``where`` crop (one of :data:`CROPS`) of a ``(..., H, W, 3)`` clip or batch: the
    top-left, top-right, bottom-left, bottom-right or centre square of side
    :data:`CROP_SHARE` of the frame's (of its height and width, for a frame not square)."""
    if where not in CROPS:
        raise ValueError(f"unknown crop {where!r}; one of {', '.join(CROPS)}")
    h, w = clip.shape[-3:-1]
    ch, cw = round(h * CROP_SHARE), round(w * CROP_SHARE)
    top = {"t": 0, "b": h - ch, "c": (h - ch) // 2}[where[0]]
    left = {"l": 0, "r": w - cw, "c": (w - cw) // 2}[where[-1]]
    return clip[..., top : top + ch, left : left + cw, :]


def crop_grids(
    maps: Callable[[torch.Tensor], dict[str, torch.Tensor]],
    clips: Sequence[np.ndarray],
    spec: FeatureSpec,
    where: str,
) -> dict[str, torch.Tensor]:
    """Each endpoint's 2x2 grid ``[B, C, T, 2, 2]`` of the ``where`` crop of uint8 clips
    ``(T, H, W, 3)``: the crop of the frames I3D reads, resized to ``crop_size`` (else
    ``size``) as the whole frame is. ``maps``: the frozen I3D's endpoints of an input. The
    extractor and Grad-CAM (``explain.heads``) both read crops through here."""
    from smokewatch.dataset.torch_data import frame_indices

    idx = frame_indices(clips[0].shape[0], spec.frames)
    x = _to_input([crop(c[idx], where) for c in clips], spec.crop_size or spec.size)
    return {ep: i3d_cells(m)[0] for ep, m in maps(x).items()}


def frozen_i3d(weights_cache_dir: Path | None, networks: dict[str, Any] | None = None) -> Any:
    """The frozen Kinetics I3D prepared for CPU inference; with ``networks``, built once for
    every extractor given that dict (the whole frame and each crop) rather than once each."""
    from smokewatch.models import get_model
    from smokewatch.models.inference import prepare_for_inference

    if networks is not None and "i3d" in networks:
        return networks["i3d"]
    model = get_model("i3d", weights="kinetics400", num_classes=1, cache_dir=weights_cache_dir)
    model.eval()
    prepare_for_inference(model)
    if networks is not None:
        networks["i3d"] = model
    return model


def i3d_maps(model: Any) -> Callable[[torch.Tensor], dict[str, torch.Tensor]]:
    """The frozen ``model``'s :data:`I3D_ENDPOINTS` of an input, without a graph."""

    def maps(x: torch.Tensor) -> dict[str, torch.Tensor]:
        x = x.contiguous(memory_format=torch.channels_last_3d)
        with torch.inference_mode():
            got: dict[str, torch.Tensor] = model.endpoints(x, I3D_ENDPOINTS)
            return got

    return maps


def _i3d_crop_extractor(
    spec: FeatureSpec, weights_cache_dir: Path | None, where: str, networks: dict[str, Any] | None
) -> Extractor:
    maps = i3d_maps(frozen_i3d(weights_cache_dir, networks))

    def run(clips: Sequence[np.ndarray]) -> list[Summary]:
        grids = crop_grids(maps, clips, spec, where)
        return [
            {f"{ep}.grid.crop-{where}": g[b].numpy().astype(np.float32) for ep, g in grids.items()}
            for b in range(len(clips))
        ]

    return run


def _i3d_extractor(
    spec: FeatureSpec,
    weights_cache_dir: Path | None,
    *,
    flip: bool,
    networks: dict[str, Any] | None,
) -> Extractor:
    maps = i3d_maps(frozen_i3d(weights_cache_dir, networks))

    def run(clips: Sequence[np.ndarray]) -> list[Summary]:
        from smokewatch.dataset.torch_data import frame_indices

        idx = frame_indices(clips[0].shape[0], spec.frames)
        x = _to_input([c[idx] for c in clips], spec.size)
        views = {"": maps(x)}
        if flip:
            views[".flip"] = maps(x.flip(-1))
        out: list[Summary] = [{} for _ in clips]
        for suffix, got in views.items():
            for ep, m in got.items():
                grid, peak = i3d_cells(m)
                for b in range(len(clips)):
                    out[b][f"{ep}.grid{suffix}"] = grid[b].numpy().astype(np.float32)
                    if not suffix:
                        out[b][f"{ep}.max"] = peak[b].numpy().astype(np.float32)
        return out

    return run


def lite0_backbone(
    weights: str | None = "imagenet", *, cache_dir: Path | None = None, fold: bool = True
) -> Any:
    """Frozen EfficientNet-Lite0 for per-frame features, ready for CPU inference.

    ``fold``: batch norm folded into the convolutions and weights channels-last like the
    frames: the same features within float32 rounding, fewer passes over the activations
    (``bench/models.py --fast`` measures both).
    """
    from smokewatch.models import get_model
    from smokewatch.models.inference import fold_batch_norm

    model = get_model(
        "efficientnet-lite0-tsm",
        weights=weights,
        num_classes=1,
        cache_dir=cache_dir,
        shift_fraction=0.0,
        num_segments=1,
    )
    model.eval()
    if fold:
        fold_batch_norm(model)
        model.to(memory_format=torch.channels_last)
    return model


def lite0_frame_features(
    model: Any, frames: torch.Tensor, *, layer: str = "head", grad: bool = False
) -> torch.Tensor:
    """``(N, 3, S, S)`` frames in [-1, 1] -> each frame's feature at ``layer``
    (:data:`LITE_LAYERS`): the head's pooled ``(N, 1280)``, another layer's 2x2 grid
    ``(N, C, 2, 2)``; the blocks after ``layer`` are not run.

    In inference mode, unless ``grad``: Grad-CAM (``explain.heads``) needs the graph, and
    takes the features from here too so that they are the cached ones."""
    if layer not in LITE_LAYERS:
        raise ValueError(f"unknown Lite0 layer {layer!r}; one of {', '.join(LITE_LAYERS)}")
    last = LITE_LAYERS[layer]
    frames = frames.contiguous(memory_format=torch.channels_last)
    with contextlib.nullcontext() if grad else torch.inference_mode():
        y = model.stem(frames)
        for block in model.blocks[: None if last is None else last + 1]:
            y = block(y, 1)
        if last is not None:
            return torch.nn.functional.adaptive_avg_pool2d(y.float(), 2)
        out: torch.Tensor = model.head(y).float().mean(dim=(2, 3))
    return out


def _lite_extractor(
    spec: FeatureSpec, weights_cache_dir: Path | None, *, only_needed: bool
) -> Extractor:
    from smokewatch.models.efficientnet_tsm import sample_frames

    model = lite0_backbone(cache_dir=weights_cache_dir)

    def run(clips: Sequence[np.ndarray]) -> list[Summary]:
        if only_needed:  # the fast model: only the frames its head reads
            idx = sample_frames(clips[0].shape[0], spec.lite_frames).numpy()
            clips = [c[idx] for c in clips]
        x = _to_input(clips, spec.lite_size)  # B x 3 x T x S x S
        b, c, t, h, w = x.shape
        frames = x.transpose(1, 2).reshape(b * t, c, h, w)
        pooled = lite0_frame_features(model, frames, layer=spec.lite_layer)
        pooled = pooled.view(b, t, *pooled.shape[1:])
        return [{_lite_key(spec): pooled[i].numpy().copy()} for i in range(b)]

    return run


def _stats_extractor(name: str, fn: Callable[[np.ndarray], np.ndarray]) -> Extractor:
    def run(clips: Sequence[np.ndarray]) -> list[Summary]:
        return [{name: fn(c)} for c in clips]

    return run


def extractor_settings(name: str, spec: FeatureSpec) -> dict[str, Any]:
    """What decides an extractor's output (its cache key): nothing a head chooses."""
    if name in ("i3d", "i3d-flip"):
        return {"extractor": name, "frames": spec.frames, "size": spec.size, "version": 1}
    if name in CROP_EXTRACTORS:
        return {
            "extractor": name,
            "frames": spec.frames,
            "size": spec.crop_size or spec.size,
            "share": CROP_SHARE,
            "version": 1,
        }
    if name == "lite0":
        settings = {"extractor": name, "size": spec.lite_size, "version": 2}  # 2: TF SAME pad
        if spec.lite_layer != "head":  # the head's caches keep the key they had before layers
            settings["layer"] = spec.lite_layer
        return settings
    if name in ("diff", "flow"):
        return {"extractor": name, "levels": list(MOTION_LEVELS), "version": 1}
    raise ValueError(f"unknown extractor {name!r}; one of {', '.join(EXTRACTORS)}")


def make_extractor(
    name: str,
    spec: FeatureSpec,
    weights_cache_dir: Path | None,
    *,
    only_needed: bool = False,
    networks: dict[str, Any] | None = None,
) -> Extractor:
    """The extractor ``name`` for ``spec``, its network built once. ``only_needed``: compute
    only what ``spec`` reads (``lite0``: its ``lite_frames``), not the full cacheable summary.
    ``networks``: frozen I3D built already for another extractor, and kept there for the next
    (five I3D readings of a clip need one I3D in memory, not five)."""
    if name == "i3d":
        return _i3d_extractor(spec, weights_cache_dir, flip=False, networks=networks)
    if name == "i3d-flip":
        return _i3d_extractor(spec, weights_cache_dir, flip=True, networks=networks)
    if name in CROP_EXTRACTORS:
        where = name.removeprefix("i3d-crop-")
        return _i3d_crop_extractor(spec, weights_cache_dir, where, networks)
    if name == "lite0":
        return _lite_extractor(spec, weights_cache_dir, only_needed=only_needed)
    if name == "diff":
        return _stats_extractor("diff", diff_summary)
    if name == "flow":
        return _stats_extractor("flow", flow_summary)
    raise ValueError(f"unknown extractor {name!r}; one of {', '.join(EXTRACTORS)}")


def spec_extractors(spec: FeatureSpec) -> list[str]:
    """The extractors whose summaries ``spec`` reads (``i3d-flip`` holds the plain maps too;
    each crop of ``spec.crops`` is one more I3D pass)."""
    names = [("i3d-flip" if p == "i3d" and spec.flip else p) for p in spec.parts]
    return names + [f"i3d-crop-{where}" for where in spec.crops]


# --------------------------------------------------------------------------------------------
# The cache
# --------------------------------------------------------------------------------------------


#: What reading a damaged cache entry raises (a file cut short by a crash or a full disk, or
#: emptied by a power cut after its rename): numpy's own errors, and a ``.npz``'s zip and
#: deflate errors. Such an entry is a cache miss, extracted again, not the end of a long run.
DAMAGED_ENTRY: tuple[type[Exception], ...] = (
    OSError,
    ValueError,
    EOFError,
    zipfile.BadZipFile,
    zlib.error,
)


@dataclass(frozen=True)
class _Store:
    folder: Path

    @classmethod
    def open(cls, cache_dir: Path, name: str, spec: FeatureSpec) -> _Store:
        settings = extractor_settings(name, spec)
        digest = hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:10]
        folder = cache_dir / "features" / f"{name}-{digest}"
        folder.mkdir(parents=True, exist_ok=True)
        manifest = folder / "settings.json"
        if not manifest.is_file():
            atomic_write_text(manifest, json.dumps(settings, indent=2) + "\n")
        return cls(folder)

    def file(self, video: Path) -> Path:
        st = video.stat()
        return self.folder / f"{video.stem}.{st.st_size}-{st.st_mtime_ns}.npz"

    def load(self, video: Path) -> Summary | None:
        path = self.file(video)
        if not path.is_file():
            return None
        try:
            with np.load(path) as data:
                return {k: data[k] for k in data.files}
        except DAMAGED_ENTRY:  # a damaged entry is extracted again
            return None

    def save(self, video: Path, summary: Summary) -> None:
        with atomic_path(self.file(video), suffix=".npz") as tmp, open(tmp, "wb") as f:
            np.savez(f, **summary)  # type: ignore[arg-type]  # numpy's stub: one bool kwarg


def _batches(todo: Sequence[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(todo), size):
        yield list(todo[start : start + size])


def cached_summaries(
    paths: Sequence[Path],
    spec: FeatureSpec,
    *,
    cache_dir: Path | None,
    weights_cache_dir: Path | None = None,
    batch_size: int = 4,
    on_batch: Callable[[int], None] | None = None,
    extractors: Sequence[str] | None = None,
    networks: dict[str, Any] | None = None,
) -> list[Summary]:
    """Every clip's summary for ``spec`` (all its extractors merged), in input order.

    With ``cache_dir`` each extractor's output is read from, or written to, its cache (one
    file per clip, as it is made: resumable); without, everything is computed in memory.
    ``on_batch(n)``: n more clips have one extractor's summary (cached or made), so the
    calls add up to ``len(paths) * len(spec_extractors(spec))``. ``extractors``: only these
    of ``spec_extractors(spec)``; ``networks``: see :func:`make_extractor`.
    """
    from smokewatch.video import read_clip

    merged: list[Summary] = [{} for _ in paths]
    networks = {} if networks is None else networks
    for name in spec_extractors(spec) if extractors is None else extractors:
        store = _Store.open(cache_dir, name, spec) if cache_dir is not None else None
        # the flipped extraction holds the plain maps too: reuse it when it is there
        richer = (
            _Store.open(cache_dir, "i3d-flip", spec)
            if cache_dir is not None and name == "i3d"
            else None
        )
        todo = []
        for i, p in enumerate(paths):
            got = store.load(Path(p)) if store is not None else None
            if got is None and richer is not None:
                got = richer.load(Path(p))
            if got is None:
                todo.append(i)
            else:
                merged[i].update(got)
        if on_batch is not None and len(todo) < len(paths):
            on_batch(len(paths) - len(todo))  # read from the cache
        if not todo:
            continue
        run = make_extractor(name, spec, weights_cache_dir, networks=networks)
        for batch in _batches(todo, batch_size):
            made = run([read_clip(paths[i]) for i in batch])
            for i, summary in zip(batch, made, strict=True):
                if store is not None:
                    store.save(Path(paths[i]), summary)
                merged[i].update(summary)
            if on_batch is not None:
                on_batch(len(batch))
    return merged


def extraction_key(name: str, spec: FeatureSpec) -> str:
    """One extraction (extractor and the settings that decide its output): two feature sets
    with the same key read the same summaries (rise-best's two candidates: the whole frame)."""
    return f"{name} {json.dumps(extractor_settings(name, spec), sort_keys=True)}"


def summaries_of_arrays(
    clips: Sequence[np.ndarray],
    spec: FeatureSpec,
    extractors: dict[str, Extractor],
    *,
    batch_size: int = 4,
) -> list[Summary]:
    """:func:`cached_summaries` of in-memory clips (detection windows), extractors built once."""
    merged: list[Summary] = [{} for _ in clips]
    for name in spec_extractors(spec):
        run = extractors[name]
        for start in range(0, len(clips), batch_size):
            chunk = list(clips[start : start + batch_size])
            for i, summary in enumerate(run(chunk)):
                merged[start + i].update(summary)
    return merged


def env_threads() -> int:
    """torch threads for a long extraction: ``SMOKEWATCH_THREADS`` or torch's default."""
    return int(os.environ.get("SMOKEWATCH_THREADS", "0")) or torch.get_num_threads()
