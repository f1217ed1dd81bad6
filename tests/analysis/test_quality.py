"""analyze quality: the paper's Tables 5-6 on answers small enough to know the answer."""

from __future__ import annotations

import pandas as pd
import pytest

from smokewatch.analysis.answers import answers_frame, pages_frame
from smokewatch.analysis.quality import (
    QualityError,
    label_quality,
    populations,
    worker_reliability,
)
from smokewatch.analysis.simulate import CrowdSpec, simulate_crowd
from smokewatch.analysis.tables import kappa_table, quality_table
from smokewatch.core.answers import Answer, Page

TRUTH = [1, 1, 1, 0, 0, 0]  # clips 1-6
#: worker -> (group, answers on clips 1-6)
PLAN = {
    100: ("researcher", TRUTH),
    101: ("researcher", TRUTH),
    102: ("researcher", TRUTH),
    103: ("researcher", TRUTH),
    1: ("citizen", [1, 1, 0, 0, 0, 1]),
    2: ("citizen", [1, 1, 0, 0, 0, 1]),
    4: ("citizen", TRUTH),
    3: ("citizen", [1, 1, 1, 1, 1, 1]),  # unreliable: 1 of 5 pages accepted
    **{w: ("crowd", TRUTH) for w in range(11, 17)},  # six agreeing workers, no pages
}


def study() -> tuple[pd.DataFrame, pd.DataFrame]:
    answers = [
        Answer(task=c, clip=f"c{c}", worker=w, group=g, label=y, time=10 * w + c)
        for w, (g, labels) in PLAN.items()
        for c, y in enumerate(labels, start=1)
    ]
    # a gold answer of worker 1 on clip 1: left out, or the reliable citizens' draw would vary
    answers.append(
        Answer(1, "c1", 1, "citizen", 0, 999, page=1, page_accepted=True, gold=True, gold_label=1)
    )
    pages = [Page(p, w, "citizen", p, True, 16, 4) for p, w in enumerate([1, 1, 2, 2, 4, 4])]
    pages += [Page(10 + i, 3, "citizen", 10 + i, i == 0, 16, 4) for i in range(5)]
    return answers_frame(answers), pages_frame(pages)


def row(result: object, name: str) -> dict[str, object]:
    return next(r for r in result.rows if r["population"] == name)  # type: ignore[attr-defined]


def kappa(result: object, a: str, b: str) -> dict[str, object]:
    for k in result.kappa:  # type: ignore[attr-defined]
        if {k["a"], k["b"]} == {a, b} and (a != b or k["a"] == k["b"]):
            return k  # type: ignore[no-any-return]
    raise KeyError((a, b))


def test_reliability_is_accepted_over_submitted_pages() -> None:
    answers, pages = study()
    rel = worker_reliability(answers, pages)
    assert rel[1] == rel[2] == rel[4] == 1.0
    assert rel[3] == pytest.approx(0.2)
    assert rel[[11, 100]].isna().all()  # no page: unknown
    # from the answers alone, only worker 1's gold page is seen
    alone = worker_reliability(answers)
    assert alone[1] == 1.0 and alone.drop(1).isna().all()


def test_a_citizen_made_researcher_keeps_their_citizen_reliability() -> None:
    # worker 3 passed 1 of 5 citizen pages, then reviewed 20 pages as a researcher (no gold,
    # always accepted): over all pages 21/25, as a citizen still 0.2, below the cut
    answers, pages = study()
    promoted = [Page(100 + i, 3, "researcher", 100 + i, True, 16, 0) for i in range(20)]
    pages = pd.concat([pages, pages_frame(promoted)], ignore_index=True)
    assert worker_reliability(answers, pages)[3] == pytest.approx(21 / 25)
    assert worker_reliability(answers, pages, group="citizen")[3] == pytest.approx(0.2)
    result = label_quality(answers, repeats=2, seed=0, pages=pages)
    assert row(result, "citizen (reliability > 0.3)")["workers"] == 3  # 1, 2 and 4; not 3


