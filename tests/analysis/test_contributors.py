"""analyze contributors: Table 4 from pages (or answers), its formats and its edge cases."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from smokewatch.analysis.answers import answers_frame, pages_frame
from smokewatch.analysis.contributors import (
    GROUPS,
    contributors,
    pages_from_answers,
    to_markdown,
    write_csv,
    write_plot,
)
from smokewatch.cli import app
from smokewatch.core.answers import Answer, Page, write_answers_csv, write_pages_csv

runner = CliRunner()


def pages(plan: dict[int, list[bool | None]], group: str = "citizen") -> list[Page]:
    out, n = [], 0
    for worker, accepted in plan.items():
        for a in accepted:
            n += 1
            out.append(Page(n, worker, group, n, a, 16, 4))
    return out


# mean accepted pages: (6 + 3 + 1 + 0) / 4 = 2.5
PLAN: dict[int, list[bool | None]] = {
    1: [True] * 6,  # reliable enthusiast
    2: [True] * 3 + [False] * 4,  # 3 >= 2.5, 3/7 < .5: other enthusiast
    3: [True, False],  # 1/2 = .5: reliable volunteer
    4: [False, False],  # other volunteer
}


def test_groups_shares_and_skew() -> None:
    frame = pages_frame([*pages(PLAN), *pages({9: [True] * 50}, "researcher")])
    result = contributors(frame)
    assert result.mean_accepted == 2.5
    rows = {g.name: g for g in result.groups}
    assert [(rows[g].users, rows[g].submitted, rows[g].accepted) for g in GROUPS] == [
        (1, 6, 6),
        (1, 7, 3),
        (1, 2, 1),
        (1, 2, 0),
    ]
    assert rows["reliable enthusiasts"].pages_share == 0.6
    assert rows["other enthusiasts"].reliability == pytest.approx(3 / 7)
    assert result.total.users == 4 and result.total.users_share == 1.0
    assert result.total.std == pytest.approx(pd.Series([6, 3, 1, 0]).std(ddof=0))
    assert result.skew == {
        "enthusiast_users_share": 0.5,
        "enthusiast_pages_share": 0.9,
        "half_of_pages_users_share": 0.25,  # user 1 alone gave 6 of 10
    }
    assert [u["group"] for u in result.users] == list(GROUPS)
    assert result.notes == [] and result.left_out_pages == 0
    text = to_markdown(result)
    assert "| reliable enthusiasts | 1 | 25% | 6 | 6 | 60% | 6.0 ± 0.0 | 1.00 |" in text
    assert "| total | 4 | 100% | 17 | 10 | 100% | 2.5 ± 2.3 | 0.59 |" in text
    assert "50% of users (the enthusiasts) gave 90% of the accepted pages" in text


def test_pages_of_unknown_acceptance_are_left_out_and_said() -> None:
    result = contributors(pages_frame(pages({1: [True, None, False]})))
    assert (result.total.submitted, result.total.accepted, result.left_out_pages) == (2, 1, 1)
    assert "1 citizen pages of unknown acceptance are left out" in result.notes


def test_no_accepted_page_makes_no_enthusiast() -> None:
    # the mean accepted pages is 0, and 0 >= 0: without the rule everyone was an enthusiast
    result = contributors(pages_frame(pages({1: [False] * 3, 2: [False]})))
    rows = {g.name: g for g in result.groups}
    assert rows["other volunteers"].users == 2
    assert rows["reliable enthusiasts"].users == rows["other enthusiasts"].users == 0
    assert result.skew["enthusiast_users_share"] == 0.0


def test_nobody_gives_an_empty_table() -> None:
    result = contributors(pages_frame([]))
    assert result.total.users == 0 and result.mean_accepted is None
    assert all(g.mean is None for g in result.groups)
    assert "no accepted pages" in to_markdown(result)


def test_pages_from_answers_are_distinct_worker_pages() -> None:
    answers = answers_frame(
        [
            Answer(1, "a", 7, "citizen", 1, 0, 10, True),
            Answer(2, "b", 7, "citizen", 1, 0, 10, True),
            Answer(3, "c", 7, "citizen", 0, 0, 11, False),
            Answer(1, "a", 8, "citizen", 1, 0, 12, True),
            Answer(1, "a", 9, "researcher", 1, 0),  # no page: a direct edit
        ]
    )
    got = pages_from_answers(answers)
    assert got[["worker", "page", "accepted"]].values.tolist() == [
        [7, 10, True],
        [7, 11, False],
        [8, 12, True],
    ]
    result = contributors(got, answers)
    assert [u["worker"] for u in result.users] == [7, 8]
    assert result.total.answers == 4 and result.total.reliability == pytest.approx(2 / 3)
    assert pages_from_answers(answers.iloc[4:]).empty


def test_csv_json_and_plot_from_the_command(tmp_path: Path) -> None:
    answers = [
        Answer(k, "x", worker, "citizen", 1, 0, page, accepted)
        for k, (worker, page, accepted) in enumerate(
            [(1, 1, True), (1, 2, True), (1, 3, True), (2, 4, True), (2, 5, False), (3, 6, False)]
        )
    ]
    write_answers_csv(answers, tmp_path / "answers.csv")
    r = runner.invoke(
        app,
        [
            "analyze",
            "contributors",
            str(tmp_path / "answers.csv"),
            "--csv",
            str(tmp_path / "t.csv"),
            "--plot",
            str(tmp_path / "t.png"),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert result["mean_accepted"] == pytest.approx(4 / 3)
    assert [g["users"] for g in result["groups"]] == [1, 0, 1, 1]
    assert result["groups"][1]["mean"] is None
    with open(tmp_path / "t.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [row["name"] for row in rows] == [*GROUPS, "total"]
    assert rows[-1]["submitted"] == "6" and rows[-1]["accepted"] == "4"
    assert (tmp_path / "t.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = runner.invoke(app, ["analyze", "contributors", str(tmp_path / "answers.csv")])
    assert md.stdout.startswith("| group | users |") and "Citizens only" in md.stdout


def test_writers_are_atomic_and_leave_nothing_behind(tmp_path: Path) -> None:
    result = contributors(pages_frame(pages(PLAN)))
    write_csv(result, str(tmp_path / "t.csv"))
    write_plot(result, str(tmp_path / "t.png"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv", "t.png"]


def test_a_bad_answers_file_is_a_user_error(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("task,worker,label\n1,2,3\n")
    r = runner.invoke(app, ["analyze", "contributors", str(tmp_path / "a.csv")])
    assert r.exit_code == 2 and "column 'label'" in r.stderr


def test_an_empty_answers_file_stops_as_the_other_verbs_do(tmp_path: Path) -> None:
    write_answers_csv([], tmp_path / "a.csv")
    for verb in ("contributors", "quality"):
        r = runner.invoke(app, ["analyze", verb, str(tmp_path / "a.csv")])
        assert r.exit_code == 2, (verb, r.output)
        assert r.stderr.strip() == f"error: {tmp_path / 'a.csv'}: no answers", verb
        assert r.stdout == ""


def test_a_file_without_citizens_says_so_and_names_its_groups(tmp_path: Path) -> None:
    rows = [Answer(1, "x", 9, "researcher", 1, 0), Answer(1, "x", 7, "crowd", 1, 0, 3, True)]
    rows.append(Answer(2, "y", 7, "crowd", 0, 0, 3, True))
    write_answers_csv(rows, tmp_path / "a.csv")
    r = runner.invoke(app, ["analyze", "contributors", str(tmp_path / "a.csv")])
    assert r.exit_code == 2 and r.stdout == ""
    assert "no citizen answers" in r.stderr and "crowd (2), researcher (1)" in r.stderr
    # a citizen whose every page was rejected has pages but no kept answer: still a table
    write_pages_csv([Page(1, 5, "citizen", 0, False, 16, 4)], tmp_path / "p.csv")
    args = ["analyze", "contributors", str(tmp_path / "a.csv"), "--pages", str(tmp_path / "p.csv")]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "| total | 1 | 100% | 1 | 0 |" in r.stdout


def test_the_report_says_why_it_has_no_contributors_table() -> None:
    from smokewatch.analysis.report import build_sections

    answers = answers_frame(
        [Answer(1, "x", 9, "researcher", 1, 0), Answer(1, "x", 7, "crowd", 1, 0)]
    )
    sections = build_sections(answers, repeats=1, methods=["majority"])
    (section,) = [s for s in sections if s.id == "contributors"]
    assert not section.tables and "no citizen answers" in section.notes[0]
