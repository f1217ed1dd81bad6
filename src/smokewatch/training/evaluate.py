"""Score a trained model on any labeled clips: what ``smokewatch evaluate`` writes.

predictions.csv   file, probability, prediction, label
metrics.json      precision, recall, f1, roc_auc, accuracy, the confusion counts, n, model
roc.png           the ROC curve with its AUC
confusion/        tp.mp4, fp.mp4, fn.mp4, tn.mp4: up to 16 clips of each cell in a grid
                  video (RISE looked at its errors this way)
"""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from smokewatch.core.atomic import atomic_path, atomic_write_text
from smokewatch.training.metrics import BinaryMetrics, binary_metrics, roc_curve

__all__ = [
    "check_threshold",
    "evaluate_model",
    "render_roc",
    "write_confusion_grids",
    "write_predictions",
]


def check_threshold(threshold: float) -> float:
    """``threshold`` if it is a probability strictly between 0 and 1, else one clear error.

    0 or 1 would call every clip (or none) smoke, and NaN would end up in ``metrics.json`` as
    ``NaN``, which is not JSON; both are mistakes to stop on, not results to write.
    """
    import math

    from smokewatch.errors import SmokewatchError

    if not (math.isfinite(threshold) and 0.0 < threshold < 1.0):
        raise SmokewatchError(
            f"--threshold {threshold}: give a probability between 0 and 1 (exclusive), e.g. 0.5"
        )
    return threshold


def write_predictions(
    path: Path, items: Sequence[Any], probs: np.ndarray, threshold: float
) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["file", "probability", "prediction", "label"])
    for item, p in zip(items, probs, strict=True):
        writer.writerow([Path(item.path).name, f"{p:.6f}", int(p >= threshold), item.label])
    atomic_write_text(path, buf.getvalue())


def render_roc(path: Path, labels: Sequence[int], probs: np.ndarray, title: str) -> None:
    """The ROC curve as a PNG drawn with Pillow (no plotting library needed)."""
    from PIL import Image, ImageDraw

    size, margin = 480, 56
    img = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(img)
    x0, y0, x1, y1 = margin, 24, size - 24, size - margin
    draw.rectangle((x0, y0, x1, y1), outline="black")
    for t in range(1, 5):  # grid
        gx = x0 + (x1 - x0) * t / 5
        gy = y1 - (y1 - y0) * t / 5
        draw.line((gx, y0, gx, y1), fill=(225, 225, 225))
        draw.line((x0, gy, x1, gy), fill=(225, 225, 225))
    for t in range(6):
        v = t / 5
        draw.text((x0 + (x1 - x0) * v - 8, y1 + 6), f"{v:.1f}", fill="black")
        draw.text((x0 - 30, y1 - (y1 - y0) * v - 6), f"{v:.1f}", fill="black")
    draw.text(((x0 + x1) / 2 - 50, size - 22), "false positive rate", fill="black")
    draw.text((6, y0 - 18), "true positive rate", fill="black")
    draw.line((x0, y1, x1, y0), fill=(160, 160, 160), width=1)
    if len(set(labels)) == 2:
        fpr, tpr, _ = roc_curve(labels, probs)
        points = [(x0 + (x1 - x0) * f, y1 - (y1 - y0) * t) for f, t in zip(fpr, tpr, strict=True)]
        draw.line(points, fill=(200, 40, 40), width=3)
        auc = binary_metrics(labels, probs).roc_auc
        draw.text((x0 + 140, y1 - 30), f"{title}  AUC {auc:.3f}", fill=(200, 40, 40))
    else:
        draw.text((x0 + 40, (y0 + y1) / 2), "one class only: no ROC curve", fill="black")
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG")


