"""Reading users' files: a wrong file is one short line, whatever its size."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smokewatch.core.answers import AnswersError, read_answers
from smokewatch.core.files import csv_header_text
from smokewatch.dataset.torch_data import items_from_labels_csv
from smokewatch.errors import MetadataError

#: A one-line JSON file like RISE's metadata: read as CSV, all of it is the "header".
BIG_JSON = json.dumps(
    [{"id": i, "file_name": f"clip-{i}", "label_state": -1} for i in range(20000)]
)


def test_a_long_header_is_cut_and_counted() -> None:
    assert csv_header_text(["task", "label"]) == "task, label"
    assert csv_header_text([]) == "nothing"
    described = csv_header_text([f"column-{i}" for i in range(1000)])
    shown, more = described.rsplit(" and ", 1)
    assert len(described) < 260 and more.endswith(" more")
    assert len(shown.split(", ")) + int(more.split()[0].replace(",", "")) == 1000
    assert csv_header_text(["x" * 500]) == "x" * 37 + "..."


def test_json_given_for_csv_is_said_to_be_json() -> None:
    assert csv_header_text(['[{"id": 1'], '[{"id": 1}]').endswith("it looks like JSON, not CSV")
    assert csv_header_text(["{}"], "\ufeff  {}").endswith("it looks like JSON, not CSV")
    assert "JSON" not in csv_header_text(["file", "smoke"], "file,smoke\n")


@pytest.mark.parametrize("reader", ["answers", "labels"])
def test_a_json_file_given_as_csv_is_one_short_line(tmp_path: Path, reader: str) -> None:
    path = tmp_path / "metadata.json"
    path.write_text(BIG_JSON)
    assert len(BIG_JSON) > 1_000_000
    error = AnswersError if reader == "answers" else MetadataError
    with pytest.raises(error) as exc:
        if reader == "answers":
            read_answers(path)
        else:
            items_from_labels_csv(path, tmp_path)
    message = str(exc.value)
    assert len(message) < 500 and "\n" not in message, message[:600]
    assert str(path) in message and "looks like JSON, not CSV" in message
