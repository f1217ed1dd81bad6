"""``--device``: a misspelt device or a GPU this machine lacks is one line, on every verb."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from cli_helpers import one_line_error, run_cli
from model_dirs import tiny3d_model_dir

from smokewatch.training.device import DeviceError, resolve_device

torch.set_num_threads(1)

#: A device name this machine cannot use, and what the error says of it.
MISSING_GPU = (
    ("cuda", "no CUDA GPU")
    if not torch.cuda.is_available()
    else (f"cuda:{torch.cuda.device_count()}", "CUDA GPU")
)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained tiny3d model folder: devices are refused before any weights matter."""
    return tiny3d_model_dir(tmp_path_factory.mktemp("device") / "model")


def test_resolve_device_accepts_the_cpu_and_refuses_the_rest() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    with pytest.raises(DeviceError, match=r"^--device banana: not a device; give cpu, cuda"):
        resolve_device("banana")
    with pytest.raises(DeviceError, match="cpu, cuda or mps, not meta"):
        resolve_device("meta")
    name, words = MISSING_GPU
    with pytest.raises(DeviceError, match=f"^--device {name}: this machine has .*{words}"):
        resolve_device(name)
    # spelling only: a Ray actor elsewhere may have the GPU this machine lacks
    assert resolve_device("cuda", check_available=False).type == "cuda"
    with pytest.raises(DeviceError, match="not a device"):
        resolve_device("cuda:x", check_available=False)


def test_scoring_refuses_a_device_it_cannot_use(tiny_model: Path) -> None:
    from smokewatch.training.saved import load_model_dir

    trained = load_model_dir(tiny_model)
    clips = np.zeros((1, 8, 32, 32, 3), np.uint8)
    for name in ("banana", MISSING_GPU[0]):
        with pytest.raises(DeviceError, match=f"--device {name}"):
            trained.predict_arrays(clips, device=name)
        with pytest.raises(DeviceError, match=f"--device {name}"):
            trained.predict([], device=name)


@pytest.mark.parametrize("device", ["banana", MISSING_GPU[0]])
def test_train_and_evaluate_refuse_a_bad_device_in_one_line(
    device: str, tiny_model: Path, tiny_clips: Path, tiny_preset: Path, tmp_path: Path
) -> None:
    clips = ["--labels", str(tiny_clips / "labels.csv"), "--clips", str(tiny_clips)]
    trained = run_cli(
        "train", "--preset", str(tiny_preset), *clips, "--out", str(tmp_path / "run"),
        "--quiet", "--device", device,
    )  # fmt: skip
    one_line_error(trained, f"--device {device}")
    assert not (tmp_path / "run" / "model").exists()
    evaluated = run_cli(
        "evaluate", str(tiny_model), *clips, "--out", str(tmp_path / "eval"), "--quiet",
        "--device", device,
    )  # fmt: skip
    one_line_error(evaluated, f"--device {device}")


def test_the_training_loop_refuses_a_bad_device(
    tiny_clips: Path, tiny_preset: Path, tmp_path: Path
) -> None:
    from smokewatch.dataset.torch_data import items_from_labels_csv
    from smokewatch.training.config import load_config
    from smokewatch.training.loop import train

    items = items_from_labels_csv(tiny_clips / "labels.csv", tiny_clips)
    with pytest.raises(DeviceError, match="--device banana"):
        train(load_config(tiny_preset), items, [], tmp_path / "run", device="banana")
