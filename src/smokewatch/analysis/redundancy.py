"""How many answers per clip a crowd needs: F1 of majority vote and Dawid-Skene against the
number of answers per clip, on simulated crowds.

Each repeat draws one crowd (truth, workers, assignments) at the largest redundancy and scores
its first 1, 2, … answers per clip (:func:`~smokewatch.analysis.simulate.first_answers`), so a
curve shows the same workers asked more often, not a new crowd at each point. Majority ties
(even numbers of answers) are broken by a seeded fair coin here, and so are Dawid-Skene's exact
ties (which :func:`~smokewatch.analysis.aggregate.dawid_skene` leaves undecided), so both
methods label every clip and their F1 compare on the same clips.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from smokewatch.analysis.aggregate import dawid_skene, majority_vote, score
from smokewatch.analysis.simulate import CrowdSpec, SimulationError, first_answers, simulate_crowd

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CURVE_METHODS", "needed_redundancy", "redundancy_curve"]

#: The curves drawn, in legend order.
CURVE_METHODS = ("majority", "dawid-skene")


def redundancy_curve(
    spec: CrowdSpec,
    *,
    tasks: int = 300,
    prior: float = 0.4,
    max_redundancy: int = 9,
    repeats: int = 3,
    seed: int = 0,
    gold: float = 0.0,
    progress: Callable[[str, int, int], None] | None = None,
) -> pd.DataFrame:
    """F1 (mean, std over ``repeats`` crowds) per method and redundancy 1..``max_redundancy``.

    Columns: redundancy, method, f1_mean, f1_std, accuracy_mean, f1_crowds, crowds. F1 is
    undefined (NaN) for a crowd where no clip is smoke and none was labeled smoke: the mean
    and std are over the ``f1_crowds`` of the ``crowds`` that define it, and the std is NaN
    with fewer than two (nothing to spread). ``spec.redundancy`` is ignored (the crowd is
    drawn at ``max_redundancy``); a share ``gold`` of the tasks are gold standards on the
    pages ``spec`` describes: every method sees their answers, none is scored on them.
    ``progress(stage, done, total)`` is told of each (crowd, redundancy) point done.
    """
    import pandas as pd

    if max_redundancy < 1:
        raise SimulationError(f"max_redundancy must be at least 1, got {max_redundancy}")
    if repeats < 1:
        raise SimulationError(f"repeats must be at least 1, got {repeats}")
    full = replace(spec, redundancy=max_redundancy)
    full.check()
    seeds = np.random.SeedSequence(seed).spawn(repeats)
    rows = []
    points = repeats * max_redundancy
    for child in seeds:
        crowd_seed, tie_seed = child.spawn(2)
        crowd = simulate_crowd(full, tasks=tasks, prior=prior, gold=gold, seed=crowd_seed)
        tie_rng = np.random.default_rng(tie_seed)
        for r in range(1, max_redundancy + 1):
            answers = first_answers(crowd.answers, r)
            majority = majority_vote(answers, rng=tie_rng)
            ds = dawid_skene(answers)
            tied = ds.isna().to_numpy()
            ds[tied] = tie_rng.integers(0, 2, size=int(tied.sum()))
            labels = pd.DataFrame({"majority": majority, "dawid-skene": ds})
            scored = score(labels, crowd.truth, exclude=crowd.gold_tasks)
            for method in CURVE_METHODS:
                rows.append(
                    {
                        "redundancy": r,
                        "method": method,
                        "f1": scored.loc[method, "f1"],
                        "accuracy": scored.loc[method, "accuracy"],
                    }
                )
            if progress is not None:
                progress("simulate: crowds x answers", len(rows) // len(CURVE_METHODS), points)
    table = pd.DataFrame(rows)
    grouped = table.groupby(["redundancy", "method"], sort=False)
    out = grouped.agg(
        f1_mean=("f1", "mean"),
        f1_std=("f1", "std"),  # NaN with fewer than two defined: nothing to spread
        accuracy_mean=("accuracy", "mean"),
        f1_crowds=("f1", "count"),
        crowds=("f1", "size"),
    )
    return out.reset_index()


def needed_redundancy(curve: pd.DataFrame, target: float = 0.9) -> dict[str, int | None]:
    """Per method, the fewest answers per clip whose mean F1 reaches ``target`` (None: none)."""
    out: dict[str, int | None] = {}
    for method in CURVE_METHODS:
        rows = curve[(curve["method"] == method) & (curve["f1_mean"] >= target)]
        out[method] = int(rows["redundancy"].min()) if len(rows) else None
    return out
