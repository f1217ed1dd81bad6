"""The training loop on a tiny model and tiny real clips: selection, resume after kill -9,
DDP with gloo equal to one process, the RISE loss, and the CLI's errors."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from smokewatch.dataset.torch_data import items_from_labels_csv
from smokewatch.training.checkpoint import CheckpointError, load_checkpoint
from smokewatch.training.config import apply_overrides, load_config
from smokewatch.training.loop import train
from smokewatch.training.saved import load_model_dir
from smokewatch.video import read_clip

REPO = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONHASHSEED="0")
    return env


def _cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "smokewatch", *args],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=300,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def _initial_weights(seed: int) -> dict[str, torch.Tensor]:
    """The weights training starts from: the loop seeds torch with the preset's seed first."""
    from smokewatch.models import get_model

    torch.manual_seed(seed)
    return {k: v.clone() for k, v in get_model("tiny3d").state_dict().items()}


def _weights(model_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(model_dir / "model.pt", map_location="cpu", weights_only=True)


def test_trains_validates_and_chooses_the_best_step(
    tiny_clips: Path, tiny_preset: Path, tmp_path: Path
) -> None:
    items = items_from_labels_csv(tiny_clips / "labels.csv", tiny_clips)
    config = load_config(tiny_preset)
    before = _initial_weights(config.seed)
    result = train(config, items[:8], items[8:], tmp_path / "run", progress=False)
    history = result.history
    assert [h["step"] for h in history] == [4, 8, 10]
    best = max(history, key=lambda h: (h["f1"], -h["loss"]))
    assert result.chosen_step == best["step"]
    trained = load_model_dir(result.model_dir)
    assert trained.meta["chosen_step"] == best["step"]
    assert trained.meta["train_clips"] == 8
    probs = trained.predict(items[8:])
    assert probs.shape == (4,) and np.all((probs > 0) & (probs < 1))
    # the saved model is the chosen step's weights, and training changed them
    assert torch.equal(
        _weights(result.model_dir)["logits.weight"],
        torch.load(tmp_path / "run" / "best.pt", weights_only=True)["logits.weight"],
    )
    assert not torch.equal(before["logits.weight"], _weights(result.model_dir)["logits.weight"])
    # the validation loss recorded for the chosen step is what the saved model gives
    _, loss = __import__("smokewatch.training.predict", fromlist=["x"]).predict_torch(
        trained.model, config, items[8:]
    )
    assert loss == pytest.approx(best["loss"], rel=1e-5)
    assert list((tmp_path / "run" / "tb").glob("events.out.tfevents.*"))


def test_select_by_roc_auc_and_a_threshold_chosen_on_validation(
    tiny_clips: Path, tiny_preset: Path, tmp_path: Path
) -> None:
    """``select_by: roc_auc`` picks the validation with the best ROC-AUC; with
    ``choose_threshold`` each validation is scored at its own best-F1 threshold, and the
    chosen one's threshold is the model's: ``evaluate`` cuts there."""
    from smokewatch.training.evaluate import evaluate_model
    from smokewatch.training.loop import validation_threshold
    from smokewatch.training.metrics import binary_metrics

    items = items_from_labels_csv(tiny_clips / "labels.csv", tiny_clips)
    config = apply_overrides(
        load_config(tiny_preset), ["select_by=roc_auc", "choose_threshold=true", "val_every=2"]
    )
    result = train(config, items[:8], items[8:], tmp_path / "run", progress=False)
    best = max(result.history, key=lambda h: (h["roc_auc"], -h["loss"]))
    assert result.chosen_step == best["step"]
    trained = load_model_dir(result.model_dir)
    assert trained.threshold == trained.meta["probability_threshold"] == best["threshold"]
    probs = trained.predict(items[8:])
    labels = [it.label for it in items[8:]]
    assert best["threshold"] == validation_threshold(labels, probs, 0.5)
    assert best["f1"] == pytest.approx(
        binary_metrics(labels, probs, threshold=best["threshold"]).f1
    )
    evaluate_model(result.model_dir, items[8:], tmp_path / "eval", grids=False, progress=False)
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["threshold"] == best["threshold"]


def test_selection_rules_and_the_validation_threshold() -> None:
    from smokewatch.training.loop import _better, validation_threshold

    a = {"f1": 0.8, "roc_auc": 0.70, "loss": 0.50}
    b = {"f1": 0.6, "roc_auc": 0.90, "loss": 0.40}
    c = {"f1": 0.6, "roc_auc": float("nan"), "loss": 0.30}  # one class: no ROC-AUC
    assert _better(a, b, "f1") and not _better(a, b, "roc_auc") and not _better(a, b, "loss")
    assert _better(b, c, "roc_auc") and not _better(c, b, "roc_auc") and _better(c, b, "loss")
    assert _better({**a, "loss": 0.4}, a, "f1")  # a tie goes to the lower loss
    # F1 is best cutting between 0.3 and 0.6 (both positives in, the 0.2 negative out)
    y, p = [0, 0, 1, 1], np.array([0.2, 0.7, 0.6, 0.9])
    cut = validation_threshold(y, p, 0.5)
    assert 0.2 < cut < 0.6
    assert binary_metrics_f1(y, p, cut) == pytest.approx(0.8)
    assert validation_threshold([1, 1], np.array([0.2, 0.3]), 0.5) == 0.5
    # all smoke is best: cut at the lowest probability, so every clip stays smoke
    y2, p2 = [1, 1, 0, 1], np.array([0.1, 0.2, 0.3, 0.4])
    assert binary_metrics_f1(y2, p2, validation_threshold(y2, p2, 0.5)) == pytest.approx(6 / 7)
    # tiny probabilities keep their order (no clamp to 1e-6 moving them across the cut)
    y3, p3 = [0, 1, 1], np.array([1e-9, 3e-9, 4e-9])
    assert binary_metrics_f1(y3, p3, validation_threshold(y3, p3, 0.5)) == 1.0
    assert 0 < validation_threshold([0, 1], np.array([0.0, 1.0]), 0.5) < 1


def test_select_by_roc_auc_on_one_class_validation_falls_back_to_the_loss(
    tiny_clips: Path, tiny_preset: Path, tmp_path: Path
) -> None:
    """Validation clips of one class have no ROC-AUC: the record holds None (as JSON keeps
    it), and the lower loss chooses, as ``select_by`` promises, instead of a crash."""
    from smokewatch.training.loop import _better

    a = {"f1": 0.0, "roc_auc": None, "loss": 0.50}
    b = {"f1": 0.0, "roc_auc": None, "loss": 0.40}
    assert _better(b, a, "roc_auc") and not _better(a, b, "roc_auc")
    assert _better({**a, "roc_auc": 0.6}, b, "roc_auc")  # an existing ROC-AUC beats none
    items = items_from_labels_csv(tiny_clips / "labels.csv", tiny_clips)
    smoke = [it for it in items if it.label == 1]
    config = apply_overrides(load_config(tiny_preset), ["select_by=roc_auc", "steps=2"])
    config = apply_overrides(config, ["val_every=1", "milestones=[2]"])
    result = train(config, items, smoke[:2], tmp_path / "run", progress=False)
    assert [h["roc_auc"] for h in result.history] == [None, None]
    lowest = min(result.history, key=lambda h: h["loss"])
    assert result.chosen_step == lowest["step"]


def binary_metrics_f1(y: list[int], p: np.ndarray, cut: float) -> float:
    from smokewatch.training.metrics import binary_metrics

    return binary_metrics(y, p, threshold=cut).f1


def test_no_validation_keeps_the_final_weights(
    tiny_clips: Path, tiny_preset: Path, tmp_path: Path
) -> None:
    items = items_from_labels_csv(tiny_clips / "labels.csv", tiny_clips)
    result = train(load_config(tiny_preset), items, [], tmp_path / "run", progress=False)
    assert result.chosen_step == 10 and result.validation is None
    state = load_checkpoint(tmp_path / "run" / "last.pt")
    assert state["step"] == 10
    for key, value in state["model"].items():
        assert torch.equal(value, _weights(result.model_dir)[key])


def test_a_diverging_run_stops_at_the_step_and_saves_no_model(
    tiny_clips: Path, tiny_preset: Path, tmp_path: Path
) -> None:
    """A learning rate so large the weights overflow: a clear error, never a NaN model."""
    from smokewatch.training.build import TrainingError

    items = items_from_labels_csv(tiny_clips / "labels.csv", tiny_clips)
    config = apply_overrides(load_config(tiny_preset), ["lr=1e30", "val_every=0"])
    with pytest.raises(TrainingError, match=r"diverged at step 2 \(epoch 1\): the loss is not"):
        train(config, items, [], tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "model").exists()
    # validated after the step that broke it: the validation says so, not binary_metrics
    # (no augmentation: whether step 1's overflow gives NaN or only infinities depends on it)
    config = apply_overrides(load_config(tiny_preset), ["lr=1e30", "val_every=1", "augment=false"])
    with pytest.raises(TrainingError, match="diverged by step 1: the model gives NaN"):
        train(config, items, items[:4], tmp_path / "run-val", progress=False)
    assert not (tmp_path / "run-val" / "model").exists()


def test_a_last_step_that_breaks_the_weights_saves_no_model(
    tiny_clips: Path, tiny_preset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loss of the last step was finite, its update was not: no later loss to catch it."""
    from smokewatch.training.build import TrainingError

    step = torch.optim.SGD.step

    def overflowing(self: torch.optim.SGD, *args: Any, **kwargs: Any) -> Any:
        out = step(self, *args, **kwargs)
        with torch.no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    p.fill_(float("nan"))
        return out

    monkeypatch.setattr(torch.optim.SGD, "step", overflowing)
    items = items_from_labels_csv(tiny_clips / "labels.csv", tiny_clips)
    config = apply_overrides(load_config(tiny_preset), ["steps=1", "val_every=0"])
    with pytest.raises(TrainingError, match="diverged at step 1: the weights are not finite"):
        train(config, items, [], tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "model").exists()


def test_an_infinite_learning_rate_is_refused_in_one_line(
    tiny_clips: Path, tiny_preset: Path, tmp_path: Path
) -> None:
    proc = _cli(
        "train", "--preset", str(tiny_preset), "--labels", str(tiny_clips / "labels.csv"),
        "--clips", str(tiny_clips), "--out", str(tmp_path / "run"), "--device", "cpu",
        "--quiet", "--set", "lr=inf", check=False,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "error: overrides: lr: Input should be a finite number"
    ]
    assert not (tmp_path / "run" / "model").exists()


def test_rise_loss_uses_per_frame_logits_and_the_clip_max(
    tiny_clips: Path, tiny_preset: Path, tmp_path: Path
) -> None:
    from smokewatch.models import get_model
    from smokewatch.training.build import TrainModule, clip_scores, loss_fn

    model = get_model("tiny3d")
    x = torch.randn(2, 3, 6, 24, 24)
    frames = TrainModule(model, "rise")(x)
    assert frames.shape == (2, 6)
    assert torch.equal(clip_scores(frames), frames.amax(dim=1))
    y = torch.tensor([1.0, 0.0])
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    # RISE's loss: half per-frame BCE, half BCE of the clip's max over time
    expected = 0.5 * bce(frames, y[:, None].expand(2, 6)) + 0.5 * bce(frames.amax(dim=1), y)
    assert torch.allclose(loss_fn(frames, y), expected)
    # logits that vary over time, where the two halves differ (RISE's value, by hand)
    varied = torch.tensor([[0.0, 3.0, -2.0], [1.0, -1.0, 0.5]])
    per_frame = bce(varied, torch.tensor([[1.0] * 3, [0.0] * 3]))
    clip = bce(torch.tensor([3.0, 1.0]), y)
    assert torch.allclose(loss_fn(varied, y), 0.5 * per_frame + 0.5 * clip)
    assert not torch.allclose(per_frame, clip)
    items = items_from_labels_csv(tiny_clips / "labels.csv", tiny_clips)
    config = apply_overrides(load_config(tiny_preset), ["loss=rise", "steps=4"])
    result = train(config, items[:8], items[8:], tmp_path / "run", progress=False)
    trained = load_model_dir(result.model_dir)
    probs = trained.predict(items[8:])
    # evaluation scores a RISE-loss model by the max over time, as RISE tested
    from smokewatch.training.predict import array_batch, eval_transform

    clips = [read_clip(it.path) for it in items[8:]]
    x = eval_transform(config, torch.device("cpu"))(array_batch(config, clips))
    with torch.no_grad():
        by_max = torch.sigmoid(TrainModule(trained.model, "rise")(x).amax(dim=1))
        by_mean = torch.sigmoid(trained.model(x).flatten())
    np.testing.assert_allclose(probs, by_max.double().numpy(), atol=1e-6)
    assert not np.allclose(probs, by_mean.double().numpy(), atol=1e-6)


def test_rise_loss_stretches_time_steps_to_the_frames_as_rise_did() -> None:
    """A model with fewer time steps than frames (I3D: T/8): its logits are stretched linearly
    (``align_corners=True``) to one per frame; the clip score is their max."""
    from smokewatch.training.build import TrainModule, clip_scores

    class TwoSteps(torch.nn.Module):
        def frame_logits(self, x: torch.Tensor) -> torch.Tensor:
            return torch.tensor([[0.0, 3.0], [-1.0, -4.0]])

    frames = TrainModule(TwoSteps(), "rise")(torch.zeros(2, 3, 7, 8, 8))
    assert frames.shape == (2, 7)
    assert torch.allclose(frames[0], torch.linspace(0.0, 3.0, 7))
    assert torch.allclose(frames[1], torch.linspace(-1.0, -4.0, 7))
    assert torch.equal(clip_scores(frames), torch.tensor([3.0, -1.0]))


def test_resume_after_kill_9_ends_with_the_same_weights(
    tiny_clips: Path, tiny_preset: Path, tmp_path: Path
) -> None:
    labels = str(tiny_clips / "labels.csv")
    common = [
        "train",
        "--preset",
        str(tiny_preset),
        "--labels",
        labels,
        "--clips",
        str(tiny_clips),
        "--threads",
        "1",
        "--quiet",
        "--set",
        "val_fraction=0.25",
    ]
    _cli(*common, "--out", str(tmp_path / "straight"))

    # the same run, killed with SIGKILL after step 7 (its checkpoint is from step 6)
    killer = (
        "import os, signal, sys\n"
        "import smokewatch.training.loop as loop\n"
        "real = loop.train\n"
        "def killed(*a, **k):\n"
        "    k['on_step'] = lambda s: s == 7 and os.kill(os.getpid(), signal.SIGKILL)\n"
        "    return real(*a, **k)\n"
        "loop.train = killed\n"
        "from smokewatch.cli import app\n"
        "sys.argv = ['smokewatch'] + sys.argv[1:]\n"
        "app()\n"
    )
    out = tmp_path / "killed"
    proc = subprocess.run(
        [sys.executable, "-c", killer, *common, "--out", str(out)],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=300,
    )
    assert proc.returncode == -9, proc.stderr
    assert load_checkpoint(out / "last.pt")["step"] == 6
    assert not (out / "model").exists()
    # without --resume the folder is refused, nothing overwritten
    refused = _cli(*common, "--out", str(out), check=False)
    assert refused.returncode == 2 and "--resume" in refused.stderr
    _cli(*common, "--out", str(out), "--resume")

    a, b = _weights(tmp_path / "straight" / "model"), _weights(out / "model")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    meta_a = json.loads((tmp_path / "straight" / "model" / "model.json").read_text())
    meta_b = json.loads((out / "model" / "model.json").read_text())
    assert meta_a["history"] == meta_b["history"]


def test_broken_checkpoint_is_a_clear_error(
    tiny_clips: Path, tiny_preset: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "last.pt").write_bytes(b"not a checkpoint")
    items = items_from_labels_csv(tiny_clips / "labels.csv", tiny_clips)
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        train(load_config(tiny_preset), items, [], run, resume=True, progress=False)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        train(load_config(tiny_preset), items, [], tmp_path / "empty", resume=True, progress=False)
    # a checkpoint of another configuration is refused on resume
    other = tmp_path / "other"
    train(apply_overrides(load_config(tiny_preset), ["steps=2"]), items, [], other, progress=False)
    with pytest.raises(CheckpointError, match="another configuration"):
        train(load_config(tiny_preset), items, [], other, resume=True, progress=False)


def _torchrun(*args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    """``torchrun --nproc_per_node 2 -m smokewatch ARGS`` (gloo on CPU), on a free local port."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "--master_addr",
            "127.0.0.1",
            "--master_port",
            str(_free_port()),
            "-m",
            "smokewatch",
            *args,
        ],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=timeout,
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_torchrun_two_processes_gloo_equals_one_process(
    tiny_clips: Path, tiny_preset: Path, tmp_path: Path
) -> None:
    """With the paper's augmentation on: each clip is augmented from its place in the stream,
    so the two processes' halves of a batch are the one process's batch, augmented alike."""
    labels = str(tiny_clips / "labels.csv")
    args = [
        "train",
        "--preset",
        str(tiny_preset),
        "--labels",
        labels,
        "--clips",
        str(tiny_clips),
        "--quiet",
        "--threads",
        "1",
        "--set",
        "augment=true",
        "--set",
        "perturb_frames=true",
        "--set",
        "val_every=3",  # process 0 validates while process 1 waits for its word
        "--set",
        "val_fraction=0.25",
        "--set",
        "steps=6",
    ]
    _cli(*args, "--out", str(tmp_path / "one"))
    proc = _torchrun(*args, "--out", str(tmp_path / "two"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    meta = json.loads((tmp_path / "two" / "model" / "model.json").read_text())
    meta_one = json.loads((tmp_path / "one" / "model" / "model.json").read_text())
    assert meta["processes"] == 2
    # process 0 speaks for the run: one header, one result line (the others' is not the model)
    assert proc.stdout.count("model: ") == 1, proc.stdout
    assert proc.stderr.count("training clips") == 1, proc.stderr[-2000:]
    assert (
        [h["step"] for h in meta["history"]] == [h["step"] for h in meta_one["history"]] == [3, 6]
    )
    for a, b in zip(meta["history"], meta_one["history"], strict=True):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4)
    # the final weights (the chosen ones could differ on a tie broken by a 1e-7 loss difference)
    one = load_checkpoint(tmp_path / "one" / "last.pt")["model"]
    two = load_checkpoint(tmp_path / "two" / "last.pt")["model"]
    start = _initial_weights(3)  # the preset's seed: both runs start here (DDP broadcasts rank 0's)
    for key in one:
        assert torch.allclose(one[key], two[key], atol=1e-5, rtol=1e-4), key
    assert any(not torch.allclose(one[k], start[k], atol=1e-3) for k in one)  # it did train


def test_resume_with_another_number_of_processes_is_refused(
    tiny_clips: Path, tiny_preset: Path, tmp_path: Path
) -> None:
    from smokewatch.training.checkpoint import save_checkpoint

    items = items_from_labels_csv(tiny_clips / "labels.csv", tiny_clips)
    config = apply_overrides(load_config(tiny_preset), ["steps=4"])
    run = tmp_path / "run"
    train(config, items, [], run, progress=False, stop_after=2)
    state = load_checkpoint(run / "last.pt")
    state["rng"] = state["rng"] * 2  # as if two processes had written it
    save_checkpoint(
        run / "last.pt", {k: v for k, v in state.items() if k not in ("format", "version")}
    )
    with pytest.raises(CheckpointError, match="2 process"):
        train(config, items, [], run, resume=True, progress=False)


def test_frame_perturbed_evaluation_repeats_and_leaves_the_random_stream_alone(
    tiny_clips: Path, tiny_preset: Path
) -> None:
    from smokewatch.models import get_model
    from smokewatch.training.predict import predict_torch

    items = items_from_labels_csv(tiny_clips / "labels.csv", tiny_clips)
    config = apply_overrides(load_config(tiny_preset), ["perturb_frames=true"])
    model = get_model("tiny3d")
    before = torch.get_rng_state()
    first, _ = predict_torch(model, config, items)
    assert torch.equal(torch.get_rng_state(), before)
    second, _ = predict_torch(model, config, items)
    assert np.array_equal(first, second)
    plain, _ = predict_torch(model, load_config(tiny_preset), items)
    assert not np.allclose(first, plain)  # the frames really were shuffled


def test_a_validation_failure_under_torchrun_stops_every_process(
    tiny_clips: Path, tiny_preset: Path, tmp_path: Path
) -> None:
    """Process 0 hits a corrupt validation clip: all processes stop with an error, none hangs.

    The clip's container and packets are sound (so the check before training keeps it) but
    its coded bytes are noise, so it fails only when validation decodes it."""
    clips = tmp_path / "clips"
    clips.mkdir()
    for mp4 in tiny_clips.glob("*.mp4"):
        (clips / mp4.name).symlink_to(mp4)
    data = bytearray((tiny_clips / "clip-01.mp4").read_bytes())
    start = data.find(b"mdat") + 12
    data[start:-8] = np.random.default_rng(0).bytes(len(data) - 8 - start)
    (clips / "broken.mp4").write_bytes(bytes(data))
    (tmp_path / "val.csv").write_text("file,label\nbroken.mp4,1\nclip-00.mp4,0\n")
    proc = _torchrun(
        "train",
        "--preset",
        str(tiny_preset),
        "--labels",
        str(tiny_clips / "labels.csv"),
        "--clips",
        str(clips),
        "--val-labels",
        str(tmp_path / "val.csv"),
        "--quiet",
        "--threads",
        "1",
        "--set",
        "val_every=2",
        "--out",
        str(tmp_path / "run"),
        timeout=240,
    )
    assert proc.returncode != 0
    assert "broken.mp4" in proc.stderr
    assert "process 0 failed during validation" in proc.stderr


def test_a_checkpoint_save_sweeps_a_killed_runs_partial_copy(tmp_path: Path) -> None:
    from smokewatch.training.checkpoint import load_checkpoint, save_checkpoint

    left = tmp_path / ".last.pt.k3j9x_1a.part.pt"  # what a SIGKILL mid-save leaves
    left.write_bytes(b"half a checkpoint")
    save_checkpoint(tmp_path / "last.pt", {"step": 3})
    assert load_checkpoint(tmp_path / "last.pt")["step"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


def test_checkpoints_and_weights_reach_the_disk_before_their_rename(
    tmp_path: Path, disk_calls: list[tuple[str, int, str]]
) -> None:
    """last.pt and model.pt are written by name (torch.save): each is fsynced before the
    rename puts it in place, as text files are (a power cut leaves no empty checkpoint)."""
    from model_dirs import tiny3d_model_dir

    from smokewatch.training.checkpoint import save_checkpoint

    save_checkpoint(tmp_path / "last.pt", {"step": 3})
    tiny3d_model_dir(tmp_path / "model")
    renamed = [(ino, name) for call, ino, name in disk_calls if call == "replace"]
    assert [name for _, name in renamed] == ["last.pt", "model.pt", "model.json"]
    for ino, name in renamed:  # each file synced, and before its rename
        assert disk_calls.index(("fsync", ino, "")) < disk_calls.index(("replace", ino, name)), name
