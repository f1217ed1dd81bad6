"""What the training verbs do with awkward input: no --device, unreadable clips, a threshold
that is not a probability, a val_fraction that empties a class, a run whose validation can
choose nothing, --resume on other clips or on nothing yet, and -FP scores that must not depend
on how clips are batched or listed."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from model_dirs import tiny3d_model_dir

from smokewatch.dataset.torch_data import items_from_labels_csv
from smokewatch.training.build import TrainingError
from smokewatch.training.checkpoint import CheckpointError
from smokewatch.training.config import ConfigError, apply_overrides, load_config
from smokewatch.training.experiments import holdout
from smokewatch.training.loop import train


def _smokewatch(*args: str) -> Any:
    """The CLI in this process (exit code, stdout, stderr), as a user would run it."""
    from typer.testing import CliRunner

    from smokewatch.cli import app

    result = CliRunner().invoke(app, list(args))
    result.returncode = result.exit_code
    return result


def _with_a_corrupt_clip(tiny_clips: Path, where: Path, name: str = "clip-03.mp4") -> Path:
    """A copy of the tiny clips in which ``name`` is 500 zero bytes (not a video)."""
    shutil.copytree(tiny_clips, where)
    (where / name).write_bytes(b"\x00" * 500)
    return where


def _evaluate(model: Path, clips: Path, out: Path, *extra: str) -> Any:
    return _smokewatch(
        "evaluate", str(model), "--labels", str(clips / "labels.csv"), "--clips", str(clips),
        "--out", str(out), "--quiet", "--no-grids", *extra,
    )  # fmt: skip


def _train(preset: Path, clips: Path, out: Path, *extra: str) -> Any:
    return _smokewatch(
        "train", "--preset", str(preset), "--labels", str(clips / "labels.csv"),
        "--clips", str(clips), "--out", str(out), "--quiet", "--threads", "1", *extra,
    )  # fmt: skip


# -- no --device: CUDA when there is one, as train ----------------------------------------------


def test_evaluate_without_device_scores_on_cuda_when_there_is_one(
    tiny_clips: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from smokewatch.training.saved import TrainedModel

    used: list[Any] = []

    def predict(self: TrainedModel, items: Any, **kwargs: Any) -> np.ndarray:
        used.append(kwargs["device"])
        return np.linspace(0.1, 0.9, len(items))

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(TrainedModel, "predict", predict)
    model = tiny3d_model_dir(tmp_path / "model")
    proc = _evaluate(model, tiny_clips, tmp_path / "eval")
    assert proc.returncode == 0, proc.output
    assert [torch.device(d).type for d in used] == ["cuda"]


def test_experiments_evaluate_on_the_default_device(
    tiny_clips: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``experiments`` passes no --device on as None (the resolver's default), not as cpu."""
    from model_dirs import TINY

    import smokewatch.training.evaluate as evaluate
    from smokewatch.training.config import TrainConfig
    from smokewatch.training.experiments import run_one

    seen: list[Any] = []

    def fake(model_dir: Path, items: Any, out_dir: Path, **kwargs: Any) -> None:
        seen.append(kwargs["device"])
        out_dir.mkdir(parents=True)
        (out_dir / "metrics.json").write_text("{}")

    monkeypatch.setattr(evaluate, "evaluate_model", fake)
    items = items_from_labels_csv(tiny_clips / "labels.csv", tiny_clips)
    tiny3d_model_dir(tmp_path / "run" / "model")
    run_one(TrainConfig(**TINY), items, [], items, tmp_path / "run", progress=False)
    assert seen == [None]


def test_no_device_resolves_to_cuda_if_available(monkeypatch: pytest.MonkeyPatch) -> None:
    from smokewatch.training.device import resolve_device

    assert resolve_device(None) == torch.device("cpu")  # no GPU on this machine
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device(None) == torch.device("cuda")


# -- unreadable clips are left out and listed ---------------------------------------------------


