"""A simulated crowd: answers in the export's format from workers whose quality we choose.

Real exports cannot say how good an aggregation method is without researcher labels, and
cannot say what more answers per clip would buy. A simulated crowd can: every worker has a
sensitivity (answers "smoke" on a smoke clip) and a specificity (answers "no smoke" on a clean
clip) drawn from Beta distributions, some workers are spammers (coin flips, or one answer
always), each clip is answered by ``redundancy`` distinct workers, and pages carry gold
standards as RISE's do (a page is accepted when every gold answer on it is right). Everything
is drawn from one seeded :class:`numpy.random.Generator`, so a seed gives the same answers on
every machine. The model and its choices are in ``docs/analysis.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np

from smokewatch.analysis.answers import DTYPES, PAGE_DTYPES
from smokewatch.core.answers import COLUMNS, GROUPS, PAGE_COLUMNS
from smokewatch.errors import SmokewatchError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CrowdSpec",
    "SimulatedCrowd",
    "SimulationError",
    "first_answers",
    "simulate_crowd",
    "simulate_study",
    "simulate_truth",
]

#: What a spammer does: ``random`` flips a fair coin, ``constant`` always gives one answer
#: (drawn once per spammer), ``mixed`` picks one of the two per spammer.
SpamKind = Literal["random", "constant", "mixed"]


class SimulationError(SmokewatchError, ValueError):
    """Simulation parameters that cannot make a crowd (more answers per clip than workers…)."""


@dataclass(frozen=True)
class CrowdSpec:
    """One group of simulated workers and how they are asked.

    ``sensitivity`` and ``specificity`` are the (a, b) of Beta distributions each worker's
    rates are drawn from; the default Beta(8, 2) has mean 0.8 and lets a few workers fall
    near chance, which is where weighting workers (Dawid-Skene) pays over counting them.
    ``page_size`` clips make a page, plus ``gold_per_page`` gold standards drawn from the
    study's gold clips; ``page_size=0`` gives no pages (researchers label outside pages).
    """

    workers: int = 30
    redundancy: int = 3
    sensitivity: tuple[float, float] = (8.0, 2.0)
    specificity: tuple[float, float] = (8.0, 2.0)
    spammers: float = 0.0
    spam: SpamKind = "random"
    page_size: int = 12
    gold_per_page: int = 0
    drop_rejected: bool = False
    group: str = "crowd"

    def check(self) -> None:
        """Raise :class:`SimulationError` for parameters that make no crowd."""
        if self.workers < 1:
            raise SimulationError(f"workers must be at least 1, got {self.workers}")
        if not 1 <= self.redundancy <= self.workers:
            raise SimulationError(
                f"redundancy must be between 1 and the number of workers ({self.workers}), "
                f"got {self.redundancy}"
            )
        for name in ("sensitivity", "specificity"):
            a, b = getattr(self, name)
            if not (a > 0 and b > 0):
                raise SimulationError(f"{name} Beta({a}, {b}): both parameters must be > 0")
        if not 0.0 <= self.spammers <= 1.0:
            raise SimulationError(f"spammers is a share between 0 and 1, got {self.spammers}")
        if self.spam not in ("random", "constant", "mixed"):
            raise SimulationError(f"spam is random, constant or mixed, got {self.spam!r}")
        if self.page_size < 0 or self.gold_per_page < 0:
            raise SimulationError("page_size and gold_per_page cannot be negative")
        if self.gold_per_page and not self.page_size:
            raise SimulationError("gold standards come on pages: gold_per_page needs page_size")
        if self.group not in GROUPS:
            raise SimulationError(f"group must be one of {', '.join(GROUPS)}, got {self.group!r}")


@dataclass(frozen=True)
class SimulatedCrowd:
    """A simulated study: the answers (the export's columns), the truth, and who answered.

    ``truth`` is indexed by task and holds every task's true label, gold standards included;
    ``workers`` has one row per worker: worker, group, kind (``worker``, ``random``,
    ``constant``), sensitivity, specificity. ``pages`` is the pages export of the study
    (:data:`~smokewatch.core.answers.PAGE_COLUMNS`), rejected pages included even when their
    answers were dropped, as the service's two exports are.
    """

    answers: pd.DataFrame
    truth: pd.Series
    workers: pd.DataFrame
    pages: pd.DataFrame
    gold_tasks: tuple[int, ...] = field(default=())


def simulate_truth(tasks: int, prior: float, rng: np.random.Generator) -> pd.Series:
    """True labels of tasks 1..``tasks``: smoke with probability ``prior``."""
    import pandas as pd

    if tasks < 1:
        raise SimulationError(f"tasks must be at least 1, got {tasks}")
    if not 0.0 <= prior <= 1.0:
        raise SimulationError(f"prior is a probability, got {prior}")
    labels = (rng.random(tasks) < prior).astype(np.int64)
    return pd.Series(labels, index=pd.Index(np.arange(1, tasks + 1), name="task"), name="truth")


def _workers(spec: CrowdSpec, rng: np.random.Generator, first: int) -> pd.DataFrame:
    import pandas as pd

    n = spec.workers
    sensitivity = rng.beta(*spec.sensitivity, size=n)
    specificity = rng.beta(*spec.specificity, size=n)
    kind = np.full(n, "worker", dtype=object)
    spammers = rng.permutation(n)[: int(round(spec.spammers * n))]
    constant = rng.random(n) < {"random": 0.0, "constant": 1.0, "mixed": 0.5}[spec.spam]
    answer = rng.integers(0, 2, size=n)  # the one answer of a constant spammer
    for w in spammers:
        if constant[w]:
            kind[w] = "constant"
            sensitivity[w], specificity[w] = float(answer[w]), 1.0 - float(answer[w])
        else:
            kind[w] = "random"
            sensitivity[w] = specificity[w] = 0.5
    return pd.DataFrame(
        {
            "worker": np.arange(first, first + n, dtype=np.int64),
            "group": spec.group,
            "kind": kind.astype(str),
            "sensitivity": sensitivity,
            "specificity": specificity,
        }
    )


def _answers(
    truth: pd.Series,
    spec: CrowdSpec,
    rng: np.random.Generator,
    *,
    gold: np.ndarray,
    first_worker: int,
    first_page: int,
    start_time: int,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    import pandas as pd

    spec.check()
    workers = _workers(spec, rng, first_worker)
    tasks = np.setdiff1d(truth.index.to_numpy(), gold)
    if not len(tasks):
        raise SimulationError("every task is a gold standard: no task left to answer")
    # Each task's answerers: the first `redundancy` of a random permutation of the workers.
    # Slot j (the j-th answer to every task) is answered before slot j + 1, so the first r
    # answers of a task by time are a crowd of redundancy r (see first_answers).
    pick = np.argsort(rng.random((len(tasks), spec.workers)), axis=1)[:, : spec.redundancy]
    slot_task = np.tile(tasks, spec.redundancy)
    slot_worker = pick.T.reshape(-1)
    time = start_time + np.arange(len(slot_task), dtype=np.int64)
    page = np.full(len(slot_task), -1, dtype=np.int64)
    parts = [(slot_task, slot_worker, time, page, np.zeros(len(slot_task), dtype=bool))]
    next_page = first_page
    if spec.page_size:
        order = np.lexsort((time, slot_worker))  # each worker's answers in time order
        for w in range(spec.workers):
            mine = order[slot_worker[order] == w]
            for start in range(0, len(mine), spec.page_size):
                members = mine[start : start + spec.page_size]
                page[members] = next_page
                k = min(spec.gold_per_page, len(gold))
                if k:
                    chosen = rng.choice(gold, size=k, replace=False)
                    parts.append(
                        (
                            chosen,
                            np.full(k, w),
                            np.full(k, time[members[0]]),
                            np.full(k, next_page),
                            np.ones(k, dtype=bool),
                        )
                    )
                next_page += 1
    columns = (np.concatenate(c) for c in zip(*parts, strict=True))
    task, worker_index, times, page_ids, is_gold = columns
    true = truth.reindex(task).to_numpy()
    p_smoke = np.where(
        true == 1,
        workers["sensitivity"].to_numpy()[worker_index],
        1.0 - workers["specificity"].to_numpy()[worker_index],
    )
    label = (rng.random(len(task)) < p_smoke).astype(np.int64)
    frame = pd.DataFrame(
        {
            "task": task.astype(np.int64),
            "clip": [f"sim-{t}" for t in task],
            "worker": workers["worker"].to_numpy()[worker_index],
            "group": spec.group,
            "label": label,
            "time": times,
            "page": page_ids,
            "gold": is_gold,
            "gold_label": np.where(is_gold, true, -1),
            "expert": False,
        }
    )
    if spec.page_size:
        wrong_gold = frame[frame["gold"] & (frame["label"] != frame["gold_label"])]
        rejected = set(wrong_gold["page"].tolist())
        frame["page_accepted"] = ~frame["page"].isin(rejected)
        paged = frame.groupby("page", sort=True)
        pages = pd.DataFrame(
            {
                "page": paged["page"].first(),
                "worker": paged["worker"].first(),
                "group": spec.group,
                "time": paged["time"].max(),
                "accepted": paged["page_accepted"].first(),
                "clips": paged.size(),
                "gold": paged["gold"].sum(),
            }
        )
        if spec.drop_rejected:  # as RISE's service does: a rejected page's answers are not kept
            frame = frame[frame["page_accepted"]]
    else:
        frame["page_accepted"] = None
        pages = pd.DataFrame(columns=list(PAGE_COLUMNS))
    pages = pages[list(PAGE_COLUMNS)].astype(PAGE_DTYPES).reset_index(drop=True)
    frame = frame.astype({"page": "Int64", "gold_label": "Int64"})
    frame.loc[frame["page"] < 0, "page"] = pd.NA
    frame.loc[frame["gold_label"] < 0, "gold_label"] = pd.NA
    frame = frame[list(COLUMNS)].astype(DTYPES)
    frame = frame.sort_values(["time", "gold", "task"], kind="stable")
    return frame.reset_index(drop=True), workers, pages


def simulate_study(
    truth: pd.Series,
    crowds: Mapping[str, CrowdSpec] | list[CrowdSpec],
    *,
    seed: int | np.random.SeedSequence,
    gold: float = 0.0,
) -> SimulatedCrowd:
    """Answers of several crowds (e.g. researchers, citizens, a paid crowd) on one truth.

    A share ``gold`` of the tasks are gold standards: no crowd answers them as ordinary
    clips; they come ``gold_per_page`` to a page. Worker and page ids do not collide
    between crowds; answer times follow one another, crowd after crowd.
    """
    import pandas as pd

    if not 0.0 <= gold < 1.0:
        raise SimulationError(f"gold is a share of the tasks below 1, got {gold}")
    specs = list(crowds.values()) if isinstance(crowds, Mapping) else list(crowds)
    rng = np.random.default_rng(seed)
    n_gold = int(round(gold * len(truth)))
    gold_tasks = np.sort(rng.choice(truth.index.to_numpy(), size=n_gold, replace=False))
    answers, workers, pages = [], [], []
    first_worker, first_page, start_time = 1, 1, 0
    for spec in specs:
        a, w, p = _answers(
            truth,
            spec,
            rng,
            gold=gold_tasks,
            first_worker=first_worker,
            first_page=first_page,
            start_time=start_time,
        )
        answers.append(a)
        workers.append(w)
        pages.append(p)
        first_worker += spec.workers
        if len(p):
            first_page = int(p["page"].max()) + 1
        start_time += len(truth) * spec.redundancy  # past this crowd's last answer
    return SimulatedCrowd(
        answers=pd.concat(answers, ignore_index=True),
        truth=truth,
        workers=pd.concat(workers, ignore_index=True),
        pages=pd.concat(pages, ignore_index=True),
        gold_tasks=tuple(int(t) for t in gold_tasks),
    )


def simulate_crowd(
    spec: CrowdSpec | None = None,
    *,
    tasks: int = 200,
    prior: float = 0.4,
    gold: float = 0.0,
    seed: int | np.random.SeedSequence = 0,
) -> SimulatedCrowd:
    """One crowd answering ``tasks`` clips of which a share ``prior`` has smoke.

    The truth and the crowd are drawn from two generators spawned from ``seed``, so the
    same seed gives the same truth whatever the crowd's parameters.
    """
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    truth_seed, crowd_seed = root.spawn(2)
    truth = simulate_truth(tasks, prior, np.random.default_rng(truth_seed))
    return simulate_study(truth, [spec or CrowdSpec()], seed=crowd_seed, gold=gold)


def first_answers(answers: pd.DataFrame, redundancy: int) -> pd.DataFrame:
    """Each task's first ``redundancy`` ordinary answers by time (gold answers all kept).

    On a simulated crowd this is the same crowd asked ``redundancy`` times per clip: the
    answers per clip grow while the workers and their quality stay the same.
    """
    ordered = answers.sort_values(["time"], kind="stable")
    rank = ordered.groupby("task", sort=False).cumcount()
    keep = ordered["gold"].astype(bool) | (rank < redundancy)
    return ordered[keep].sort_index()
