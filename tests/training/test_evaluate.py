"""``smokewatch evaluate`` and the experiments (k-fold CV, RISE splits) on tiny models and clips."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from model_dirs import tiny3d_model_dir
from sklearn import metrics as skm

from smokewatch.dataset.torch_data import items_from_labels_csv
from smokewatch.training.config import apply_overrides, load_config
from smokewatch.training.experiments import cross_validate, fold_items, holdout
from smokewatch.training.loop import train
from smokewatch.video import read_clip

SVM_PRESET = """\
name: tiny-svm
kind: svm
model: tiny3d
weights: null
frames: 6
size: 24
workers: 0
svm: {C: 1.0, gamma: scale}
"""


def _smokewatch(*args: str) -> Any:
    """The CLI in this process (exit code, stdout, stderr), as a user would run it."""
    from typer.testing import CliRunner

    from smokewatch.cli import app

    result = CliRunner().invoke(app, list(args))
    result.returncode = result.exit_code
    return result


@pytest.fixture(scope="module")
def trained(tiny_clips: Path, tiny_preset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("trained")
    items = items_from_labels_csv(tiny_clips / "labels.csv", tiny_clips)
    result = train(load_config(tiny_preset), items, items[:4], folder / "run", progress=False)
    return result.model_dir


def test_evaluate_writes_predictions_metrics_roc_and_grids(
    trained: Path, tiny_clips: Path, tmp_path: Path
) -> None:
    out = tmp_path / "eval"
    proc = _smokewatch(
        "evaluate",
        str(trained),
        "--clips",
        str(tiny_clips),
        "--labels",
        str(tiny_clips / "labels.csv"),
        "--out",
        str(out),
        "--quiet",
    )
    assert proc.returncode == 0, proc.stderr
    assert "F1" in proc.stdout
    with open(out / "predictions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["file", "probability", "prediction", "label"]
    assert [r["file"] for r in rows] == [f"clip-{i:02d}.mp4" for i in range(12)]
    y = np.array([int(r["label"]) for r in rows])
    p = np.array([float(r["probability"]) for r in rows])
    pred = np.array([int(r["prediction"]) for r in rows])
    assert np.array_equal(pred, (p >= 0.5).astype(int))
    m = json.loads((out / "metrics.json").read_text())
    assert {"precision", "recall", "f1", "roc_auc", "accuracy"} <= m.keys()
    assert m["f1"] == pytest.approx(skm.f1_score(y, pred, zero_division=0), abs=1e-9)
    assert m["precision"] == pytest.approx(skm.precision_score(y, pred, zero_division=0))
    assert m["recall"] == pytest.approx(skm.recall_score(y, pred, zero_division=0))
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    # probabilities are written with 6 decimals: AUC from the rounded values can only tie more
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p), abs=0.02)
    assert (out / "roc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    grids = sorted((out / "confusion").glob("*.mp4"))
    cells = {"tp": m["tp"], "fp": m["fp"], "fn": m["fn"], "tn": m["tn"]}
    assert [g.stem for g in grids] == sorted(k for k, v in cells.items() if v)
    assert read_clip(grids[0]).shape[1:] != (32, 32, 3)  # a grid, not a single clip


def test_evaluate_errors_are_clear(trained: Path, tiny_clips: Path, tmp_path: Path) -> None:
    no_model = _smokewatch(
        "evaluate",
        str(tmp_path),
        "--clips",
        str(tiny_clips),
        "--labels",
        str(tiny_clips / "labels.csv"),
        "--out",
        str(tmp_path / "o"),
    )
    assert no_model.returncode == 2 and "not a model directory" in no_model.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("name,label\nclip-00.mp4,1\n")
    no_column = _smokewatch(
        "evaluate",
        str(trained),
        "--clips",
        str(tiny_clips),
        "--labels",
        str(bad),
        "--out",
        str(tmp_path / "o"),
    )
    assert no_column.returncode == 2 and "file" in no_column.stderr
    both = _smokewatch("evaluate", str(trained), "--out", str(tmp_path / "o"))
    assert both.returncode == 2 and "--labels CSV --clips DIR" in both.stderr
    tampered = tmp_path / "tampered"
    tampered.mkdir()
    (tampered / "model.json").write_text("{not json")
    broken = _smokewatch(
        "evaluate",
        str(tampered),
        "--clips",
        str(tiny_clips),
        "--labels",
        str(tiny_clips / "labels.csv"),
        "--out",
        str(tmp_path / "o"),
    )
    assert broken.returncode == 2 and "unreadable" in broken.stderr


def test_a_model_with_nan_weights_is_refused_in_one_line(tiny_clips: Path, tmp_path: Path) -> None:
    from smokewatch.models import get_model

    last = [
        k
        for k, v in get_model("tiny3d", num_classes=1).state_dict().items()
        if v.is_floating_point()
    ][-1]
    model = tiny3d_model_dir(tmp_path / "model", poison=last)
    proc = _smokewatch(
        "evaluate", str(model), "--clips", str(tiny_clips), "--labels",
        str(tiny_clips / "labels.csv"), "--out", str(tmp_path / "eval"), "--quiet",
    )  # fmt: skip
    assert proc.returncode == 2, proc.output
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), proc.stderr
    assert "model.pt" in lines[0] and "NaN" in lines[0] and last in lines[0]
    assert not (tmp_path / "eval" / "metrics.json").exists()


def test_a_model_that_outputs_nan_is_refused(tiny_clips: Path, tmp_path: Path) -> None:
    """Finite weights can still overflow to NaN: scoring says the model is broken, whichever
    way the clips arrive (files for evaluate, arrays for detection)."""
    import torch

    from smokewatch.training.evaluate import evaluate_model
    from smokewatch.training.saved import BrokenModelError, load_model_dir

    model = tiny3d_model_dir(tmp_path / "model")
    trained = load_model_dir(model)
    with torch.no_grad():
        for p in trained.model.parameters():
            p.mul_(1e30)  # every layer x1e30: the logit overflows, inf - inf is NaN
    items = items_from_labels_csv(tiny_clips / "labels.csv", tiny_clips)
    with pytest.raises(BrokenModelError, match=r"NaN\) for 12 of 12 clips: it is broken"):
        trained.predict(items)
    clips = np.stack([read_clip(item.path) for item in items[:2]])
    with pytest.raises(BrokenModelError, match="for 2 of 2 clips"):
        trained.predict_arrays(clips)
    torch.save(trained.model.state_dict(), model / "model.pt")  # finite, and broken
    with pytest.raises(BrokenModelError, match="it is broken"):
        evaluate_model(model, items, tmp_path / "eval", progress=False, grids=False)


def test_folds_and_holdout_are_stratified_and_disjoint(tiny_clips: Path) -> None:
    items = items_from_labels_csv(tiny_clips / "labels.csv", tiny_clips)
    folds = fold_items(items, 3, seed=0)
    tested = [it.key for _, test in folds for it in test]
    assert sorted(tested) == sorted(it.key for it in items)  # every clip tested exactly once
    for train_part, test_part in folds:
        assert not {i.key for i in train_part} & {i.key for i in test_part}
        assert sum(i.label for i in test_part) == 2  # 2 of 4 per fold are smoke
    fit, val = holdout(items, 0.25, seed=1)
    assert len(val) == 4 and sum(i.label for i in val) == 2
    assert not {i.key for i in fit} & {i.key for i in val}
    assert holdout(items, 0.25, seed=1) == (fit, val)
    with pytest.raises(ValueError, match="at least 7 clips"):
        fold_items(items, 7, seed=0)


def test_cross_validation_tables_and_resume(
    tiny_clips: Path, tiny_preset: Path, tmp_path: Path
) -> None:
    svm_path = tmp_path / "tiny-svm.yaml"
    svm_path.write_text(SVM_PRESET)
    configs = [
        apply_overrides(load_config(tiny_preset), ["steps=4", "val_fraction=0.25"]),
        load_config(svm_path),
    ]
    items = items_from_labels_csv(tiny_clips / "labels.csv", tiny_clips)
    out = tmp_path / "cv"
    seen: list[tuple[str, str]] = []
    results = cross_validate(
        configs,
        items,
        2,
        out,
        cache_dir=tmp_path / "cache",
        progress=False,
        on_result=lambda p, c, m: seen.append((p, c)),
    )
    assert seen == [
        ("tiny", "fold-1"),
        ("tiny-svm", "fold-1"),
        ("tiny", "fold-2"),
        ("tiny-svm", "fold-2"),
    ]
    assert set(results) == {"tiny", "tiny-svm"}
    for preset in results:
        for fold in ("fold-1", "fold-2"):
            test = out / preset / fold / "test"
            with open(test / "predictions.csv", newline="") as f:
                assert len(list(csv.DictReader(f))) == 6
            assert (
                results[preset][fold]["f1"] == json.loads((test / "metrics.json").read_text())["f1"]
            )
    table = (out / "table_f1.csv").read_text().splitlines()
    assert table[0] == "model,fold-1,fold-2,average"
    row = table[2].split(",")
    f1s = [results["tiny-svm"][c]["f1"] for c in ("fold-1", "fold-2")]
    assert row[0] == "tiny-svm" and float(row[3]) == pytest.approx(np.mean(f1s), abs=1e-3)
    assert "| tiny-svm |" in (out / "table_f1.md").read_text()
    assert len(list((tmp_path / "cache" / "features").glob("*.npy"))) == 12
    # re-running reuses every finished run: nothing is trained again
    stamp = (out / "tiny" / "fold-1" / "model" / "model.pt").stat().st_mtime_ns
    again = cross_validate(configs, items, 2, out, progress=False)
    assert again == results
    assert (out / "tiny" / "fold-1" / "model" / "model.pt").stat().st_mtime_ns == stamp


@pytest.mark.rise
def test_rise_split_s3_experiment(rise_clips: list, tiny_preset: Path, tmp_path: Path) -> None:
    """S3 (held-out days) made from real RISE records; tiny videos stand in for the clips."""
    from videos import make_clip

    from smokewatch.core.metadata import read_metadata, write_metadata
    from smokewatch.dataset.splits import labeled_clips, make_splits
    from smokewatch.training.experiments import run_splits, split_items

    by_day: dict[str, list] = {}
    for clip in labeled_clips(rise_clips):
        day = clip.file_name.split("-")[2:5]  # camera-view-YYYY-MM-DD-...
        by_day.setdefault("-".join(day), []).append(clip)
    picked = []
    for day in sorted(by_day)[-14:]:  # the 14 newest days, one smoke and one clear clip each
        for label in (0, 1):
            picked.append(next(c for c in by_day[day] if c.label == label))
    metadata = tmp_path / "metadata.json"
    write_metadata(picked, metadata)
    videos = tmp_path / "videos"
    for i, clip in enumerate(picked):
        make_clip(videos / f"{clip.file_name}.mp4", frames=6, size=24, seed=i)
    parts = split_items(make_splits(read_metadata(metadata), ["S3"])["S3"], videos)
    assert [len(parts[p]) for p in ("train", "validation", "test")] == [4, 4, 20]
    config = apply_overrides(load_config(tiny_preset), ["steps=2", "val_every=2"])
    results = run_splits([config], metadata, videos, ["S3"], tmp_path / "exp", progress=False)
    assert results["tiny"]["S3"]["tp"] + results["tiny"]["S3"]["fn"] == 10
    assert (tmp_path / "exp" / "table_roc_auc.md").is_file()


def test_a_loaded_i3d_is_prepared_for_fast_inference_with_the_same_outputs(
    tiny_clips: Path, tmp_path: Path
) -> None:
    """Loaded I3D models run folded/fused on the CPU; probabilities and SVM features stay put."""
    import torch

    from smokewatch.models import get_model
    from smokewatch.models.inference import FastUnit3D
    from smokewatch.training.config import TrainConfig
    from smokewatch.training.predict import extract_clip_features, predict_torch
    from smokewatch.training.saved import load_model_dir, write_model_dir

    config = TrainConfig(name="small-i3d", model="i3d", weights=None, frames=8, size=32, workers=0)
    torch.manual_seed(0)
    model = get_model("i3d", num_classes=1)
    for module in model.modules():  # non-trivial batch-norm statistics, so folding matters
        if isinstance(module, torch.nn.BatchNorm3d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    write_model_dir(tmp_path / "m", config, state_dict=model.state_dict())
    items = items_from_labels_csv(tiny_clips / "labels.csv", tiny_clips)[:4]
    eager, _ = predict_torch(model.eval(), config, items)
    loaded = load_model_dir(tmp_path / "m")
    fast = loaded.predict(items)
    assert loaded.prepared
    assert any(isinstance(m, FastUnit3D) for m in loaded.model.modules())
    assert np.allclose(fast, eager, atol=1e-4)
    # SVM features: the prepared backbone gives the eager backbone's Mixed_5c means
    torch.manual_seed(0)
    feats = extract_clip_features(config, items)
    with torch.inference_mode():
        from smokewatch.training.predict import clip_loader, eval_transform

        x = next(iter(clip_loader(config, items, batch_size=4, workers=0)))["video"]
        clips = eval_transform(config, torch.device("cpu"))(x)
        torch.manual_seed(0)  # the same random backbone as extract_clip_features built
        reference = get_model("i3d", num_classes=1).eval().features(clips).numpy()
        torch.manual_seed(1)
        other = get_model("i3d", num_classes=1).eval().features(clips).numpy()
    scale = float(np.abs(reference).max())  # random-init activations are small: compare relatively
    assert feats.shape == (4, 1024) and scale > 0
    assert np.allclose(feats, reference, rtol=1e-3, atol=1e-4 * scale)
    assert not np.allclose(other, reference, rtol=1e-3, atol=1e-4 * scale)  # a real comparison


def test_cv_command_scores_a_given_prediction_column(
    tiny_clips: Path, tiny_preset: Path, tmp_path: Path
) -> None:
    """``--score-column``: another model's predictions scored on the very same test folds."""
    rows = list(csv.DictReader(open(tiny_clips / "labels.csv", newline="")))
    flipped = {"clip-00.mp4", "clip-03.mp4", "clip-04.mp4"}
    labels = tmp_path / "labels.csv"
    with open(labels, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "label", "other_pred"])
        for r in rows:
            writer.writerow(
                [r["file"], r["label"], 1 - int(r["label"]) if r["file"] in flipped else r["label"]]
            )
    out = tmp_path / "cv"
    result = _smokewatch(
        "experiments",
        "cv",
        str(tiny_preset),
        "--labels",
        str(labels),
        "--clips",
        str(tiny_clips),
        "--folds",
        "2",
        "--out",
        str(out),
        "--score-column",
        "other_pred",
        "--set",
        "steps=2",
        "--quiet",
    )
    assert result.returncode == 0, result.output
    results = json.loads((out / "results.json").read_text())
    items = items_from_labels_csv(labels, tiny_clips)
    for k, (_, test) in enumerate(fold_items(items, 2, seed=0)):
        y = [it.label for it in test]
        pred = [1 - it.label if it.path.name in flipped else it.label for it in test]
        assert results["other_pred"][f"fold-{k + 1}"]["f1"] == pytest.approx(skm.f1_score(y, pred))
    assert "| other_pred |" in (out / "table_f1.md").read_text()
    missing = _smokewatch(
        "experiments",
        "cv",
        str(tiny_preset),
        "--labels",
        str(labels),
        "--clips",
        str(tiny_clips),
        "--out",
        str(out),
        "--score-column",
        "nope",
    )
    assert missing.returncode == 2 and "no column 'nope'" in missing.output


