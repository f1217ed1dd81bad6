"""Lite0 read at an inner layer (``FeatureSpec.lite_layer``): the blocks run, the grids kept,
the vector built from them, the cache key, and what a spec may ask for.

The ImageNet weights are replaced by a seeded random Lite0 (no download), loaded through the
same loader as the real ones.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from smokewatch.training.config import FeatureSpec
from smokewatch.training.features import (
    LITE_LAYERS,
    cached_summaries,
    extractor_settings,
    lite0_backbone,
    lite0_frame_features,
    vectorize,
)
from smokewatch.video import write_clip

MID = {"parts": ("lite0",), "lite_layer": "mbconv-112"}


#: Lite0's ImageNet weights are a seeded random Lite0 (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("no_imagenet_download")


def test_an_inner_layer_is_that_blocks_map_pooled_and_nothing_after_it_runs(
    tmp_path: Path,
) -> None:
    model = lite0_backbone(cache_dir=tmp_path)
    last = LITE_LAYERS["mbconv-112"]
    # the last block of the 112-channel stage: the next one starts the 192-channel stage
    assert last is not None and model.blocks[last].project.conv.out_channels == 112
    assert model.blocks[last + 1].project.conv.out_channels == 192
    seen: dict[int, torch.Tensor] = {}
    hooks = [
        block.register_forward_hook(lambda m, i, o, n=n: seen.__setitem__(n, o))
        for n, block in enumerate(model.blocks)
    ]
    frames = torch.rand(3, 3, 64, 64) * 2 - 1
    got = lite0_frame_features(model, frames, layer="mbconv-112")
    assert sorted(seen) == list(range(last + 1))  # the blocks after it never ran
    expected = torch.nn.functional.adaptive_avg_pool2d(seen[last].float(), 2)
    assert got.shape == (3, 112, 2, 2)
    torch.testing.assert_close(got, expected)
    # the head still runs every block, and is another feature
    seen.clear()
    head = lite0_frame_features(model, frames)
    assert head.shape == (3, 1280) and len(seen) == len(model.blocks)
    for hook in hooks:
        hook.remove()
    with pytest.raises(ValueError, match="unknown Lite0 layer 'stem'; one of head, mbconv-112"):
        lite0_frame_features(model, frames, layer="stem")


def test_the_vector_of_a_layers_grids_is_mean_pyramid_and_stats_over_sampled_frames() -> None:
    rng = np.random.default_rng(0)
    grid = rng.normal(size=(36, 5, 2, 2)).astype(np.float32)
    spec = FeatureSpec(**MID, lite_frames=4, pyramid=True, stats=("std", "max"))
    got = vectorize({"mbconv-112.grid": grid}, spec)
    chosen = grid[[4, 13, 22, 31]]  # sample_frames(36, 4)
    glob = chosen.mean(axis=(2, 3))
    expected = np.concatenate([glob.mean(0), chosen.mean(0).reshape(-1), glob.std(0), glob.max(0)])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    # without the pyramid only the global statistics; another frame count, other frames
    plain = vectorize({"mbconv-112.grid": grid}, spec.model_copy(update={"pyramid": False}))
    np.testing.assert_allclose(
        plain, np.concatenate([glob.mean(0), glob.std(0), glob.max(0)]), rtol=1e-5, atol=1e-6
    )
    eight = vectorize({"mbconv-112.grid": grid}, spec.model_copy(update={"lite_frames": 8}))
    assert eight.shape == got.shape and not np.allclose(eight, got)


def test_layers_have_their_own_cache_and_the_heads_key_is_unchanged(tmp_path: Path) -> None:
    head = FeatureSpec(parts=("lite0",), lite_frames=2)
    # the key the head's caches were written under before layers existed: they stay valid
    assert extractor_settings("lite0", head) == {"extractor": "lite0", "size": 180, "version": 2}
    mid = FeatureSpec(**MID, lite_frames=2, lite_size=64, pyramid=True)
    assert extractor_settings("lite0", mid)["layer"] == "mbconv-112"

    rng = np.random.default_rng(1)
    paths = []
    for i in range(2):
        paths.append(tmp_path / f"clip-{i}.mp4")
        write_clip(rng.integers(0, 255, size=(6, 64, 64, 3), dtype=np.uint8), paths[-1])
    got = cached_summaries(paths, mid, cache_dir=tmp_path / "c", weights_cache_dir=tmp_path)
    assert set(got[0]) == {"mbconv-112.grid"} and got[0]["mbconv-112.grid"].shape == (6, 112, 2, 2)
    heads = cached_summaries(
        paths,
        head.model_copy(update={"lite_size": 64}),
        cache_dir=tmp_path / "c",
        weights_cache_dir=tmp_path,
    )
    assert set(heads[0]) == {"frames"} and heads[0]["frames"].shape == (6, 1280)
    assert len(list((tmp_path / "c" / "features").iterdir())) == 2
    assert vectorize(got[0], mid).shape == (112 + 4 * 112,)


def test_lite_layer_specs_that_cannot_be_read_are_refused_and_old_ones_saved_as_before() -> None:
    with pytest.raises(ValidationError, match="needs lite0 in parts"):
        FeatureSpec(parts=("i3d",), lite_layer="mbconv-112")
    # specs from before layers existed read as they did: a pyramid with Lite0's head is
    # I3D's (Lite0's pooled features have no grid), so such a saved model still loads
    frames = np.random.default_rng(2).normal(size=(8, 6)).astype(np.float32)
    grids = np.random.default_rng(3).normal(size=(3, 4, 2, 2)).astype(np.float32)
    summary = {"frames": frames, "Mixed_5c.grid": grids}
    old = FeatureSpec(parts=("i3d", "lite0"), pyramid=True, lite_frames=4)
    lite_part = vectorize(summary, FeatureSpec(parts=("lite0",), lite_frames=4))
    i3d_part = vectorize(summary, FeatureSpec(pyramid=True))
    np.testing.assert_allclose(vectorize(summary, old), np.concatenate([i3d_part, lite_part]))
    np.testing.assert_allclose(
        vectorize(summary, FeatureSpec(parts=("lite0",), pyramid=True, lite_frames=4)), lite_part
    )
    with pytest.raises(ValidationError, match="lite_layer"):
        FeatureSpec(parts=("lite0",), lite_layer="stem")  # type: ignore[arg-type]
    # older installs forbid unknown keys: a head spec does not write the new one
    plain = FeatureSpec(parts=("lite0",), lite_frames=4).model_dump(mode="json")
    assert "lite_layer" not in plain
    mid = FeatureSpec(**MID, pyramid=True)
    dumped = mid.model_dump(mode="json")
    assert dumped["lite_layer"] == "mbconv-112" and FeatureSpec(**dumped) == mid
