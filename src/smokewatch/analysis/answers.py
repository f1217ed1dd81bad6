"""Load an answers export (CSV or Parquet) as one data frame every analysis shares.

The columns are :data:`smokewatch.core.answers.COLUMNS`, whichever file they came from, with
dtypes that keep "unknown" apart from "false": ``page``, ``page_accepted`` and ``gold_label``
are pandas' nullable ``Int64`` / ``boolean``. CSV goes through :func:`core.answers.read_answers`
so both formats are validated by the same rules and fail with the same messages. The pages
export (:data:`core.answers.PAGE_COLUMNS`) loads the same way with :func:`load_pages`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from smokewatch.core.answers import (
    COLUMNS,
    GROUPS,
    PAGE_COLUMNS,
    Answer,
    AnswersError,
    Page,
    boolean_cell,
    iter_rows,
    read_answers,
    read_pages,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DTYPES", "PAGE_DTYPES", "answers_frame", "load_answers", "load_pages", "pages_frame"]

#: The pandas dtype of each column of :func:`load_answers`' frame.
DTYPES: dict[str, str] = {
    "task": "int64",
    "clip": "string",
    "worker": "int64",
    "group": "string",
    "label": "int64",
    "time": "int64",
    "page": "Int64",
    "page_accepted": "boolean",
    "gold": "bool",
    "gold_label": "Int64",
    "expert": "bool",
}
assert tuple(DTYPES) == COLUMNS

#: The pandas dtype of each column of :func:`load_pages`' frame.
PAGE_DTYPES: dict[str, str] = {
    "page": "int64",
    "worker": "int64",
    "group": "string",
    "time": "int64",
    "accepted": "boolean",
    "clips": "int64",
    "gold": "int64",
}
assert tuple(PAGE_DTYPES) == PAGE_COLUMNS

#: What a column missing from a Parquet file holds: the CSV readers' defaults.
_DEFAULTS: dict[str, object] = {
    "clip": "",
    "group": "citizen",
    "time": 0,
    "page": None,
    "page_accepted": None,
    "gold_label": None,
    "accepted": None,
    "clips": 0,
}


def _frame(rows: Iterable[Answer] | Iterable[Page], dtypes: Mapping[str, str]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(list(iter_rows(rows)), columns=list(dtypes)).astype(dtypes)


def answers_frame(rows: Iterable[Answer]) -> pd.DataFrame:
    """A frame of :class:`~smokewatch.core.answers.Answer` rows, typed as :func:`load_answers`
    types it."""
    return _frame(rows, DTYPES)


def pages_frame(rows: Iterable[Page]) -> pd.DataFrame:
    """A frame of :class:`~smokewatch.core.answers.Page` rows, typed as :func:`load_pages`."""
    return _frame(rows, PAGE_DTYPES)


def _text(value: object) -> str:
    """A Parquet cell as the CSV text it stands for (True -> "true", 1.0 -> "1")."""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _booleans(p: Path, column: str, values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """A true/false column read cell by cell as the CSV readers read it
    (:func:`~smokewatch.core.answers.boolean_cell`): the values and a mask of the unknown
    (empty) cells. A cast would make every non-empty string, "false" too, and any number
    True."""
    read: dict[object, bool | None] = {}
    for value in values.dropna().unique():
        try:
            read[value] = boolean_cell(_text(value))
        except ValueError as exc:
            raise AnswersError(f"{p}: column {column!r}: {exc}") from None
    mapped = values.map(read)
    unknown = mapped.isna().to_numpy(dtype=bool)
    cells = mapped.to_numpy(dtype=object, copy=True)
    cells[unknown] = False
    return cells.astype(bool), unknown


def _is_parquet(path: Path) -> bool:
    return path.suffix.lower() in (".parquet", ".pq")


def _read_parquet(
    p: Path, dtypes: Mapping[str, str], required: Sequence[str], binary: Sequence[str]
) -> pd.DataFrame:
    """A Parquet file checked as the CSV readers check theirs (columns, empties, values)."""
    import pandas as pd

    if not p.is_file():
        raise AnswersError(f"{p}: no such file")
    try:
        frame = pd.read_parquet(p)
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise AnswersError(f"{p}: not a readable Parquet file ({exc})") from None
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise AnswersError(f"{p}: missing column(s) {', '.join(missing)}")
    for column in dtypes:
        if column not in frame.columns:
            frame[column] = _DEFAULTS.get(column, False)
    frame = frame[list(dtypes)]
    if "group" in frame:
        frame["group"] = frame["group"].fillna("citizen")
    for column, dtype in dtypes.items():  # true/false: the CSV's words; empty gold is false
        if dtype in ("bool", "boolean"):
            values, unknown = _booleans(p, column, frame[column])
            if dtype == "bool":
                frame[column] = values
            else:
                frame[column] = pd.arrays.BooleanArray(values, unknown)
    for column, dtype in dtypes.items():  # the columns that have no "unknown"
        if dtype == "int64" and frame[column].isna().any():
            raise AnswersError(f"{p}: column {column!r} has empty cells")
    for column, dtype in dtypes.items():  # a cast to int64 would truncate 0.9 to 0
        values = frame[column]
        if dtype.lower() == "int64" and pd.api.types.is_float_dtype(values):
            finite = values.dropna()
            if not (np.isfinite(finite) & (finite == finite.round())).all():
                raise AnswersError(f"{p}: column {column!r} has values that are not whole numbers")
    try:
        frame = frame.astype(dict(dtypes))
    except (TypeError, ValueError) as exc:
        raise AnswersError(f"{p}: {exc}") from None
    for column in binary:
        if not frame[column].dropna().isin((0, 1)).all():
            raise AnswersError(f"{p}: column {column!r} has values other than 0 and 1")
    bad = sorted(set(frame["group"]) - set(GROUPS))
    if bad:
        raise AnswersError(f"{p}: column 'group' has {bad}, not one of {', '.join(GROUPS)}")
    return frame.reset_index(drop=True)


def _load(
    path: str | os.PathLike[str],
    read_csv: Callable[[Path], Iterable[Answer]] | Callable[[Path], Iterable[Page]],
    dtypes: Mapping[str, str],
    required: Sequence[str],
    binary: Sequence[str],
) -> pd.DataFrame:
    p = Path(path)
    if _is_parquet(p):
        return _read_parquet(p, dtypes, required, binary)
    return _frame(read_csv(p), dtypes)


def load_answers(path: str | os.PathLike[str]) -> pd.DataFrame:
    """The answers of ``path`` (``.parquet`` by suffix, else CSV) with :data:`DTYPES`.

    A Parquet file must have the ``task``, ``worker`` and ``label`` columns; the others get the
    same defaults as in a CSV (group ``citizen``, time 0, unknown page, not gold).
    """
    return _load(path, read_answers, DTYPES, ("task", "worker", "label"), ("label", "gold_label"))


def load_pages(path: str | os.PathLike[str]) -> pd.DataFrame:
    """The pages export of ``path`` (``.parquet`` by suffix, else CSV) with :data:`PAGE_DTYPES`;
    a Parquet file needs ``page``, ``worker`` and ``accepted``."""
    return _load(path, read_pages, PAGE_DTYPES, ("page", "worker", "accepted"), ())
