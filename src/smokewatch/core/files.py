"""Reading a user's text file, with the errors a user can act on (one line naming the file)."""

from __future__ import annotations

import os
from pathlib import Path

from smokewatch.errors import SmokewatchError

__all__ = ["read_user_text"]


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
