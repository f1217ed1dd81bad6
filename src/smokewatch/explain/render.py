"""Grad-CAM volumes drawn over their clips: a stacked-frame PNG and an animated GIF.

The PNG is laid out like the paper's Figures 6-11: every ``every``-th frame in a row (RISE:
frames 0, 9, 18, 27 of 36), and under each the same frame with the heat map blended over it.
The colours are a jet-like ramp (blue, cyan, yellow, red) computed in numpy, no plotting
library; each pixel's colour is blended in by the square root of its value, so cold areas
show the frame itself, hot ones the colour, and the middle of the range stays visible. Both
files are written atomically.
"""

from __future__ import annotations

import os

import numpy as np

from smokewatch.core.atomic import atomic_path
from smokewatch.explain.gradcam import ExplainError

__all__ = ["colorize", "overlay", "write_overlay_gif", "write_stacked_png"]

#: How much of the heat colour a pixel at the clip's peak (1.0) gets over the frame.
OPACITY = 0.6


def colorize(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] -> uint8 RGB ``[..., 3]`` on a jet-like ramp (0 dark blue, 1 dark red)."""
    v = np.clip(np.asarray(values, dtype=np.float32), 0.0, 1.0)[..., None]
    centres = np.array([0.75, 0.5, 0.25], dtype=np.float32)  # where red, green, blue peak
    rgb = np.clip(1.5 - np.abs(4.0 * (v - centres)), 0.0, 1.0)
    out: np.ndarray = (rgb * 255.0 + 0.5).astype(np.uint8)
    return out


def overlay(frames: np.ndarray, volume: np.ndarray, *, opacity: float = OPACITY) -> np.ndarray:
    """uint8 ``[T, H, W, 3]``: each frame with its map's colour blended in by the map's value."""
    f, v = _checked(frames, volume)
    alpha = opacity * np.sqrt(np.clip(v, 0.0, 1.0))[..., None]  # mid values stay visible
    blended = f.astype(np.float32) * (1.0 - alpha) + colorize(v).astype(np.float32) * alpha
    out: np.ndarray = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
    return out


def _checked(frames: np.ndarray, volume: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    f = np.asarray(frames)
    v = np.asarray(volume, dtype=np.float32)
    if f.dtype != np.uint8 or f.ndim != 4 or f.shape[-1] != 3 or not len(f):
        raise ExplainError(f"frames must be uint8 [T, H, W, 3], got {f.dtype} {tuple(f.shape)}")
    if v.shape != f.shape[:3]:
        raise ExplainError(f"a volume {tuple(v.shape)} does not fit frames {tuple(f.shape)}")
    return f, v


def write_stacked_png(
    frames: np.ndarray, volume: np.ndarray, path: str | os.PathLike[str], *, every: int = 9
) -> None:
    """Frames 0, every, 2*every ... in a row, their heat-map overlays in a row below.

    The picture is ``ceil(T / every) * W`` wide and ``2 * H`` high (T=36, every=9: 4 columns).
    """
    from PIL import Image

    if every < 1:
        raise ExplainError(f"every must be at least 1, got {every}")
    f, v = _checked(frames, volume)
    picked = np.arange(0, f.shape[0], every)
    top = np.concatenate(list(f[picked]), axis=1)
    bottom = np.concatenate(list(overlay(f[picked], v[picked])), axis=1)
    with atomic_path(path) as tmp:
        Image.fromarray(np.concatenate([top, bottom], axis=0)).save(tmp, format="PNG")


def write_overlay_gif(
    frames: np.ndarray, volume: np.ndarray, path: str | os.PathLike[str], *, fps: int = 12
) -> None:
    """The clip with its heat map, animated at ``fps``, looping.

    (GIF keeps times in 10 ms steps, so 12 fps plays at 12.5; a frame identical to the one
    before it is merged into it by Pillow, its time added.)
    """
    from PIL import Image

    if fps < 1:
        raise ExplainError(f"fps must be at least 1, got {fps}")
    images = [Image.fromarray(frame) for frame in overlay(frames, volume)]
    with atomic_path(path) as tmp:
        images[0].save(
            tmp,
            format="GIF",
            save_all=True,
            append_images=images[1:],
            duration=round(1000 / fps),
            loop=0,
        )
