"""How good each group's labels are: the paper's Tables 5 and 6 from an answers export.

RISE compared researchers, citizens and a paid crowd by drawing three answers per clip from a
group, taking their majority, and repeating the draw: precision, recall and F-score against the
researchers' labels (Table 6), Cohen's kappa between groups (Table 5), each as mean ± standard
deviation over the draws. Workers can be filtered by reliability (accepted pages / submitted
pages; guessing passes a page of four gold standards with probability 1/16 = 0.0625).

A figure a draw leaves undefined (precision with no clip drawn as smoke, recall with no clip
truly smoke, kappa with one label only) is NaN in that draw and left out of the mean, which is
over the draws that define it; ``draws`` says how many. There is no standard deviation when
there is nothing to spread: one draw, or every draw took the same answers (every clip has
exactly ``assignments`` answers in the population).

Two rules keep a group from being scored against itself: when researchers are scored, a
clip's truth is the majority of the researcher answers *not* drawn; when two populations share
answers (citizens and reliable citizens, or a group and itself), the second draw takes none of
the answers of the first. The choices are explained in ``docs/analysis.md``.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from smokewatch.errors import SmokewatchError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DEFAULT_MIN_RELIABILITY",
    "Population",
    "QualityError",
    "QualityResult",
    "label_quality",
    "populations",
    "worker_reliability",
]

#: The paper's cut: workers whose pages pass less than this often are left out of "filtered".
DEFAULT_MIN_RELIABILITY = 0.3


class QualityError(SmokewatchError, ValueError):
    """Answers that cannot be scored as asked (no researcher labels, an even draw size…)."""


def worker_reliability(
    answers: pd.DataFrame, pages: pd.DataFrame | None = None, group: str | None = None
) -> pd.Series:
    """Accepted pages / submitted pages per worker of ``answers`` (NaN: no page with a known
    outcome); with ``group``, of that group's pages and the workers who answered in it.

    From ``pages`` (the pages export: ``worker``, ``page``, ``group``, ``accepted``) when
    given, which counts the pages whose answers the service did not keep; otherwise from the
    answers' pages (:func:`~smokewatch.analysis.contributors.pages_from_answers`), which only
    see pages with a kept answer. A citizen made researcher keeps their citizen reliability:
    researcher pages have no gold and always pass, so they must not be counted with it.
    """
    import pandas as pd

    from smokewatch.analysis.contributors import pages_from_answers

    source = pages if pages is not None else pages_from_answers(answers)
    if group is not None:
        source = source[(source["group"] == group).to_numpy(dtype=bool)]
        answers = answers[(answers["group"] == group).to_numpy(dtype=bool)]
    known = source[source["accepted"].notna()].drop_duplicates(["worker", "page"])
    ok = known["accepted"].astype(bool).astype(float)
    ratio = ok.groupby(known["worker"].to_numpy()).mean()
    workers = pd.Index(np.unique(answers["worker"].to_numpy()), name="worker")
    return ratio.reindex(workers).astype(float).rename("reliability")


@dataclass(frozen=True)
class Population:
    """The answers one row of the tables draws from: a group, maybe only its reliable workers."""

    name: str
    group: str
    min_reliability: float | None = None


def populations(
    answers: pd.DataFrame,
    min_reliability: float | None = DEFAULT_MIN_RELIABILITY,
    reliability: Mapping[str, pd.Series] | None = None,
) -> list[Population]:
    """The paper's rows: researchers; each other group, then its workers above
    ``min_reliability`` (None or 0: no filtered rows). Groups without answers are left out,
    and so is a filtered row when ``reliability`` (group -> by worker, as
    :func:`worker_reliability` with ``group``) knows none of the group's."""
    present = set(answers["group"].astype(str))
    out = []
    for group in ("researcher", "citizen", "crowd"):
        if group not in present:
            continue
        out.append(Population(group, group))
        if group == "researcher" or not min_reliability:
            continue
        if reliability is not None:
            workers = answers.loc[(answers["group"] == group).to_numpy(dtype=bool), "worker"]
            known = reliability.get(group)
            if known is None or known.reindex(workers.unique()).isna().all():
                continue
        out.append(
            Population(f"{group} (reliability > {min_reliability:g})", group, min_reliability)
        )
    return out


def _mean_std(values: Iterable[tuple[float, bytes]]) -> dict[str, float | int | None]:
    """Mean and standard deviation (ddof 1) of a figure over the draws that define it (not
    NaN), and how many those were (``draws``). Each value comes with a fingerprint of the
    answers its draw took: when all are the same, so is every value, and ``std`` is None (as
    with a single draw) rather than a 0 that would read as a measured spread."""
    defined = [(x, d) for x, d in values if not math.isnan(x)]
    if not defined:
        return {"mean": None, "std": None, "draws": 0}
    v = np.array([x for x, _ in defined], dtype=float)
    varied = len({d for _, d in defined}) > 1
    return {
        "mean": float(v.mean()),
        "std": float(v.std(ddof=1)) if varied else None,
        "draws": len(v),
    }


