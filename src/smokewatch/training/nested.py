"""Nested cross-validation of small heads on cached frozen features: honest model choice.

Plain k-fold CV on 709 clips that also *chooses* (features, C, kernel, threshold) on the same
folds reports the best of many tries, which overstates how the winner does on clips it never
saw. Here every choice is made inside each outer training fold, by an inner cross-validation
of that fold only, and the outer test fold is scored once:

1. for each *candidate* (a feature set and a head kind) and each ``C`` of the grid, inner
   out-of-fold (OOF) decision values on the outer training fold; per candidate the ``C`` with
   the best inner ROC-AUC (:func:`choose_c`);
2. each candidate's OOF scores are standardised (their mean and std), and a *fusion* of the
   best candidates (the best of each feature family) takes simplex weights on a coarse grid,
   chosen by inner OOF ROC-AUC (:func:`choose_weights`; a single candidate is a vertex of the
   simplex, so fusion is chosen only when it wins inside);
3. the decision threshold is the one maximising F1 on the fused inner OOF scores
   (:func:`choose_threshold`), not 0.5;
4. the chosen members are refitted on the whole outer training fold and the test fold scored.

Heads are scikit-learn's ``SVC`` (linear or RBF) on standardised features scaled by
``1/sqrt(d)`` (so RBF's ``gamma=1`` is scikit-learn's ``"scale"``). With far fewer clips than
dimensions the kernel form is what is fast: one Gram matrix per fold serves every ``C`` and
every head, so a whole nested run is seconds on cached features.

Folds: stratified, and grouped when ``groups`` is given (clips of one group never straddle a
training and a test fold; :func:`scene_groups` groups clips that look alike, i.e. likely one
camera view in similar light, so a model is not scored on near-copies of its training clips).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from smokewatch.training.config import HeadKind

__all__ = [
    "Candidate",
    "Choice",
    "FittedHead",
    "HeadKind",
    "choose_c",
    "choose_threshold",
    "choose_weights",
    "fit_head",
    "nested_cv",
    "scene_groups",
    "select",
    "stratified_folds",
]

C_GRID: tuple[float, ...] = (0.01, 0.1, 1.0, 10.0, 100.0)
WEIGHT_STEP = 0.25


@dataclass(frozen=True)
class Candidate:
    """A feature set (a key into the feature matrices) and a head kind; ``family`` groups
    candidates that see the same stream, of which fusion takes the best one each."""

    name: str
    features: str
    head: HeadKind
    family: str


@dataclass
class Choice:
    """What the inner CV chose on one training set: members, their C, weights, threshold.

    ``oof``: the fused inner out-of-fold scores; ``scale``: each member's (mean, std) of its
    OOF scores, used to standardise its scores on new clips before the weighted sum.
    """

    members: list[Candidate]
    cs: list[float]
    weights: list[float]
    scale: list[tuple[float, float]]
    threshold: float
    inner_auc: float
    slope: float = 1.0
    table: dict[str, float] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# Folds
# --------------------------------------------------------------------------------------------


def stratified_folds(
    labels: np.ndarray, folds: int, seed: int, groups: np.ndarray | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) index arrays: stratified k-fold, grouped when ``groups`` is given."""
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    y = np.asarray(labels)
    if groups is None:
        splitter: Any = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        return list(splitter.split(np.zeros(len(y)), y))
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(y)), y, groups))


def scene_groups(thumbnails: np.ndarray, per_family: int, families: Sequence[str]) -> np.ndarray:
    """Group clips that look alike: Ward clusters of their standardised grey thumbnails.

    ``thumbnails``: ``(N, P)`` (e.g. the first frame at 32x32 grey); clustered within each
    ``families`` value (e.g. the RISE test split a clip came from, which fixes its set of
    views) into ``per_family`` groups, so clips of one view in similar light share a group.
    """
    from scipy.cluster.hierarchy import fcluster, linkage

    x = np.asarray(thumbnails, dtype=np.float64)
    x = (x - x.mean(axis=1, keepdims=True)) / (x.std(axis=1, keepdims=True) + 1e-6)
    fam = np.asarray(families)
    groups = np.zeros(len(x), dtype=np.int64)
    next_id = 0
    for value in sorted(set(fam.tolist())):
        idx = np.flatnonzero(fam == value)
        if len(idx) <= per_family:
            labels = np.arange(len(idx)) + 1
        else:
            labels = fcluster(linkage(x[idx], "ward"), per_family, "maxclust")
        groups[idx] = labels - 1 + next_id
        next_id += int(labels.max())
    return groups


