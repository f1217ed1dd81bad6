"""Load an answers export (CSV or Parquet) as one data frame every analysis shares.

The columns are :data:`smokewatch.core.answers.COLUMNS`, whichever file they came from, with
dtypes that keep "unknown" apart from "false": ``page``, ``page_accepted`` and ``gold_label``
are pandas' nullable ``Int64`` / ``boolean``. CSV goes through :func:`core.answers.read_answers`
so both formats are validated by the same rules and fail with the same messages.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from smokewatch.core.answers import (
    COLUMNS,
    GROUPS,
    Answer,
    AnswersError,
    iter_rows,
    read_answers,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DTYPES", "answers_frame", "load_answers"]

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
}
assert tuple(DTYPES) == COLUMNS


def answers_frame(rows: Iterable[Answer]) -> pd.DataFrame:
    """A frame of :class:`~smokewatch.core.answers.Answer` rows (an iterable), typed as
    :func:`load_answers` types it."""
    import pandas as pd

    frame = pd.DataFrame(list(iter_rows(rows)), columns=list(COLUMNS))
    return frame.astype(DTYPES)


def load_answers(path: str | os.PathLike[str]) -> pd.DataFrame:
    """The answers of ``path`` (``.parquet`` by suffix, else CSV) with :data:`DTYPES`.

    A Parquet file must have the ``task``, ``worker`` and ``label`` columns; the others get the
    same defaults as in a CSV (group ``citizen``, time 0, unknown page, not gold).
    """
    p = Path(path)
    if p.suffix.lower() not in (".parquet", ".pq"):
        return answers_frame(read_answers(p))
    import pandas as pd

    if not p.is_file():
        raise AnswersError(f"{p}: no such file")
    try:
        frame = pd.read_parquet(p)
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise AnswersError(f"{p}: not a readable Parquet file ({exc})") from None
    missing = [c for c in ("task", "worker", "label") if c not in frame.columns]
    if missing:
        raise AnswersError(f"{p}: missing column(s) {', '.join(missing)}")
    defaults: dict[str, object] = {
        "clip": "",
        "group": "citizen",
        "time": 0,
        "page": None,
        "page_accepted": None,
        "gold": False,
        "gold_label": None,
    }
    for column, value in defaults.items():
        if column not in frame.columns:
            frame[column] = value
    frame = frame[list(COLUMNS)]
    for column in ("task", "worker", "label"):
        if frame[column].isna().any():
            raise AnswersError(f"{p}: column {column!r} has empty cells")
    try:
        frame = frame.astype(DTYPES)
    except (TypeError, ValueError) as exc:
        raise AnswersError(f"{p}: {exc}") from None
    if not frame["label"].isin((0, 1)).all():
        raise AnswersError(f"{p}: column 'label' has values other than 0 and 1")
    bad = sorted(set(frame["group"].dropna()) - set(GROUPS))
    if bad:
        raise AnswersError(f"{p}: column 'group' has {bad}, not one of {', '.join(GROUPS)}")
    return frame.reset_index(drop=True)
