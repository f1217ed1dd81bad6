"""load_answers: the same typed frame from a CSV or a Parquet answers file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from smokewatch.analysis.answers import (
    DTYPES,
    PAGE_DTYPES,
    answers_frame,
    load_answers,
    load_pages,
    pages_frame,
)
from smokewatch.core.answers import (
    COLUMNS,
    Answer,
    AnswersError,
    Page,
    write_answers_csv,
    write_pages_csv,
)

ANSWERS = [
    Answer(1, "a", 7, "citizen", 1, 100, 3, True),
    Answer(1, "a", 8, "researcher", 0, 200),
    Answer(2, "b", 9, "crowd", 1, 5, 4, False, True, 1),
]


def test_csv_and_parquet_load_the_same_typed_frame(tmp_path: Path) -> None:
    write_answers_csv(ANSWERS, tmp_path / "a.csv")
    answers_frame(ANSWERS).to_parquet(tmp_path / "a.parquet")
    from_csv = load_answers(tmp_path / "a.csv")
    from_parquet = load_answers(tmp_path / "a.parquet")
    pd.testing.assert_frame_equal(from_csv, from_parquet)
    assert tuple(from_csv.columns) == COLUMNS
    assert {c: str(t) for c, t in from_csv.dtypes.items()} == DTYPES
    assert from_csv["page"].isna().tolist() == [False, True, False]
    assert from_csv["page_accepted"].tolist()[:2] == [True, pd.NA]
    assert from_csv["gold_label"].tolist() == [pd.NA, pd.NA, 1]


def test_an_empty_export_is_an_empty_typed_frame(tmp_path: Path) -> None:
    write_answers_csv([], tmp_path / "e.csv")
    frame = load_answers(tmp_path / "e.csv")
    assert len(frame) == 0 and {c: str(t) for c, t in frame.dtypes.items()} == DTYPES


def test_a_minimal_parquet_file_gets_the_csv_defaults(tmp_path: Path) -> None:
    pd.DataFrame({"task": [3], "worker": [4], "label": [1]}).to_parquet(tmp_path / "m.parquet")
    frame = load_answers(tmp_path / "m.parquet")
    assert frame.iloc[0]["group"] == "citizen" and not frame.iloc[0]["gold"]
    assert frame.iloc[0]["time"] == 0 and frame["page"].isna().all()


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"task": [1], "label": [1]}), "missing column"),
        (pd.DataFrame({"task": [1], "worker": [2], "label": [2]}), "other than 0 and 1"),
        (pd.DataFrame({"task": [1], "worker": [2], "label": [1], "group": ["boss"]}), "boss"),
        (pd.DataFrame({"task": [1], "worker": [None], "label": [1]}), "empty cells"),
        # a cast alone would make 0.9 a 0 (no smoke) and task 1.5 task 1
        (pd.DataFrame({"task": [1, 2], "worker": [2, 2], "label": [0.9, 1.0]}), "whole numbers"),
        (pd.DataFrame({"task": [1.5], "worker": [2], "label": [1]}), "'task'.*whole numbers"),
        (pd.DataFrame({"task": [1], "worker": [2], "label": [1], "gold_label": [0.5]}), "gold"),
    ],
)
def test_bad_parquet_files_are_clear_errors(
    tmp_path: Path, frame: pd.DataFrame, message: str
) -> None:
    frame.to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(AnswersError, match=message):
        load_answers(tmp_path / "bad.parquet")


def test_missing_and_broken_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(AnswersError, match="no such file"):
        load_answers(tmp_path / "nope.parquet")
    (tmp_path / "x.parquet").write_bytes(b"not parquet")
    with pytest.raises(AnswersError, match="not a readable Parquet file"):
        load_answers(tmp_path / "x.parquet")


def test_pages_load_from_csv_and_parquet(tmp_path: Path) -> None:
    pages = [Page(3, 7, "citizen", 10, True, 16, 4), Page(4, 7, "citizen", 20, None, 16, 4)]
    write_pages_csv(pages, tmp_path / "p.csv")
    pages_frame(pages).to_parquet(tmp_path / "p.parquet")
    from_csv, from_parquet = load_pages(tmp_path / "p.csv"), load_pages(tmp_path / "p.parquet")
    pd.testing.assert_frame_equal(from_csv, from_parquet)
    assert {c: str(t) for c, t in from_csv.dtypes.items()} == PAGE_DTYPES
    assert from_csv["accepted"].tolist() == [True, pd.NA]
    pd.DataFrame({"page": [1], "worker": [2]}).to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(AnswersError, match="missing column"):
        load_pages(tmp_path / "bad.parquet")


@pytest.mark.parametrize(
    ("cells", "read"),
    [
        (["false", "TRUE", " 1 ", "0"], [False, True, True, False]),  # the CSV's words
        ([True, False], [True, False]),
        ([1.0, 0.0], [True, False]),
        (["true", None, ""], [True, False, False]),  # empty gold is not gold, as in a CSV
    ],
)
def test_parquet_gold_is_read_as_a_csv_reads_it(
    tmp_path: Path, cells: list[object], read: list[bool]
) -> None:
    n = len(cells)
    pd.DataFrame({"task": range(n), "worker": 2, "label": 1, "gold": cells}).to_parquet(
        tmp_path / "g.parquet"
    )
    assert load_answers(tmp_path / "g.parquet")["gold"].tolist() == read


@pytest.mark.parametrize(
    ("column", "cells", "message"),
    [
        ("gold", [1, 2], "column 'gold': '2' is not true or false"),  # a cast made 2 True
        ("gold", ["yes"], "column 'gold': 'yes' is not true or false"),
        ("gold", [0.5], "column 'gold': '0.5' is not true or false"),
        ("page_accepted", ["false", "nope"], "column 'page_accepted': 'nope' is not true"),
    ],
)
def test_parquet_true_false_columns_refuse_what_a_csv_refuses(
    tmp_path: Path, column: str, cells: list[object], message: str
) -> None:
    n = len(cells)
    pd.DataFrame({"task": range(n), "worker": 2, "label": 1, column: cells}).to_parquet(
        tmp_path / "g.parquet"
    )
    with pytest.raises(AnswersError, match=message):
        load_answers(tmp_path / "g.parquet")
    text = "task,worker,label,gold\n1,2,1,2\n"  # the CSV's message, for comparison
    with pytest.raises(AnswersError, match="'2' is not true or false"):
        load_answers(_write(tmp_path / "g.csv", text))


def test_parquet_page_outcomes_keep_unknown_apart_from_false(tmp_path: Path) -> None:
    pd.DataFrame(
        {"task": [1, 2, 3], "worker": 2, "label": 1, "page_accepted": ["false", None, "true"]}
    ).to_parquet(tmp_path / "p.parquet")
    frame = load_answers(tmp_path / "p.parquet")
    assert str(frame["page_accepted"].dtype) == "boolean"
    assert frame["page_accepted"].tolist() == [False, pd.NA, True]


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
