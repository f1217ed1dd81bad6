"""Explaining clip files: what ``smokewatch explain`` writes.

Per clip, under the output folder: ``<name>.png`` (stacked frames and heat maps),
``<name>.gif`` (the animated overlay) and ``<name>.npy`` (the float32 volume ``[T, H, W]``).
With labels, every listed clip is scored first (``TrainedModel.predict``, as ``evaluate``
scores) and a seeded sample of each confusion cell is explained into ``tp/``, ``fp/``,
``fn/`` and ``tn/``. ``index.json`` says what is where: per clip its file, probability,
activation ratio (RISE: the share of voxels above 0.85) and its three files; with labels also
the label, each cell's size and the sample's seed. A clip that cannot be decoded (corrupt,
truncated, too few frames) is skipped and listed, and the others are still explained.
"""

from __future__ import annotations

import json
import os
import random
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from smokewatch.core.atomic import atomic_path, atomic_write_text
from smokewatch.errors import SmokewatchError
from smokewatch.explain.gradcam import Explainer, ExplainError, activation_ratio, normalise_cam
from smokewatch.explain.render import write_overlay_gif, write_stacked_png
from smokewatch.training.saved import BrokenModelError

__all__ = [
    "CELLS",
    "ExplainReport",
    "explain_clip",
    "explain_files",
    "explain_labeled",
    "find_clips",
]

#: The confusion cells, in the order they are sampled and listed.
CELLS: tuple[str, ...] = ("tp", "fp", "fn", "tn")

#: How many clips one ``predict`` call scores (a failing call is retried clip by clip).
_SCORE_CHUNK = 32


@dataclass
class ExplainReport:
    """What a run wrote (``index.json``'s entries) and the clips it skipped (one line each)."""

    index: Path
    explained: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def find_clips(paths: Sequence[Path]) -> tuple[list[Path], list[str]]:
    """The ``.mp4`` files named in ``paths`` or found under its folders, and what was passed over.

    Folders are walked without following links: only regular files count (a link, even to a
    clip, is listed as skipped), and names starting with a dot (temporary files) are ignored.
    A path that does not exist is an :class:`ExplainError`.
    """
    found: list[Path] = []
    skipped: list[str] = []
    for path in paths:
        if path.is_dir():
            for root, dirs, names in os.walk(path, followlinks=False):
                dirs.sort()
                for d in dirs:
                    if os.path.islink(os.path.join(root, d)):
                        skipped.append(f"{Path(root) / d}: a symbolic link (not followed)")
                for name in sorted(names):
                    if name.startswith(".") or not name.endswith(".mp4"):
                        continue
                    full = Path(root) / name
                    mode = os.lstat(full).st_mode
                    if stat.S_ISREG(mode):
                        found.append(full)
                    else:
                        kind = "a symbolic link" if stat.S_ISLNK(mode) else "not a regular file"
                        skipped.append(f"{full}: {kind} (only regular files are explained)")
        elif path.is_file():
            found.append(path)
        else:
            raise ExplainError(f"{path}: no such clip or folder")
    unique = list(dict.fromkeys(found))
    return unique, skipped


def _unique(stem: str, used: set[str]) -> str:
    name, k = stem, 2
    while name in used:
        name, k = f"{stem}-{k}", k + 1
    used.add(name)
    return name


def explain_clip(explainer: Explainer, clip: Path, out: Path, name: str) -> dict[str, Any]:
    """Decode ``clip``, explain it, write ``out/<name>.{png,gif,npy}``; its index entry."""
    from smokewatch.video import read_clip

    frames = read_clip(clip)
    probs, raws = explainer.explain(frames[None], raw=True)
    volume = normalise_cam(raws)[0]
    out.mkdir(parents=True, exist_ok=True)
    write_stacked_png(frames, volume, out / f"{name}.png")
    write_overlay_gif(frames, volume, out / f"{name}.gif")
    with atomic_path(out / f"{name}.npy") as tmp:
        np.save(tmp, volume)
    return {
        "file": str(clip),
        "probability": round(float(probs[0]), 6),
        "activation_ratio": round(activation_ratio(raws[0]), 6),
        "png": f"{name}.png",
        "gif": f"{name}.gif",
        "npy": f"{name}.npy",
    }


def _skip_line(path: Path, exc: BaseException) -> str:
    reason = str(exc)
    return reason if str(path) in reason else f"{path}: {reason}"


def _header(explainer: Explainer, model: Path) -> dict[str, Any]:
    return {
        "model": str(model),
        "preset": explainer.config.name,
        "target_layer": explainer.target_layer,
        "pixel_threshold": 0.85,
    }


