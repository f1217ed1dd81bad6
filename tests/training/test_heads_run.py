"""A heads preset end to end on tiny real clips: train, save, load, predict, nested CV."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from smokewatch.dataset.torch_data import items_from_labels_csv
from smokewatch.training.build import TrainingError
from smokewatch.training.config import apply_overrides, load_config
from smokewatch.training.experiments import nested_cross_validate
from smokewatch.training.heads import train_heads
from smokewatch.training.saved import load_model_dir


def test_train_save_load_predict(tiny_clips: Path, heads_preset: Path, tmp_path: Path) -> None:
    items = items_from_labels_csv(tiny_clips / "labels.csv", tiny_clips)
    cache = tmp_path / "cache"
    result = train_heads(load_config(heads_preset), items, tmp_path / "run", cache_dir=cache)
    meta = json.loads((result.model_dir / "model.json").read_text())
    assert meta["kind"] == "heads" and meta["chosen"][0]["candidate"] == "diff/svm-linear"
    # one cached summary per clip, reused by prediction
    assert len(list((cache / "features").glob("diff-*/*.npz"))) == len(items)
    trained = load_model_dir(tmp_path / "run")
    probs = trained.predict(items, cache_dir=cache)
    assert probs.shape == (len(items),) and ((probs >= 0) & (probs <= 1)).all()
    # in-memory windows (detection) score exactly as files do
    from smokewatch.video import read_clip

    arrays = np.stack([read_clip(it.path) for it in items[:3]])
    assert np.allclose(trained.predict_arrays(arrays), probs[:3])


def test_nested_table_with_given_scores(
    tiny_clips: Path, heads_preset: Path, tmp_path: Path
) -> None:
    items = items_from_labels_csv(tiny_clips / "labels.csv", tiny_clips)
    given = {"oracle": {str(it.path): float(it.label) for it in items}}
    out = tmp_path / "cv"
    results = nested_cross_validate(
        [load_config(heads_preset)], items, 2, out, cache_dir=tmp_path / "cache", given=given
    )
    assert set(results) == {"tiny-heads", "oracle"}
    assert results["oracle"]["fold-1"]["f1"] == 1.0
    assert (out / "table_f1.md").is_file()
    choices = json.loads((out / "choices.json").read_text())
    assert set(choices["tiny-heads"]) == {"fold-1", "fold-2"}


def test_nested_fine_tunes_once_per_outer_fold_choosing_on_a_hold_out(
    tiny_clips: Path, heads_preset: Path, tiny_preset: Path, tmp_path: Path
) -> None:
    """A fine-tuned preset beside a heads preset on the same outer folds: trained once per
    fold, its checkpoint and threshold chosen on a hold-out of that fold's training clips;
    without a hold-out it would choose nothing inside, and is refused."""
    items = items_from_labels_csv(tiny_clips / "labels.csv", tiny_clips)
    with pytest.raises(TrainingError, match="val_fraction"):
        nested_cross_validate([load_config(tiny_preset)], items, 2, tmp_path / "refused")
    tuned = apply_overrides(
        load_config(tiny_preset),
        ["val_fraction=0.34", "steps=4", "val_every=2", "choose_threshold=true", "augment=false"],
    )
    out = tmp_path / "cv"
    results = nested_cross_validate(
        [load_config(heads_preset), tuned],
        items,
        2,
        out,
        cache_dir=tmp_path / "cache",
        progress=False,
    )
    for fold in ("fold-1", "fold-2"):  # the same test clips for both presets
        assert results["tiny"][fold]["n"] == results["tiny-heads"][fold]["n"]
    assert sum(results["tiny"][f]["n"] for f in ("fold-1", "fold-2")) == len(items)
    choices = json.loads((out / "choices.json").read_text())["tiny"]
    for fold in ("fold-1", "fold-2"):
        made = json.loads((out / "tiny" / fold / "model" / "model.json").read_text())
        assert made["train_clips"] + made["validation_clips"] == len(items) // 2
        assert made["validation_clips"] >= 2
        assert choices[fold]["step"] == made["chosen_step"] in (2, 4)
        assert choices[fold]["threshold"] == results["tiny"][fold]["threshold"]


def test_nested_fine_tuning_holds_out_whole_scenes_when_the_folds_are_grouped(
    tiny_clips: Path, tiny_preset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Grouped outer folds: the hold-out that chooses a fine-tuned checkpoint shares no scene
    with the clips it trains on, as a heads preset's grouped inner folds do not."""
    import smokewatch.training.experiments as experiments

    parts: list[tuple[Any, Any, Any]] = []
    real = experiments.run_one

    def spy(config: Any, fit: Any, val: Any, test: Any, *args: Any, **kwargs: Any) -> Any:
        parts.append((fit, val, test))
        return real(config, fit, val, test, *args, **kwargs)

    monkeypatch.setattr(experiments, "run_one", spy)
    items = items_from_labels_csv(tiny_clips / "labels.csv", tiny_clips)
    pairs = np.arange(len(items)) // 2  # six scenes of a no-smoke and a smoke clip
    scene = {it.path: int(g) for it, g in zip(items, pairs, strict=True)}
    tuned = apply_overrides(
        load_config(tiny_preset), ["val_fraction=0.34", "steps=2", "val_every=2", "augment=false"]
    )
    nested_cross_validate(
        [tuned], items, 2, tmp_path / "cv", groups=pairs, cache_dir=tmp_path / "c", progress=False
    )
    assert len(parts) == 2
    for fit, val, test in parts:
        seen = [{scene[it.path] for it in part} for part in (fit, val, test)]
        assert val and seen[0].isdisjoint(seen[1])
        assert seen[0].isdisjoint(seen[2]) and seen[1].isdisjoint(seen[2])


