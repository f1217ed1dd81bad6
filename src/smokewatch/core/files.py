"""Reading a user's text file, with the errors a user can act on (one line naming the file)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from smokewatch.errors import SmokewatchError

__all__ = ["read_user_text", "read_user_json"]


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
