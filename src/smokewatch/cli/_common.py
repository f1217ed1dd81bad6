"""What every CLI verb shares: the console, settings, and how user errors are reported."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console

from smokewatch.errors import SmokewatchError

P = ParamSpec("P")
R = TypeVar("R")

#: Results go to stdout; progress, warnings and errors to stderr so pipes stay clean.
console = Console()
err_console = Console(stderr=True, soft_wrap=True)

#: Exit status for a user error (bad input, missing file): like a usage error, not a crash.
USER_ERROR_EXIT = 2


def user_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Report :class:`SmokewatchError` as one red line and exit 2, with no traceback.

    Any other exception is a bug and keeps its traceback.
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except SmokewatchError as exc:
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(USER_ERROR_EXIT) from None
        except KeyboardInterrupt:
            err_console.print("interrupted", highlight=False)
            sys.exit(130)

    return wrapper
