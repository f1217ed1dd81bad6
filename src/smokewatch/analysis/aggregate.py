"""Many answers per clip -> one label per clip, by several methods, scored against researchers.

Methods (``METHODS``, in table order):

``majority``
    the most frequent answer; a tie leaves the clip undecided.
``rise``
    RISE's own rule: the clip's answers, in time order, through
    :func:`smokewatch.core.labels.citizen_replay` (two agreeing answers settle it, a third
    settles a discord); undecided while one answer or a discord stands. As RISE's service does,
    it only counts answers of pages that passed their gold standards (or whose page is unknown).
``dawid-skene``, ``glad``, ``mace``
    crowd-kit's estimators of worker quality (a confusion matrix per worker; an ability per
    worker and a difficulty per clip; a spamming probability per worker) on every answer.
``dawid-skene-gold``
    Dawid-Skene told the gold standards: crowd-kit's ``DawidSkene.fit(true_labels=...)``
    clamps the gold clips' label probabilities to their known labels in every E-step, so each
    M-step's confusion matrix of a worker holds that worker's gold answers as exact counts. The
    gold answers thus fix what the plain model has to guess, where it matters most: for
    workers with few answers on ordinary clips.

Everything here takes the answers frame of :func:`smokewatch.analysis.answers.load_answers`
(or of :mod:`smokewatch.analysis.simulate`) and returns labels as a nullable ``Int64`` series
indexed by task: ``<NA>`` is "undecided", which coverage counts.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from smokewatch.core.labels import State, citizen_replay, final_label
from smokewatch.errors import SmokewatchError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "METHODS",
    "AggregationError",
    "Method",
    "aggregate",
    "crowd_answers",
    "dawid_skene",
    "dawid_skene_gold",
    "glad",
    "gold_labels",
    "mace",
    "majority_vote",
    "researcher_truth",
    "rise_state_machine",
    "score",
]


class AggregationError(SmokewatchError, ValueError):
    """Answers that cannot be aggregated as asked (no answers left, an unknown method)."""


@contextmanager
def _quiet() -> Iterator[None]:
    """crowd-kit 1.4 calls pandas with ``inplace=`` and other forms pandas 3 deprecates; the
    warnings are crowd-kit's to fix and would bury the command's output."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def _labels(values: Any, index: Any) -> pd.Series:
    import pandas as pd

    out = pd.Series(values, index=pd.Index(index, name="task"), dtype="Int64")
    return out.sort_index()


def _tlw(answers: pd.DataFrame) -> pd.DataFrame:
    """The ``task, worker, label`` frame crowd-kit reads (plain int64 columns)."""
    return answers[["task", "worker", "label"]].astype("int64").reset_index(drop=True)


def crowd_answers(answers: pd.DataFrame, groups: Iterable[str] | None = None) -> pd.DataFrame:
    """The answers to aggregate: those of ``groups`` (default: everyone but researchers, whose
    labels are what the result is scored against)."""
    if groups is None:
        keep = answers["group"] != "researcher"
    else:
        keep = answers["group"].isin(list(groups))
    return answers[keep.to_numpy(dtype=bool)]


def researcher_truth(answers: pd.DataFrame) -> pd.Series:
    """Each task's researcher label: the majority of its researcher answers; a tie, or no
    researcher answer, leaves the task out."""
    researchers = answers[(answers["group"] == "researcher").to_numpy(dtype=bool)]
    return majority_vote(researchers).dropna()


def gold_labels(answers: pd.DataFrame) -> pd.Series:
    """The known label of each gold-standard task, from the ``gold_label`` of its gold answers."""
    gold = answers[answers["gold"].to_numpy(dtype=bool) & answers["gold_label"].notna()]
    first = gold.groupby("task", sort=True)["gold_label"].first()
    return first.astype("int64").rename("gold_label")


def majority_vote(answers: pd.DataFrame, *, rng: np.random.Generator | None = None) -> pd.Series:
    """The most frequent answer per task; ties are ``<NA>`` (or a fair coin if ``rng``)."""
    if answers.empty:
        return _labels([], [])
    stats = answers.groupby("task", sort=True)["label"].agg(["sum", "count"])
    twice = 2 * stats["sum"].to_numpy()
    count = stats["count"].to_numpy()
    label = np.where(twice > count, 1, 0).astype(object)
    tie = twice == count
    if rng is None:
        label[tie] = None
    else:
        label[tie] = rng.integers(0, 2, size=int(tie.sum()))
    return _labels(label, stats.index)


def rise_state_machine(answers: pd.DataFrame) -> pd.Series:
    """RISE's citizen rule replayed per task in time order (see the module doc)."""
    accepted = answers["page_accepted"].fillna(True).to_numpy(dtype=bool)
    ordinary = ~answers["gold"].to_numpy(dtype=bool)
    counted = answers[accepted & ordinary].sort_values("time", kind="stable")
    tasks, labels = [], []
    for task, group in counted.groupby("task", sort=True)["label"]:
        state = citizen_replay(int(v) for v in group.to_numpy())
        tasks.append(task)
        labels.append(final_label(state, State.NO_DATA))
    return _labels(labels, tasks)


