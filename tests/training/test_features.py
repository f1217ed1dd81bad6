"""Feature summaries and vectors on tiny synthetic clips (no network weights needed)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from smokewatch.training.config import FeatureSpec
from smokewatch.training.features import (
    diff_summary,
    flow_summary,
    power_normalise,
    spec_extractors,
    vectorize,
)


def _clip(moving: bool) -> np.ndarray:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, size=(8, 32, 32, 3), dtype=np.uint8)
    if not moving:
        base[:] = base[0]
    return base


def test_diff_statistics_see_motion() -> None:
    still, moving = diff_summary(_clip(False)), diff_summary(_clip(True))
    assert still.shape == moving.shape
    assert moving[0] > still[0] == 0.0  # global mean frame difference


def _reference_diff_summary(clip: np.ndarray) -> np.ndarray:
    """The statistics as first written: float frames, one slice per cell."""
    import cv2

    def cells(x: np.ndarray) -> np.ndarray:
        t, h, w = x.shape
        out = []
        for n in (1, 2, 3):
            for i in range(n):
                for j in range(n):
                    cell = x[:, i * h // n : (i + 1) * h // n, j * w // n : (j + 1) * w // n]
                    out.append(cell.reshape(t, -1).mean(axis=1))
        return np.stack(out, axis=1)

    def time_stats(x: np.ndarray) -> np.ndarray:
        return np.concatenate([x.mean(axis=0), x.std(axis=0), x.max(axis=0)])

    grey = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in clip]).astype(np.float64) / 255
    sat = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2HSV)[..., 1] for f in clip]) / 255.0
    return np.concatenate(
        [
            time_stats(cells(np.abs(np.diff(grey, axis=0)))),
            cells(grey.mean(axis=0, keepdims=True))[0],
            cells(sat.mean(axis=0, keepdims=True))[0],
            cells(grey.std(axis=0, keepdims=True))[0],
        ]
    )


@pytest.mark.parametrize("shape", [(8, 32, 32), (5, 37, 41), (2, 3, 7)])
def test_diff_statistics_equal_the_cell_by_cell_reference(shape: tuple[int, int, int]) -> None:
    # the fast path sums integers through an integral image; cells of uneven sizes included
    rng = np.random.default_rng(1)
    clip = rng.integers(0, 256, size=(*shape, 3), dtype=np.uint8)
    got = diff_summary(clip)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, _reference_diff_summary(clip), rtol=1e-5, atol=1e-7)


def test_cell_means_of_float_maps_and_a_single_frame_clip() -> None:
    from smokewatch.training.features import _cells

    x = np.arange(2 * 4 * 6, dtype=np.float32).reshape(2, 4, 6)
    got = _cells(x, (1, 2))
    # frame 0: the global mean, then the 2x2 quadrants in row-major order
    assert np.allclose(got[0], [11.5, 4.0, 7.0, 16.0, 19.0])
    assert np.allclose(got[1], got[0] + 24)
    # uint8 frames whose total passes 2**31 are summed in float64, not in int32
    bright = np.full((2, 1500, 3000), 255, np.uint8)
    assert np.allclose(_cells(bright, (1, 3)), 255.0)
    with pytest.raises(ValueError, match="at least 2 frames"):
        diff_summary(_clip(True)[:1])


def test_long_white_clips_sum_without_overflow() -> None:
    # 300 frames of 255 pass 2**16 in a grey sum and 2**32 in no sum: the sums widen
    white = np.full((300, 6, 6, 3), 255, np.uint8)
    got = diff_summary(white)
    cells = 14
    assert np.allclose(got[3 * cells : 4 * cells], 1.0)  # mean grey per cell
    assert np.allclose(got[5 * cells :], 0.0)  # no temporal change
    np.testing.assert_allclose(got, _reference_diff_summary(white), atol=1e-6)


def test_flow_statistics_have_fixed_length() -> None:
    assert flow_summary(_clip(True)).shape == flow_summary(_clip(False)).shape


def test_vectorize_i3d_pyramid_and_flip() -> None:
    grid = np.arange(2 * 3 * 2 * 2, dtype=np.float32).reshape(2, 3, 2, 2)
    summary = {"Mixed_5c.grid": grid, "Mixed_5c.grid.flip": grid[..., ::-1].copy()}
    plain = vectorize(summary, FeatureSpec())
    assert np.allclose(plain, grid.mean(axis=(1, 2, 3)))
    pyr = vectorize(summary, FeatureSpec(pyramid=True))
    assert pyr.shape == (2 + 2 * 4,)
    # the mirrored clip's grid mirrored back: identical clips give the same vector
    assert np.allclose(vectorize(summary, FeatureSpec(pyramid=True, flip=True)), pyr)


def test_temporal_pyramid_and_power_normalisation() -> None:
    grid = np.zeros((2, 5, 2, 2), dtype=np.float32)
    grid[:, 3:] = 4.0  # something only late in the clip
    summary = {"Mixed_5c.grid": grid}
    v = vectorize(summary, FeatureSpec(temporal=2))
    # the global mean, then the early (steps 0-2) and late (steps 3-4) stretches
    assert np.allclose(v, [1.6, 1.6, 0.0, 0.0, 4.0, 4.0])
    assert np.allclose(vectorize(summary, FeatureSpec(temporal=2, power=True)), np.sqrt(v))
    signed = vectorize({"diff": np.array([-4.0, 9.0], np.float32)}, FeatureSpec(parts=("diff",)))
    powered = vectorize(
        {"diff": np.array([-4.0, 9.0], np.float32)}, FeatureSpec(parts=("diff",), power=True)
    )
    assert np.allclose(signed, [-4, 9]) and np.allclose(powered, [-2, 3])
    # the same function serves Grad-CAM: its gradient is finite where ReLU maps give zeros
    x = torch.tensor([0.0, -4.0, 9.0], requires_grad=True)
    power_normalise(x).sum().backward()
    assert x.grad is not None and torch.allclose(x.grad, torch.tensor([0.0, 0.25, 1 / 6]))


def test_lite_vector_samples_frames_and_stats() -> None:
    frames = np.arange(36 * 3, dtype=np.float32).reshape(36, 3)
    v = vectorize({"frames": frames}, FeatureSpec(parts=("lite0",), lite_frames=4, stats=("max",)))
    assert v.shape == (6,)
    # four frames read: a model that ran only those 4 gets the same vector
    few = frames[[4, 13, 22, 31]]
    assert np.allclose(
        v, vectorize({"frames": few}, FeatureSpec(parts=("lite0",), lite_frames=4, stats=("max",)))
    )


def test_flip_spec_reads_the_flipped_extraction() -> None:
    assert spec_extractors(FeatureSpec(parts=("i3d", "diff"), flip=True)) == ["i3d-flip", "diff"]