def test_detection_scores_a_heads_model_without_grad_cam(
    tiny_clips: Path, heads_preset: Path, tmp_path: Path
) -> None:
    """Grad-CAM has no network to explain in heads on frame differences alone: asking for it
    is one clear error that says how to run instead, and the probability-only detector works."""
    from smokewatch.detect.detector import load_detector, model_fingerprint
    from smokewatch.explain.gradcam import ExplainError
    from smokewatch.video import read_clip

    items = items_from_labels_csv(tiny_clips / "labels.csv", tiny_clips)
    result = train_heads(
        load_config(heads_preset), items, tmp_path / "run", cache_dir=tmp_path / "c"
    )
    with pytest.raises(ExplainError, match="--no-cam"):
        load_detector(result.model_dir, cam=True)
    detector = load_detector(result.model_dir, cam=False)
    arrays = np.stack([read_clip(it.path) for it in items[:2]])
    probs = detector.scorer(arrays)
    assert probs.shape == (2,) and ((probs >= 0) & (probs <= 1)).all()
    # the heads file is part of the fingerprint: new heads mean new results
    before = model_fingerprint(result.model_dir)
    heads = result.model_dir / "heads.skops"
    heads.write_bytes(heads.read_bytes() + b"\0")
    assert model_fingerprint(result.model_dir) != before


def test_the_train_header_says_what_a_heads_preset_does(heads_preset: Path) -> None:
    line = load_config(heads_preset).summary()
    assert "heads on frozen features" in line and "diff" in line and "2-fold inner CV" in line
    assert "lr" not in line and "steps" not in line  # no network is trained


def _cli(*args: str) -> tuple[int, str]:
    from typer.testing import CliRunner

    from smokewatch.cli import app

    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_train_groups_the_inner_folds_by_scene(
    tiny_clips: Path, heads_preset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--scene-groups``: the inner folds that choose a heads model keep look-alike clips
    together, as the grouped nested CV that scores the recipe does."""
    import smokewatch.training.nested as nested

    seen: list[np.ndarray | None] = []
    real = nested.stratified_folds

    def spy(labels: np.ndarray, folds: int, seed: int, groups: np.ndarray | None = None) -> Any:
        seen.append(groups)
        return real(labels, folds, seed, groups)

    monkeypatch.setattr(nested, "stratified_folds", spy)
    rows = (tiny_clips / "labels.csv").read_text().splitlines()
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "\n".join([rows[0] + ",splits"] + [f"{r},s{i % 3} s5" for i, r in enumerate(rows[1:])])
    )
    common = [
        "train",
        "--preset",
        str(heads_preset),
        "--labels",
        str(labels),
        "--clips",
        str(tiny_clips),
    ]
    code, out = _cli(*common, "--scene-groups", "splits", "--out", str(tmp_path / "run"), "-q")
    assert code == 0, out
    meta = json.loads((tmp_path / "run" / "model" / "model.json").read_text())
    assert meta["inner_folds_grouped"] is True
    groups = seen[-1]
    assert groups is not None and len(groups) == 12
    # clips of different first words of the column never share a group
    assert len(set(groups.tolist())) >= 3

    code, out = _cli(*common, "--scene-groups", "nope", "--out", str(tmp_path / "bad"))
    assert code != 0 and "no column 'nope'" in out
    code, out = _cli(*common, "--out", str(tmp_path / "plain"), "-q")
    assert code == 0, out
    assert seen[-1] is None
    meta = json.loads((tmp_path / "plain" / "model" / "model.json").read_text())
    assert meta["inner_folds_grouped"] is False


def test_scene_groups_need_a_heads_preset_or_a_hold_out(
    tiny_clips: Path, tiny_preset: Path, tmp_path: Path
) -> None:
    code, out = _cli(
        "train", "--preset", str(tiny_preset), "--labels", str(tiny_clips / "labels.csv"),
        "--clips", str(tiny_clips), "--scene-groups", "splits", "--out", str(tmp_path / "r"),
    )  # fmt: skip
    assert code != 0 and "heads preset" in out
    # an SVM preset reads no hold-out, whatever its val_fraction: grouping would drop scenes
    svm = tmp_path / "svm.yaml"
    svm.write_text("name: s\nkind: svm\nmodel: tiny3d\nweights: null\nval_fraction: 0.3\n")
    code, out = _cli(
        "train", "--preset", str(svm), "--labels", str(tiny_clips / "labels.csv"),
        "--clips", str(tiny_clips), "--scene-groups", "splits", "--out", str(tmp_path / "s"),
    )  # fmt: skip
    assert code != 0 and "fine-tuned preset's val_fraction hold-out" in out
    assert not (tmp_path / "s").exists()


def test_too_few_scene_groups_for_the_inner_folds(
    tiny_clips: Path, heads_preset: Path, tmp_path: Path
) -> None:
    items = items_from_labels_csv(tiny_clips / "labels.csv", tiny_clips)
    with pytest.raises(TrainingError, match="1 scene groups cannot fill 2 grouped inner folds"):
        train_heads(
            load_config(heads_preset), items, tmp_path / "run", groups=np.zeros(len(items), int)
        )
