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
expert      whether a citizen gave it with RISE's expert role (true/false, empty: false),
            whose answer settles a fresh clip alone (``core.labels.expert_next``)
========== ======================================================================

The pages export (``labels export --pages``) is its companion: one row per page (batch) sent
back, answered or rejected. It is needed because the service, as RISE did, keeps no answer of
a page that failed its gold standards: the answers file alone cannot say how many pages a
volunteer sent, only how many were taken, so reliability (accepted / submitted pages) needs
the pages file. Columns:

========== ======================================================================
page        the page (batch) id (int)
worker      the user's id (int)
group       ``researcher``, ``citizen`` or ``crowd``: what the page was given as
time        epoch seconds the page came back (int)
accepted    whether it passed its gold standards (true/false, empty: unknown)
clips       how many clips it held (int)
gold        how many of them were gold standards (int)
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
from smokewatch.core.files import csv_header_text
from smokewatch.errors import SmokewatchError

__all__ = [
    "COLUMNS",
    "GROUPS",
    "PAGE_COLUMNS",
    "Answer",
    "AnswersError",
    "Page",
    "boolean_cell",
    "iter_rows",
    "parse_answers_csv",
    "parse_pages_csv",
    "read_answers",
    "read_pages",
    "write_answers_csv",
    "write_pages_csv",
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
    expert: bool = False


#: The columns, in file order.
COLUMNS = tuple(f.name for f in fields(Answer))


@dataclass(frozen=True, slots=True)
class Page:
    """One page sent back (see the module doc for the columns)."""

    page: int
    worker: int
    group: str
    time: int
    accepted: bool | None
    clips: int = 0
    gold: int = 0


#: The columns of the pages file, in file order.
PAGE_COLUMNS = tuple(f.name for f in fields(Page))


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _write_csv(
    records: Iterable[Answer] | Iterable[Page],
    columns: tuple[str, ...],
    path: str | os.PathLike[str],
) -> int:
    count = 0
    with atomic_path(Path(path)) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        for record in records:
            writer.writerow([_cell(v) for v in astuple(record)])
            count += 1
    return count


def write_answers_csv(answers: Iterable[Answer], path: str | os.PathLike[str]) -> int:
    """Write ``answers`` as CSV atomically; returns how many rows."""
    return _write_csv(answers, COLUMNS, path)


def write_pages_csv(pages: Iterable[Page], path: str | os.PathLike[str]) -> int:
    """Write ``pages`` as CSV atomically; returns how many rows."""
    return _write_csv(pages, PAGE_COLUMNS, path)


#: What analysis keeps ids, times and counts in (int64 columns): a number beyond is refused.
_INT64 = range(-(2**63), 2**63)


def boolean_cell(text: str) -> bool | None:
    """A true/false cell as every reader of these files takes it: ``true`` or ``1``, ``false``
    or ``0`` (any case, spaces around); empty is None (unknown). :class:`ValueError` for
    anything else, with a message for the user."""
    value = text.strip()
    if not value:
        return None
    if value.lower() in ("true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise ValueError(f"{value!r} is not true or false")


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
            number = int(value)
        except ValueError:
            raise self.fail(column, f"{value!r} is not a whole number") from None
        if number not in _INT64:
            raise self.fail(column, f"{value} is outside the 64-bit range of ids and times")
        return number

    def boolean(self, column: str, *, optional: bool = False) -> bool | None:
        try:
            value = boolean_cell(self.text(column))
        except ValueError as exc:
            raise self.fail(column, str(exc)) from None
        if value is None and not optional:
            raise self.fail(column, "empty")
        return value

    def binary(self, column: str, *, optional: bool = False) -> int | None:
        value = self.integer(column, optional=optional)
        if value is not None and value not in (0, 1):
            raise self.fail(column, f"{value} is not 0 or 1")
        return value


def _rows(text: str, source: str, required: tuple[str, ...]) -> Iterator[_Row]:
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = [c.strip() for c in next(reader, [])]
    missing = [c for c in required if c not in header]
    if missing:
        raise AnswersError(
            f"{source}: missing column(s) {', '.join(missing)} "
            f"(have {csv_header_text(header, text)})"
        )
    for cells in reader:
        if not cells:  # a blank line
            continue
        if len(cells) != len(header):  # cut short, or a stray comma: the cells are misplaced
            raise AnswersError(
                f"{source}: line {reader.line_num}: {len(cells)} cells where the header has "
                f"{len(header)} columns"
            )
        yield _Row(source, reader.line_num, dict(zip(header, cells, strict=True)))


def _group(r: _Row) -> str:
    group = r.text("group") or "citizen"
    if group not in GROUPS:
        raise r.fail("group", f"{group!r} is not one of {', '.join(GROUPS)}")
    return group


def parse_answers_csv(text: str, *, source: str = "answers") -> list[Answer]:
    """The answers of a CSV text; :class:`AnswersError` names the line and column at fault."""
    out = []
    for r in _rows(text, source, ("task", "worker", "label")):
        group = _group(r)
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
                expert=bool(r.boolean("expert", optional=True)),
            )
        )
    return out


def parse_pages_csv(text: str, *, source: str = "pages") -> list[Page]:
    """The pages of a CSV text; :class:`AnswersError` names the line and column at fault."""
    out = []
    for r in _rows(text, source, ("page", "worker", "accepted")):
        group = _group(r)
        page, worker = r.integer("page"), r.integer("worker")
        assert page is not None and worker is not None
        out.append(
            Page(
                page=page,
                worker=worker,
                group=group,
                time=r.integer("time", optional=True) or 0,
                accepted=r.boolean("accepted", optional=True),
                clips=r.integer("clips", optional=True) or 0,
                gold=r.integer("gold", optional=True) or 0,
            )
        )
    return out


def _read_text(path: str | os.PathLike[str]) -> tuple[Path, str]:
    p = Path(path)
    try:
        return p, p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AnswersError(f"{p}: no such file") from None
    except UnicodeDecodeError:
        raise AnswersError(f"{p}: not a UTF-8 text file (is it Parquet? use analysis)") from None


def read_answers(path: str | os.PathLike[str]) -> list[Answer]:
    """Read an answers CSV (``.csv``); Parquet files are read by ``analysis``, which has the
    libraries for them."""
    p, text = _read_text(path)
    return parse_answers_csv(text, source=str(p))


def read_pages(path: str | os.PathLike[str]) -> list[Page]:
    """Read a pages CSV (``.csv``); Parquet as for :func:`read_answers`."""
    p, text = _read_text(path)
    return parse_pages_csv(text, source=str(p))


def iter_rows(records: Iterable[Answer] | Iterable[Page]) -> Iterator[dict[str, object]]:
    """Each answer (or page) as a dict of its columns (for a data frame or a Parquet writer)."""
    for record in records:
        yield {f.name: getattr(record, f.name) for f in fields(record)}