def test_evaluate_skips_lists_and_records_an_unreadable_clip(
    tiny_clips: Path, tmp_path: Path
) -> None:
    clips = _with_a_corrupt_clip(tiny_clips, tmp_path / "clips")
    model = tiny3d_model_dir(tmp_path / "model")
    proc = _evaluate(model, clips, tmp_path / "eval", "--device", "cpu")
    assert proc.returncode == 0, proc.output
    assert "skipped:" in proc.stderr and "clip-03.mp4" in proc.stderr
    rows = (tmp_path / "eval" / "predictions.csv").read_text().splitlines()
    assert len(rows) == 1 + 11 and not any("clip-03" in r for r in rows)
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["n"] == 11 and len(metrics["skipped"]) == 1
    # --strict: everything readable is still scored, then exit 1
    strict = _evaluate(model, clips, tmp_path / "strict", "--device", "cpu", "--strict")
    assert strict.returncode == 1, strict.output
    assert (tmp_path / "strict" / "metrics.json").is_file()


def test_train_leaves_out_an_unreadable_clip_before_the_first_step(
    tiny_clips: Path, tiny_preset: Path, tmp_path: Path
) -> None:
    clips = _with_a_corrupt_clip(tiny_clips, tmp_path / "clips")
    proc = _train(tiny_preset, clips, tmp_path / "run", "--set", "steps=2")
    assert proc.returncode == 0, proc.output
    assert "skipped:" in proc.stderr and "clip-03.mp4" in proc.stderr
    meta = json.loads((tmp_path / "run" / "model" / "model.json").read_text())
    assert meta["train_clips"] == 11
    strict = _train(tiny_preset, clips, tmp_path / "strict", "--set", "steps=2", "--strict")
    assert strict.returncode == 1, strict.output
    assert not (tmp_path / "strict" / "model").exists()


def test_cross_validation_leaves_out_an_unreadable_clip_from_every_fold(
    tiny_clips: Path, tiny_preset: Path, tmp_path: Path
) -> None:
    """The same for ``experiments cv``: listed once, in no fold, instead of stopping the fold
    whose training first draws it."""
    clips = _with_a_corrupt_clip(tiny_clips, tmp_path / "clips")
    proc = _smokewatch(
        "experiments", "cv", str(tiny_preset), "--labels", str(clips / "labels.csv"),
        "--clips", str(clips), "--folds", "2", "--out", str(tmp_path / "cv"),
        "--set", "steps=2", "--quiet", "--threads", "1",
    )  # fmt: skip
    assert proc.returncode == 0, proc.output
    assert proc.stderr.count("skipped:") == 1 and "clip-03.mp4" in proc.stderr
    results = json.loads((tmp_path / "cv" / "results.json").read_text())
    tested = sum(fold["n"] for fold in results["tiny"].values())
    assert tested == 11


# -- --threshold is a probability ---------------------------------------------------------------


@pytest.mark.parametrize("threshold", ["1.5", "-0.2", "nan", "0", "1", "inf"])
def test_a_threshold_that_is_not_a_probability_is_one_line(
    tiny_clips: Path, tmp_path: Path, threshold: str
) -> None:
    model = tiny3d_model_dir(tmp_path / "model")
    proc = _evaluate(model, tiny_clips, tmp_path / "eval", "--threshold", threshold)
    assert proc.returncode == 2, proc.output
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "--threshold" in lines[0], proc.stderr
    assert not (tmp_path / "eval" / "metrics.json").exists()


# -- val_fraction -------------------------------------------------------------------------------


def test_a_val_fraction_that_empties_a_class_is_one_line(
    tiny_clips: Path, tiny_preset: Path, tmp_path: Path
) -> None:
    proc = _train(tiny_preset, tiny_clips, tmp_path / "run", "--set", "val_fraction=0.99")
    assert proc.returncode == 2, proc.output
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("error: val_fraction 0.99 holds out 6 of the 6"), proc.stderr
    items = items_from_labels_csv(tiny_clips / "labels.csv", tiny_clips)
    one_smoke = [it for it in items if it.label == 0] + [items[1]]
    with pytest.raises(TrainingError, match="holds out 1 of the 1 smoke clips"):
        holdout(one_smoke, 0.1, 0)
    train_part, val_part = holdout(items, 0.25, 0)  # still fine where every class keeps some
    assert {it.label for it in train_part} == {0, 1} and len(val_part) == 4


