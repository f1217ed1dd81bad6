"""Synthetic smoke clips, for demos and tests on a machine without the real RISE data.

Each clip shows a small industrial skyline under a sky; smoke clips add a grey plume of soft
puffs that leave a stack, rise and drift with the wind; clean clips get drifting clouds
instead (so "something moves" is not the same as "smoke"). Clips are named and described by
the RISE conventions, so every tool downstream treats them as real ones.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from smokewatch.core.clip import Box, Clip, ClipName, url_part_for
from smokewatch.core.labels import State
from smokewatch.core.metadata import write_metadata

__all__ = ["render_clip", "make_synthetic_clips"]


def _scene(size: int, rng: np.random.Generator) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """A static background (sky, ground, buildings) and the tops of its stacks."""
    yy = np.linspace(0.0, 1.0, size, dtype=np.float32)[:, None, None]
    top = np.array([110, 150, 205], np.float32) * rng.uniform(0.8, 1.1)
    bottom = np.array([190, 205, 220], np.float32)
    img = np.broadcast_to(top + (bottom - top) * yy, (size, size, 3)).copy()
    horizon = int(size * rng.uniform(0.68, 0.78))
    img[horizon:] = np.array([70, 75, 68], np.float32) * rng.uniform(0.8, 1.2)
    stacks = []
    for _ in range(int(rng.integers(2, 5))):
        w, h = int(size * rng.uniform(0.1, 0.22)) + 1, int(size * rng.uniform(0.05, 0.17)) + 1
        x0 = int(rng.integers(0, size - w))
        img[horizon - h : horizon, x0 : x0 + w] = rng.uniform(45, 90)
    for _ in range(int(rng.integers(1, 3))):
        x = int(rng.integers(size // 8, size - size // 8))
        h = int(rng.integers(int(size * 0.25), int(size * 0.45)))
        img[horizon - h : horizon, x - 3 : x + 3] = 60
        stacks.append((x, horizon - h))
    return img, stacks


def render_clip(smoke: bool, *, seed: int = 0, frames: int = 36, size: int = 180) -> np.ndarray:
    """uint8 ``(frames, size, size, 3)``: a plume of smoke (``smoke``) or drifting clouds."""
    rng = np.random.default_rng(seed)
    background, stacks = _scene(size, rng)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    wind = rng.uniform(-1.5, 1.5)
    out = np.empty((frames, size, size, 3), np.uint8)
    if smoke:
        # puffs: (birth frame, stack, jitter); each rises, drifts, grows and fades
        puffs = [(b, stacks[int(rng.integers(len(stacks)))], rng.normal(0, 1.5, 2))
                 for b in range(-24, frames)]  # fmt: skip
        shade = rng.uniform(120, 200)
    else:
        clouds = [
            (rng.uniform(0, size), rng.uniform(5, size * 0.4), rng.uniform(12, 30))
            for _ in range(3)
        ]
    for t in range(frames):
        alpha = np.zeros((size, size), np.float32)
        if smoke:
            for birth, (sx, sy), jitter in puffs:
                age = t - birth
                if age < 0:
                    continue
                cx = sx + wind * age * 1.2 + jitter[0] * age * 0.25
                cy = sy - 1.6 * age + jitter[1]
                r = 2.5 + 0.45 * age
                a = 0.35 * np.exp(-age / 12.0)
                alpha += a * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))
            colour = np.float32(shade)
        else:
            for cx, cy, r in clouds:
                x = (cx + wind * t * 0.8) % size
                alpha += 0.45 * np.exp(-((xx - x) ** 2 + ((yy - cy) * 1.8) ** 2) / (2 * r * r))
            colour = np.float32(235)
        alpha = np.clip(alpha, 0.0, 0.9)[..., None]
        frame: np.ndarray = background * (1 - alpha) + colour * alpha
        frame += rng.normal(0, 1.5, frame.shape).astype(np.float32)  # sensor noise
        out[t] = np.clip(frame, 0, 255).astype(np.uint8)
    return out


def make_synthetic_clips(
    out_dir: str | os.PathLike[str],
    n: int = 8,
    *,
    seed: int = 0,
    frames: int = 36,
    size: int = 180,
    fps: int = 12,
    timezone: str = "US/Eastern",
) -> list[Clip]:
    """Write ``n`` clips (alternating smoke / no smoke) and ``metadata.json`` into ``out_dir``.

    Labels are set as if two volunteers agreed (citizen state 23 or 16), so the clips carry
    final labels. Existing clips are kept (re-running is cheap and idempotent).
    """
    from smokewatch.video import write_clip  # video I/O only when clips are written

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tz = ZoneInfo(timezone)
    clips = []
    for i in range(n):
        smoke = i % 2 == 0
        start = datetime(2026, 1, 5 + i // 4, 8, 0, tzinfo=tz) + timedelta(minutes=15 * i)
        start_epoch = int(start.timestamp())
        name = ClipName(
            camera_id=0, view_id=i % 4, day=start.date(),
            box=Box(200 * (i % 4), 0, 200 * (i % 4) + size, size),
            height=size, width=size, start_frame=36 * i, start_time=start_epoch,
            end_time=start_epoch + 5 * (frames - 1),
        )  # fmt: skip
        path = out / f"{name.format()}.mp4"
        if not path.exists():
            write_clip(
                render_clip(smoke, seed=seed * 1000 + i, frames=frames, size=size), path, fps=fps
            )
        clips.append(
            Clip(
                id=i + 1,
                camera_id=name.camera_id,
                view_id=name.view_id,
                label_state=int(State.STRONG_POS if smoke else State.STRONG_NEG),
                label_state_admin=int(State.NO_DATA),
                start_time=start_epoch,
                file_name=name.format(),
                url_root="/videos/",
                url_part=url_part_for(name),
            )  # fmt: skip
        )
    write_metadata(clips, out / "metadata.json")
    return clips
