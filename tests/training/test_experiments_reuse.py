"""Re-running experiments into one output folder: finished runs are reused only when they are
the same run (same settings, same train/validation/test clips), on a diff-only heads preset
(no weights, a few seconds)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from smokewatch.dataset.torch_data import items_from_labels_csv
from smokewatch.training.build import TrainingError
from smokewatch.training.config import load_config
from smokewatch.training.experiments import cross_validate, fold_items, run_clips


def test_a_heads_preset_run_twice_reuses_its_finished_runs(
    tiny_clips: Path, heads_preset: Path, tmp_path: Path
) -> None:
    """model.json gives lists where the preset holds tuples: still the same settings."""
    items = items_from_labels_csv(tiny_clips / "labels.csv", tiny_clips)
    config = load_config(heads_preset)
    out, cache = tmp_path / "cv", tmp_path / "cache"
    first = cross_validate([config], items, 2, out, cache_dir=cache, progress=False)
    model = out / "tiny-heads" / "fold-1" / "model" / "heads.skops"
    stamp = model.stat().st_mtime_ns
    assert cross_validate([config], items, 2, out, cache_dir=cache, progress=False) == first
    assert model.stat().st_mtime_ns == stamp  # reused, not trained again


def test_other_folds_in_the_same_folder_are_refused_not_reused(
    tiny_clips: Path, heads_preset: Path, tmp_path: Path
) -> None:
    items = items_from_labels_csv(tiny_clips / "labels.csv", tiny_clips)
    config = load_config(heads_preset)
    out, cache = tmp_path / "cv", tmp_path / "cache"
    cross_validate([config], items, 2, out, seed=0, cache_dir=cache, progress=False)
    run = out / "tiny-heads" / "fold-1"
    train, test = fold_items(items, 2, 0)[0]
    assert json.loads((run / "clips.json").read_text()) == run_clips(train, [], test)
    # another fold seed: seed 0's results are not reported as seed 1's
    with pytest.raises(TrainingError, match=r"fold-1 holds a run of tiny-heads on other clips"):
        cross_validate([config], items, 2, out, seed=1, cache_dir=cache, progress=False)
    # nor is seed 0's model scored on seed 1's test fold when its evaluation never finished
    shutil.rmtree(run / "test")
    with pytest.raises(TrainingError, match="other clips"):
        cross_validate([config], items, 2, out, seed=1, cache_dir=cache, progress=False)
    assert not (run / "test").exists()
    # another clip list (a labels CSV with one clip less) is another run too
    with pytest.raises(TrainingError, match="other clips"):
        cross_validate([config], items[1:], 2, out, seed=0, cache_dir=cache, progress=False)
    # the same folds finish the interrupted run
    again = cross_validate([config], items, 2, out, seed=0, cache_dir=cache, progress=False)
    assert (run / "test" / "metrics.json").is_file() and set(again) == {"tiny-heads"}


def test_the_clip_record_ignores_order_and_folder_but_not_membership(tiny_clips: Path) -> None:
    items = items_from_labels_csv(tiny_clips / "labels.csv", tiny_clips)
    record = run_clips(items[:6], items[6:8], items[8:])
    assert run_clips(items[5::-1], items[7:5:-1], items[:7:-1]) == record
    swapped = run_clips([*items[:5], items[8]], items[6:8], [items[5], *items[9:]])
    assert swapped["train"] != record["train"] and swapped["test"] != record["test"]
    assert swapped["train_clips"] == record["train_clips"]


def test_an_unreadable_clip_record_is_a_one_line_error(
    tiny_clips: Path, heads_preset: Path, tmp_path: Path
) -> None:
    items = items_from_labels_csv(tiny_clips / "labels.csv", tiny_clips)
    run = tmp_path / "cv" / "tiny-heads" / "fold-1"
    run.mkdir(parents=True)
    (run / "clips.json").write_bytes(b"\xff\xfe")
    with pytest.raises(TrainingError, match=r"clips.json: unreadable .*remove that run"):
        cross_validate([load_config(heads_preset)], items, 2, tmp_path / "cv", progress=False)
