"""Tiny real clips and tiny model directories for the Grad-CAM tests (torch on one thread)."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from videos import synthetic_frames

from smokewatch.video import write_clip

torch.set_num_threads(1)

#: A tiny3d model directory's settings: 6 of the clips' 8 frames, resized to 24x24.
TINY = {"name": "tiny", "model": "tiny3d", "weights": None, "frames": 6, "size": 24, "workers": 0}


def write_labeled_clips(folder: Path, n: int = 12, frames: int = 8, size: int = 32) -> Path:
    """``n`` real H.264 clips, smoke ones brighter; returns their labels CSV (file,label)."""
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
    folder = tmp_path_factory.mktemp("explain-clips")
    write_labeled_clips(folder)
    return folder


def _tiny_model_dir(out: Path, init: int = 0, **settings: Any) -> Path:
    from smokewatch.models import get_model
    from smokewatch.training.config import TrainConfig
    from smokewatch.training.saved import write_model_dir

    torch.manual_seed(init)
    model = get_model("tiny3d", weights=None, num_classes=1)
    return write_model_dir(out, TrainConfig(**{**TINY, **settings}), state_dict=model.state_dict())


@pytest.fixture(scope="session")
def tiny_model_dir() -> Callable[..., Path]:
    """``tiny_model_dir(out, init=0, **settings)``: a random tiny3d (torch seed ``init``) as a
    model directory (no training needed); ``settings`` override :data:`TINY`."""
    return _tiny_model_dir


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _tiny_model_dir(tmp_path_factory.mktemp("explain-model") / "model")
