"""More of EfficientNet-Lite0 than rise-fast reads, at rise-fast's cost: grids and inner layers.

rise-fast reads the frozen ImageNet EfficientNet-Lite0 on 4 of the 36 frames at 180², each
frame's 1280-d head feature pooled over the whole frame (mean, std and max over the 4), fused
with the cheap ``diff`` statistics. rise-best's largest gain on I3D came from *where*: a 2x2
spatial pyramid and a middle layer (Mixed_4f) beside the last. The same levers cost Lite0
nothing at scoring (the same single pass, a few more poolings), so they keep the fast model's
speed. This script measures them on the folds of ``make rise-cv`` (5 outer folds, stratified
and grouped by scene), every choice (kernel, C, fusion weights, threshold) made inside:

``extract``  Lite0 on the 4 frames rise-fast reads; per frame, per layer (the ends of the
             40-, 80-, 112-, 192- and 320-channel stages and the 1280-channel head) the 1x1 and 2x2
             average-pooled grids (float16), and the clip's ``diff`` statistics. Cached in
             ``out/lite0-levers/<size>/``, one file per clip, atomic and resumable.
``levers``   nested CV of each mix, each Lite0 mix fused with ``diff`` as rise-fast fuses.

    python bench/lite0_levers.py extract      # 22 s on 2 idle cores
    python bench/lite0_levers.py levers       # ~5 s a row

Measured on 2026-12-07 (AMD EPYC, 2 threads, nothing else running), F1 / ROC-AUC, each fused
with diff; the first row reproduced rise-fast's nested figures exactly:

    head, global mean + std + max (rise-fast until then)      0.706 / 0.723
    head, + 2x2 grid                                          0.685 / 0.712
    112-stage + head, global + 2x2, + head's std / max        0.697 / 0.690
    112-stage alone, global + 2x2                             0.720 / 0.759
    112-stage alone, global + 2x2 + std / max                 0.741 / 0.760
    80 + 112-stage, global + 2x2                              0.729 / 0.745
    (every row: docs/models-cpu.md)

Read off the outer folds, these rows are a screen; rise-fast now offers the head and the
112-channel stage (``lite_layer: mbconv-112``) to its inner CV, which chose the stage in every
fold (nested 0.740 / 0.760).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

# the I3D levers' clips, folds and one-file-per-clip cache (a script's own folder is on the path)
from i3d_levers import REPO, cache_file, clips_and_groups
from torch import nn

from smokewatch.core.atomic import atomic_path
from smokewatch.models.efficientnet_tsm import sample_frames
from smokewatch.settings import load_settings
from smokewatch.training.features import _to_input, diff_summary, lite0_backbone
from smokewatch.training.nested import Candidate, nested_cv
from smokewatch.video import read_clip

FRAMES = 4  # rise-fast's lite_frames
#: block index (0-based, of ``model.blocks``) -> layer name: the ends of five stages
BLOCK_LAYERS = {4: "b40", 7: "b80", 10: "b112", 14: "b192", 15: "b320"}
LAYERS = (*BLOCK_LAYERS.values(), "head")
#: name -> (layers, grids, the layer whose global feature's temporal std + max is added)
MIXES: dict[str, tuple[tuple[str, ...], tuple[int, ...], str | None]] = {
    "rise-fast: head g1, mean+std+max": (("head",), (1,), "head"),
    "head g1 + g2 (pyramid), +std+max": (("head",), (1, 2), "head"),
    "head g1 + g2, mean only": (("head",), (1, 2), None),
    "b112 + head, g1 + g2, +std+max": (("b112", "head"), (1, 2), "head"),
    "b192 + head, g1 + g2, +std+max": (("b192", "head"), (1, 2), "head"),
    "b320 + head, g1 + g2, +std+max": (("b320", "head"), (1, 2), "head"),
    "b112 + b192 + head, g1 + g2, +std+max": (("b112", "b192", "head"), (1, 2), "head"),
    "b192 alone, g1 + g2": (("b192",), (1, 2), None),
    "b112 alone, g1 + g2": (("b112",), (1, 2), None),
    "b112 alone, g1": (("b112",), (1,), None),
    "b112 alone, g1 + g2, +std+max": (("b112",), (1, 2), "b112"),
    "b112 + b192, g1 + g2": (("b112", "b192"), (1, 2), None),
    "b80 alone, g1 + g2": (("b80",), (1, 2), None),
    "b40 alone, g1 + g2": (("b40",), (1, 2), None),
    "b80 + b112, g1 + g2": (("b80", "b112"), (1, 2), None),
}


def layer_maps(model: nn.Module, frames: torch.Tensor) -> dict[str, torch.Tensor]:
    """``(N, 3, S, S)`` frames -> each layer's map ``(N, C, h, w)``, one pass."""
    out = {}
    with torch.inference_mode():
        y = model.stem(frames.contiguous(memory_format=torch.channels_last))
        for i, block in enumerate(model.blocks):
            y = block(y, 1)
            if i in BLOCK_LAYERS:
                out[BLOCK_LAYERS[i]] = y.float()
        out["head"] = model.head(y).float()
    return out