def test_a_hold_out_by_scene_keeps_every_scene_on_one_side(tiny_clips: Path) -> None:
    """With scene groups the checkpoint is chosen on scenes the model never trained on, as the
    grouped outer folds score it; a plain stratified hold-out splits scenes."""
    items = items_from_labels_csv(tiny_clips / "labels.csv", tiny_clips)
    pairs = np.arange(len(items)) // 2  # six scenes, each one no-smoke and one smoke clip
    scene = {it.path: int(g) for it, g in zip(items, pairs, strict=True)}

    def scenes(part: list[Any]) -> set[int]:
        return {scene[it.path] for it in part}

    train_part, val_part = holdout(items, 0.34, 0, pairs)
    assert scenes(train_part).isdisjoint(scenes(val_part))
    assert len(val_part) == 4 and {it.label for it in val_part} == {0, 1}
    assert sorted(it.path for it in train_part + val_part) == sorted(scene)
    assert holdout(items, 0.34, 0, pairs) == (train_part, val_part)  # seeded
    plain_train, plain_val = holdout(items, 0.34, 0)
    assert scenes(plain_train) & scenes(plain_val)

    with pytest.raises(TrainingError, match="needs at least 3 scene groups, the 12 clips have 2"):
        holdout(items, 0.34, 0, np.arange(len(items)) % 2)
    # every smoke clip in one scene: a fold holds out all of them or none
    alone = np.array([0 if it.label else 1 + i for i, it in enumerate(items)])
    with pytest.raises(TrainingError, match="no fold of the 7 scene groups holds out clips of"):
        holdout(items, 0.34, 0, alone)
    # smoke in two scenes: the fold chosen holds out one of them, never a one-class slice
    two = np.array([i % 4 if it.label else 2 + i for i, it in enumerate(items)])
    for seed in range(6):
        train_part, val_part = holdout(items, 0.34, seed, two)
        assert {it.label for it in val_part} == {0, 1} == {it.label for it in train_part}
    with pytest.raises(ValueError, match="11 groups for 12 clips"):
        holdout(items, 0.34, 0, pairs[:-1])


def test_train_holds_out_whole_scenes_with_scene_groups(
    tiny_clips: Path, tiny_preset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import smokewatch.training.experiments as experiments

    seen: list[tuple[set[int], set[int]]] = []
    real = experiments.holdout

    def spy(items: Any, fraction: float, seed: int, groups: Any = None) -> Any:
        train_part, val_part = real(items, fraction, seed, groups)
        if groups is not None:
            scene = {it.path: int(g) for it, g in zip(items, groups, strict=True)}
            sides = [{scene[it.path] for it in part} for part in (train_part, val_part)]
            seen.append((sides[0], sides[1]))
        return train_part, val_part

    # pairs of clips as scenes (the tiny clips' first frames would make each its own scene)
    monkeypatch.setattr(experiments, "holdout", spy)
    monkeypatch.setattr(
        experiments, "scene_groups_of", lambda items, *a, **k: np.arange(len(items)) // 2
    )
    rows = (tiny_clips / "labels.csv").read_text().splitlines()
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "\n".join([rows[0] + ",splits"] + [f"{r},s{i % 3} s5" for i, r in enumerate(rows[1:])])
    )
    args = [
        "train", "--preset", str(tiny_preset), "--labels", str(labels), "--clips",
        str(tiny_clips), "--quiet", "--threads", "1", "--set", "steps=2", "--set", "val_every=2",
    ]  # fmt: skip
    held = ["--set", "val_fraction=0.34", "--scene-groups", "splits"]
    proc = _smokewatch(*args, *held, "--out", str(tmp_path / "a"))
    assert proc.returncode == 0, proc.output
    (trained_on, held_out_scenes), *_ = seen
    assert held_out_scenes and trained_on.isdisjoint(held_out_scenes)
    assert len(trained_on | held_out_scenes) == 6
    made = json.loads((tmp_path / "a" / "model" / "model.json").read_text())
    assert made["validation_clips"] >= 2
    # without a hold-out there is nothing to group: refused before any clip is read
    proc = _smokewatch(*args, "--scene-groups", "splits", "--out", str(tmp_path / "b"))
    assert proc.returncode != 0 and "val_fraction hold-out" in proc.output


