"""Tiny real clips and tiny model directories for the Grad-CAM tests (torch on one thread)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from videos import write_labeled_clips

torch.set_num_threads(1)

#: A tiny3d model directory's settings: 6 of the clips' 8 frames, resized to 24x24.
TINY = {"name": "tiny", "model": "tiny3d", "weights": None, "frames": 6, "size": 24, "workers": 0}


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
