"""Tiny real clips and tiny model directories for the Grad-CAM tests (torch on one thread)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from model_dirs import tiny3d_model_dir
from videos import write_labeled_clips

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of 12 labeled clips (8 frames, 32x32) with ``labels.csv``."""
    folder = tmp_path_factory.mktemp("explain-clips")
    write_labeled_clips(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_model_dir() -> Callable[..., Path]:
    """``tiny_model_dir(out, init=0, **settings)``: a random tiny3d (torch seed ``init``) as a
    model directory (no training needed); ``settings`` override ``model_dirs.TINY``."""
    return tiny3d_model_dir


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny3d_model_dir(tmp_path_factory.mktemp("explain-model") / "model")


@pytest.fixture
def train_heads_preset(tiny_clips: Path, tmp_path: Path) -> Callable[[str], Path]:
    """``train_heads_preset(yaml_text)``: a heads model trained on the tiny clips, its feature
    cache in ``tmp_path/c`` and its pretrained weights (monkeypatched by the caller) in
    ``tmp_path/w``; returns the model directory."""
    from smokewatch.dataset.torch_data import items_from_labels_csv
    from smokewatch.training.config import load_config
    from smokewatch.training.heads import train_heads

    def train(text: str) -> Path:
        preset = tmp_path / "p.yaml"
        preset.write_text(text)
        items = items_from_labels_csv(tiny_clips / "labels.csv", tiny_clips)
        result = train_heads(
            load_config(preset), items, tmp_path / "run", cache_dir=tmp_path / "c",
            weights_cache_dir=tmp_path / "w",
        )  # fmt: skip
        model_dir: Path = result.model_dir
        return model_dir

    return train