# --------------------------------------------------------------------------------------------
# Heads on a kernel
# --------------------------------------------------------------------------------------------


def _standardize(x: np.ndarray, train: np.ndarray) -> np.ndarray:
    mu = x[train].mean(axis=0)
    sd = x[train].std(axis=0)
    sd[sd < 1e-8] = 1.0
    out: np.ndarray = ((x - mu) / sd / math.sqrt(x.shape[1])).astype(np.float32)
    return out


def _kernel(xs: np.ndarray, kind: HeadKind) -> np.ndarray:
    gram: np.ndarray = (xs @ xs.T).astype(np.float64)
    if kind == "svm-linear":
        return gram
    sq = np.diag(gram)
    dist = np.maximum(sq[:, None] + sq[None, :] - 2 * gram, 0.0)
    out: np.ndarray = np.exp(-dist)
    return out


def _svc(c: float, kernel: str = "precomputed") -> Any:
    from sklearn.svm import SVC

    return SVC(C=c, kernel=kernel, gamma=1.0, class_weight="balanced")


def _auc(y: np.ndarray, s: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    if len(np.unique(y)) < 2:
        return float("nan")
    return float(roc_auc_score(y, s))


def _oof(
    kernel: np.ndarray, y: np.ndarray, inner: Sequence[tuple[np.ndarray, np.ndarray]], c: float
) -> np.ndarray:
    """Out-of-fold decision values of an SVC(C=c) on a precomputed kernel."""
    out = np.zeros(len(y))
    for tr, te in inner:
        model = _svc(c).fit(kernel[np.ix_(tr, tr)], y[tr])
        out[te] = model.decision_function(kernel[np.ix_(te, tr)])
    return out


def choose_c(scores_by_c: Mapping[float, np.ndarray], y: np.ndarray) -> tuple[float, float]:
    """The C whose OOF scores have the best ROC-AUC; ties go to the smaller C (simpler)."""
    best_c, best = min(scores_by_c), -1.0
    for c in sorted(scores_by_c):
        auc = _auc(y, scores_by_c[c])
        if auc > best + 1e-9:
            best_c, best = c, auc
    return best_c, best


def choose_threshold(y: np.ndarray, scores: np.ndarray) -> float:
    """The threshold maximising F1 on (OOF) scores: midway between neighbouring scores, so a
    score equal to one seen in training is never on the edge; ties go to the middle one."""
    y = np.asarray(y)
    s = np.asarray(scores, dtype=np.float64)
    if len(np.unique(y)) < 2:
        raise ValueError("choosing a threshold needs both classes")
    values = np.unique(s)
    cuts = np.concatenate([[values[0] - 1.0], (values[:-1] + values[1:]) / 2])
    pos = y == 1
    f1 = np.empty(len(cuts))
    for i, t in enumerate(cuts):
        pred = s > t
        tp = float(np.sum(pred & pos))
        f1[i] = 2 * tp / (pred.sum() + pos.sum()) if pred.sum() + pos.sum() else 0.0
    best = np.flatnonzero(f1 >= f1.max() - 1e-12)
    return float(cuts[best[len(best) // 2]])


def choose_weights(
    oof: Sequence[np.ndarray], y: np.ndarray, step: float = WEIGHT_STEP
) -> tuple[list[float], float]:
    """Simplex weights (multiples of ``step``) of standardised OOF scores with the best
    ROC-AUC; ties go to the sparsest, then the earliest (members come best first)."""
    z = [(s - s.mean()) / (s.std() + 1e-12) for s in oof]
    n = round(1 / step)
    best_w: list[float] = [1.0] + [0.0] * (len(z) - 1)
    best_key = (-1.0, 0)
    for combo in itertools.product(range(n + 1), repeat=len(z)):
        if sum(combo) != n:
            continue
        w = [k * step for k in combo]
        auc = _auc(y, sum(wi * zi for wi, zi in zip(w, z, strict=True)))
        key = (round(auc, 9), -sum(1 for k in combo if k))
        if key > best_key:
            best_key, best_w = key, w
    return best_w, best_key[0]


def _fuse(scores: Sequence[np.ndarray], choice: Choice) -> np.ndarray:
    total = np.zeros(len(scores[0]))
    for s, w, (mu, sd) in zip(scores, choice.weights, choice.scale, strict=True):
        total += w * (s - mu) / sd
    return total


def select(
    kernels: Mapping[tuple[str, HeadKind], np.ndarray],
    y: np.ndarray,
    candidates: Sequence[Candidate],
    inner: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    c_grid: Sequence[float] = C_GRID,
    fuse: bool = True,
) -> Choice:
    """Everything the inner CV chooses on one training set (kernels over that set only)."""
    per: list[tuple[float, Candidate, float, np.ndarray]] = []
    table: dict[str, float] = {}
    for cand in candidates:
        k = kernels[(cand.features, cand.head)]
        by_c = {c: _oof(k, y, inner, c) for c in c_grid}
        c, auc = choose_c(by_c, y)
        per.append((auc, cand, c, by_c[c]))
        table[cand.name] = auc
    per.sort(key=lambda r: -r[0])
    if fuse:  # the best candidate of each family, best first
        seen: set[str] = set()
        members = []
        for row in per:
            if row[1].family not in seen:
                seen.add(row[1].family)
                members.append(row)
    else:
        members = per[:1]
    weights, auc = choose_weights([m[3] for m in members], y)
    kept = [(m, w) for m, w in zip(members, weights, strict=True) if w > 0]
    scale = [(float(m[3].mean()), float(m[3].std() + 1e-12)) for m, _ in kept]
    choice = Choice(
        members=[m[1] for m, _ in kept],
        cs=[m[2] for m, _ in kept],
        weights=[w for _, w in kept],
        scale=scale,
        threshold=0.0,
        inner_auc=auc,
        table=table,
    )
    fused = _fuse([m[3] for m, _ in kept], choice)
    choice.threshold = choose_threshold(y, fused)
    choice.slope = _platt_slope(y, fused - choice.threshold)
    return choice


def _platt_slope(y: np.ndarray, centred: np.ndarray) -> float:
    """Slope a of P(smoke) = sigmoid(a * (score - threshold)), fitted on OOF scores: the
    probability is 0.5 exactly at the chosen threshold."""
    from scipy.optimize import minimize_scalar

    def loss(a: float) -> float:
        z = a * centred
        return float(np.mean(np.logaddexp(0, -z) * y + np.logaddexp(0, z) * (1 - y)))

    return float(minimize_scalar(loss, bounds=(1e-3, 100.0), method="bounded").x)


# --------------------------------------------------------------------------------------------
# Fitted heads (what a saved model holds)
# --------------------------------------------------------------------------------------------


@dataclass
class FittedHead:
    """One member: standardisation, an SVC on features scaled by 1/sqrt(d)."""

    candidate: Candidate
    mean: np.ndarray
    std: np.ndarray
    model: Any

    def decision(self, x: np.ndarray) -> np.ndarray:
        xs = ((np.asarray(x, np.float64) - self.mean) / self.std / math.sqrt(x.shape[1])).astype(
            np.float32
        )
        return np.asarray(self.model.decision_function(xs), dtype=np.float64)


def fit_head(x: np.ndarray, y: np.ndarray, candidate: Candidate, c: float) -> FittedHead:
    """An SVC on all of ``x``, as the inner CV's precomputed-kernel one (same solution)."""
    x = np.asarray(x, np.float64)
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    std[std < 1e-8] = 1.0
    xs = ((x - mean) / std / math.sqrt(x.shape[1])).astype(np.float32)
    kernel = "linear" if candidate.head == "svm-linear" else "rbf"
    return FittedHead(candidate, mean, std, _svc(c, kernel).fit(xs, y))


def fused_scores(
    heads: Sequence[FittedHead], xs: Sequence[np.ndarray], choice: Choice
) -> np.ndarray:
    """The fused, threshold-centred score of new clips (positive = smoke)."""
    return _fuse([h.decision(x) for h, x in zip(heads, xs, strict=True)], choice) - choice.threshold


# --------------------------------------------------------------------------------------------
# The nested run
# --------------------------------------------------------------------------------------------


@dataclass
class FoldResult:
    fold: int
    choice: Choice
    scores: np.ndarray  #: threshold-centred fused scores of the test clips
    test: np.ndarray  #: indices of the test clips
    metrics: dict[str, Any]


def _kernels_for(
    features: Mapping[str, np.ndarray], train: np.ndarray, heads: set[tuple[str, HeadKind]]
) -> dict[tuple[str, HeadKind], np.ndarray]:
    out = {}
    for name in {f for f, _ in heads}:
        xs = _standardize(features[name], train)
        for f, kind in heads:
            if f == name:
                out[(f, kind)] = _kernel(xs, kind)
    return out


def choose_on(
    features: Mapping[str, np.ndarray],
    y: np.ndarray,
    train: np.ndarray,
    candidates: Sequence[Candidate],
    *,
    inner_folds: int,
    seed: int,
    groups: np.ndarray | None = None,
    fuse: bool = True,
    c_grid: Sequence[float] = C_GRID,
) -> Choice:
    """Run the inner CV on the clips ``train`` (indices) and return what it chooses.

    The features are standardised with statistics of ``train`` (no labels, no test clip),
    one Gram matrix per feature set serving every inner fold, ``C`` and kernel.
    """
    yt = y[train]
    inner = stratified_folds(yt, inner_folds, seed, None if groups is None else groups[train])
    wanted = {(c.features, c.head) for c in candidates}
    sub = {name: x[train] for name, x in features.items() if name in {f for f, _ in wanted}}
    kernels = _kernels_for(sub, np.arange(len(train)), wanted)
    return select(kernels, yt, candidates, inner, c_grid=c_grid, fuse=fuse)


def refit(
    features: Mapping[str, np.ndarray], y: np.ndarray, train: np.ndarray, choice: Choice
) -> list[FittedHead]:
    return [
        fit_head(features[m.features][train], y[train], m, c)
        for m, c in zip(choice.members, choice.cs, strict=True)
    ]


def nested_cv(
    features: Mapping[str, np.ndarray],
    y: np.ndarray,
    candidates: Sequence[Candidate],
    *,
    outer_folds: int = 5,
    inner_folds: int = 4,
    seed: int = 0,
    groups: np.ndarray | None = None,
    fuse: bool = True,
    c_grid: Sequence[float] = C_GRID,
    on_fold: Callable[[FoldResult], None] | None = None,
) -> list[FoldResult]:
    """Outer folds scored once each, every choice made by :func:`choose_on` inside."""
    from scipy.special import expit

    from smokewatch.training.metrics import binary_metrics

    y = np.asarray(y)
    results = []
    for k, (train, test) in enumerate(stratified_folds(y, outer_folds, seed, groups)):
        choice = choose_on(
            features,
            y,
            train,
            candidates,
            inner_folds=inner_folds,
            seed=seed + 1 + k,
            groups=groups,
            fuse=fuse,
            c_grid=c_grid,
        )
        heads = refit(features, y, train, choice)
        centred = fused_scores(heads, [features[h.candidate.features][test] for h in heads], choice)
        prob = expit(choice.slope * centred)  # the logistic, without exp's overflow
        m = binary_metrics(y[test].tolist(), prob.tolist())
        result = FoldResult(k, choice, centred, test, {**m.as_dict(), "n": m.n})
        results.append(result)
        if on_fold is not None:
            on_fold(result)
    return results
