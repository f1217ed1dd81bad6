"""Crops as test-time augmentation (``FeatureSpec.crops``): geometry, vectors, extraction.

The Kinetics weights are replaced by a seeded random I3D (no download), loaded through the
same loader as the real ones.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from smokewatch.dataset.torch_data import frame_indices
from smokewatch.training import features
from smokewatch.training.config import FeatureSpec
from smokewatch.training.features import (
    cached_summaries,
    crop,
    extractor_settings,
    make_extractor,
    spec_extractors,
    vectorize,
)
from smokewatch.video import write_clip


def _clip(seed: int = 0, size: int = 40, frames: int = 8) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 255, size=(frames, size, size, 3), dtype=np.uint8)


def test_crops_are_the_named_corners_and_centre() -> None:
    # each pixel holds its own row and column: a crop says where it came from
    rows, cols = np.mgrid[0:180, 0:180]
    clip = np.stack([rows, cols, rows * 0], axis=-1)[None].astype(np.int32)
    corners = {"tl": (0, 0), "tr": (0, 36), "bl": (36, 0), "br": (36, 36), "c": (18, 18)}
    for where, (top, left) in corners.items():
        got = crop(clip, where)
        assert got.shape == (1, 144, 144, 3)
        assert (got[0, 0, 0, 0], got[0, 0, 0, 1]) == (top, left)
        assert (got[0, -1, -1, 0], got[0, -1, -1, 1]) == (top + 143, left + 143)
    # a frame not square: 80% of each side
    assert crop(np.zeros((2, 100, 50, 3)), "br").shape == (2, 80, 40, 3)
    with pytest.raises(ValueError, match="unknown crop 'middle'"):
        crop(clip, "middle")


def test_crop_specs_that_cannot_be_read_are_refused() -> None:
    with pytest.raises(ValidationError, match="crops name a crop twice"):
        FeatureSpec(crops=("tl", "tl"))
    with pytest.raises(ValidationError, match="need i3d in parts"):
        FeatureSpec(parts=("diff",), crops=("tl",))
    with pytest.raises(ValidationError, match="crop_size without crops"):
        FeatureSpec(crop_size=180)
    with pytest.raises(ValidationError):
        FeatureSpec(crops=("top",))  # type: ignore[arg-type]


def test_each_crop_is_one_more_pass_with_its_own_cache() -> None:
    spec = FeatureSpec(crops=("tl", "br"), crop_size=180, size=224)
    assert spec_extractors(spec) == ["i3d", "i3d-crop-tl", "i3d-crop-br"]
    assert spec_extractors(FeatureSpec(parts=("i3d", "diff"), flip=True, crops=("c",))) == [
        "i3d-flip",
        "diff",
        "i3d-crop-c",
    ]
    tl = extractor_settings("i3d-crop-tl", spec)
    assert tl["size"] == 180 and tl["share"] == 0.8
    # crops read at the whole frame's size unless told: another cache
    assert extractor_settings("i3d-crop-tl", FeatureSpec(crops=("tl",), size=224))["size"] == 224
    assert extractor_settings("i3d-crop-br", spec) != tl
    assert extractor_settings("i3d-crop-tl", spec.model_copy(update={"frames": 16})) != tl


def test_vectors_average_the_crops_grids_cell_by_cell() -> None:
    rng = np.random.default_rng(1)
    grids = {w: rng.normal(size=(3, 4, 2, 2)).astype(np.float32) for w in ("", "tl", "br")}
    summary = {"Mixed_5c.grid": grids[""]}
    summary |= {f"Mixed_5c.grid.crop-{w}": grids[w] for w in ("tl", "br")}
    plain = vectorize(summary, FeatureSpec(pyramid=True))
    both = vectorize(summary, FeatureSpec(pyramid=True, crops=("tl", "br")))
    mean = (grids[""] + grids["tl"] + grids["br"]) / 3
    expected = np.concatenate([mean.mean(axis=(1, 2, 3)), mean.mean(axis=1).reshape(-1)])
    np.testing.assert_allclose(both, expected, rtol=1e-5, atol=1e-6)
    assert both.shape == plain.shape and not np.allclose(both, plain)
    one = vectorize(summary, FeatureSpec(crops=("tl",)))
    np.testing.assert_allclose(one, ((grids[""] + grids["tl"]) / 2).mean(axis=(1, 2, 3)), 1e-5)


def test_a_crop_extraction_is_i3d_on_the_cropped_clip(
    tmp_path: Path, kinetics_loads: list[Path]
) -> None:
    # 12-frame clips read as 8 frames: the crops are of the frames the whole frame reads
    spec = FeatureSpec(frames=8, size=64, crops=("br",), crop_size=48)
    clips = [_clip(0, frames=12), _clip(1, frames=12)]
    networks: dict[str, object] = {}
    whole = make_extractor("i3d", spec, tmp_path, networks=networks)
    corner = make_extractor("i3d-crop-br", spec, tmp_path, networks=networks)
    assert len(kinetics_loads) == 1  # one I3D serves both readings
    got = corner(clips)
    # the same network on the crop, read at crop_size: what the crop extractor stored
    direct = make_extractor("i3d", FeatureSpec(frames=8, size=48), tmp_path, networks=networks)
    reference = direct([crop(c[frame_indices(12, 8)], "br") for c in clips])
    for ep in ("Mixed_4f", "Mixed_5c"):
        for b in range(2):
            np.testing.assert_allclose(
                got[b][f"{ep}.grid.crop-br"], reference[b][f"{ep}.grid"], rtol=1e-5, atol=1e-6
            )
    # and it is not the whole frame's reading
    assert not np.allclose(got[0]["Mixed_5c.grid.crop-br"], whole(clips)[0]["Mixed_5c.grid"])


def test_cached_crops_resume_and_feed_the_vector(
    tmp_path: Path, kinetics_loads: list[Path]
) -> None:
    paths = []
    for i in range(3):
        path = tmp_path / "clips" / f"clip-{i}.mp4"
        path.parent.mkdir(exist_ok=True)
        write_clip(_clip(i), path)
        paths.append(path)
    spec = FeatureSpec(frames=8, size=48, pyramid=True, crops=("tl", "br"))
    counted: list[int] = []
    first = cached_summaries(
        paths,
        spec,
        cache_dir=tmp_path / "cache",
        weights_cache_dir=tmp_path / "w",
        on_batch=counted.append,
    )
    assert sum(counted) == 3 * 3 and len(kinetics_loads) == 1  # three passes, one network
    folders = sorted(p.name.split("-")[:-1] for p in (tmp_path / "cache" / "features").iterdir())
    assert ["i3d"] in folders and ["i3d", "crop", "tl"] in folders
    # everything cached: no network is built again, the vectors are the same
    again = cached_summaries(paths, spec, cache_dir=tmp_path / "cache", weights_cache_dir=None)
    assert len(kinetics_loads) == 1
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(vectorize(a, spec), vectorize(b, spec))
    # a plain spec reads the whole frame's cache alone, and gets another vector
    plain = FeatureSpec(frames=8, size=48, pyramid=True)
    assert not np.allclose(vectorize(again[0], plain), vectorize(again[0], spec))
    assert features.EXTRACTORS.count("i3d-crop-tl") == 1


def test_a_spec_without_crops_is_saved_as_before_crops_existed() -> None:
    """Older installs forbid unknown keys: a model without crops must not write them."""
    plain = FeatureSpec(pyramid=True).model_dump(mode="json")
    assert "crops" not in plain and "crop_size" not in plain
    assert FeatureSpec(**plain) == FeatureSpec(pyramid=True)
    with_crops = FeatureSpec(crops=("tl", "br"), crop_size=180)
    dumped = with_crops.model_dump(mode="json")
    assert dumped["crops"] == ["tl", "br"] and dumped["crop_size"] == 180
    assert FeatureSpec(**dumped) == with_crops