def test_rows_are_the_papers_and_a_filter_needs_known_reliability() -> None:
    answers, pages = study()
    rel = {g: worker_reliability(answers, pages, group=g) for g in ("citizen", "crowd")}
    names = [p.name for p in populations(answers, 0.3, rel)]
    assert names == ["researcher", "citizen", "citizen (reliability > 0.3)", "crowd"]
    assert [p.name for p in populations(answers, None)] == ["researcher", "citizen", "crowd"]


def test_tables_on_answers_whose_draws_are_known() -> None:
    answers, pages = study()
    result = label_quality(answers, repeats=20, seed=0, pages=pages)
    # reliable citizens: exactly 3 answers per clip, majority 1,1,0,0,0,1 against 1,1,1,0,0,0;
    # every draw takes the same answers: nothing to spread, so no standard deviation
    reliable = row(result, "citizen (reliability > 0.3)")
    assert (reliable["workers"], reliable["answers"], reliable["clips"]) == (3, 18, 6)
    for metric in ("precision", "recall", "f1"):
        assert reliable[metric] == {"mean": pytest.approx(2 / 3), "std": None, "draws": 20}
    # researchers: 4 per clip, all agree; scored against the one not drawn. The draws differ
    # (which 3 of 4) and agree: a measured 0
    researcher = row(result, "researcher")
    assert researcher["clips"] == 6
    assert researcher["f1"] == {"mean": 1.0, "std": 0.0, "draws": 20}
    assert row(result, "crowd")["f1"] == {"mean": 1.0, "std": 0.0, "draws": 20}
    # the unreliable worker's "smoke" everywhere is sometimes drawn: worse, and it varies
    citizen = row(result, "citizen")
    assert citizen["workers"] == 4 and citizen["f1"]["std"] > 0  # type: ignore[index]
    # kappa: po = 4/6, pe = 1/2 -> 1/3, the same in every draw
    assert kappa(result, "citizen (reliability > 0.3)", "crowd")["kappa"] == {
        "mean": pytest.approx(1 / 3),
        "std": pytest.approx(0.0),
        "draws": 20,
    }
    assert kappa(result, "researcher", "crowd")["kappa"]["mean"] == pytest.approx(1.0)  # type: ignore[index]
    # within a group: two disjoint draws of 3 need 6 answers per clip (crowd: yes)
    assert kappa(result, "crowd", "crowd")["clips"] == 6
    assert kappa(result, "crowd", "crowd")["kappa"]["mean"] == pytest.approx(1.0)  # type: ignore[index]
    assert kappa(result, "citizen", "citizen")["kappa"] == {"mean": None, "std": None, "draws": 0}
    assert result.notes == ["crowd (reliability > 0.3): no worker's page outcomes are known, "
                            "so no reliability filter"]  # fmt: skip


def test_researchers_are_never_scored_against_their_own_drawn_answers() -> None:
    answers, pages = study()
    three = answers[answers["worker"] != 103]  # 3 researcher answers per clip: all drawn
    result = label_quality(three, repeats=5, seed=0, pages=pages)
    assert row(result, "researcher")["clips"] == 0
    assert row(result, "researcher")["f1"] == {"mean": None, "std": None, "draws": 0}
    assert row(result, "crowd")["clips"] == 6  # other groups use all researcher answers


def test_a_seed_gives_the_same_tables() -> None:
    answers, pages = study()
    a = label_quality(answers, repeats=10, seed=3, pages=pages).to_dict()
    b = label_quality(answers, repeats=10, seed=3, pages=pages).to_dict()
    assert a == b


