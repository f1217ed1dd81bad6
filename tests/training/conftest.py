"""Tiny labeled clips and tiny presets (a network, and heads), shared by the training tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from videos import write_labeled_clips

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

HEADS_PRESET = """\
name: tiny-heads
kind: heads
weights: null
heads:
  candidates:
    diff: {parts: [diff]}
  kinds: [svm-linear]
  c_grid: [0.1, 1.0]
  inner_folds: 2
  fuse: false
"""


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


@pytest.fixture(scope="session")
def heads_preset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A heads preset on the diff statistics only (no network, no weights to fetch)."""
    path = tmp_path_factory.mktemp("preset") / "tiny-heads.yaml"
    path.write_text(HEADS_PRESET)
    return path
