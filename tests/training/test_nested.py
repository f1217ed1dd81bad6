"""Nested CV on tiny synthetic features: the selection rules, the threshold, the fusion."""

from __future__ import annotations

import numpy as np
import pytest

from smokewatch.training.nested import (
    Candidate,
    choose_c,
    choose_on,
    choose_threshold,
    choose_weights,
    fit_head,
    fused_scores,
    nested_cv,
    refit,
    scene_groups,
    stratified_folds,
)


def _data(n: int = 80, seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Two streams: ``good`` carries the label, ``noise`` does not."""
    rng = np.random.default_rng(seed)
    y = np.array([0, 1] * (n // 2))
    good = rng.normal(size=(n, 6)) + 1.5 * y[:, None] * np.array([1, 1, 0, 0, 0, 0])
    noise = rng.normal(size=(n, 5))
    return {"good": good, "noise": noise}, y


def test_threshold_maximises_f1_between_scores() -> None:
    y = np.array([0, 0, 1, 0, 1, 1])
    s = np.array([0.1, 0.2, 0.3, 0.4, 0.8, 0.9])
    t = choose_threshold(y, s)
    # F1 is best when 0.3 and above are positive (precision .75, recall 1): cut below 0.3
    assert 0.2 < t < 0.3
    pred = s > t
    assert pred.tolist() == [False, False, True, True, True, True]


def test_threshold_needs_both_classes() -> None:
    with pytest.raises(ValueError, match="both classes"):
        choose_threshold(np.array([1, 1]), np.array([0.2, 0.4]))


def test_threshold_not_half_when_scores_are_shifted() -> None:
    y = np.array([0, 0, 0, 1, 1, 1])
    s = np.array([0.70, 0.72, 0.74, 0.80, 0.82, 0.84])  # every score above 0.5
    t = choose_threshold(y, s)
    assert 0.74 < t < 0.80


def test_choose_c_prefers_best_auc_then_smaller_c() -> None:
    y = np.array([0, 1, 0, 1])
    good = np.array([0.1, 0.9, 0.2, 0.8])
    bad = np.array([0.9, 0.1, 0.8, 0.2])
    assert choose_c({0.1: bad, 1.0: good, 10.0: good}, y) == (1.0, 1.0)


def test_weights_pick_the_informative_member_and_stay_sparse() -> None:
    rng = np.random.default_rng(1)
    y = np.array([0, 1] * 50)
    informative = y + rng.normal(scale=0.5, size=100)
    noise = rng.normal(size=100)
    weights, auc = choose_weights([informative, noise], y)
    assert weights == [1.0, 0.0]
    assert auc > 0.8


def test_weights_fuse_two_complementary_members() -> None:
    rng = np.random.default_rng(2)
    y = np.array([0, 1] * 100)
    a = y + rng.normal(scale=1.0, size=200)
    b = y + rng.normal(scale=1.0, size=200)  # independent noise: the average is better
    weights, auc = choose_weights([a, b], y)
    assert 0 < weights[0] < 1 and 0 < weights[1] < 1
    assert abs(sum(weights) - 1) < 1e-9


def test_grouped_folds_keep_groups_together() -> None:
    y = np.array([0, 1] * 20)
    groups = np.repeat(np.arange(10), 4)
    for train, test in stratified_folds(y, 5, 0, groups):
        assert not set(groups[train]) & set(groups[test])


def test_scene_groups_cluster_lookalike_thumbnails() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=64), rng.normal(size=64)
    thumbs = np.stack(
        [a + 0.05 * rng.normal(size=64) for _ in range(5)]
        + [b + 0.05 * rng.normal(size=64) for _ in range(5)]
    )
    groups = scene_groups(thumbs, 2, ["s0"] * 10)
    assert len(set(groups[:5])) == 1 and len(set(groups[5:])) == 1
    assert groups[0] != groups[5]


def test_inner_choice_ignores_the_noise_stream() -> None:
    features, y = _data()
    cands = [
        Candidate("good", "good", "svm-linear", "a"),
        Candidate("noise", "noise", "svm-linear", "b"),
    ]
    choice = choose_on(features, y, np.arange(len(y)), cands, inner_folds=4, seed=0)
    assert [m.name for m in choice.members] == ["good"]
    assert choice.inner_auc > 0.75


def test_refit_scores_match_the_choice() -> None:
    features, y = _data()
    cand = Candidate("good", "good", "svm-rbf", "a")
    train = np.arange(60)
    choice = choose_on(features, y, train, [cand], inner_folds=3, seed=0)
    heads = refit(features, y, train, choice)
    centred = fused_scores(heads, [features["good"][60:]], choice)
    assert centred.shape == (20,)
    # centred at the chosen threshold: positive means smoke, and it separates the classes
    assert np.mean((centred > 0) == (y[60:] == 1)) > 0.7


def test_fit_head_standardises_with_training_statistics() -> None:
    features, y = _data()
    head = fit_head(features["good"], y, Candidate("g", "good", "svm-linear", "a"), 1.0)
    assert np.allclose(head.mean, features["good"].mean(axis=0))
    assert head.decision(features["good"][:3]).shape == (3,)


def test_nested_cv_scores_each_clip_once() -> None:
    features, y = _data(100)
    cands = [
        Candidate("good", "good", "svm-linear", "a"),
        Candidate("noise", "noise", "svm-rbf", "b"),
    ]
    results = nested_cv(features, y, cands, outer_folds=4, inner_folds=3)
    tested = np.concatenate([r.test for r in results])
    assert sorted(tested.tolist()) == list(range(100))
    assert np.mean([r.metrics["roc_auc"] for r in results]) > 0.75
    assert all(r.choice.members for r in results)
