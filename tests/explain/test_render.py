"""The stacked-frame PNG and the overlay GIF, read back with Pillow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from videos import synthetic_frames

from smokewatch.explain.gradcam import ExplainError
from smokewatch.explain.render import colorize, overlay, write_overlay_gif, write_stacked_png


def _volume(frames: int, h: int, w: int) -> np.ndarray:
    """A hot left half (rising over time) and a cold right half."""
    v = np.zeros((frames, h, w), dtype=np.float32)
    v[:, :, : w // 2] = np.linspace(0.2, 1.0, frames, dtype=np.float32)[:, None, None]
    return v


def test_the_png_is_every_ninth_frame_over_its_heat_map(tmp_path: Path) -> None:
    frames = synthetic_frames(36, (20, 30), seed=1)
    volume = _volume(36, 20, 30)
    write_stacked_png(frames, volume, tmp_path / "clip.png")
    with Image.open(tmp_path / "clip.png") as img:
        assert img.format == "PNG" and img.size == (4 * 30, 2 * 20)  # 4 columns, 2 rows
        pixels = np.asarray(img.convert("RGB"))
    for col, t in enumerate((0, 9, 18, 27)):
        tile = (slice(None), slice(col * 30, (col + 1) * 30))
        assert np.array_equal(pixels[:20][tile], frames[t])  # the frames themselves on top
        below = pixels[20:][tile]
        assert np.array_equal(below[:, 15:], frames[t][:, 15:])  # cold: the frame shows through
        assert not np.array_equal(below[:, :15], frames[t][:, :15])  # hot: coloured
    assert list(tmp_path.iterdir()) == [tmp_path / "clip.png"]  # no temporary file left
    write_stacked_png(frames[:10], volume[:10], tmp_path / "short.png", every=3)
    with Image.open(tmp_path / "short.png") as img:
        assert img.size == (4 * 30, 2 * 20)  # frames 0, 3, 6, 9


def test_the_gif_has_every_frame_and_loops(tmp_path: Path) -> None:
    frames = synthetic_frames(12, 24, seed=2)  # a moving square: no two frames alike
    write_overlay_gif(frames, _volume(12, 24, 24), tmp_path / "clip.gif", fps=10)
    with Image.open(tmp_path / "clip.gif") as img:
        assert img.format == "GIF" and img.size == (24, 24)
        assert img.n_frames == 12
        assert img.info["loop"] == 0 and img.info["duration"] == 100


def test_the_colours_run_from_blue_to_red_and_blend_by_value() -> None:
    ramp = colorize(np.array([0.0, 0.25, 0.5, 0.75, 1.0])).astype(int)
    assert ramp[0, 2] > ramp[0, 0] and ramp[-1, 0] > ramp[-1, 2]  # cold blue, hot red
    assert ramp[2, 1] == 255  # green in the middle
    frame = np.full((1, 2, 2, 3), 100, dtype=np.uint8)
    v = np.array([[[0.0, 1.0], [0.5, 0.0]]], dtype=np.float32)
    blended = overlay(frame, v).astype(int)
    assert (blended[0, 0, 0] == 100).all() and (blended[0, 1, 1] == 100).all()
    assert blended[0, 0, 1, 0] > 100 and blended[0, 0, 1, 2] < 100  # hot pixel turns red


def test_mismatched_inputs_are_clear_errors(tmp_path: Path) -> None:
    frames = synthetic_frames(4, 16)
    with pytest.raises(ExplainError, match="does not fit"):
        write_stacked_png(frames, np.zeros((4, 8, 8)), tmp_path / "x.png")
    with pytest.raises(ExplainError, match="uint8"):
        write_overlay_gif(frames.astype(np.float32), np.zeros((4, 16, 16)), tmp_path / "x.gif")
    assert not list(tmp_path.iterdir())