def _fingerprint(*masks: np.ndarray) -> bytes:
    """Which answers a draw took, in a few bytes (two draws are the same iff these are)."""
    digest = hashlib.blake2b(digest_size=16)
    for mask in masks:
        digest.update(np.packbits(mask).tobytes())
    return digest.digest()


@dataclass(frozen=True)
class QualityResult:
    """Per population: precision, recall, F1 vs researchers; kappa between every pair.

    ``rows`` and ``kappa`` hold plain dicts (JSON-ready): a metric is ``{"mean", "std",
    "draws"}`` over the ``draws`` draws that define it (``mean`` None: none did; ``std`` None:
    nothing to spread, see the module doc).
    """

    repeats: int
    assignments: int
    seed: int
    min_reliability: float | None
    rows: list[dict[str, Any]] = field(default_factory=list)
    kappa: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "repeats": self.repeats,
            "assignments": self.assignments,
            "seed": self.seed,
            "min_reliability": self.min_reliability,
            "groups": self.rows,
            "kappa": self.kappa,
            "notes": self.notes,
        }

    def kappa_matrix(self) -> tuple[list[str], list[list[dict[str, Any] | None]]]:
        """The population names and a symmetric matrix of the kappa entries."""
        names = [r["population"] for r in self.rows]
        at = {(k["a"], k["b"]): k for k in self.kappa}
        matrix = [[at.get((a, b)) or at.get((b, a)) for b in names] for a in names]
        return names, matrix