def explain_files(
    explainer: Explainer,
    clips: Sequence[Path],
    out: Path,
    *,
    model: Path,
    skipped: Sequence[str] = (),
    progress: bool = True,
) -> ExplainReport:
    """Explain each clip into ``out`` (names from the file stems, made unique); write the index."""
    from smokewatch.training.progress import Progress

    report = ExplainReport(out / "index.json", skipped=list(skipped))
    used: set[str] = set()
    with Progress(progress, len(clips), "explain") as bar:
        for clip in clips:
            try:
                entry = explain_clip(explainer, clip, out, _unique(clip.stem, used))
            except BrokenModelError:  # every clip would fail: not a clip to skip
                raise
            except SmokewatchError as exc:
                report.skipped.append(_skip_line(clip, exc))
            else:
                report.explained.append(entry)
            bar.advance(1)
    index = {**_header(explainer, model), "clips": report.explained, "skipped": report.skipped}
    atomic_write_text(report.index, json.dumps(index, indent=2) + "\n")
    return report


def _score(
    trained: Any, items: Sequence[Any], bar: Any, skipped: list[str], **predict: Any
) -> dict[int, float]:
    """P(smoke) by item position; a chunk that fails is scored clip by clip, bad clips listed."""
    scores: dict[int, float] = {}
    for start in range(0, len(items), _SCORE_CHUNK):
        chunk = list(items[start : start + _SCORE_CHUNK])
        try:
            probs = trained.predict(chunk, **predict)
            scores.update({start + i: float(p) for i, p in enumerate(probs)})
        except BrokenModelError:  # every clip would fail: not a clip to skip
            raise
        except SmokewatchError:
            for i, item in enumerate(chunk):
                try:
                    scores[start + i] = float(trained.predict([item], **predict)[0])
                except BrokenModelError:  # every clip would fail: not a clip to skip
                    raise
                except SmokewatchError as exc:
                    skipped.append(_skip_line(Path(item.path), exc))
        bar.update(start + len(chunk))
    return scores


def explain_labeled(
    trained: Any,
    explainer: Explainer,
    items: Sequence[Any],
    out: Path,
    *,
    model: Path,
    per_cell: int = 4,
    seed: int = 0,
    progress: bool = True,
    device: str = "cpu",
    batch_size: int = 4,
    weights_cache_dir: Path | None = None,
) -> ExplainReport:
    """Score labeled clips, then explain up to ``per_cell`` of each confusion cell (seeded).

    ``items``: :class:`~smokewatch.dataset.torch_data.ClipItem`; the cut is the model's own
    threshold (:attr:`TrainedModel.threshold`, as ``evaluate`` uses it) and a clip is positive at or
    above it. Create ``explainer`` before this scores anything: scoring prepares
    ``trained.model`` for fast inference in place.
    """
    from smokewatch.training.progress import Progress

    if per_cell < 1:
        raise ExplainError(f"per_cell must be at least 1, got {per_cell}")
    report = ExplainReport(out / "index.json")
    with Progress(progress, len(items), "score") as bar:
        scores = _score(
            trained,
            items,
            bar,
            report.skipped,
            device=device,
            batch_size=batch_size,
            weights_cache_dir=weights_cache_dir,
        )
    threshold = trained.threshold
    cells: dict[str, list[int]] = {cell: [] for cell in CELLS}
    for i, p in scores.items():
        predicted = p >= threshold
        truth = bool(items[i].label)
        cells[("t" if predicted == truth else "f") + ("p" if predicted else "n")].append(i)
    rng = random.Random(seed)
    chosen = {
        cell: rng.sample(members, min(per_cell, len(members))) for cell, members in cells.items()
    }
    listed: dict[str, Any] = {}
    with Progress(progress, sum(len(c) for c in chosen.values()), "explain") as bar:
        for cell in CELLS:
            used: set[str] = set()
            entries = []
            for i in chosen[cell]:
                item = items[i]
                path = Path(item.path)
                try:
                    entry = explain_clip(explainer, path, out / cell, _unique(path.stem, used))
                except BrokenModelError:  # every clip would fail: not a clip to skip
                    raise
                except SmokewatchError as exc:
                    report.skipped.append(_skip_line(path, exc))
                else:
                    entry.update(
                        label=int(item.label),
                        probability=round(scores[i], 6),
                        **{k: f"{cell}/{entry[k]}" for k in ("png", "gif", "npy")},
                    )
                    entries.append(entry)
                    report.explained.append(entry)
                bar.advance(1)
            listed[cell] = {"clips": len(cells[cell]), "explained": entries}
    index = {
        **_header(explainer, model),
        "threshold": threshold,
        "per_cell": per_cell,
        "seed": seed,
        "scored": len(scores),
        "cells": listed,
        "skipped": report.skipped,
    }
    atomic_write_text(report.index, json.dumps(index, indent=2) + "\n")
    return report
