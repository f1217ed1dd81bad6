"""The metrics agree with scikit-learn on fixed and random inputs (ties included)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as skm

from smokewatch.training.metrics import binary_metrics, roc_auc, roc_curve

FIXED_LABELS = [0, 0, 1, 1, 1, 0, 1, 0, 1, 1]
FIXED_SCORES = [0.1, 0.6, 0.55, 0.9, 0.4, 0.2, 0.5, 0.5, 0.8, 0.3]


def test_fixed_inputs_match_sklearn() -> None:
    m = binary_metrics(FIXED_LABELS, FIXED_SCORES)
    pred = (np.asarray(FIXED_SCORES) >= 0.5).astype(int)
    assert m.precision == pytest.approx(skm.precision_score(FIXED_LABELS, pred))
    assert m.recall == pytest.approx(skm.recall_score(FIXED_LABELS, pred))
    assert m.f1 == pytest.approx(skm.f1_score(FIXED_LABELS, pred))
    assert m.accuracy == pytest.approx(skm.accuracy_score(FIXED_LABELS, pred))
    assert m.roc_auc == pytest.approx(skm.roc_auc_score(FIXED_LABELS, FIXED_SCORES))
    tn, fp, fn, tp = skm.confusion_matrix(FIXED_LABELS, pred).ravel()
    assert (m.tn, m.fp, m.fn, m.tp) == (tn, fp, fn, tp)
    # the hand count, so a shared mistake with sklearn's conventions would show
    assert (m.tp, m.fp, m.fn, m.tn) == (4, 2, 2, 2)


@pytest.mark.parametrize("seed", range(5))
def test_random_inputs_with_ties_match_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 200)
    s = rng.integers(0, 12, 200) / 11.0  # many ties
    assert roc_auc(y, s) == pytest.approx(skm.roc_auc_score(y, s))
    fpr, tpr, thr = roc_curve(y, s)
    sk_fpr, sk_tpr, _ = skm.roc_curve(y, s, drop_intermediate=False)
    assert np.allclose(fpr, sk_fpr) and np.allclose(tpr, sk_tpr)
    assert np.trapezoid(tpr, fpr) == pytest.approx(roc_auc(y, s))
    for t in (0.3, 0.5, 0.7):
        m = binary_metrics(y, s, threshold=t)
        pred = (s >= t).astype(int)
        assert m.f1 == pytest.approx(skm.f1_score(y, pred, zero_division=0))
        assert m.precision == pytest.approx(skm.precision_score(y, pred, zero_division=0))
        assert m.recall == pytest.approx(skm.recall_score(y, pred, zero_division=0))


def test_degenerate_cases() -> None:
    m = binary_metrics([0, 1, 1], [0.1, 0.2, 0.3])  # nothing predicted positive
    assert (m.precision, m.recall, m.f1) == (0.0, 0.0, 0.0)
    assert m.roc_auc == 1.0
    one_class = binary_metrics([1, 1], [0.9, 0.2])
    assert math.isnan(one_class.roc_auc)
    assert one_class.as_dict()["roc_auc"] is None
    with pytest.raises(ValueError, match="labels must be 0 or 1"):
        binary_metrics([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="2 labels but 3 scores"):
        binary_metrics([0, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="NaN"):
        roc_auc([0, 1], [0.1, float("nan")])
    with pytest.raises(ValueError, match="both classes"):
        roc_curve([1, 1], [0.1, 0.2])