class _Draws:
    """The answers as arrays, for drawing ``k`` answers per clip many times quickly.

    One draw gives every answer a random key; a clip's ``k`` eligible answers with the
    smallest keys are its draw, so a draw is uniform without replacement per clip and costs
    one sort for all clips.
    """

    def __init__(self, answers: pd.DataFrame) -> None:
        tasks, self.clip = np.unique(answers["task"].to_numpy(), return_inverse=True)
        self.tasks = tasks
        self.n_clips = len(tasks)
        self.label = answers["label"].to_numpy(dtype=np.int64)
        self.n = len(answers)

    def majority(
        self, keys: np.ndarray, eligible: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per clip: the majority of ``k`` drawn eligible answers (NaN: fewer than ``k``), and
        a mask of the answers drawn."""
        idx = np.flatnonzero(eligible)
        mask = np.zeros(self.n, dtype=bool)
        if not len(idx):
            return np.full(self.n_clips, np.nan), mask
        order = idx[np.lexsort((keys[idx], self.clip[idx]))]
        clips = self.clip[order]
        starts = np.flatnonzero(np.r_[True, clips[1:] != clips[:-1]])
        counts = np.diff(np.r_[starts, len(clips)])
        pos = np.arange(len(clips)) - np.repeat(starts, counts)
        full = np.repeat(counts >= k, counts)
        chosen = order[(pos < k) & full]
        mask[chosen] = True
        ones = np.bincount(self.clip[chosen], weights=self.label[chosen], minlength=self.n_clips)
        have = np.bincount(self.clip[chosen], minlength=self.n_clips) == k
        return np.where(have, (2 * ones > k).astype(float), np.nan), mask

    def majority_of_all(self, eligible: np.ndarray) -> np.ndarray:
        """Per clip: the majority of all eligible answers (NaN: none, or a tie)."""
        ones = np.bincount(
            self.clip[eligible], weights=self.label[eligible], minlength=self.n_clips
        )
        count = np.bincount(self.clip[eligible], minlength=self.n_clips)
        out = np.where(2 * ones > count, 1.0, 0.0)
        out[(count == 0) | (2 * ones == count)] = np.nan
        return out


def _prf(truth: np.ndarray, predicted: np.ndarray) -> tuple[float, float, float, int]:
    from sklearn.metrics import precision_recall_fscore_support

    both = ~np.isnan(truth) & ~np.isnan(predicted)
    if not both.any():
        return math.nan, math.nan, math.nan, 0
    p, r, f, _ = precision_recall_fscore_support(
        truth[both].astype(int),
        predicted[both].astype(int),
        average="binary",
        pos_label=1,
        zero_division=np.nan,  # undefined is not 0: a 0 would pull the mean down
    )
    return float(p), float(r), float(f), int(both.sum())


def _kappa(a: np.ndarray, b: np.ndarray) -> tuple[float, int]:
    from sklearn.metrics import cohen_kappa_score

    both = ~np.isnan(a) & ~np.isnan(b)
    if not both.any():
        return math.nan, 0
    x, y = a[both].astype(int), b[both].astype(int)
    if len(set(x.tolist()) | set(y.tolist())) < 2:
        return math.nan, int(both.sum())  # one label only: kappa is undefined (0/0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(cohen_kappa_score(x, y)), int(both.sum())


def label_quality(
    answers: pd.DataFrame,
    *,
    repeats: int = 100,
    seed: int = 0,
    assignments: int = 3,
    min_reliability: float | None = DEFAULT_MIN_RELIABILITY,
    pages: pd.DataFrame | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> QualityResult:
    """The paper's Tables 5-6 (see the module doc) over ``repeats`` seeded draws.

    Gold answers are left out (a page's gold standards are known to the checker and were
    answered under its eye); workers of unknown reliability are left out of filtered rows.
    ``progress(stage, done, total)`` is told of each draw done (the CLI draws a bar).
    """
    if repeats < 1:
        raise QualityError(f"repeats must be at least 1, got {repeats}")
    if assignments < 1 or assignments % 2 == 0:
        raise QualityError(f"assignments must be odd (a majority needs no tie), got {assignments}")
    ordinary = answers[~answers["gold"].to_numpy(dtype=bool)].reset_index(drop=True)
    if not (ordinary["group"] == "researcher").any():
        raise QualityError("no researcher answers: researchers' labels are the truth here")
    reliability = {g: worker_reliability(answers, pages, group=g) for g in ("citizen", "crowd")}
    pops = populations(ordinary, min_reliability, reliability)
    notes = [
        f"{p.name}: no worker's page outcomes are known, so no reliability filter"
        for p in populations(ordinary, min_reliability)
        if p.min_reliability is not None and p not in pops
    ]
    draws = _Draws(ordinary)
    group = ordinary["group"].astype(str).to_numpy()
    rel = np.full(len(ordinary), np.nan)  # each answer's worker's reliability in its group
    for name, by_worker in reliability.items():
        mine = group == name
        rel[mine] = by_worker.reindex(ordinary["worker"].to_numpy()[mine]).to_numpy(dtype=float)
    masks: dict[str, np.ndarray] = {}
    for pop in pops:
        mask = group == pop.group
        if pop.min_reliability is not None:
            mask &= ~np.isnan(rel) & (rel > pop.min_reliability)
        masks[pop.name] = mask
    researcher = group == "researcher"
    rng = np.random.default_rng(seed)
    k = assignments
    scores: dict[str, list[tuple[float, float, float, int]]] = {p.name: [] for p in pops}
    prints: dict[str, list[bytes]] = {p.name: [] for p in pops}
    pairs = [(a.name, b.name) for i, a in enumerate(pops) for b in pops[i:]]
    kappas: dict[tuple[str, str], list[tuple[float, int]]] = {pair: [] for pair in pairs}
    pair_prints: dict[tuple[str, str], list[bytes]] = {pair: [] for pair in pairs}
    for done in range(1, repeats + 1):
        keys = rng.random(draws.n)
        drawn = {p.name: draws.majority(keys, masks[p.name], k) for p in pops}
        for pop in pops:
            labels, taken = drawn[pop.name]
            truth = draws.majority_of_all(researcher & ~taken)
            scores[pop.name].append(_prf(truth, labels))
            prints[pop.name].append(_fingerprint(taken))
        for a, b in pairs:
            first, taken = drawn[a]
            if (masks[a] & masks[b]).any():  # shared answers: draw b again without a's
                second, taken_b = draws.majority(keys, masks[b] & ~taken, k)
            else:
                second, taken_b = drawn[b]
            kappas[(a, b)].append(_kappa(first, second))
            pair_prints[(a, b)].append(_fingerprint(taken, taken_b))
        if progress is not None:
            progress("quality: draws", done, repeats)
    rows = []
    for pop in pops:
        mask = masks[pop.name]
        p, r, f, n = zip(*scores[pop.name], strict=True)
        fp = prints[pop.name]
        rows.append(
            {
                "population": pop.name,
                "group": pop.group,
                "min_reliability": pop.min_reliability,
                "workers": int(len(np.unique(ordinary["worker"].to_numpy()[mask]))),
                "answers": int(mask.sum()),
                "clips": float(np.mean(n)),
                "precision": _mean_std(zip(p, fp, strict=True)),
                "recall": _mean_std(zip(r, fp, strict=True)),
                "f1": _mean_std(zip(f, fp, strict=True)),
            }
        )
    kappa_rows = []
    for (a, b), values in kappas.items():
        kv, n = zip(*values, strict=True)
        kappa = _mean_std(zip(kv, pair_prints[(a, b)], strict=True))
        kappa_rows.append({"a": a, "b": b, "clips": float(np.mean(n)), "kappa": kappa})
    return QualityResult(
        repeats=repeats,
        assignments=assignments,
        seed=seed,
        min_reliability=min_reliability,
        rows=rows,
        kappa=kappa_rows,
        notes=notes,
    )