@pytest.mark.parametrize("value", ["1", "1.5", "-0.1", ".nan"])
def test_val_fraction_is_a_fraction_below_one(value: str) -> None:
    with pytest.raises(ConfigError, match="val_fraction"):
        apply_overrides(load_config("cpu-small"), [f"val_fraction={value}"])


# -- selection ----------------------------------------------------------------------------------


def test_a_run_whose_validation_can_choose_nothing_warns(
    tiny_clips: Path, tiny_preset: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    items = items_from_labels_csv(tiny_clips / "labels.csv", tiny_clips)
    late = apply_overrides(load_config(tiny_preset), ["steps=2", "val_every=1", "select_after=3"])
    with caplog.at_level(logging.WARNING, logger="smokewatch.training.loop"):
        result = train(late, items[:8], items[8:], tmp_path / "late", progress=False)
    assert "select_after 3 is past the last step (2)" in caplog.text
    assert result.validation is None and result.chosen_step == 2
    caplog.clear()
    at_end = apply_overrides(late, ["select_after=2"])  # the last validation still chooses
    with caplog.at_level(logging.WARNING, logger="smokewatch.training.loop"):
        result = train(at_end, items[:8], items[8:], tmp_path / "end", progress=False)
    assert "select_after" not in caplog.text
    assert result.validation is not None and result.chosen_step == 2


# -- --resume -----------------------------------------------------------------------------------


def test_resume_on_other_clips_is_refused(
    tiny_clips: Path, tiny_preset: Path, tmp_path: Path
) -> None:
    items = items_from_labels_csv(tiny_clips / "labels.csv", tiny_clips)
    config = load_config(tiny_preset)
    run = tmp_path / "run"
    train(config, items[:8], items[8:], run, progress=False, stop_after=2)
    for other_train, other_val in (
        (items[:6], items[8:]),  # fewer clips
        (items[1:9], items[9:] + items[:1]),  # as many, other ones
        (items[:8][::-1], items[8:]),  # the same ones in another order
    ):
        with pytest.raises(CheckpointError, match="run on other clips"):
            train(config, other_train, other_val, run, resume=True, progress=False)
    result = train(config, items[:8], items[8:], run, resume=True, progress=False)
    assert result.chosen_step > 0


def test_resume_without_a_checkpoint_starts_fresh_and_says_so(
    tiny_clips: Path, tiny_preset: Path, tmp_path: Path
) -> None:
    proc = _train(tiny_preset, tiny_clips, tmp_path / "run", "--set", "steps=2", "--resume")
    assert proc.returncode == 0, proc.output
    assert "no checkpoint" in proc.stderr and "starting a fresh run" in proc.stderr
    assert (tmp_path / "run" / "model" / "model.json").is_file()


# -- -FP scores are the clip's own --------------------------------------------------------------


def test_frame_perturbed_scores_do_not_depend_on_batching_or_order(
    tiny_clips: Path, tiny_preset: Path
) -> None:
    from smokewatch.models import get_model
    from smokewatch.training.predict import predict_torch

    items = items_from_labels_csv(tiny_clips / "labels.csv", tiny_clips)
    config = apply_overrides(load_config(tiny_preset), ["perturb_frames=true"])
    torch.manual_seed(1)
    model = get_model("tiny3d")
    by4, _ = predict_torch(model, config, items, batch_size=4)
    by5, _ = predict_torch(model, config, items, batch_size=5)
    reversed_, _ = predict_torch(model, config, items[::-1], batch_size=4)
    # equal up to float rounding: a batch's kernels may sum in another order on some CPUs
    # (1 ulp seen on an AMD EPYC), while a clip perturbed by its neighbours moves by far more
    np.testing.assert_allclose(by4, by5, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(by4, reversed_[::-1], rtol=1e-6, atol=1e-7)
