"""How RISE's Grad-CAM activation ratio behaves for a trained model on labeled clips.

    python bench/activation_ratio.py models/rise-hard-i3d \\
        --labels ../shared/rise/clips.csv --clips ../shared/rise/clips --limit 120

For each clip (a seeded, label-stratified sample of ``--limit``): the model's probability, the
activation ratio detection uses (RISE's: share of voxels with 1 + raw map > 0.85,
``explain.gradcam.activation_ratio``) and, for comparison, the share over 0.85 of the
peak-scaled picture. Prints both ratios' quartiles for smoke and no-smoke clips, their ROC-AUC
as a smoke score among the clips past the Grad-CAM gate (probability > 0.6), and how many of
the clips RISE's rule (probability > 0.85) calls smoke the ratio > 0.4 keeps: how much the gate
changes the events. A model trained on these clips has seen them: the figures describe the
gate, not the model's quality. Threads are pinned (``--threads``, default 2).

Measured 2026-12-05, ``models/rise-hard-i3d`` (``make rise-models``), ``--limit 80``, 2 threads,
other sessions' tests running: the RISE ratio is 1.000 at every quartile for smoke and
no-smoke clips alike (ROC-AUC 0.500 past the gate): with this model's small gradients the
raw map never falls below -0.15, so ``ratio > 0.4`` passes every window and the event rule
rests on the probability. The picture's share over 0.85 is 0.003-0.006 (ROC-AUC 0.688, the
probability's own 0.632). No clip reached p > 0.85: this model's probabilities lie in
0.37-0.71, so RISE's 0.85 makes no events with it (see docs/detections.md).
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import numpy as np


def _quartiles(values: list[float]) -> str:
    if not values:
        return "-"
    q = np.percentile(values, [25, 50, 75])
    return f"{q[0]:.3f} / {q[1]:.3f} / {q[2]:.3f}  (n={len(values)})"


def _auc(scores: list[float], labels: list[int]) -> str:
    if len(set(labels)) < 2:
        return "- (one class only)"
    from sklearn.metrics import roc_auc_score

    return f"{roc_auc_score(labels, scores):.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path, help="a trained model folder")
    parser.add_argument("--labels", type=Path, required=True, help="CSV with file,label")
    parser.add_argument("--clips", type=Path, required=True, help="the clips' folder")
    parser.add_argument("--limit", type=int, default=120, help="clips to explain (0: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=4)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from smokewatch.dataset.torch_data import items_from_labels_csv
    from smokewatch.explain.gradcam import Explainer, activation_ratio, normalise_cam
    from smokewatch.training.saved import load_model_dir
    from smokewatch.video import read_clip

    items = items_from_labels_csv(args.labels, args.clips)
    if args.limit:
        rng = random.Random(args.seed)
        by_label = {0: [i for i in items if i.label == 0], 1: [i for i in items if i.label == 1]}
        half = args.limit // 2
        items = rng.sample(by_label[1], min(half, len(by_label[1])))
        items += rng.sample(by_label[0], min(args.limit - len(items), len(by_label[0])))
    explainer = Explainer(load_model_dir(args.model), batch_size=args.batch_size)
    rows: list[tuple[int, float, float, float]] = []
    started = time.perf_counter()
    for k in range(0, len(items), args.batch_size):
        chunk = items[k : k + args.batch_size]
        clips = np.stack([read_clip(i.path) for i in chunk])
        probs, raws = explainer.explain(clips, raw=True)
        pictures = normalise_cam(raws)
        for item, p, raw, picture in zip(chunk, probs, raws, pictures, strict=True):
            rows.append(
                (item.label, float(p), activation_ratio(raw), float((picture > 0.85).mean()))
            )
        done = len(rows)
        rate = done / (time.perf_counter() - started)
        print(f"\r{done}/{len(items)} clips ({rate:.2f} clips/s)", end="", flush=True)
    print()

    print(f"\nmodel {args.model}, {len(rows)} clips, Grad-CAM layer {explainer.target_layer}")
    print("quartiles (25 / 50 / 75 %):")
    for name, col in (("RISE ratio (raw map)", 2), ("share > 0.85 of the picture", 3)):
        for label in (1, 0):
            values = [r[col] for r in rows if r[0] == label]
            print(f"  {name:30s} label {label}: {_quartiles(values)}")
    gated = [r for r in rows if r[1] > 0.6]
    print(f"\npast the Grad-CAM gate (p > 0.6): {len(gated)} clips")
    labels = [r[0] for r in gated]
    print(f"  ROC-AUC of the RISE ratio as a smoke score:    {_auc([r[2] for r in gated], labels)}")
    print(f"  ROC-AUC of the picture share as a smoke score: {_auc([r[3] for r in gated], labels)}")
    print(f"  ROC-AUC of the probability itself:             {_auc([r[1] for r in gated], labels)}")
    smoke = [r for r in rows if r[1] > 0.85]
    kept = [r for r in smoke if r[2] > 0.4]
    for what, group in (("p > 0.85", smoke), ("p > 0.85 and RISE ratio > 0.4", kept)):
        positives = sum(r[0] for r in group)
        precision = positives / len(group) if group else float("nan")
        print(
            f"  {what:32s}: {len(group):4d} clips, {positives:4d} labeled smoke "
            f"(precision {precision:.3f})"
        )


if __name__ == "__main__":
    main()
