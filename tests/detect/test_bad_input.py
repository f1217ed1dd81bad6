"""Detection refuses what would make its answer silently wrong or exhaust the machine: a
model that outputs NaN (once clamped to probability 0: smoke reported as "no events"), a
crop size no memory holds, a device this machine lacks; the CLI says each in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from cli_helpers import one_line_error, run_cli
from detect_helpers import SIZE, START, Motion3D
from videos import synthetic_frames

from smokewatch.detect import DetectError, DetectOptions, Detector, detect_clips
from smokewatch.detect.evidence import WindowStore
from smokewatch.detect.rule import RuleError
from smokewatch.detect.scan import Slot, WindowScan
from smokewatch.training.device import DeviceError
from smokewatch.video import write_clip

torch.set_num_threads(1)


def _rise_clips(folder: Path) -> Path:
    """Two RISE-named clips of view 0-0 (12 frames, 32 px)."""
    folder.mkdir()
    for k, first in enumerate((0, 12)):
        t0 = int(START) + 5 * first
        name = f"0-0-2024-06-11-0-0-32-32-32-32-{first}-{t0}-{t0 + 55}.mp4"
        write_clip(synthetic_frames(12, 32, seed=k), folder / name)
    return folder


def test_a_nan_probability_stops_the_scan_instead_of_reading_as_zero(tmp_path: Path) -> None:
    def scorer(clips: np.ndarray) -> np.ndarray:
        return np.array([0.2, np.nan])[: len(clips)]

    scan = WindowScan(
        1,
        detector=Detector(scorer=scorer),
        options=DetectOptions(cam=False),
        stores=[WindowStore(tmp_path / "0-3")],
        batch_size=2,
    )
    frames = np.zeros((12, 8, 8, 3), np.uint8)
    scan.add(0, Slot(0, 11, 0.0, 55.0), frames)
    with pytest.raises(
        DetectError, match=r"P\(smoke\) nan for frames 12-23 of view 0-3 \(b\.mp4\): .*broken"
    ):
        scan.add(0, Slot(12, 23, 60.0, 115.0, file="b.mp4"), frames)
    assert not any(w.probability == 0.0 for w in scan.windows[0])


def test_detect_clips_refuses_a_scorer_that_gives_nan(tmp_path: Path) -> None:
    clips = _rise_clips(tmp_path / "clips")
    detector = Detector(scorer=lambda c: np.full(len(c), np.nan))
    with pytest.raises(
        DetectError,
        match=r"frames 0-11 of view 0-0 \(0-0-.*\.mp4\): a model whose output is not a number",
    ):
        detect_clips(clips, tmp_path / "out", detector=detector, options=DetectOptions(cam=False))
    assert not (tmp_path / "out" / "detections.json").exists()


def test_the_cli_refuses_a_model_with_nan_weights(motion_model: Path, tmp_path: Path) -> None:
    from smokewatch.training.config import TrainConfig
    from smokewatch.training.saved import write_model_dir

    state = Motion3D().state_dict()
    state["head.bias"] = torch.full_like(state["head.bias"], float("nan"))
    config = TrainConfig(name="motion", model="motion3d", weights=None, frames=12, size=SIZE)
    model = write_model_dir(tmp_path / "model", config, state_dict=state)
    clips = _rise_clips(tmp_path / "clips")
    result = run_cli(
        "detect", str(model), "--clips", str(clips), "--out", str(tmp_path / "o"), "--no-cam",
        "--quiet",
    )  # fmt: skip
    one_line_error(result, "model.pt", "NaN", "head.bias")
    assert not (tmp_path / "o" / "detections.json").exists()


def test_the_crop_size_is_bounded() -> None:
    assert DetectOptions(size=1024).size == 1024
    with pytest.raises(RuleError, match="at most 1024 pixels .* got 100000"):
        DetectOptions(size=100000)


def test_the_cli_refuses_a_huge_crop_before_reading_anything(
    motion_model: Path, tmp_path: Path
) -> None:
    clips = _rise_clips(tmp_path / "clips")
    result = run_cli(
        "detect", str(motion_model), "--clips", str(clips), "--out", str(tmp_path / "o"),
        "--no-cam", "--quiet", "--size", "100000",
    )  # fmt: skip
    one_line_error(result, "at most 1024 pixels", "100000")


@pytest.mark.parametrize("device", ["banana", "cuda:99"])
def test_a_bad_device_is_one_line(device: str, motion_model: Path, tmp_path: Path) -> None:
    clips = _rise_clips(tmp_path / "clips")
    base = ["detect", str(motion_model), "--clips", str(clips), "--out", str(tmp_path / "o")]
    one_line_error(run_cli(*base, "--no-cam", "--quiet", "--device", device), f"--device {device}")
    one_line_error(run_cli(*base, "--quiet", "--device", device), f"--device {device}")
    from smokewatch.detect import load_detector

    with pytest.raises(DeviceError, match=f"--device {device}"):
        load_detector(motion_model, device=device, cam=False)


def test_ray_checks_the_spelling_of_the_device(motion_model: Path, tmp_path: Path) -> None:
    result = run_cli(
        "detect", str(motion_model), "--timelapse", str(tmp_path / "day.mp4"), "--views",
        str(tmp_path / "views.yaml"), "--out", str(tmp_path / "o"), "--engine", "ray",
        "--device", "banana",
    )  # fmt: skip
    one_line_error(result, "--device banana: not a device")
