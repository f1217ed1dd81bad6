"""A damaged feature-cache entry (cut short, emptied by a power cut, garbage) is a cache miss:
extracted again and rewritten, never the end of a long run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from model_dirs import TINY

from smokewatch.dataset.torch_data import items_from_labels_csv
from smokewatch.training.config import FeatureSpec, TrainConfig
from smokewatch.training.features import cached_summaries
from smokewatch.training.predict import extract_clip_features

DAMAGE = {
    "truncated": lambda data: data[: len(data) // 2],
    "empty": lambda data: b"",
    "garbage zip": lambda data: b"PK\x03\x04" + b"\0" * 50,
}


@pytest.mark.parametrize("damage", DAMAGE, ids=list(DAMAGE))
def test_a_damaged_summary_entry_is_extracted_again(
    damage: str, tiny_clips: Path, tmp_path: Path
) -> None:
    clip = sorted(tiny_clips.glob("*.mp4"))[0]
    spec, cache = FeatureSpec(parts=("diff",)), tmp_path / "cache"
    good = cached_summaries([clip], spec, cache_dir=cache)[0]["diff"]
    (entry,) = (cache / "features").glob("diff-*/*.npz")
    entry.write_bytes(DAMAGE[damage](entry.read_bytes()))
    again = cached_summaries([clip], spec, cache_dir=cache)[0]["diff"]
    assert np.array_equal(again, good)
    with np.load(entry) as data:  # and the entry is whole again
        assert np.array_equal(data["diff"], good)


@pytest.mark.parametrize("damage", ["truncated", "empty"])
def test_a_damaged_svm_feature_entry_is_extracted_again(
    damage: str, tiny_clips: Path, tmp_path: Path
) -> None:
    items = items_from_labels_csv(tiny_clips / "labels.csv", tiny_clips)[:2]
    config, cache = TrainConfig(**TINY), tmp_path / "cache"
    good = extract_clip_features(config, items, cache_dir=cache)
    entries = sorted((cache / "features").glob("*.npy"))
    assert len(entries) == 2
    entries[0].write_bytes(DAMAGE[damage](entries[0].read_bytes()))
    seen: list[int] = []
    again = extract_clip_features(config, items, cache_dir=cache, on_batch=seen.append)
    assert np.allclose(again, good, rtol=1e-5, atol=1e-6)  # alone in its batch: rounding
    assert sum(seen) == 2  # each clip counted once: one from the cache, one extracted
    assert all(np.load(e).shape == good.shape[1:] for e in entries)
