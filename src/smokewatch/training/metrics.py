"""Scores of a binary smoke classifier, as the paper reports them (Tables 7-11).

Precision, recall and F1 are those of the positive class (smoke) at a threshold on the
probability; ROC-AUC is threshold-free and uses the tie-aware rank formula (equal to
scikit-learn's ``roc_auc_score``). Implemented with numpy so training, ``evaluate`` and the
experiment tables need no scikit-learn at run time; the tests check every number against it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = ["BinaryMetrics", "binary_metrics", "roc_auc", "roc_curve"]


@dataclass(frozen=True, slots=True)
class BinaryMetrics:
    """Scores at one threshold; ``roc_auc`` is NaN when only one class is present."""

    precision: float
    recall: float
    f1: float
    roc_auc: float
    accuracy: float
    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: NaN becomes ``None`` (JSON has no NaN)."""
        return {
            k: (None if isinstance(v, float) and math.isnan(v) else v)
            for k, v in asdict(self).items()
        }


def _arrays(
    labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels).astype(np.int64).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"{y.size} labels but {s.size} scores")
    if y.size and not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 or 1")
    if not np.isfinite(s).all():
        raise ValueError("scores contain NaN or infinite values")
    return y, s


def roc_auc(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> float:
    """Area under the ROC curve: the probability that a random positive outranks a random
    negative, ties counting one half (Mann-Whitney U / (n_pos * n_neg)). NaN for one class."""
    y, s = _arrays(labels, scores)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(s.size, dtype=np.float64)
    sorted_s = s[order]
    # average ranks over ties (1-based)
    boundaries = np.flatnonzero(np.diff(sorted_s)) + 1
    starts = np.concatenate(([0], boundaries))
    ends = np.concatenate((boundaries, [s.size]))
    for a, b in zip(starts, ends, strict=True):
        ranks[order[a:b]] = (a + b + 1) / 2.0
    u = ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def roc_curve(
    labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False and true positive rates at every distinct score (descending), from (0, 0) to (1, 1).

    Returns ``(fpr, tpr, thresholds)``; the first threshold is ``inf`` (nothing positive).
    """
    y, s = _arrays(labels, scores)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("a ROC curve needs both classes")
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s_sorted)), y.size - 1]
    tps = np.cumsum(y_sorted)[last_of_tie]
    fps = (last_of_tie + 1) - tps
    fpr = np.r_[0.0, fps / n_neg]
    tpr = np.r_[0.0, tps / n_pos]
    thresholds = np.r_[np.inf, s_sorted[last_of_tie]]
    return fpr, tpr, thresholds


def binary_metrics(
    labels: Sequence[int] | np.ndarray,
    scores: Sequence[float] | np.ndarray,
    *,
    threshold: float = 0.5,
) -> BinaryMetrics:
    """Precision, recall, F1 (positive class), ROC-AUC, accuracy and the confusion counts.

    A clip is predicted smoke when its score is ``>= threshold``. Precision is 0 when nothing
    is predicted positive and recall 0 when there are no positives (scikit-learn's
    ``zero_division=0``), so an all-negative model scores F1 = 0, not NaN.
    """
    y, s = _arrays(labels, scores)
    pred = s >= threshold
    tp = int(np.sum(pred & (y == 1)))
    fp = int(np.sum(pred & (y == 0)))
    fn = int(np.sum(~pred & (y == 1)))
    tn = int(np.sum(~pred & (y == 0)))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    accuracy = (tp + tn) / y.size if y.size else math.nan
    return BinaryMetrics(precision, recall, f1, roc_auc(y, s), accuracy, tp, fp, fn, tn)
