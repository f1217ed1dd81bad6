"""analyze quality / aggregate / simulate / report from the command line, on a simulated study
written as the service's two exports (answers without rejected pages' answers, and pages)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from smokewatch.analysis.answers import load_answers
from smokewatch.analysis.simulate import CrowdSpec, simulate_study, simulate_truth
from smokewatch.cli import app

runner = CliRunner()
FAST = ["-m", "majority", "-m", "rise", "-m", "dawid-skene", "-m", "dawid-skene-gold"]


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("exports")
    truth = simulate_truth(40, 0.4, np.random.default_rng(0))
    study = simulate_study(
        truth,
        [
            CrowdSpec(workers=4, redundancy=4, sensitivity=(40, 1), specificity=(40, 1),
                      page_size=0, group="researcher"),
            CrowdSpec(workers=8, redundancy=3, page_size=6, gold_per_page=2,
                      drop_rejected=True, group="citizen"),
            CrowdSpec(workers=8, redundancy=3, spammers=0.25, page_size=6, gold_per_page=2,
                      drop_rejected=True, group="crowd"),
        ],
        seed=2,
        gold=0.1,
    )  # fmt: skip
    study.answers.to_csv(folder / "answers.csv", index=False)
    study.pages.to_csv(folder / "pages.csv", index=False)
    return folder / "answers.csv", folder / "pages.csv"


def test_quality_prints_both_tables_and_json(exports: tuple[Path, Path]) -> None:
    answers, pages = exports
    r = runner.invoke(app, ["analyze", "quality", str(answers), "--pages", str(pages), "-r", "5"])
    assert r.exit_code == 0, r.output
    assert "### Label quality against researchers (paper's Table 6)" in r.output
    assert "| citizen (reliability > 0.3) |" in r.output
    assert "Cohen's kappa (paper's Table 5)" in r.output
    r = runner.invoke(app, ["analyze", "quality", str(answers), "-r", "5", "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["repeats"] == 5 and data["assignments"] == 3
    # without the pages export every kept page was accepted: reliability 1 for all, and the
    # filtered rows hold everyone
    groups = {g["population"]: g for g in data["groups"]}
    assert groups["citizen (reliability > 0.3)"]["workers"] == groups["citizen"]["workers"]


def test_aggregate_writes_labels_per_clip_and_method(
    exports: tuple[Path, Path], tmp_path: Path
) -> None:
    answers, _ = exports
    out = tmp_path / "labels.csv"
    r = runner.invoke(app, ["analyze", "aggregate", str(answers), *FAST, "--out", str(out)])
    assert r.exit_code == 0, r.output
    for method in ("majority", "rise", "dawid-skene", "dawid-skene-gold"):
        assert f"| {method} |" in r.output
    rows = list(csv.DictReader(out.open()))
    frame = load_answers(answers)
    assert len(rows) == frame.loc[frame["group"] != "researcher", "task"].nunique()
    assert list(rows[0]) == [
        "task", "clip", "majority", "rise", "dawid-skene", "dawid-skene-gold", "researcher",
    ]  # fmt: skip
    assert {r["majority"] for r in rows} <= {"0", "1", ""}
    assert rows[0]["clip"] == f"sim-{rows[0]['task']}"
    r = runner.invoke(app, ["analyze", "aggregate", str(answers), "-m", "majority", "--json"])
    assert json.loads(r.stdout)[0]["method"] == "majority"


def test_simulate_prints_the_table_and_draws_the_curves(tmp_path: Path) -> None:
    plot, answers = tmp_path / "curve.png", tmp_path / "sim.csv"
    args = ["analyze", "simulate", "--clips", "40", "--workers", "6", "-k", "2", "-r", "1"]
    r = runner.invoke(app, [*args, "--plot", str(plot), "--answers-out", str(answers)])
    assert r.exit_code == 0, r.output
    assert "| answers per clip | F1 majority | F1 dawid-skene |" in r.output
    assert plot.read_bytes().startswith(b"\x89PNG")
    frame = load_answers(answers)
    assert set(frame["group"]) == {"researcher", "crowd"}
    assert frame[frame["group"] == "crowd"].groupby("task").size().eq(2).all()
    r = runner.invoke(app, [*args, "--plot", str(plot), "--json"])
    data = json.loads(r.stdout)
    assert set(data["needed"]) == {"majority", "dawid-skene"} and len(data["curve"]) == 4


def test_report_writes_one_page(exports: tuple[Path, Path], tmp_path: Path) -> None:
    answers, pages = exports
    args = ["analyze", "report", str(answers), "--pages", str(pages), "-r", "3", *FAST]
    r = runner.invoke(app, [*args, "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    text = (tmp_path / "report.html").read_text()
    for section in ("overview", "contributors", "quality", "aggregate"):
        assert f'<section id="{section}">' in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["analyze", "quality", "missing.csv"], "no such file"),
        (["analyze", "aggregate", "{answers}", "-m", "dawid"], "unknown method"),
        (["analyze", "aggregate", "{answers}", "-g", "mturk"], "not one of"),
        (["analyze", "quality", "{answers}", "--assignments", "2"], "odd"),
        (["analyze", "simulate", "--spam", "sometimes"], "random, constant or mixed"),
        (["analyze", "simulate", "--sensitivity", "8"], "A,B"),
        (["analyze", "simulate", "--workers", "3", "-k", "5"], "redundancy"),
        (["analyze", "report", "{answers}", "--out", "x", "-m", "dawid"], "not one of"),
    ],
)
def test_user_errors_are_one_line_and_exit_2(
    exports: tuple[Path, Path], args: list[str], message: str
) -> None:
    answers, _ = exports
    r = runner.invoke(app, [a.replace("{answers}", str(answers)) for a in args])
    assert r.exit_code == 2, r.output
    assert message in r.output and "Traceback" not in r.output


@pytest.mark.parametrize("groups", [["researcher"], ["researcher", "citizen"]])
def test_researchers_aggregated_are_not_scored_against_themselves(
    exports: tuple[Path, Path], groups: list[str]
) -> None:
    # their own answers as the truth made researchers 1.000 accurate, and a mix 0.985
    answers, _ = exports
    args = ["analyze", "aggregate", str(answers), "-m", "majority", "--json"]
    r = runner.invoke(app, [*args, *(a for g in groups for a in ("-g", g))])
    assert r.exit_code == 0, r.output
    (row,) = json.loads(r.stdout)
    assert row["tasks"] == 0 and row["accuracy"] is None
    assert "never scored against their own answers" in r.stderr


def test_long_verbs_show_progress_on_stderr_unless_quiet(
    exports: tuple[Path, Path], tmp_path: Path
) -> None:
    answers, pages = exports
    quality = ["analyze", "quality", str(answers), "-r", "3", "--json"]
    simulate = ["analyze", "simulate", "--clips", "20", "--workers", "4", "-k", "2", "-r", "1"]
    simulate += ["--plot", str(tmp_path / "c.png")]
    report = ["analyze", "report", str(answers), "-r", "2", "-m", "majority"]
    report += ["--out", str(tmp_path / "r")]
    for args, line in (
        (quality, "quality: draws: 3/3"),
        (simulate, "simulate: crowds x answers: 2/2"),
        (report, "quality: draws: 2/2"),
    ):
        r = runner.invoke(app, args)
        assert r.exit_code == 0, r.output
        assert line in r.stderr, args[1]
        quiet = runner.invoke(app, [*args, "--quiet"])
        assert quiet.exit_code == 0 and line not in quiet.stderr, args[1]
    assert "aggregate: methods: 1/1" in r.stderr  # the report's aggregation too
    json.loads(runner.invoke(app, quality).stdout)  # stdout stays the result alone
