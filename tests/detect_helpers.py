"""For the detection tests: a small camera day with known smoke, a model whose output is
known, and a known Grad-CAM.

The panorama (64 x 160) holds three 48 x 48 views of a static scene; in view 0-1 a plume of
grey, textured smoke rises during frames ``PLUME`` (and only then). ``motion3d`` is a real
torch model (registered for these tests, saved as a real model folder, loaded by
``load_model_dir``): its logit is ``gain * mean |frame difference| + bias``, so a still view
scores near 0 and the rising plume near 1. The stand-in Grad-CAM lights the pixels that
moved during the window, so a plume over half the view gives an activation ratio over 0.4.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import torch
from PIL import Image
from torch import nn

from smokewatch.core.atomic import atomic_path
from smokewatch.detect import Detector, load_detector
from smokewatch.video import write_clip

HEIGHT, WIDTH = 64, 160
BOXES = {"0-0": (0, 8, 48, 56), "0-1": (56, 8, 104, 56), "0-2": (112, 8, 160, 56)}
SMOKY_VIEW = "0-1"
FRAMES = 150
PLUME = (60, 110)  # frames [60, 110) show the plume
SIZE = 48
#: 2024-06-11 08:00 in Pittsburgh: the whole synthetic day is daytime
START = datetime(2024, 6, 11, 8, 0, tzinfo=ZoneInfo("US/Eastern")).timestamp()
SECONDS_PER_FRAME = 5.0

VIEWS_YAML = "cameras:\n  0:\n    views:\n" + "".join(
    f"      {k.split('-')[1]}: [{', '.join(map(str, b))}]\n" for k, b in BOXES.items()
)


class Motion3D(nn.Module):
    """``gain * mean(relu(+-(x[t+1] - x[t])))`` over channels, time and space, ``+ bias``."""

    def __init__(self, *, num_classes: int = 1, gain: float = 100.0, bias: float = -3.0) -> None:
        super().__init__()
        self.diff = nn.Conv3d(3, 2, kernel_size=(2, 1, 1), bias=False)
        w = torch.zeros(2, 3, 2, 1, 1)
        w[0, :, 1], w[0, :, 0] = 1 / 3, -1 / 3
        w[1] = -w[0]
        self.diff.weight = nn.Parameter(w)
        self.head = nn.Linear(2, num_classes)
        self.head.weight = nn.Parameter(torch.full((num_classes, 2), gain))
        self.head.bias = nn.Parameter(torch.full((num_classes,), bias))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.head(torch.relu(self.diff(x)).mean(dim=(2, 3, 4)))
        return out


def motion3d(*, weights: Any = None, num_classes: int = 1, **kw: Any) -> Motion3D:
    """Mean frame difference as a logit (tests only)."""
    return Motion3D(num_classes=num_classes, **kw)


def register_motion3d() -> None:
    """Register ``motion3d`` in this process: the tests' session, or a Ray worker (its setup
    hook), where a model folder of it is loaded by name like any other."""
    from smokewatch.models import registry

    registry.register_model("motion3d")(motion3d)


def scene() -> np.ndarray:
    """The static panorama: sky gradient, ground, dark buildings and stacks."""
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    img = np.empty((HEIGHT, WIDTH, 3), np.float32)
    img[...] = np.array([110, 150, 205]) + (np.array([190, 205, 220]) - [110, 150, 205]) * (
        yy[..., None] / HEIGHT
    )
    img[48:] = (70, 75, 68)
    for x0 in range(4, WIDTH, 26):
        img[38:48, x0 : x0 + 12] = 60
        img[24:38, x0 + 4 : x0 + 6] = 55
    img += 8 * np.sin(xx / 7.0)[..., None]  # some texture so views differ
    return np.clip(img, 0, 255).astype(np.uint8)


def panorama(frames: int = FRAMES, plume: tuple[int, int] | None = PLUME) -> np.ndarray:
    """uint8 ``(frames, 64, 160, 3)``: the scene, with the plume in view 0-1 during ``plume``."""
    out = np.repeat(scene()[None], frames, axis=0)
    if plume is None:
        return out
    rng = np.random.default_rng(7)
    coarse = rng.uniform(0, 1, (80, 10)).astype(np.float32)
    texture = np.kron(coarse, np.ones((4, 4), np.float32))  # 320 x 40, soft blocks
    left, top = BOXES[SMOKY_VIEW][0] + 4, BOXES[SMOKY_VIEW][1] + 2
    for t in range(*plume):
        rows = (np.arange(40) + 3 * (plume[1] - t)) % texture.shape[0]  # rises 3 px a frame
        alpha = 0.75 * texture[rows][..., None]
        region = out[t, top : top + 40, left : left + 40].astype(np.float32)
        out[t, top : top + 40, left : left + 40] = (region * (1 - alpha) + 215 * alpha).astype(
            np.uint8
        )
    return out


def write_timelapse(path: Path, frames: np.ndarray | None = None) -> Path:
    """The day as a real H.264 video."""
    write_clip(panorama() if frames is None else frames, path)
    return path


def write_views(folder: Path) -> Path:
    path = folder / "views.yaml"
    path.write_text(VIEWS_YAML)
    return path


def motion_cam(clips: np.ndarray) -> np.ndarray:
    """Stand-in raw Grad-CAM: 0.5 where a pixel changed during the window, -0.5 (evidence
    against smoke) where it did not, for every frame; RISE's ratio counts the moved share."""
    moved = np.abs(np.diff(clips.astype(np.int16), axis=1)).max(axis=(1, 4)) > 12
    raw = np.where(moved, 0.5, -0.5).astype(np.float32)
    return np.repeat(raw[:, None], clips.shape[1], axis=1)


def still_gif(frames: np.ndarray, volume: np.ndarray, path: Path, fps: int) -> None:
    """Stand-in overlay GIF: the window's frames, brightened where the raw volume is hot."""
    hot = (frames.astype(np.float32) * (0.75 + 0.5 * volume[..., None])).astype(np.uint8)
    images = [Image.fromarray(f) for f in hot]
    with atomic_path(path) as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], loop=0)


class Counted:
    """A scorer that counts its calls and windows."""

    def __init__(self, scorer: Any) -> None:
        self.scorer = scorer
        self.calls = 0
        self.windows = 0

    def __call__(self, clips: np.ndarray) -> np.ndarray:
        self.calls += 1
        self.windows += len(clips)
        out: np.ndarray = self.scorer(clips)
        return out


def detector_for(model_dir: Path) -> tuple[Detector, Counted]:
    """The real model's detector, with the stand-in Grad-CAM and a counting scorer."""
    detector = load_detector(model_dir, cam=False)
    counted = Counted(detector.scorer)
    detector.scorer = counted
    detector.cam = motion_cam
    detector.write_gif = still_gif
    return detector, counted


def stand_in_detector(model_dir: Path) -> Detector:
    """:func:`detector_for`'s detector alone: what a Ray actor builds (picklable by name)."""
    register_motion3d()
    return detector_for(model_dir)[0]
