"""For the continuous-mode tests: a deterministic model, a camera's config, synthetic photos."""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
from PIL import Image

#: 2024-06-11 08:00 in Pittsburgh: daytime for the whole synthetic stream
START = datetime(2024, 6, 11, 8, 0, tzinfo=ZoneInfo("US/Eastern")).timestamp()
EVERY = 10.0
CAMERA = 1
SIZE = 48


def write_model(folder: Path) -> Path:
    """A real model folder of ``tiny3d`` whose output is P(smoke) ~ 1 for any clip (its head
    weights zero, its bias 8): every window is smoke, so events are known in advance."""
    import torch

    from smokewatch.models import get_model
    from smokewatch.training.config import TrainConfig
    from smokewatch.training.saved import write_model_dir

    config = TrainConfig(name="always", model="tiny3d", weights=None, frames=6, size=SIZE)
    model = get_model("tiny3d", num_classes=1)
    with torch.no_grad():
        model.logits.weight.zero_()
        model.logits.bias.fill_(8.0)
    write_model_dir(folder, config, state_dict=model.state_dict())
    return folder


def write_config(folder: Path, data_dir: Path, model: Path, **extra: str) -> Path:
    views = folder / "views.yaml"
    views.write_text(f"cameras:\n  {CAMERA}:\n    views:\n      0: [0, 0, 48, 48]\n")
    lines = [
        f"data_dir: {data_dir}",
        f"model: {model}",
        f"views: {views}",
        f"size: {SIZE}",
        "cameras:",
        f"  {CAMERA}: {{}}",
    ]
    lines += [f"{k}: {v}" for k, v in extra.items()]
    path = folder / "watch.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def photo(i: int) -> bytes:
    """Photo ``i`` of the stream: a 64 x 64 PNG, different every time."""
    rng = np.random.default_rng(i)
    img = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()
