"""Reading a user's text file, with the errors a user can act on (one line naming the file)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from smokewatch.errors import SmokewatchError

__all__ = ["csv_header_text", "read_user_text", "read_user_json"]


def read_user_text(
    path: str | os.PathLike[str],
    *,
    what: str,
    error: type[SmokewatchError] = SmokewatchError,
    encoding: str = "utf-8",
) -> str:
    """The text of ``path`` (a ``what``, e.g. "metadata file"); a missing file, a folder or
    bytes that are not UTF-8 raise ``error`` naming the file. ``encoding="utf-8-sig"`` also
    accepts the byte-order mark spreadsheet programs write into CSV files."""
    p = Path(path)
    try:
        return p.read_text(encoding=encoding)
    except FileNotFoundError:
        raise error(f"{p}: no such {what}") from None
    except IsADirectoryError:
        raise error(f"{p}: is a folder, expected a {what}") from None
    except UnicodeDecodeError as exc:
        raise error(f"{p}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def read_user_json(
    path: str | os.PathLike[str],
    *,
    what: str,
    error: type[SmokewatchError] = SmokewatchError,
) -> Any:
    """The parsed JSON of ``path``, with :func:`read_user_text`'s errors and the parser's.

    Python's parser recurses once per nesting level and converts integers of any length, so a
    file nested thousands deep or holding a 5,000-digit number would otherwise end in a
    RecursionError or ValueError traceback instead of a line naming the file.
    """
    p = Path(path)
    text = read_user_text(p, what=what, error=error)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(
            f"{p}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except RecursionError:
        raise error(f"{p}: JSON nested too deeply to be a {what}") from None
    except ValueError:  # the one other refusal: an integer too long to convert
        raise error(f"{p}: invalid JSON: holds a number too long to read") from None


def csv_header_text(header: Sequence[str], text: str = "", *, limit: int = 200) -> str:
    """What a CSV's header row holds, short enough for a one-line error: the first names up to
    ``limit`` characters and how many more. Given a JSON file or a one-line blob, the "header"
    is the whole file (4.5 MB for RISE's metadata), so it is cut; and a ``text`` that starts
    like JSON says so, the likely mistake."""
    shown: list[str] = []
    used = 0
    for name in header:
        cell = name if len(name) <= 40 else name[:37] + "..."
        if shown and used + len(cell) + 2 > limit:
            break
        shown.append(cell)
        used += len(cell) + 2
    more = len(header) - len(shown)
    described = ", ".join(shown) + (f" and {more:,} more" if more else "") if shown else "nothing"
    if text.lstrip("\ufeff \t\r\n")[:1] in ("[", "{"):
        return f"{described}; it looks like JSON, not CSV"
    return described
