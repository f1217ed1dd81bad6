"""Untrained tiny3d model folders: what a test needs to run a verb that takes a model folder.

Their scores are for comparing two paths through the same weights, not for trusting."""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: A tiny3d model folder's settings: 6 frames resized to 24x24, no DataLoader workers.
TINY = {"name": "tiny", "model": "tiny3d", "weights": None, "frames": 6, "size": 24, "workers": 0}


def tiny3d_model_dir(
    out: Path, *, init: int = 0, poison: str | None = None, **settings: Any
) -> Path:
    """Write a random tiny3d (torch seed ``init``) as a model folder at ``out``.

    ``poison`` names a weight tensor to fill with NaN (a model that must be refused);
    ``settings`` override :data:`TINY`."""
    import torch

    from smokewatch.models import get_model
    from smokewatch.training.config import TrainConfig
    from smokewatch.training.saved import write_model_dir

    torch.manual_seed(init)
    state = get_model("tiny3d", weights=None, num_classes=1).state_dict()
    if poison is not None:
        state[poison] = torch.full_like(state[poison], float("nan"))
    return write_model_dir(out, TrainConfig(**{**TINY, **settings}), state_dict=state)
