"""Many answers per clip -> one label per clip, by several methods, scored against researchers.

Methods (``METHODS``, in table order):

``majority``
    the most frequent answer; a tie leaves the clip undecided.
``rise``
    RISE's own rule: the clip's answers, in time order, through
    :func:`smokewatch.core.labels.citizen_replay` (two agreeing answers settle it, a third
    settles a discord; an expert's answer moves the clip by RISE's expert rule, as the service
    moved it); undecided while one answer or a discord stands. As RISE's service does, it
    only counts answers of pages that passed their gold standards (or whose page is unknown).
``dawid-skene``, ``glad``, ``mace``
    crowd-kit's estimators of worker quality (a confusion matrix per worker; an ability per
    worker and a difficulty per clip; a spamming probability per worker) on every answer.
    They read the answers sorted by task, worker and label, so the order of a file's rows
    changes nothing; a clip whose two labels end equally probable is undecided, as a
    majority tie is (crowd-kit itself would take whichever label it met first).
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
    """The ``task, worker, label`` frame crowd-kit reads (plain int64 columns), in one order
    whatever the file's: crowd-kit's results depend on row order (its class order, the sums
    of its EM, MACE's seeded starts)."""
    columns = ["task", "worker", "label"]
    data = answers[columns].astype("int64")
    return data.sort_values(columns, kind="stable").reset_index(drop=True)


#: Posteriors closer than this (relative) are a tie: EM's rounding, not evidence.
_TIE = 1e-9

#: MACE's restarts begin from random spamming probabilities, so a tie nothing in the answers
#: breaks (two workers, one answer each, disagreeing) ends 1e-4 apart, and which label wins
#: follows the workers' ids. A posterior that close to its rival is a coin, not a decision.
_MACE_TIE = 1e-3


def _most_probable(probas: pd.DataFrame, *, tie: float = _TIE) -> pd.Series:
    """Per task, the label of highest posterior (``probas_``: task x label); ``<NA>`` where
    two labels tie (within ``tie``, relative), as majority vote leaves a tie, rather than
    crowd-kit's first column."""
    values = probas.to_numpy(dtype=np.float64)
    if not values.size:
        return _labels([], [])
    best = values.argmax(axis=1)
    top = values[np.arange(len(values)), best]
    tied = np.isclose(values, top[:, None], rtol=tie, atol=0.0).sum(axis=1) > 1
    label = probas.columns.to_numpy()[best].astype(object)
    label[tied] = None
    return _labels(label, probas.index)


def crowd_answers(answers: pd.DataFrame, groups: Iterable[str] | None = None) -> pd.DataFrame:
    """The answers to aggregate: those of ``groups`` (default: everyone but researchers, whose
    labels are what the result is scored against)."""
    if groups is None:
        keep = answers["group"] != "researcher"
    else:
        keep = answers["group"].isin(list(groups))
    return answers[keep.to_numpy(dtype=bool)]


def researcher_truth(answers: pd.DataFrame, groups: Iterable[str] | None = None) -> pd.Series:
    """Each task's researcher label: the majority of its researcher answers; a tie, or no
    researcher answer, leaves the task out.

    ``groups``: the groups being aggregated, as :func:`crowd_answers` takes them. Their
    answers are not the truth, so no method is scored against the answers it was given (as
    ``analyze quality`` never scores a group against the answers it drew): aggregating the
    researchers' answers leaves no truth.
    """
    researcher = (answers["group"] == "researcher").to_numpy(dtype=bool)
    if groups is not None and "researcher" in set(groups):
        researcher[:] = False
    return majority_vote(answers[researcher]).dropna()


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
    if "expert" not in counted:  # a frame made without it (older code, by hand): no experts
        counted = counted.assign(expert=False)
    tasks, labels = [], []
    for task, group in counted.groupby("task", sort=True)[["label", "expert"]]:
        state = citizen_replay(
            (int(v) for v in group["label"].to_numpy()),
            experts=(bool(e) for e in group["expert"].to_numpy()),
        )
        tasks.append(task)
        labels.append(final_label(state, State.NO_DATA))
    return _labels(labels, tasks)


def dawid_skene(answers: pd.DataFrame, *, n_iter: int = 100) -> pd.Series:
    """crowd-kit's Dawid-Skene (one confusion matrix per worker, EM)."""
    from crowdkit.aggregation import DawidSkene

    with _quiet():
        model = DawidSkene(n_iter=n_iter).fit(_tlw(answers))
    return _most_probable(model.probas_)


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
        model.fit(data, true_labels=answered if len(answered) else None)
    result = _most_probable(model.probas_)
    result.loc[known.index.intersection(result.index)] = known
    return result


def glad(answers: pd.DataFrame, *, n_iter: int = 100) -> pd.Series:
    """crowd-kit's GLAD (worker ability times clip easiness)."""
    from crowdkit.aggregation import GLAD

    with _quiet():
        model = GLAD(n_iter=n_iter, silent=True).fit(_tlw(answers))
    return _most_probable(model.probas_)


def mace(answers: pd.DataFrame, *, seed: int = 0, restarts: int = 10) -> pd.Series:
    """crowd-kit's MACE (a spamming probability per worker), seeded."""
    from crowdkit.aggregation import MACE

    with _quiet():
        model = MACE(n_restarts=restarts, random_state=seed, verbose=0).fit(_tlw(answers))
    return _most_probable(model.probas_, tie=_MACE_TIE)


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
    answers: pd.DataFrame,
    methods: Iterable[str] | None = None,
    *,
    seed: int = 0,
    progress: Callable[[str, int, int], None] | None = None,
) -> pd.DataFrame:
    """One column of labels per method (``Int64``, ``<NA>`` undecided), indexed by task.

    ``answers`` are the answers to aggregate (see :func:`crowd_answers`); every task that
    has one appears, gold standards included. ``progress(stage, done, total)`` is told of
    each method done (the CLI draws a bar).
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
    columns = {}
    for done, name in enumerate(names, start=1):
        columns[name] = METHODS[name].run(answers, seed).reindex(tasks)
        if progress is not None:
            progress("aggregate: methods", done, len(names))
    return pd.DataFrame(columns, index=tasks)


def score(labels: pd.DataFrame, truth: pd.Series, *, exclude: Iterable[int] = ()) -> pd.DataFrame:
    """Each method's labels against ``truth`` on the tasks both have (minus ``exclude``).

    Columns: tasks (scored), decided, coverage (decided / tasks), accuracy, precision,
    recall, f1; the last four on the decided tasks, "smoke" (1) as the positive class, NaN
    where undefined (precision with no clip labeled smoke, recall with none truly smoke). A
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
        if decided.any():  # undefined (no smoke predicted, or none true) is NaN, not 0
            p, r, f, _ = precision_recall_fscore_support(
                y_true, y_pred, average="binary", pos_label=1, zero_division=np.nan
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