def test_experiment_inputs_are_checked_before_training(
    tiny_clips: Path, tiny_preset: Path, tmp_path: Path
) -> None:
    from smokewatch.training.build import TrainingError
    from smokewatch.training.experiments import run_splits
    from smokewatch.training.fit_svm import train_svm

    with pytest.raises(TrainingError, match="unknown split S9"):
        run_splits(
            [load_config(tiny_preset)],
            tmp_path / "m.json",
            tmp_path,
            ["S0", "S9"],
            tmp_path / "out",
            progress=False,
        )
    items = items_from_labels_csv(tiny_clips / "labels.csv", tiny_clips)
    svm_path = tmp_path / "tiny-svm.yaml"
    svm_path.write_text(SVM_PRESET)
    bad = apply_overrides(load_config(svm_path), ["svm={Cc: 4}"])
    with pytest.raises(TrainingError, match="bad svm setting"):
        train_svm(bad, items, tmp_path / "svm", progress=False)
    with pytest.raises(TrainingError, match="at least 2 training clips of each class"):
        train_svm(load_config(svm_path), items[:3], tmp_path / "svm", progress=False)
    # a finished run is not silently reused with other settings
    config = apply_overrides(load_config(tiny_preset), ["steps=2"])
    cross_validate([config], items, 2, tmp_path / "cv", progress=False)
    with pytest.raises(TrainingError, match="other settings"):
        cross_validate(
            [apply_overrides(config, ["steps=3"])], items, 2, tmp_path / "cv", progress=False
        )
