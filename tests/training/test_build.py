"""training.build: the model a preset trains, built from weights kept where the caller says."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from smokewatch.models import i3d_weights
from smokewatch.models.i3d import I3D
from smokewatch.models.registry import ModelError
from smokewatch.training.build import build_model
from smokewatch.training.config import TrainConfig


def test_pretrained_weights_come_from_the_callers_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    torch.manual_seed(0)
    state = I3D(num_classes=400).state_dict()
    asked: list[Path] = []

    def load(cache_dir: Path, *, progress: bool = True) -> dict[str, torch.Tensor]:
        asked.append(cache_dir)
        return state

    monkeypatch.setattr(i3d_weights, "load_kinetics400", load)
    config = TrainConfig(name="t", model="i3d", weights="kinetics400", frames=8, size=32)
    model, _ = build_model(config, weights_cache_dir=tmp_path)
    assert asked == [tmp_path]
    assert torch.equal(
        model.state_dict()["Mixed_5c.b0.conv3d.weight"], state["Mixed_5c.b0.conv3d.weight"]
    )
    # settings are passed in: without a folder the library does not go and read them
    with pytest.raises(ModelError, match="need cache_dir"):
        build_model(config)
