"""The answers export format: written by the service, read by analysis."""

from __future__ import annotations

from pathlib import Path

import pytest

from smokewatch.core.answers import (
    COLUMNS,
    PAGE_COLUMNS,
    Answer,
    AnswersError,
    Page,
    iter_rows,
    parse_answers_csv,
    parse_pages_csv,
    read_answers,
    read_pages,
    write_answers_csv,
    write_pages_csv,
)

ANSWERS = [
    Answer(1, "0-1-2018-06-11-1-2-3-4-180-180-0-100-200", 7, "citizen", 1, 1_700_000_000, 3, True),
    Answer(1, "0-1-2018-06-11-1-2-3-4-180-180-0-100-200", 8, "researcher", 0, 1_700_000_100),
    Answer(2, "x", 9, "crowd", 1, 5, 4, False, True, 1),
]


def test_a_written_file_reads_back_the_same(tmp_path: Path) -> None:
    path = tmp_path / "answers.csv"
    assert write_answers_csv(ANSWERS, path) == 3
    assert path.read_text().splitlines()[0] == ",".join(COLUMNS)
    assert read_answers(path) == ANSWERS
    assert [row["worker"] for row in iter_rows(ANSWERS)] == [7, 8, 9]


def test_a_minimal_crowd_kit_file_is_read_with_defaults() -> None:
    (answer,) = parse_answers_csv("task,worker,label\n3,4,1\n")
    assert answer == Answer(3, "", 4, "citizen", 1, 0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("task,label\n1,1\n", "missing column(s) worker"),
        ("task,worker,label\n1,2,2\n", "line 2, column 'label': 2 is not 0 or 1"),
        ("task,worker,label\n1,x,1\n", "line 2, column 'worker': 'x' is not a whole number"),
        ("task,worker,label,group\n1,2,1,boss\n", "'boss' is not one of"),
        ("task,worker,label,gold\n1,2,1,maybe\n", "'maybe' is not true or false"),
    ],
)
def test_bad_files_name_the_line_and_column(text: str, message: str) -> None:
    with pytest.raises(AnswersError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_answers_csv(text)


def test_a_binary_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "answers.parquet"
    path.write_bytes(b"PAR1\xff\xfe\x00")
    with pytest.raises(AnswersError, match="not a UTF-8 text file"):
        read_answers(path)
    with pytest.raises(AnswersError, match="no such file"):
        read_answers(tmp_path / "nope.csv")


PAGES = [Page(3, 7, "citizen", 1_700_000_000, True, 16, 4), Page(4, 7, "citizen", 5, False)]


def test_a_pages_file_reads_back_the_same(tmp_path: Path) -> None:
    path = tmp_path / "pages.csv"
    assert write_pages_csv(PAGES, path) == 2
    assert path.read_text().splitlines()[0] == ",".join(PAGE_COLUMNS)
    assert read_pages(path) == PAGES
    assert parse_pages_csv("page,worker,accepted\n1,2,\n") == [Page(1, 2, "citizen", 0, None)]
    with pytest.raises(AnswersError, match="line 2, column 'accepted': 'no' is not true"):
        parse_pages_csv("page,worker,accepted\n1,2,no\n")
    with pytest.raises(AnswersError, match="missing column"):
        parse_pages_csv("page,worker\n1,2\n")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "task,worker,label\n1,99999999999999999999999,1\n",
            "line 2, column 'worker': 99999999999999999999999 is outside the 64-bit range",
        ),
        ("task,worker,label\n9223372036854775808,2,1\n", "line 2, column 'task': "),
        ("task,worker,label\n-9223372036854775809,2,1\n", "line 2, column 'task': "),
        ("task,worker,label,page\n1,2,1,1\n1,2,1,1e30\n", "line 3, column 'page': "),
        ("task,worker,label,time\n1,2,1,99999999999999999999\n", "line 2, column 'time': "),
    ],
)
def test_numbers_beyond_int64_are_refused(text: str, message: str) -> None:
    """analysis keeps ids and times in int64 columns: a bigger number is the file's fault."""
    with pytest.raises(AnswersError, match=message):
        parse_answers_csv(text, source="a.csv")


def test_int64_limits_are_read_and_pages_are_bounded_too() -> None:
    top, bottom = 2**63 - 1, -(2**63)
    (answer,) = parse_answers_csv(f"task,worker,label\n{top},{bottom},1\n")
    assert (answer.task, answer.worker) == (top, bottom)
    with pytest.raises(AnswersError, match="line 2, column 'worker': "):
        parse_pages_csv(f"page,worker,accepted\n1,{top + 1},true\n")


HEADER = ",".join(COLUMNS)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # cut short: the rest would have loaded as defaults (time 0, no page, not gold)
        (f"{HEADER}\n1,c1,9,researcher,1,5,,,false,,\n1,c1,9,researcher,1\n", "line 3: 5 cells"),
        # one cell too many: the cells after it would be read from the wrong columns
        (f"{HEADER}\n1,c1,9,citizen,1,5,3,true,false,,false,x\n", "line 2: 12 cells"),
        ("page,worker,accepted\n1,2\n", "line 2: 2 cells where the header has 3 columns"),
    ],
)
def test_a_row_with_more_or_fewer_cells_than_the_header_is_refused(text: str, message: str) -> None:
    with pytest.raises(AnswersError, match=f"^a.csv: {message}"):
        if text.startswith("page"):
            parse_pages_csv(text, source="a.csv")
        else:
            parse_answers_csv(text, source="a.csv")


def test_errors_name_the_line_of_the_file_past_blank_lines() -> None:
    with pytest.raises(AnswersError, match="line 4, column 'worker'"):
        parse_answers_csv("task,worker,label\n\n1,2,1\n1,x,1\n", source="a.csv")