def extract(folder: Path, size: int) -> None:
    items, _, _ = clips_and_groups()
    folder.mkdir(parents=True, exist_ok=True)
    model = lite0_backbone(cache_dir=load_settings().cache_dir)
    started = time.perf_counter()
    for n, item in enumerate(items, 1):
        target = cache_file(folder, item)
        if target.is_file():
            continue
        clip = read_clip(item.path)
        idx = sample_frames(clip.shape[0], FRAMES).numpy()
        x = _to_input([clip[idx]], size)[0].transpose(0, 1)  # T x 3 x S x S
        summary = {"diff": diff_summary(clip)}
        for name, m in layer_maps(model, x).items():
            for g in (1, 2):
                pooled = nn.functional.adaptive_avg_pool2d(m, g)  # T x C x g x g
                summary[f"{name}.g{g}"] = pooled.numpy().astype(np.float16)
        with atomic_path(target, suffix=".npz") as tmp, open(tmp, "wb") as f:
            np.savez(f, **summary)  # type: ignore[arg-type]
        if n % 100 == 0 or n == len(items):
            print(f"{n}/{len(items)} clips, {time.perf_counter() - started:.0f} s", flush=True)


def lite_row(
    d: dict[str, np.ndarray], layers: tuple[str, ...], grids: tuple[int, ...], stats: str | None
) -> np.ndarray:
    parts = []
    for name in layers:
        for g in grids:
            parts.append(d[f"{name}.g{g}"].mean(axis=0).ravel())  # mean over the frames
    if stats:
        glob = d[f"{stats}.g1"].reshape(FRAMES, -1)
        parts += [glob.std(axis=0), glob.max(axis=0)]
    return np.concatenate(parts)


def levers(folder: Path) -> None:
    items, y, groups = clips_and_groups()
    rows = []
    for item in items:
        with np.load(cache_file(folder, item)) as d:
            rows.append({k: d[k].astype(np.float32) for k in d.files})
    diff = np.stack([r["diff"] for r in rows])
    print(f"{'Lite0 features (fused with diff)':40s} {'dim':>6s}  F1     ROC-AUC  (per fold)")
    for name, (layers, grids, stats) in MIXES.items():
        x = np.stack([lite_row(r, layers, grids, stats) for r in rows])
        feats = {"lite": x, "diff": diff}
        cands = [Candidate(f"{f}/{k}", f, k, f) for f in feats for k in ("svm-linear", "svm-rbf")]
        runs = nested_cv(feats, y, cands, outer_folds=5, inner_folds=4, groups=groups, fuse=True)
        f1 = [r.metrics["f1"] for r in runs]
        auc = [r.metrics["roc_auc"] for r in runs]
        per = " ".join(f"{a:.3f}" for a in auc)
        print(f"{name:40s} {x.shape[1]:6d}  {np.mean(f1):.3f}  {np.mean(auc):.3f}    ({per})")
        print("    F1 per fold " + " ".join(f"{v:.3f}" for v in f1), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=["extract", "levers"])
    ap.add_argument("--size", type=int, default=180, help="Lite0 input size (frames resized)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    folder = REPO / "out" / "lite0-levers" / str(args.size)
    if args.what == "extract":
        extract(folder, args.size)
    else:
        levers(folder)


if __name__ == "__main__":
    main()
