"""``smokewatch explain`` end to end on tiny real clips and tiny model directories."""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cli_helpers import one_line_error, run_cli
from PIL import Image
from videos import garbage_file, truncate

from smokewatch.dataset.torch_data import items_from_labels_csv
from smokewatch.explain.gradcam import Explainer, activation_ratio, normalise_cam
from smokewatch.training.saved import load_model_dir
from smokewatch.video import read_clip


def test_clips_and_folders_get_a_png_a_gif_and_a_volume_each(
    tiny_model: Path, tiny_clips: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "clips"
    (folder / "deeper").mkdir(parents=True)
    shutil.copy(tiny_clips / "clip-00.mp4", folder / "clip-00.mp4")
    shutil.copy(tiny_clips / "clip-01.mp4", folder / "deeper" / "clip-01.mp4")
    shutil.copy(tiny_clips / "clip-02.mp4", folder / ".clip-02.mp4.part.mp4")  # a temporary file
    garbage_file(folder / "corrupt.mp4")
    truncate(shutil.copy(tiny_clips / "clip-03.mp4", folder / "cut.mp4"), 0.3)
    (folder / "link.mp4").symlink_to(tiny_clips / "clip-04.mp4")
    single = shutil.copy(tiny_clips / "clip-05.mp4", tmp_path / "clip-05.mp4")
    out = tmp_path / "out"

    result = run_cli("explain", str(tiny_model), str(folder), str(single), "--out", str(out))
    assert result.exit_code == 0, result.output
    index = json.loads((out / "index.json").read_text())
    names = [Path(c["file"]).name for c in index["clips"]]
    assert names == ["clip-00.mp4", "clip-01.mp4", "clip-05.mp4"]
    assert index["target_layer"] == "body.3"
    skipped = "\n".join(index["skipped"])
    for bad in ("corrupt.mp4", "cut.mp4", "link.mp4"):
        assert bad in skipped and bad in result.output
    assert ".clip-02" not in result.output and len(index["skipped"]) == 3

    trained = load_model_dir(tiny_model)
    items = items_from_labels_csv(tiny_clips / "labels.csv", tiny_clips)
    expected = trained.predict([items[0], items[1], items[5]])
    for entry, p in zip(index["clips"], expected, strict=True):
        assert abs(entry["probability"] - p) < 1e-4  # what evaluate would say
        with Image.open(out / entry["png"]) as png:
            assert png.size == (32, 64)  # 8 frames, every 9th: one column over its heat map
        with Image.open(out / entry["gif"]) as gif:
            assert gif.n_frames == 8
        volume = np.load(out / entry["npy"])
        assert volume.shape == (8, 32, 32) and volume.dtype == np.float32
        assert 0 <= volume.min() and volume.max() <= 1
        # RISE's ratio, of the raw map the picture was scaled from
        _, raw = Explainer(trained).explain(read_clip(Path(entry["file"]))[None], raw=True)
        assert entry["activation_ratio"] == pytest.approx(activation_ratio(raw[0]), abs=1e-6)
        assert np.allclose(normalise_cam(raw)[0], volume, atol=1e-6)

    strict = run_cli("explain", str(tiny_model), str(folder), "--out", str(out), "--strict")
    assert strict.exit_code == 1


def _labels_dir(
    tiny_clips: Path, tmp_path: Path, tiny_model_dir: Callable[..., Path]
) -> tuple[Path, Path, list[float]]:
    """A model whose threshold splits the clips in half, and a labels CSV with a corrupt clip."""
    items = items_from_labels_csv(tiny_clips / "labels.csv", tiny_clips)
    first = load_model_dir(tiny_model_dir(tmp_path / "m0", init=2))
    probs = [float(p) for p in first.predict(items)]
    cut = float(np.median(probs))
    model = tiny_model_dir(tmp_path / "model", init=2, threshold=cut)
    clips = tmp_path / "clips"
    shutil.copytree(tiny_clips, clips)
    garbage_file(clips / "corrupt.mp4")
    with open(clips / "labels.csv", "a", newline="") as f:
        csv.writer(f).writerow(["corrupt.mp4", 1])
    return model, clips, probs


def test_labels_explain_a_seeded_sample_of_each_confusion_cell(
    tiny_clips: Path, tmp_path: Path, tiny_model_dir: Callable[..., Path]
) -> None:
    model, clips, probs = _labels_dir(tiny_clips, tmp_path, tiny_model_dir)
    threshold = load_model_dir(model).config.threshold
    items = items_from_labels_csv(tiny_clips / "labels.csv", tiny_clips)
    cells: dict[str, set[str]] = {"tp": set(), "fp": set(), "fn": set(), "tn": set()}
    for item, p in zip(items, probs, strict=True):
        predicted = p >= threshold
        cell = ("t" if predicted == bool(item.label) else "f") + ("p" if predicted else "n")
        cells[cell].add(item.path.name)
    assert max(len(c) for c in cells.values()) > 2  # some cell is sampled, not taken whole

    def run(out: Path, seed: int) -> dict[str, Any]:
        result = run_cli(
            "explain", str(model), str(clips), "--labels", str(clips / "labels.csv"),
            "--out", str(out), "--per-cell", "2", "--seed", str(seed), "--quiet",
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert "corrupt.mp4" in result.output
        index: dict[str, Any] = json.loads((out / "index.json").read_text())
        return index

    index = run(tmp_path / "a", 0)
    assert index["scored"] == 12 and len(index["skipped"]) == 1
    assert "corrupt.mp4" in index["skipped"][0]
    for cell, members in cells.items():
        listed = index["cells"][cell]
        assert listed["clips"] == len(members)
        assert len(listed["explained"]) == min(2, len(members))
        for entry in listed["explained"]:
            assert Path(entry["file"]).name in members
            assert entry["png"].startswith(f"{cell}/") and (tmp_path / "a" / entry["png"]).is_file()
            assert (tmp_path / "a" / entry["gif"]).is_file()
            assert np.load(tmp_path / "a" / entry["npy"]).shape == (8, 32, 32)
            assert entry["label"] == int(cell in ("tp", "fn"))

    def picked(ix: dict[str, Any]) -> list[list[str]]:
        return [[e["file"] for e in ix["cells"][c]["explained"]] for c in cells]

    assert picked(run(tmp_path / "b", 0)) == picked(index)  # seeded: the same sample again
    assert picked(run(tmp_path / "c", 1)) != picked(index)


def test_user_errors_are_one_line_and_exit_2(
    tiny_model: Path, tiny_clips: Path, tmp_path: Path
) -> None:
    clip = str(tiny_clips / "clip-00.mp4")
    cases = [
        ([str(tmp_path / "no-model"), clip], "not a model directory"),
        ([str(tiny_model), str(tmp_path / "nothing.mp4")], "no such clip or folder"),
        ([str(tiny_model), str(tmp_path)], "no .mp4 clips"),
        ([str(tiny_model), clip, "--labels", str(tiny_clips / "labels.csv")], "give one folder"),
        ([str(tiny_model), clip, "--target-layer", "body.7"], "no layer 'body.7'"),
        ([str(tiny_model), clip, "--device", "banana"], "--device banana: not a device"),
        ([str(tiny_model), clip, "--device", "cuda:99"], "--device cuda:99: this machine has"),
    ]
    for args, message in cases:
        result = run_cli("explain", *args, "--out", str(tmp_path / "out"))
        assert result.exit_code == 2, (args, result.output)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], lines


def test_a_folder_of_links_says_the_links_were_skipped_and_why(
    tiny_model: Path, tiny_clips: Path, tmp_path: Path
) -> None:
    """Links are not followed when a folder is walked: "no .mp4 clips" alone would read as
    an empty folder."""
    folder = tmp_path / "tc"
    folder.mkdir()
    for name in ("clip-00.mp4", "clip-01.mp4"):
        (folder / name).symlink_to(tiny_clips / name)
    result = run_cli("explain", str(tiny_model), str(folder), "--out", str(tmp_path / "out"))
    one_line_error(
        result,
        f"no .mp4 clips in {folder}; 2 symbolic links skipped (a folder is walked without "
        "following links, so only regular files in it count: name the clips themselves",
    )
    named = run_cli(
        "explain",
        str(tiny_model),
        *map(str, sorted(folder.iterdir())),
        "--out",
        str(tmp_path / "o"),
    )  # the way out the message gives
    assert named.exit_code == 0 and "2 clips explained, 0 skipped" in named.stdout, named.output


def test_a_model_that_outputs_nan_stops_explain_in_one_line(
    tiny_model_dir: Callable[..., Path], tiny_clips: Path, tmp_path: Path
) -> None:
    """Not a clip to skip, nor a NaN probability in index.json: the model is broken."""
    import torch

    model = tiny_model_dir(tmp_path / "model")
    trained = load_model_dir(model)
    with torch.no_grad():
        for p in trained.model.parameters():
            p.mul_(1e30)  # finite weights, an overflowing logit: NaN
    torch.save(trained.model.state_dict(), model / "model.pt")
    clip = str(tiny_clips / "clip-00.mp4")
    for args in ([clip], [str(tiny_clips), "--labels", str(tiny_clips / "labels.csv")]):
        out = tmp_path / f"out-{len(args)}"
        result = run_cli("explain", str(model), *args, "--out", str(out), "--quiet")
        assert result.exit_code == 2, (args, result.output)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:"), lines
        assert "NaN" in lines[0] and "broken" in lines[0], lines
        assert not (out / "index.json").exists()


def test_help_explains_the_command() -> None:
    result = run_cli("explain", "--help")
    assert result.exit_code == 0
    for words in ("Grad-CAM", "--labels", "confusion", "--per-cell", "index.json", "--strict"):
        assert words in result.output
