"""Tiny labeled clips and a tiny training preset, shared by the training tests."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from videos import synthetic_frames

from smokewatch.video import write_clip

TINY_PRESET = """\
name: tiny
model: tiny3d
weights: null
frames: 6
size: 24
lr: 0.05
weight_decay: 1.0e-4
accumulate: 1
batch_size: 4
milestones: [6]
steps: 10
val_every: 4
select_after: 0
checkpoint_every: 2
workers: 0
seed: 3
"""


def write_labeled_clips(folder: Path, n: int = 12, frames: int = 8, size: int = 32) -> Path:
    """``n`` real H.264 clips; smoke clips are brighter (learnable); returns a labels CSV."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        label = i % 2
        data = synthetic_frames(frames, size, seed=i).astype(np.int16)
        data = np.clip(data + (60 if label else -60), 0, 255).astype(np.uint8)
        name = f"clip-{i:02d}.mp4"
        write_clip(data, folder / name)
        rows.append((name, label))
    labels = folder / "labels.csv"
    with open(labels, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "label"])
        writer.writerows(rows)
    return labels


@pytest.fixture(scope="session")
def tiny_clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of 12 labeled clips (8 frames, 32x32) with ``labels.csv``."""
    folder = tmp_path_factory.mktemp("tiny-clips")
    write_labeled_clips(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_preset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A YAML preset training ``tiny3d`` for 10 steps of 4 clips (6 frames, 24x24)."""
    path = tmp_path_factory.mktemp("preset") / "tiny.yaml"
    path.write_text(TINY_PRESET)
    return path
