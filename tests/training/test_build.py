"""training.build: the model a preset trains, built from weights kept where the caller says."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from smokewatch.models.registry import ModelError
from smokewatch.training.build import build_model
from smokewatch.training.config import TrainConfig


def test_pretrained_weights_come_from_the_callers_cache(
    kinetics_loads: list[Path], fake_kinetics: dict[str, torch.Tensor], tmp_path: Path
) -> None:
    config = TrainConfig(name="t", model="i3d", weights="kinetics400", frames=8, size=32)
    model, _ = build_model(config, weights_cache_dir=tmp_path)
    assert kinetics_loads == [tmp_path]
    assert torch.equal(
        model.state_dict()["Mixed_5c.b0.conv3d.weight"],
        fake_kinetics["Mixed_5c.b0.conv3d.weight"],
    )
    # settings are passed in: without a folder the library does not go and read them
    with pytest.raises(ModelError, match="need cache_dir"):
        build_model(config)
