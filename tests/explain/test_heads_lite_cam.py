"""Grad-CAM through a heads model on EfficientNet-Lite0 + frame differences (rise-fast's kind).

The ImageNet weights are replaced by a seeded random Lite0 (no download); the extractor and
the explainer both load them through the same loader, as they load the real ones. Lite0 runs
on 4 of the tiny clips' 8 frames at 64x64.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from smokewatch.dataset.torch_data import items_from_labels_csv
from smokewatch.explain.gradcam import Explainer, ExplainError
from smokewatch.explain.heads import HeadsOnLite0
from smokewatch.training.config import HeadKind
from smokewatch.training.heads import HeadsModel, feature_matrices
from smokewatch.training.nested import Candidate, Choice, fit_head
from smokewatch.training.saved import load_model_dir
from smokewatch.video import read_clip

PRESET = """\
name: tiny-lite-heads
kind: heads
model: efficientnet-lite0-tsm
weights: imagenet
frames: 8
size: 64
heads:
  candidates:
CANDIDATES
  kinds: [KIND]
  c_grid: [1.0]
  inner_folds: 2
  fuse: true
"""
#: rise-fast's two candidates, small
FAST = """\
    lite: {parts: [lite0], lite_frames: 4, lite_size: 64, stats: [std, max], power: true}
    diff: {parts: [diff]}"""
#: the same, Lite0 read at the end of its 112-channel stage with a 2x2 pyramid
FAST_MID = """\
    lite: {parts: [lite0], lite_frames: 4, lite_size: 64, stats: [std, max],
           lite_layer: mbconv-112, pyramid: true}
    diff: {parts: [diff]}"""


#: Lite0's ImageNet weights are a seeded random Lite0 (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("no_imagenet_download")


def _preset(kind: str, candidates: str = FAST) -> str:
    return PRESET.replace("KIND", kind).replace("CANDIDATES", candidates)


def _fuse_both(model_dir: Path, tiny_clips: Path, cache: Path, kind: HeadKind) -> None:
    """Rewrite the model's heads as rise-fast's usual choice, Lite0 and diff fused: on 12
    clips the inner CV may keep one, and the test needs both."""
    heads = HeadsModel.load(model_dir / "heads.skops")
    items = items_from_labels_csv(tiny_clips / "labels.csv", tiny_clips)
    features = feature_matrices(heads.specs, [Path(it.path) for it in items], cache_dir=cache)
    y = np.array([it.label for it in items])
    members = [Candidate(f"{f}/{kind}", f, kind, f) for f in ("lite", "diff")]
    fitted = [fit_head(features[m.features], y, m, 1.0) for m in members]
    scores = [h.decision(features[h.candidate.features]) for h in fitted]
    scale = [(float(s.mean()), float(s.std())) for s in scores]
    choice = Choice(members, [1.0, 1.0], [0.75, 0.25], scale, 0.1, 0.5, slope=1.7)
    HeadsModel(heads.specs, choice, fitted).save(model_dir / "heads.skops")


@pytest.mark.parametrize(
    ("kind", "candidates", "target"),
    [
        ("svm-rbf", FAST, "backbone.head"),
        ("svm-linear", FAST, "backbone.head"),
        ("svm-rbf", FAST_MID, "backbone.blocks.10"),
    ],
)
def test_grad_cam_flows_through_lite0_and_keeps_the_fused_probability(
    tiny_clips: Path,
    tmp_path: Path,
    kind: HeadKind,
    candidates: str,
    target: str,
    train_heads_preset: Callable[[str], Path],
) -> None:
    model_dir = train_heads_preset(_preset(kind, candidates))
    _fuse_both(model_dir, tiny_clips, tmp_path / "c", kind)
    trained = load_model_dir(model_dir)
    items = items_from_labels_csv(tiny_clips / "labels.csv", tiny_clips)
    clips = np.stack([read_clip(it.path) for it in items[:4]])
    expected = trained.predict_arrays(clips, weights_cache_dir=tmp_path / "w")
    # the cached files score as the in-memory clips do
    np.testing.assert_allclose(
        trained.predict(items[:4], cache_dir=tmp_path / "c"), expected, atol=1e-6
    )
    explainer = Explainer(trained, weights_cache_dir=tmp_path / "w", batch_size=3)
    assert explainer.target_layer == target
    probs, volumes = explainer.explain(clips, raw=True)
    # the torch chain (and the diff constant) is the model: predict's probabilities
    np.testing.assert_allclose(probs, expected, atol=1e-4)
    assert volumes.shape == clips.shape[:4] and np.isfinite(volumes).all()
    # the gradient reaches Lite0: no clip's map is flat, clips' maps differ, and the frames
    # of one sampled frame share its map (8 frames, 4 sampled: pairs)
    assert volumes.std(axis=(1, 2, 3)).min() > 1e-2 * np.abs(volumes).max()
    assert np.abs(volumes[0] - volumes[2]).mean() > 1e-2 * np.abs(volumes).max()
    np.testing.assert_array_equal(volumes[:, 0::2], volumes[:, 1::2])
    assert np.abs(volumes[:, 0] - volumes[:, 2]).max() > 0
    # the map answers to the heads: a fused score turned around gives 1 - p and the
    # negated map (Grad-CAM is linear in the gradient; the diff constant turns with it)
    model = explainer.model
    assert isinstance(model, HeadsOnLite0)
    model.slope = -model.slope
    flipped, opposite = explainer.explain(clips, raw=True)
    np.testing.assert_allclose(flipped, 1.0 - probs, atol=1e-6)
    np.testing.assert_allclose(opposite, -volumes, atol=1e-4 * np.abs(volumes).max())
    # without its clips the module cannot score the diff head: an error, not a wrong logit
    with pytest.raises(ExplainError, match="inside given"):
        model(torch.zeros(1, 3, 4, 64, 64))


def test_explain_and_detect_take_a_rise_fast_model(
    tiny_clips: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    train_heads_preset: Callable[[str], Path],
) -> None:
    """The commands give its maps (``explain``'s files, ``detect``'s --cam) and no longer
    ask for --no-cam."""
    from typer.testing import CliRunner

    from smokewatch.cli import app
    from smokewatch.detect.detector import load_detector

    model_dir = train_heads_preset(_preset("svm-linear"))
    _fuse_both(model_dir, tiny_clips, tmp_path / "c", "svm-linear")
    clip = tiny_clips / "clip-01.mp4"
    out = tmp_path / "out"
    monkeypatch.setenv("SMOKEWATCH_CACHE_DIR", str(tmp_path / "w"))
    result = CliRunner().invoke(app, ["explain", str(model_dir), str(clip), "--out", str(out)])
    assert result.exit_code == 0, result.output
    index = json.loads((out / "index.json").read_text())
    assert index["target_layer"] == "backbone.head"
    (entry,) = index["clips"]
    expected = load_model_dir(model_dir).predict_arrays(
        read_clip(clip)[None], weights_cache_dir=tmp_path / "w"
    )
    assert entry["probability"] == pytest.approx(expected[0], abs=1e-4)
    volume = np.load(out / entry["npy"])
    assert volume.shape == (8, 32, 32) and volume.max() == pytest.approx(1.0)

    detector = load_detector(model_dir, cam=True, weights_cache_dir=tmp_path / "w")
    assert detector.cam is not None
    maps = detector.cam(read_clip(clip)[None])
    assert maps.shape == (1, 8, 32, 32) and maps.std() > 0


@pytest.mark.parametrize(
    ("candidates", "message"),
    [
        ("    diff: {parts: [diff]}", "no network, only frame differences"),
        ("    flow: {parts: [flow]}", "reads flow"),
        ("    both: {parts: [lite0, diff], lite_frames: 4, lite_size: 64}", "reads lite0\\+diff"),
    ],
)
def test_heads_grad_cam_cannot_explain_ask_for_no_cam(
    tmp_path: Path, candidates: str, message: str, train_heads_preset: Callable[[str], Path]
) -> None:
    model_dir = train_heads_preset(_preset("svm-linear", candidates))
    with pytest.raises(ExplainError, match=f"{message}.*: score it with --no-cam"):
        Explainer(load_model_dir(model_dir), weights_cache_dir=tmp_path / "w")


def test_which_heads_grad_cam_can_explain() -> None:
    """One network, each head on one extractor, no flip; diff heads ride along as constants."""
    from types import SimpleNamespace

    from smokewatch.explain.heads import explainable
    from smokewatch.training.config import FeatureSpec

    def heads(**specs: FeatureSpec) -> SimpleNamespace:
        chosen = [SimpleNamespace(candidate=SimpleNamespace(name=n, features=n)) for n in specs]
        return SimpleNamespace(specs=specs, heads=chosen)

    i3d, lite, diff = FeatureSpec(), FeatureSpec(parts=("lite0",)), FeatureSpec(parts=("diff",))
    assert explainable(heads(a=i3d, b=diff))[0] == "i3d"
    assert explainable(heads(a=lite, b=diff))[0] == "lite0"
    assert explainable(heads(a=lite))[1] == [lite]
    with pytest.raises(ExplainError, match="these read i3d and lite0: score it with --no-cam"):
        explainable(heads(a=i3d, b=lite, c=diff))
    with pytest.raises(ExplainError, match="'a' reads i3d with flip TTA: score it with --no-cam"):
        explainable(heads(a=FeatureSpec(flip=True)))
