"""The answers export: every answer ever given, one row each, as analysis reads it.

``smokewatch labels export --answers`` writes it (the labeling service) and ``smokewatch
analyze …`` reads it (``analysis``): neither imports the other, both use this module, so the
columns are written down once. The shape is crowd-kit's (``task, worker, label``) plus what the
paper's analyses need: the worker's group, when, on which page, whether the page passed its
gold standards, and whether the clip was one of them.

Columns (CSV with a header; a Parquet file has the same columns):

========== ======================================================================
task        the clip's id in the service (int)
clip        the clip's RISE file name (str), to join with metadata
worker      the user's id in the service (int)
group       ``researcher``, ``citizen`` or ``crowd``
label       1 smoke, 0 no smoke
time        epoch seconds of the answer (int)
page        the page (batch) id the answer came with (int, empty: none)
page_accepted  whether that page passed its gold standards (true/false, empty: unknown)
gold        whether the clip was a gold standard when answered (true/false)
gold_label  the gold standard's answer (1/0, empty: not gold)
========== ======================================================================
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Iterator
from dataclasses import astuple, dataclass, fields
from pathlib import Path

from smokewatch.core.atomic import atomic_path
from smokewatch.errors import SmokewatchError

__all__ = [
    "COLUMNS",
    "GROUPS",
    "Answer",
    "AnswersError",
    "iter_rows",
    "parse_answers_csv",
    "read_answers",
    "write_answers_csv",
]

#: The groups a worker belongs to, as the paper compares them.
GROUPS = ("researcher", "citizen", "crowd")


class AnswersError(SmokewatchError, ValueError):
    """An answers file that cannot be read; the message names the file, line and column."""


@dataclass(frozen=True, slots=True)
class Answer:
    """One answer (see the module doc for the columns)."""

    task: int
    clip: str
    worker: int
    group: str
    label: int
    time: int
    page: int | None = None
    page_accepted: bool | None = None
    gold: bool = False
    gold_label: int | None = None


#: The columns, in file order.
COLUMNS = tuple(f.name for f in fields(Answer))


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def write_answers_csv(answers: Iterable[Answer], path: str | os.PathLike[str]) -> int:
    """Write ``answers`` as CSV atomically; returns how many rows."""
    count = 0
    with atomic_path(Path(path)) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for answer in answers:
            writer.writerow([_cell(v) for v in astuple(answer)])
            count += 1
    return count


class _Row:
    def __init__(self, source: str, line: int, row: dict[str, str]) -> None:
        self.source, self.line, self.row = source, line, row

    def fail(self, column: str, message: str) -> AnswersError:
        return AnswersError(f"{self.source}: line {self.line}, column {column!r}: {message}")

    def text(self, column: str) -> str:
        return (self.row.get(column) or "").strip()

    def integer(self, column: str, *, optional: bool = False) -> int | None:
        value = self.text(column)
        if not value:
            if optional:
                return None
            raise self.fail(column, "empty")
        try:
            return int(value)
        except ValueError:
            raise self.fail(column, f"{value!r} is not a whole number") from None

    def boolean(self, column: str, *, optional: bool = False) -> bool | None:
        value = self.text(column).lower()
        if not value and optional:
            return None
        if value in ("true", "1"):
            return True
        if value in ("false", "0"):
            return False
        raise self.fail(column, f"{value!r} is not true or false")

    def binary(self, column: str, *, optional: bool = False) -> int | None:
        value = self.integer(column, optional=optional)
        if value is not None and value not in (0, 1):
            raise self.fail(column, f"{value} is not 0 or 1")
        return value


def parse_answers_csv(text: str, *, source: str = "answers") -> list[Answer]:
    """The answers of a CSV text; :class:`AnswersError` names the line and column at fault."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [c.strip() for c in (reader.fieldnames or [])]
    missing = [c for c in ("task", "worker", "label") if c not in header]
    if missing:
        raise AnswersError(f"{source}: missing column(s) {', '.join(missing)} (have {header})")
    reader.fieldnames = header
    out = []
    for line, raw in enumerate(reader, start=2):
        r = _Row(source, line, raw)
        group = r.text("group") or "citizen"
        if group not in GROUPS:
            raise r.fail("group", f"{group!r} is not one of {', '.join(GROUPS)}")
        task, worker, label = r.integer("task"), r.integer("worker"), r.binary("label")
        assert task is not None and worker is not None and label is not None
        out.append(
            Answer(
                task=task,
                clip=r.text("clip"),
                worker=worker,
                group=group,
                label=label,
                time=r.integer("time", optional=True) or 0,
                page=r.integer("page", optional=True),
                page_accepted=r.boolean("page_accepted", optional=True),
                gold=bool(r.boolean("gold", optional=True)),
                gold_label=r.binary("gold_label", optional=True),
            )
        )
    return out


def read_answers(path: str | os.PathLike[str]) -> list[Answer]:
    """Read an answers CSV (``.csv``); Parquet files are read by ``analysis``, which has the
    libraries for them."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AnswersError(f"{p}: no such file") from None
    except UnicodeDecodeError:
        raise AnswersError(f"{p}: not a UTF-8 text file (is it Parquet? use analysis)") from None
    return parse_answers_csv(text, source=str(p))


def iter_rows(answers: Iterable[Answer]) -> Iterator[dict[str, object]]:
    """Each answer as a dict of its columns (for a data frame or a Parquet writer)."""
    for answer in answers:
        yield dict(zip(COLUMNS, astuple(answer), strict=True))