def test_a_simulated_study_ranks_the_groups_as_their_quality() -> None:
    # the same seed, the same truth: researchers (4 per clip, near perfect) and a poor crowd
    experts = CrowdSpec(
        workers=4, redundancy=4, sensitivity=(50, 1), specificity=(50, 1), page_size=0,
        group="researcher",
    )  # fmt: skip
    good = simulate_crowd(experts, tasks=60, seed=1).answers
    poor = simulate_crowd(
        CrowdSpec(workers=8, redundancy=3, spammers=0.5, page_size=0), tasks=60, seed=1
    ).answers.assign(worker=lambda f: f["worker"] + 100)
    result = label_quality(pd.concat([good, poor], ignore_index=True), repeats=10, seed=0)
    researcher, crowd = row(result, "researcher"), row(result, "crowd")
    assert researcher["clips"] == 60  # the researcher not drawn: never a tie
    assert crowd["clips"] == 59  # all four researchers: one clip is a 2-2 tie
    assert researcher["f1"]["mean"] > 0.95 > 0.9 > crowd["f1"]["mean"]  # type: ignore[index]


def test_bad_arguments_are_refused() -> None:
    answers, _ = study()
    with pytest.raises(QualityError, match="odd"):
        label_quality(answers, assignments=2)
    with pytest.raises(QualityError, match="repeats"):
        label_quality(answers, repeats=0)
    with pytest.raises(QualityError, match="no researcher"):
        label_quality(answers[answers["group"] != "researcher"])


def test_undefined_figures_are_left_out_of_the_mean_and_counted() -> None:
    # clip 1 is smoke; its 4 citizen answers 1,1,0,0 give a majority of smoke in half the
    # draws of 3. In the other half no clip is drawn as smoke: precision is undefined there
    # (not 0, which would make the mean 0.5 and call the smoke a citizen saw a false alarm)
    rows = [(c, w, "researcher", y) for c, y in ((1, 1), (2, 0)) for w in (100, 101, 102)]
    rows += [(1, w, "citizen", y) for w, y in ((1, 1), (2, 1), (3, 0), (4, 0))]
    rows += [(2, w, "citizen", 0) for w in (1, 2, 3)]
    answers = answers_frame(
        Answer(task=c, clip=f"c{c}", worker=w, group=g, label=y, time=i)
        for i, (c, w, g, y) in enumerate(rows)
    )
    result = label_quality(answers, repeats=20, seed=0, min_reliability=None)
    citizen = row(result, "citizen")
    precision = citizen["precision"]
    assert isinstance(precision, dict) and 0 < precision["draws"] < 20
    assert (precision["mean"], precision["std"]) == (1.0, 0.0)
    assert citizen["recall"]["draws"] == citizen["f1"]["draws"] == 20  # type: ignore[index]
    assert 0 < citizen["f1"]["mean"] < 1  # type: ignore[index]
    table = quality_table(result)
    cells = dict((r[0], r) for r in table.rows)["citizen"]
    assert cells[4] == f"1.000 ± 0.000 ({precision['draws']} of 20 draws)"
    assert "the mean is over the n that define it" in table.note


def test_no_spread_is_shown_when_there_is_nothing_to_spread() -> None:
    answers, pages = study()
    one = label_quality(answers, repeats=1, seed=0, pages=pages)
    for r in one.rows:
        for metric in ("precision", "recall", "f1"):
            assert r[metric]["std"] is None and r[metric]["draws"] in (0, 1)
    assert all(k["kappa"]["std"] is None for k in one.kappa)
    for table in (quality_table(one), kappa_table(one)):
        assert not any("±" in cell for r in table.rows for cell in r)
    # many draws, but the reliable citizens have exactly 3 answers per clip: every draw is
    # the same one, and its "± 0.000" would read as a measured agreement
    many = quality_table(label_quality(answers, repeats=5, seed=0, pages=pages))
    reliable = dict((r[0], r) for r in many.rows)["citizen (reliability > 0.3)"]
    assert reliable[4:] == ("0.667", "0.667", "0.667")
    assert "±" in dict((r[0], r) for r in many.rows)["crowd"][6]  # 6 answers: draws differ
