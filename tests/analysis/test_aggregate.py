"""Aggregation: each method on hand-made answers, Dawid-Skene beating majority vote on a crowd
of uneven quality, gold labels helping Dawid-Skene, and the scoring."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from smokewatch.analysis.aggregate import (
    METHODS,
    AggregationError,
    aggregate,
    crowd_answers,
    dawid_skene,
    dawid_skene_gold,
    glad,
    gold_labels,
    mace,
    majority_vote,
    researcher_truth,
    rise_state_machine,
    score,
)
from smokewatch.analysis.answers import answers_frame
from smokewatch.analysis.simulate import CrowdSpec, simulate_crowd
from smokewatch.core.answers import Answer

#: Quality varies: Beta(3, 1) rates (mean 0.75, some workers near chance) and 3 of 10 workers
#: who always give one answer. Dawid-Skene beat majority vote on each of seeds 0-9 here.
UNEVEN = CrowdSpec(
    workers=10,
    redundancy=5,
    sensitivity=(3.0, 1.0),
    specificity=(3.0, 1.0),
    spammers=0.3,
    spam="constant",
    page_size=0,
)
#: The same kind of crowd asked 3 times per clip on RISE's pages: 12 clips and 4 gold standards.
GOLD_PAGES = CrowdSpec(
    workers=10,
    redundancy=3,
    sensitivity=(3.0, 1.0),
    specificity=(3.0, 1.0),
    spammers=0.3,
    spam="constant",
    page_size=12,
    gold_per_page=4,
)


def frame(rows: list[tuple[int, int, int]], **kw: object) -> pd.DataFrame:
    """Answers (task, worker, label) at times 1, 2, 3… as citizens, unless ``kw`` says."""
    return answers_frame(
        Answer(task=t, clip=f"c{t}", worker=w, group="citizen", label=y, time=i + 1, **kw)  # type: ignore[arg-type]
        for i, (t, w, y) in enumerate(rows)
    )


def test_majority_vote_leaves_ties_undecided_or_flips_a_seeded_coin() -> None:
    answers = frame([(1, 1, 1), (1, 2, 1), (1, 3, 0), (2, 1, 1), (2, 2, 0), (3, 1, 0)])
    labels = majority_vote(answers)
    assert labels.dtype == "Int64" and labels.index.name == "task"
    assert labels.tolist() == [1, pd.NA, 0]
    a = majority_vote(answers, rng=np.random.default_rng(0)).tolist()
    b = majority_vote(answers, rng=np.random.default_rng(0)).tolist()
    assert a == b and a[0] == 1 and a[1] in (0, 1) and a[2] == 0


def test_rise_replays_answers_in_time_order_through_the_state_machine() -> None:
    answers = frame(
        [
            (1, 1, 1), (1, 2, 1),  # two agree: smoke
            (2, 1, 1), (2, 2, 0),  # discord: undecided
            (3, 1, 1), (3, 2, 0), (3, 3, 0),  # discord settled by a third: no smoke
            (4, 1, 0),  # one answer: undecided
            (5, 1, 1), (5, 2, 1), (5, 3, 0),  # settled after two; the third moves nothing
        ]
    )  # fmt: skip
    assert rise_state_machine(answers).tolist() == [1, pd.NA, 0, pd.NA, 1]
    # time, not file order: in file order 0, 0, 1, 1 settles "no smoke" after two; in time
    # order the same answers are 1, 1, 0, 0 and settle "smoke"
    later = frame([(6, 1, 0), (6, 2, 0), (6, 3, 1), (6, 4, 1)]).assign(time=[3, 4, 1, 2])
    assert rise_state_machine(later).tolist() == [1]


def test_rise_replays_an_experts_answer_by_the_expert_rule() -> None:
    answers = frame([(1, 1, 0), (1, 2, 1), (2, 2, 1)])
    assert rise_state_machine(answers).tolist() == [pd.NA, pd.NA]  # volunteers: undecided
    answers["expert"] = [False, True, True]  # worker 2 is an expert
    assert rise_state_machine(answers).tolist() == [1, 1]
    # a frame made without the column (by hand, or by code before it) has no experts
    plain = answers.drop(columns=["expert"])
    assert rise_state_machine(plain).isna().tolist() == [True, True]


def test_rise_counts_only_accepted_pages_and_no_gold_answers() -> None:
    answers = frame([(1, 1, 1), (1, 2, 1), (1, 3, 0), (1, 4, 0)])
    assert rise_state_machine(answers).tolist() == [1]  # 1, 1: two agree
    answers["page"] = pd.array([1, 2, 3, 4], dtype="Int64")
    answers["page_accepted"] = pd.array([False, True, True, None], dtype="boolean")
    # worker 1's page failed its gold: 1, 0, 0 -> discord, then "no smoke"
    assert rise_state_machine(answers).tolist() == [0]
    answers["gold"] = [False, True, True, False]
    answers["gold_label"] = pd.array([None, 1, 1, None], dtype="Int64")
    assert rise_state_machine(answers).tolist() == [pd.NA]  # one ordinary answer left


def test_researcher_truth_is_their_majority_and_ties_are_left_out() -> None:
    answers = frame([(1, 1, 1), (1, 2, 1), (1, 3, 0), (2, 1, 1), (2, 2, 0), (3, 1, 0), (4, 9, 1)])
    answers.loc[answers["worker"] != 9, "group"] = "researcher"
    truth = researcher_truth(answers)
    assert truth.to_dict() == {1: 1, 3: 0}
    assert crowd_answers(answers)["worker"].tolist() == [9]
    assert len(crowd_answers(answers, ["researcher"])) == 6


def test_dawid_skene_beats_majority_vote_when_quality_varies() -> None:
    crowd = simulate_crowd(UNEVEN, tasks=100, seed=0)
    scores = score(aggregate(crowd.answers, ["majority", "dawid-skene"]), crowd.truth)
    # computed once for this seed and written down: the simulator and crowd-kit are exact
    assert scores.loc["majority", "accuracy"] == pytest.approx(0.90)
    assert scores.loc["dawid-skene", "accuracy"] == pytest.approx(0.93)
    assert scores.loc["majority", "f1"] == pytest.approx(0.848485, abs=1e-6)
    assert scores.loc["dawid-skene", "f1"] == pytest.approx(0.898551, abs=1e-6)
    # the behaviour: on this kind of crowd, weighting workers beats counting them
    for seed in (0, 1, 2):
        crowd = simulate_crowd(UNEVEN, tasks=100, seed=seed)
        s = score(aggregate(crowd.answers, ["majority", "dawid-skene"]), crowd.truth)
        assert s.loc["dawid-skene", "accuracy"] > s.loc["majority", "accuracy"], seed
        assert s.loc["dawid-skene", "f1"] > s.loc["majority", "f1"], seed


def test_gold_aware_dawid_skene_is_plain_dawid_skene_without_gold() -> None:
    crowd = simulate_crowd(UNEVEN, tasks=60, seed=1)
    assert not crowd.answers["gold"].any()
    pd.testing.assert_series_equal(dawid_skene_gold(crowd.answers), dawid_skene(crowd.answers))


def test_gold_aware_dawid_skene_knows_the_gold_and_does_not_do_worse() -> None:
    crowd = simulate_crowd(GOLD_PAGES, tasks=150, gold=0.1, seed=1)
    known = gold_labels(crowd.answers)
    assert set(known.index) == set(crowd.gold_tasks)
    labels = aggregate(crowd.answers, ["majority", "dawid-skene", "dawid-skene-gold"])
    assert (labels.loc[known.index, "dawid-skene-gold"] == known).all()
    s = score(labels, crowd.truth, exclude=crowd.gold_tasks)
    assert s["tasks"].eq(150 - 15).all()
    # computed once for this seed: gold helps where plain Dawid-Skene guessed wrong
    assert s.loc["majority", "accuracy"] == pytest.approx(101 / 135)
    assert s.loc["dawid-skene", "accuracy"] == pytest.approx(107 / 135)
    assert s.loc["dawid-skene-gold", "accuracy"] == pytest.approx(109 / 135)
    for seed in (0, 2):  # never worse on the others tried (0-7; better on 3 of them)
        crowd = simulate_crowd(GOLD_PAGES, tasks=150, gold=0.1, seed=seed)
        labels = aggregate(crowd.answers, ["dawid-skene", "dawid-skene-gold"])
        s = score(labels, crowd.truth, exclude=crowd.gold_tasks)
        assert s.loc["dawid-skene-gold", "accuracy"] >= s.loc["dawid-skene", "accuracy"], seed


def test_every_method_labels_every_task_it_can() -> None:
    crowd = simulate_crowd(CrowdSpec(workers=6, redundancy=3, page_size=0), tasks=24, seed=3)
    fast = [m for m in METHODS if m not in ("glad", "mace")]
    labels = aggregate(crowd.answers, fast, seed=0)
    # GLAD and MACE as the registry runs them, with fewer iterations / restarts: they are slow
    labels["glad"] = glad(crowd.answers, n_iter=20)
    labels["mace"] = mace(crowd.answers, seed=0, restarts=1)
    assert sorted(labels.columns) == sorted(METHODS)
    assert list(labels.index) == list(range(1, 25))
    for name in METHODS:  # 3 answers: no tie, and RISE's rule settles every clip
        assert labels[name].notna().all(), name
        assert set(labels[name]) <= {0, 1}
    # with 3 answers RISE's rule is the majority (2 agree, or a discord settled by a third)
    assert labels["rise"].equals(labels["majority"])
    s = score(labels, crowd.truth)
    assert (s["accuracy"] > 0.6).all()
    pd.testing.assert_series_equal(
        mace(crowd.answers, seed=0, restarts=1), labels["mace"], check_names=False
    )


def test_score_counts_coverage_and_scores_the_decided() -> None:
    truth = pd.Series([1, 1, 0, 0, 1], index=pd.Index([1, 2, 3, 4, 5], name="task"))
    labels = pd.DataFrame(
        {"m": pd.array([1, 0, 0, pd.NA, 1], dtype="Int64")}, index=pd.Index([1, 2, 3, 4, 5])
    )
    s = score(labels, truth, exclude=[5])
    row = s.loc["m"]
    assert (row["tasks"], row["decided"]) == (4, 3)
    assert row["coverage"] == pytest.approx(0.75)
    assert row["accuracy"] == pytest.approx(2 / 3)
    assert (row["precision"], row["recall"]) == (pytest.approx(1.0), pytest.approx(0.5))
    assert row["f1"] == pytest.approx(2 / 3)


def test_a_clip_the_crowd_never_answered_is_not_scored() -> None:
    rows = [Answer(c, f"c{c}", 100, "researcher", c % 2, c) for c in (1, 2, 3, 4)]
    rows += [
        Answer(c, f"c{c}", w, "citizen", c % 2, 10 * w + c) for c in (1, 2, 3) for w in (1, 2, 3)
    ]
    answers = answers_frame(rows)  # clip 4: a researcher's label only
    labels = aggregate(crowd_answers(answers), ["majority", "dawid-skene"])
    s = score(labels, researcher_truth(answers))
    assert s["tasks"].eq(3).all() and s["coverage"].eq(1.0).all()


def test_gold_aware_dawid_skene_with_gold_of_a_class_no_one_answered() -> None:
    # every answer says "no smoke"; only the gold clip (2) is smoke. crowd-kit told that gold
    # alone makes every clip smoke
    rows = [
        Answer(1, "c1", 1, "citizen", 0, 1),
        Answer(1, "c1", 2, "citizen", 0, 2),
        Answer(3, "c3", 2, "citizen", 0, 3),
        Answer(3, "c3", 3, "citizen", 0, 4),
        Answer(2, "c2", 1, "citizen", 0, 5, page=1, page_accepted=False, gold=True, gold_label=1),
    ]
    labels = dawid_skene_gold(answers_frame(rows))
    assert labels.to_dict() == {1: 0, 2: 1, 3: 0}


def test_unknown_methods_and_empty_answers_are_refused() -> None:
    answers = frame([(1, 1, 1)])
    with pytest.raises(AggregationError, match="unknown method"):
        aggregate(answers, ["dawid"])
    with pytest.raises(AggregationError, match="no answers"):
        aggregate(answers.iloc[:0])


def test_the_order_of_the_rows_changes_no_label() -> None:
    # crowd-kit reads answers in file order: its class order (idxmax on a tie), the sums of
    # its EM and MACE's seeded starts followed it; here MACE changed a label on this crowd
    crowd = simulate_crowd(CrowdSpec(workers=6, redundancy=2, page_size=0), tasks=12, seed=0)
    shuffled = crowd.answers.sample(frac=1, random_state=1)
    runs: dict[str, Callable[[pd.DataFrame], pd.Series]] = {
        "majority": majority_vote,
        "dawid-skene": dawid_skene,
        "mace": lambda a: mace(a, seed=0, restarts=1),  # GLAD too, but slowly: left out
    }
    for name, run in runs.items():
        pd.testing.assert_series_equal(run(crowd.answers), run(shuffled), obj=name)


def test_an_exact_posterior_tie_is_undecided_as_a_majority_tie_is() -> None:
    # two workers who answered nothing else disagree: nothing tells them apart. crowd-kit
    # took the label of the first answer in the file
    for rows in ([(1, 1, 1), (1, 2, 0)], [(1, 2, 0), (1, 1, 1)]):
        answers = frame(rows)
        assert majority_vote(answers).tolist() == [pd.NA]
        assert dawid_skene(answers).tolist() == [pd.NA], rows
        assert dawid_skene_gold(answers).tolist() == [pd.NA], rows
        assert glad(answers, n_iter=5).tolist() == [pd.NA], rows
        assert mace(answers, restarts=3).isna().tolist() == [True], rows
    # the same for MACE, whose random restarts leave such a tie 1e-4 apart: which worker
    # said what must not decide it
    for rows in ([(1, 1, 1), (1, 2, 0)], [(1, 1, 0), (1, 2, 1)]):
        assert mace(frame(rows)).isna().tolist() == [True], rows


def test_undefined_precision_and_recall_are_nan_not_zero() -> None:
    truth = pd.Series([1, 0, 0], index=pd.Index([1, 2, 3], name="task"))
    labels = pd.DataFrame(
        {"never-smoke": pd.array([0, 0, 0], dtype="Int64")}, index=pd.Index([1, 2, 3])
    )
    row = score(labels, truth).loc["never-smoke"]
    assert np.isnan(row["precision"])  # no clip labeled smoke: precision is 0/0
    assert row["recall"] == 0.0 and row["f1"] == 0.0  # one smoke clip missed: defined, 0
    clean = score(labels, pd.Series([0, 0, 0], index=truth.index)).loc["never-smoke"]
    assert np.isnan(clean["precision"]) and np.isnan(clean["recall"]) and np.isnan(clean["f1"])
    assert clean["accuracy"] == 1.0
    from smokewatch.analysis.tables import aggregate_table

    (cells,) = aggregate_table(score(labels, truth)).rows
    assert cells[4:] == ("n/a", "0.000", "0.000")


def test_aggregated_researcher_answers_are_not_their_own_truth() -> None:
    answers = frame([(1, 1, 1), (1, 2, 1), (2, 1, 0), (2, 2, 1), (1, 9, 0), (2, 9, 0)])
    answers.loc[answers["worker"] != 9, "group"] = "researcher"
    assert researcher_truth(answers).to_dict() == {1: 1}
    assert researcher_truth(answers, ["citizen"]).to_dict() == {1: 1}
    for groups in (["researcher"], ["researcher", "citizen"]):
        assert researcher_truth(answers, groups).empty, groups
