"""Heads models: the preset section validates, and a saved model scores as it was fitted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from smokewatch.training.config import ConfigError, FeatureSpec, TrainConfig, load_config
from smokewatch.training.heads import HeadsFileError, HeadsModel, candidates_of
from smokewatch.training.nested import choose_on, refit


def _features() -> tuple[dict[str, np.ndarray], np.ndarray]:
    rng = np.random.default_rng(0)
    y = np.array([0, 1] * 30)
    return {"a": rng.normal(size=(60, 4)) + 2 * y[:, None], "b": rng.normal(size=(60, 3))}, y


def test_presets_load_and_list_their_candidates() -> None:
    best = load_config("rise-best")
    fast = load_config("rise-fast")
    assert best.kind == "heads" and fast.kind == "heads"
    names = [c.name for c in candidates_of(fast)]
    assert "lite0-4f/svm-linear" in names and "diff/svm-rbf" in names
    # Lite0 is offered at its head and at its 112-channel stage with a grid
    mid = fast.heads.candidates["lite0-4f-mid"]
    assert (mid.lite_layer, mid.pyramid, mid.lite_frames) == ("mbconv-112", True, 4)
    assert fast.heads.candidates["lite0-4f"].lite_layer == "head"
    assert {c.family for c in candidates_of(fast)} == {"lite0", "diff"}


def test_heads_kind_needs_its_section() -> None:
    with pytest.raises(ValueError, match="heads"):
        TrainConfig(name="x", kind="heads")


def test_unknown_feature_setting_is_an_error() -> None:
    with pytest.raises(ValueError):
        FeatureSpec(parts=("i3d",), pyramids=True)  # type: ignore[call-arg]
    with pytest.raises(ConfigError):
        load_config("no-such-preset")


def test_saved_model_scores_like_the_fitted_one(tmp_path: Path) -> None:
    x, y = _features()
    specs = {"a": FeatureSpec(parts=("diff",)), "b": FeatureSpec(parts=("flow",))}
    config = TrainConfig(name="t", kind="heads", heads={"candidates": specs, "inner_folds": 3})
    choice = choose_on(x, y, np.arange(60), candidates_of(config), inner_folds=3, seed=0)
    model = HeadsModel(specs, choice, refit(x, y, np.arange(60), choice))
    prob = model.probabilities(x)
    assert ((prob >= 0.5) == (y == 1)).mean() > 0.8  # 0.5 is the chosen threshold
    model.save(tmp_path / "heads.skops")
    again = HeadsModel.load(tmp_path / "heads.skops")
    assert np.allclose(again.probabilities(x), prob)
    assert set(again.used_specs()) <= {"a", "b"}


def test_loading_something_else_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "heads.skops"
    bad.write_bytes(b"not a pickle")
    with pytest.raises(HeadsFileError, match="heads.skops"):
        HeadsModel.load(bad)


def test_feature_progress_counts_each_clip_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bar of ``train`` and ``evaluate`` is over clips: with two feature sets, one of two
    extractors, and a cache that already holds some of them, the calls still add up to N.
    The extraction both feature sets read (``diff``) runs once for them, cached or not."""
    from smokewatch.training import features
    from smokewatch.training.heads import feature_matrices
    from smokewatch.video import write_clip

    made: list[int] = []
    real = features.diff_summary
    monkeypatch.setattr(features, "diff_summary", lambda clip: made.append(1) or real(clip))

    rng = np.random.default_rng(0)
    paths = []
    for i in range(5):
        paths.append(tmp_path / f"clip-{i}.mp4")
        write_clip(rng.integers(0, 255, size=(8, 32, 32, 3), dtype=np.uint8), paths[-1])
    specs = {"d": FeatureSpec(parts=("diff",)), "df": FeatureSpec(parts=("diff", "flow"))}
    for cache, clips in (
        (None, paths),
        (tmp_path / "cache", paths[:2]),
        (tmp_path / "cache", paths),
    ):
        calls: list[int] = []
        made.clear()
        x = feature_matrices(specs, clips, cache_dir=cache, batch_size=2, on_batch=calls.append)
        assert sum(calls) == len(clips) and all(n > 0 for n in calls)
        assert len(made) == (
            len(clips) if cache is None else len(clips) - 2 if clips is paths else 2
        )
        assert x["d"].shape[0] == x["df"].shape[0] == len(clips)


def test_a_heads_file_of_trusted_types_with_wrong_contents_is_one_error(tmp_path: Path) -> None:
    """skops rebuilds the trusted dataclasses with whatever fields the file gives: a head
    whose candidate is a string, or a choice with nothing in it, is refused when read."""
    import dataclasses

    x, y = _features()
    specs = {"a": FeatureSpec(parts=("diff",)), "b": FeatureSpec(parts=("flow",))}
    config = TrainConfig(name="t", kind="heads", heads={"candidates": specs, "inner_folds": 3})
    choice = choose_on(x, y, np.arange(60), candidates_of(config), inner_folds=3, seed=0)
    heads = refit(x, y, np.arange(60), choice)
    for bad_heads, bad_choice in (
        ([dataclasses.replace(heads[0], candidate="x")], choice),
        (heads, dataclasses.replace(choice, weights=[], scale=[])),
        ([dataclasses.replace(heads[0], mean=np.zeros(0))], choice),
    ):
        HeadsModel(specs, bad_choice, bad_heads).save(tmp_path / "heads.skops")
        with pytest.raises(HeadsFileError, match="incomplete heads model"):
            HeadsModel.load(tmp_path / "heads.skops")


def test_probabilities_far_from_the_threshold_are_0_and_1_without_overflow() -> None:
    import warnings

    from smokewatch.training.nested import Candidate, Choice

    class Far:
        """A head whose scores lie far out on both sides."""

        candidate = Candidate("a", "a", "svm-linear", "a")

        def decision(self, x: np.ndarray) -> np.ndarray:
            return np.array([-1e4, 1e4])

    choice = Choice([Far.candidate], [1.0], [1.0], [(0.0, 1.0)], 0.0, 0.9, slope=1.0)
    model = HeadsModel({"a": FeatureSpec(parts=("diff",))}, choice, [Far()])  # type: ignore[list-item]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow in exp would be a RuntimeWarning
        assert model.probabilities({"a": np.zeros((2, 3))}).tolist() == [0.0, 1.0]
