"""The crowd simulator: the export's format, exact for a seed, and the crowd it was asked for."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from smokewatch.analysis.answers import DTYPES, PAGE_DTYPES
from smokewatch.analysis.simulate import (
    CrowdSpec,
    SimulationError,
    first_answers,
    simulate_crowd,
    simulate_study,
    simulate_truth,
)
from smokewatch.core.answers import COLUMNS, PAGE_COLUMNS

GOLD_CROWD = CrowdSpec(
    workers=8, redundancy=3, spammers=0.25, spam="mixed", page_size=6, gold_per_page=2
)


def test_answers_have_the_export_columns_and_dtypes() -> None:
    crowd = simulate_crowd(GOLD_CROWD, tasks=40, gold=0.2, seed=3)
    assert tuple(crowd.answers.columns) == COLUMNS
    assert {c: str(t) for c, t in crowd.answers.dtypes.items()} == DTYPES
    assert tuple(crowd.pages.columns) == PAGE_COLUMNS
    assert {c: str(t) for c, t in crowd.pages.dtypes.items()} == PAGE_DTYPES
    assert set(crowd.answers["group"]) == {"crowd"}
    assert crowd.answers["label"].isin([0, 1]).all()
    assert crowd.answers["time"].is_monotonic_increasing


def test_a_seed_gives_the_same_crowd_and_another_seed_another() -> None:
    a = simulate_crowd(GOLD_CROWD, tasks=30, gold=0.2, seed=5)
    b = simulate_crowd(GOLD_CROWD, tasks=30, gold=0.2, seed=5)
    c = simulate_crowd(GOLD_CROWD, tasks=30, gold=0.2, seed=6)
    pd.testing.assert_frame_equal(a.answers, b.answers)
    pd.testing.assert_frame_equal(a.workers, b.workers)
    pd.testing.assert_series_equal(a.truth, b.truth)
    assert not a.answers["label"].equals(c.answers["label"])
    # the truth depends on the seed only, not on the crowd's parameters
    other = simulate_crowd(CrowdSpec(workers=3, redundancy=1), tasks=30, seed=5)
    pd.testing.assert_series_equal(a.truth, other.truth)


def test_exact_values_for_a_seed() -> None:
    """Computed once from this seed: a change in the draw order shows here first."""
    crowd = simulate_crowd(CrowdSpec(workers=4, redundancy=2, page_size=0), tasks=5, seed=0)
    assert crowd.truth.tolist() == [0, 1, 0, 1, 0]
    # slot 1 answers tasks 1-5, then slot 2 does: each task's two workers differ
    assert crowd.answers["task"].tolist() == [1, 2, 3, 4, 5] * 2
    assert crowd.answers["worker"].tolist() == [4, 1, 2, 2, 2, 3, 4, 1, 1, 1]
    assert crowd.answers["label"].tolist() == [0, 0, 0, 1, 0, 0, 1, 0, 0, 0]


def test_each_clip_gets_redundancy_distinct_workers_and_gold_clips_none() -> None:
    crowd = simulate_crowd(GOLD_CROWD, tasks=40, gold=0.2, seed=1)
    ordinary = crowd.answers[~crowd.answers["gold"]]
    per_task = ordinary.groupby("task")["worker"].agg(["size", "nunique"])
    assert (per_task["size"] == 3).all() and (per_task["nunique"] == 3).all()
    assert len(crowd.gold_tasks) == 8
    assert set(per_task.index).isdisjoint(crowd.gold_tasks)
    assert len(per_task) == 40 - 8
    gold = crowd.answers[crowd.answers["gold"]]
    assert set(gold["task"]) <= set(crowd.gold_tasks)
    assert (gold["gold_label"].to_numpy() == crowd.truth.reindex(gold["task"]).to_numpy()).all()
    assert crowd.answers.loc[~crowd.answers["gold"], "gold_label"].isna().all()


def test_pages_carry_their_gold_and_are_accepted_only_when_all_gold_is_right() -> None:
    crowd = simulate_crowd(GOLD_CROWD, tasks=40, gold=0.2, seed=2)
    answers = crowd.answers
    for page, rows in answers.groupby("page"):
        gold = rows[rows["gold"]]
        assert len(gold) == 2, page
        assert rows["worker"].nunique() == 1
        assert len(rows) - len(gold) <= 6
        right = bool((gold["label"] == gold["gold_label"]).all())
        assert rows["page_accepted"].tolist() == [right] * len(rows)
    pages = crowd.pages.set_index("page")
    assert len(pages) == answers["page"].nunique()
    assert pages["gold"].eq(2).all()
    accepted = answers.groupby("page")["page_accepted"].first()
    assert pages["accepted"].reindex(accepted.index).tolist() == accepted.tolist()
    assert (~pages["accepted"]).any() and pages["accepted"].any()


def test_drop_rejected_keeps_the_pages_but_not_their_answers() -> None:
    kept = simulate_crowd(GOLD_CROWD, tasks=40, gold=0.2, seed=2)
    spec = CrowdSpec(**{**GOLD_CROWD.__dict__, "drop_rejected": True})
    dropped = simulate_crowd(spec, tasks=40, gold=0.2, seed=2)
    pd.testing.assert_frame_equal(kept.pages, dropped.pages)
    assert dropped.answers["page_accepted"].all()
    expected = kept.answers[kept.answers["page_accepted"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(dropped.answers, expected)


def test_spammers_are_the_share_asked_and_behave_as_their_kind() -> None:
    spec = CrowdSpec(workers=20, redundancy=10, spammers=0.3, spam="mixed", page_size=0)
    crowd = simulate_crowd(spec, tasks=200, seed=4)
    kinds = crowd.workers.set_index("worker")["kind"]
    assert (kinds != "worker").sum() == 6
    assert set(kinds) == {"worker", "random", "constant"}
    by_worker = crowd.answers.groupby("worker")["label"]
    for worker in kinds[kinds == "constant"].index:
        assert by_worker.nunique()[worker] == 1  # one answer, always
    for worker in kinds[kinds == "random"].index:
        assert 0.3 < by_worker.mean()[worker] < 0.7  # about 100 fair coin flips


def test_worker_rates_follow_their_sensitivity_and_specificity() -> None:
    spec = CrowdSpec(workers=2, redundancy=2, sensitivity=(90, 10), specificity=(50, 50))
    crowd = simulate_crowd(spec, tasks=2000, prior=0.5, seed=7)
    a = crowd.answers.join(crowd.truth, on="task")
    rates = crowd.workers.set_index("worker")
    for worker, rows in a.groupby("worker"):
        sens = rows.loc[rows["truth"] == 1, "label"].mean()
        spec_ = 1 - rows.loc[rows["truth"] == 0, "label"].mean()
        assert sens == pytest.approx(rates.loc[worker, "sensitivity"], abs=0.04)
        assert spec_ == pytest.approx(rates.loc[worker, "specificity"], abs=0.04)


def test_study_of_several_groups_shares_one_truth_without_id_clashes() -> None:
    truth = simulate_truth(30, 0.5, np.random.default_rng(0))
    study = simulate_study(
        truth,
        [
            CrowdSpec(workers=2, redundancy=2, page_size=0, group="researcher"),
            CrowdSpec(workers=5, redundancy=3, page_size=4, gold_per_page=1, group="citizen"),
            CrowdSpec(workers=5, redundancy=3, page_size=4, gold_per_page=1, group="crowd"),
        ],
        seed=1,
        gold=0.1,
    )
    groups = study.answers.groupby("worker")["group"].nunique()
    assert (groups == 1).all() and len(groups) == 12
    assert study.answers.groupby("page")["group"].nunique().eq(1).all()
    researcher = study.answers[study.answers["group"] == "researcher"]
    assert researcher["page"].isna().all() and researcher["page_accepted"].isna().all()
    assert study.pages["group"].isin(["citizen", "crowd"]).all()
    assert study.answers["time"].is_monotonic_increasing


def test_first_answers_are_the_same_crowd_asked_fewer_times() -> None:
    crowd = simulate_crowd(GOLD_CROWD, tasks=40, gold=0.2, seed=1)
    one = first_answers(crowd.answers, 1)
    two = first_answers(crowd.answers, 2)
    ordinary = [a[~a["gold"]] for a in (one, two)]
    assert ordinary[0].groupby("task").size().eq(1).all()
    assert ordinary[1].groupby("task").size().eq(2).all()
    assert set(ordinary[0].index) <= set(ordinary[1].index)  # nested, not redrawn
    assert one["gold"].sum() == crowd.answers["gold"].sum()  # gold answers all kept


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (CrowdSpec(workers=2, redundancy=3), "redundancy"),
        (CrowdSpec(sensitivity=(0.0, 1.0)), "sensitivity"),
        (CrowdSpec(spammers=1.5), "spammers"),
        (CrowdSpec(page_size=0, gold_per_page=2), "gold_per_page"),
        (CrowdSpec(group="mturk"), "group"),
    ],
)
def test_parameters_that_make_no_crowd_are_refused(spec: CrowdSpec, message: str) -> None:
    with pytest.raises(SimulationError, match=message):
        simulate_crowd(spec, tasks=10)


def test_all_gold_is_refused() -> None:
    with pytest.raises(SimulationError, match="gold"):
        simulate_crowd(GOLD_CROWD, tasks=10, gold=1.0)
