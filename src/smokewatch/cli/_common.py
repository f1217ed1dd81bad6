"""What every CLI verb shares: the console, settings, and how user errors are reported."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.text import Text

from smokewatch.errors import SmokewatchError

P = ParamSpec("P")
R = TypeVar("R")

__all__ = ["console", "err_console", "tagged", "user_errors", "USER_ERROR_EXIT"]

#: Results go to stdout; progress, warnings and errors to stderr so pipes stay clean.
#: Neither reads markup: what they print holds names, paths and messages from users and files
#: (a volunteer's client id can be ``[/]``), so styling is only ever given as :func:`tagged`.
console = Console(markup=False)
err_console = Console(stderr=True, soft_wrap=True, markup=False)

#: Exit status for a user error (bad input, missing file): like a usage error, not a crash.
USER_ERROR_EXIT = 2


def tagged(tag: str, style: str, message: object) -> Text:
    """``tag`` in ``style`` (e.g. "skipped:" in yellow), then ``message`` as plain text."""
    return Text.assemble((tag, style), " ", str(message))


def user_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Report :class:`SmokewatchError` as one red line and exit 2, with no traceback.

    Any other exception is a bug and keeps its traceback.
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except SmokewatchError as exc:
            err_console.print(tagged("error:", "bold red", exc), soft_wrap=True)
            raise typer.Exit(USER_ERROR_EXIT) from None
        except KeyboardInterrupt:
            err_console.print("interrupted", highlight=False)
            sys.exit(130)

    return wrapper
