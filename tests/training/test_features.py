"""Feature summaries and vectors on tiny synthetic clips (no network weights needed)."""

from __future__ import annotations

import numpy as np
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
