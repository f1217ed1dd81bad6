"""Tiny real test videos (real H.264 through PyAV), shared by the test modules.

Import as ``from tests.videos import make_clip``. Content is deterministic per ``seed``: a
smooth colour gradient with a bright square that moves a few pixels per frame, so frame order
matters (frame-perturbation tests can see it) and H.264 compresses it well (fast, small).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from smokewatch.video import write_clip

__all__ = ["synthetic_frames", "make_clip", "make_clips", "truncate", "garbage_file"]


def synthetic_frames(
    frames: int = 36, size: int | tuple[int, int] = 180, seed: int = 0
) -> np.ndarray:
    """uint8 ``(T, H, W, 3)`` frames: a seeded gradient and a moving bright square."""
    h, w = (size, size) if isinstance(size, int) else size
    rng = np.random.default_rng(seed)
    base_colour = rng.integers(30, 200, size=3)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.empty((h, w, 3), dtype=np.float32)
    base[..., 0] = base_colour[0] * (0.5 + 0.5 * xx / max(w - 1, 1))
    base[..., 1] = base_colour[1] * (0.5 + 0.5 * yy / max(h - 1, 1))
    base[..., 2] = base_colour[2]
    out = np.repeat(base[None].astype(np.uint8), frames, axis=0)
    side = max(4, min(h, w) // 6)
    y0 = int(rng.integers(0, max(h - side, 1)))
    x_start = int(rng.integers(0, w))
    step = max(2, w // max(frames, 1))
    for t in range(frames):
        x0 = (x_start + t * step) % max(w - side, 1)
        out[t, y0 : y0 + side, x0 : x0 + side] = 255
    return out


def make_clip(
    path: str | os.PathLike[str], frames: int = 36, size: int | tuple[int, int] = 180, seed: int = 0
) -> np.ndarray:
    """Write a real H.264 MP4 at ``path`` and return the frames that were encoded."""
    data = synthetic_frames(frames, size, seed)
    write_clip(data, path)
    return data


def make_clips(folder: str | os.PathLike[str], names: list[str], **kw: int) -> list[Path]:
    """Write one clip per name (``<name>.mp4``) into ``folder``, seeds 0, 1, 2, ..."""
    out = []
    for seed, name in enumerate(names):
        p = Path(folder) / f"{name}.mp4"
        make_clip(p, seed=seed, **kw)
        out.append(p)
    return out


def truncate(path: str | os.PathLike[str], fraction: float = 0.5) -> Path:
    """Cut a file to ``fraction`` of its bytes, as an interrupted download would."""
    p = Path(path)
    data = p.read_bytes()
    p.write_bytes(data[: int(len(data) * fraction)])
    return p


def garbage_file(path: str | os.PathLike[str], size: int = 4096, seed: int = 0) -> Path:
    """A file of random bytes with a video extension."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(np.random.default_rng(seed).bytes(size))
    return p


def write_labeled_clips(folder: Path, n: int = 12, frames: int = 8, size: int = 32) -> Path:
    """``n`` real H.264 clips; smoke clips are brighter (learnable); returns a labels CSV."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        label = i % 2
        data = synthetic_frames(frames, size, seed=i).astype(np.int16)
        data = np.clip(data + (60 if label else -60), 0, 255).astype(np.uint8)
        name = f"clip-{i:02d}.mp4"
        write_clip(data, folder / name)
        rows.append((name, label))
    labels = folder / "labels.csv"
    with open(labels, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "label"])
        writer.writerows(rows)
    return labels
