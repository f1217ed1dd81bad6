"""The detection tests' model: ``motion3d`` (see ``detect_helpers``), as a real model folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from detect_helpers import SIZE, Motion3D, register_motion3d

from smokewatch.training.config import TrainConfig
from smokewatch.training.saved import write_model_dir


@pytest.fixture(scope="session")
def motion_model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A model folder of ``motion3d`` (registered for the session, unregistered after)."""
    from smokewatch.models import registry

    register_motion3d()
    config = TrainConfig(name="motion", model="motion3d", weights=None, frames=12, size=SIZE)
    folder = tmp_path_factory.mktemp("motion-model")
    write_model_dir(folder, config, state_dict=Motion3D().state_dict())
    yield folder
    registry._REGISTRY.pop("motion3d", None)