def dawid_skene(answers: pd.DataFrame, *, n_iter: int = 100) -> pd.Series:
    """crowd-kit's Dawid-Skene (one confusion matrix per worker, EM)."""
    from crowdkit.aggregation import DawidSkene

    data = _tlw(answers)
    with _quiet():
        result = DawidSkene(n_iter=n_iter).fit_predict(data)
    return _labels(result.to_numpy(), result.index)


def dawid_skene_gold(answers: pd.DataFrame, *, n_iter: int = 100) -> pd.Series:
    """Dawid-Skene with the gold standards' labels known (see the module doc); without gold
    answers it is :func:`dawid_skene`."""
    from crowdkit.aggregation import DawidSkene

    data = _tlw(answers)
    known = gold_labels(answers)
    # crowd-kit adds a class no one answered as a column empty but for the gold rows; its
    # prior then goes to 1 and every clip gets that class. Such gold labels are only set on
    # their own clips, after the fit.
    answered = known[known.isin(data["label"].unique())]
    with _quiet():
        model = DawidSkene(n_iter=n_iter)
        result = model.fit_predict(data, true_labels=answered if len(answered) else None)
    result = result.copy()
    result.loc[known.index.intersection(result.index)] = known
    return _labels(result.to_numpy(), result.index)


def glad(answers: pd.DataFrame, *, n_iter: int = 100) -> pd.Series:
    """crowd-kit's GLAD (worker ability times clip easiness)."""
    from crowdkit.aggregation import GLAD

    with _quiet():
        result = GLAD(n_iter=n_iter, silent=True).fit_predict(_tlw(answers))
    return _labels(result.to_numpy(), result.index)


def mace(answers: pd.DataFrame, *, seed: int = 0, restarts: int = 10) -> pd.Series:
    """crowd-kit's MACE (a spamming probability per worker), seeded."""
    from crowdkit.aggregation import MACE

    with _quiet():
        result = MACE(n_restarts=restarts, random_state=seed, verbose=0).fit_predict(_tlw(answers))
    return _labels(result.to_numpy(), result.index)


@dataclass(frozen=True)
class Method:
    """An aggregation method: its name in tables and files, and how to run it."""

    name: str
    description: str
    run: Callable[[pd.DataFrame, int], pd.Series]


#: The methods in table order (``analyze aggregate --method`` picks among them).
METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("majority", "majority vote, ties undecided", lambda a, s: majority_vote(a)),
        Method(
            "rise", "RISE's state machine (2 agree, or 2+1)", lambda a, s: rise_state_machine(a)
        ),
        Method("dawid-skene", "Dawid-Skene (crowd-kit)", lambda a, s: dawid_skene(a)),
        Method("glad", "GLAD (crowd-kit)", lambda a, s: glad(a)),
        Method("mace", "MACE (crowd-kit)", lambda a, s: mace(a, seed=s)),
        Method(
            "dawid-skene-gold",
            "Dawid-Skene with gold labels known",
            lambda a, s: dawid_skene_gold(a),
        ),
    )
}


def aggregate(
    answers: pd.DataFrame, methods: Iterable[str] | None = None, *, seed: int = 0
) -> pd.DataFrame:
    """One column of labels per method (``Int64``, ``<NA>`` undecided), indexed by task.

    ``answers`` are the answers to aggregate (see :func:`crowd_answers`); every task that
    has one appears, gold standards included.
    """
    import pandas as pd

    names = list(methods) if methods is not None else list(METHODS)
    unknown = [n for n in names if n not in METHODS]
    if unknown:
        raise AggregationError(
            f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}"
        )
    if answers.empty:
        raise AggregationError("no answers to aggregate")
    tasks = pd.Index(np.unique(answers["task"].to_numpy()), name="task")
    columns = {name: METHODS[name].run(answers, seed).reindex(tasks) for name in names}
    return pd.DataFrame(columns, index=tasks)


def score(labels: pd.DataFrame, truth: pd.Series, *, exclude: Iterable[int] = ()) -> pd.DataFrame:
    """Each method's labels against ``truth`` on the tasks both have (minus ``exclude``).

    Columns: tasks (scored), decided, coverage (decided / tasks), accuracy, precision,
    recall, f1; the last four on the decided tasks, "smoke" (1) as the positive class. A
    clip the aggregated answers do not hold (only researchers labeled it) is not scored: no
    method had anything to decide it by.
    """
    import pandas as pd
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    truth = truth.dropna()
    truth = truth[~truth.index.isin(list(exclude)) & truth.index.isin(labels.index)]
    rows = []
    for name in labels.columns:
        predicted = labels[name].reindex(truth.index)
        decided = predicted.notna().to_numpy()
        y_true = truth.to_numpy(dtype=np.int64)[decided]
        y_pred = predicted.to_numpy(dtype=np.float64, na_value=np.nan)[decided].astype(np.int64)
        if decided.any():
            p, r, f, _ = precision_recall_fscore_support(
                y_true, y_pred, average="binary", pos_label=1, zero_division=0.0
            )
            acc = float(accuracy_score(y_true, y_pred))
        else:
            p = r = f = acc = float("nan")
        rows.append(
            {
                "method": name,
                "tasks": len(truth),
                "decided": int(decided.sum()),
                "coverage": float(decided.mean()) if len(truth) else float("nan"),
                "accuracy": acc,
                "precision": float(p),
                "recall": float(r),
                "f1": float(f),
            }
        )
    return pd.DataFrame(rows).set_index("method")