def write_confusion_grids(
    out: Path,
    items: Sequence[Any],
    probs: np.ndarray,
    threshold: float,
    *,
    per_cell: int = 16,
    tile: int = 90,
    seed: int = 0,
) -> dict[str, int]:
    """A grid video of up to ``per_cell`` random clips for each confusion cell present."""
    from smokewatch.video import read_clip, write_clip

    cells: dict[str, list[Any]] = {"tp": [], "fp": [], "fn": [], "tn": []}
    for item, p in zip(items, probs, strict=True):
        pred = p >= threshold
        key = ("t" if pred == bool(item.label) else "f") + ("p" if pred else "n")
        cells[key].append(item)
    rng = random.Random(seed)
    written = {}
    for key, members in cells.items():
        if not members:
            continue
        chosen = rng.sample(members, min(per_cell, len(members)))
        clips = [read_clip(item.path) for item in chosen]
        frames = min(c.shape[0] for c in clips)
        cols = int(np.ceil(np.sqrt(len(clips))))
        rows = int(np.ceil(len(clips) / cols))
        grid = np.zeros((frames, rows * tile, cols * tile, 3), dtype=np.uint8)
        for i, clip in enumerate(clips):
            r, c = divmod(i, cols)
            grid[:, r * tile : (r + 1) * tile, c * tile : (c + 1) * tile] = _resize(
                clip[:frames], tile
            )
        out.mkdir(parents=True, exist_ok=True)
        write_clip(grid, out / f"{key}.mp4")
        written[key] = len(clips)
    return written


def _resize(clip: np.ndarray, size: int) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    t = torch.from_numpy(clip).permute(0, 3, 1, 2).float()
    t = F.interpolate(t, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return t.round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()


def evaluate_model(
    model_dir: Path,
    items: Sequence[Any],
    out_dir: Path,
    *,
    device: str | None = None,
    batch_size: int = 4,
    workers: int = 1,
    threshold: float | None = None,
    cache_dir: Path | None = None,
    weights_cache_dir: Path | None = None,
    grids: bool = True,
    progress: bool = True,
    on_skip: Callable[[str], None] | None = None,
) -> BinaryMetrics:
    """Score ``items`` with the model in ``model_dir`` and write ``out_dir`` (module doc).

    ``device`` None: CUDA if this machine has it, else the CPU (as ``train`` chooses).
    Clips that cannot be read (:func:`~smokewatch.dataset.torch_data.readable_items`, checked
    before any is scored) are left out, so one corrupt file does not cost the whole run:
    ``on_skip`` hears why for each, and ``metrics.json`` lists them under ``skipped``, so a
    score on fewer clips than were asked for says so.
    """
    from smokewatch.dataset.torch_data import readable_items
    from smokewatch.errors import SmokewatchError
    from smokewatch.training.device import resolve_device
    from smokewatch.training.progress import Progress
    from smokewatch.training.saved import load_model_dir

    if not items:
        raise SmokewatchError("no clips to evaluate")
    if threshold is not None:
        check_threshold(threshold)
    dev = resolve_device(device)
    trained = load_model_dir(model_dir)
    cut = trained.threshold if threshold is None else threshold
    asked = len(items)
    items, skipped = readable_items(
        items,
        frames=1 if trained.config.kind == "heads" else trained.config.frames,
        modality=trained.config.modality,
        flow_method=trained.config.flow_method,
        cache_dir=cache_dir,
    )
    for message in skipped:
        if on_skip is not None:
            on_skip(message)
    if not items:
        raise SmokewatchError(
            f"none of the {asked} clips to evaluate can be read (first: {skipped[0]})"
        )
    with Progress(progress, len(items), f"evaluate {model_dir}") as bar:
        probs = trained.predict(
            items,
            device=dev,
            batch_size=batch_size,
            workers=workers,
            cache_dir=cache_dir,
            weights_cache_dir=weights_cache_dir,
            on_batch=bar.advance,
        )
    labels = [item.label for item in items]
    metrics = binary_metrics(labels, probs, threshold=cut)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_predictions(out_dir / "predictions.csv", items, probs, cut)
    summary = {
        **metrics.as_dict(),
        "n": metrics.n,
        "threshold": cut,
        "model": str(model_dir),
        "preset": trained.config.name,
        "skipped": list(skipped),
    }
    atomic_write_text(out_dir / "metrics.json", json.dumps(summary, indent=2) + "\n")
    render_roc(out_dir / "roc.png", labels, probs, trained.config.name)
    if grids:
        write_confusion_grids(out_dir / "confusion", items, probs, cut)
    return metrics
