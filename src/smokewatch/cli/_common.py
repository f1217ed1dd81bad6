"""What every CLI verb shares: the console, settings, and how user errors are reported."""

from __future__ import annotations

import errno
import functools
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec, TextIO, TypeVar

import typer
from rich.console import Console
from rich.text import Text

from smokewatch.errors import SmokewatchError, SmokewatchWarning

P = ParamSpec("P")
R = TypeVar("R")

__all__ = [
    "console",
    "err_console",
    "refuse_overwrite",
    "show_warnings_as_lines",
    "tagged",
    "user_errors",
    "USER_ERROR_EXIT",
]

#: Results go to stdout; progress, warnings and errors to stderr so pipes stay clean.
#: Neither reads markup: what they print holds names, paths and messages from users and files
#: (a volunteer's client id can be ``[/]``), so styling is only ever given as :func:`tagged`.
console = Console(markup=False)
err_console = Console(stderr=True, soft_wrap=True, markup=False)

#: Exit status for a user error (bad input, missing file): like a usage error, not a crash.
USER_ERROR_EXIT = 2


def _warning_line(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
    *,
    default: Callable[..., Any],
) -> None:
    if issubclass(category, SmokewatchWarning):
        err_console.print(tagged("warning:", "yellow", message), soft_wrap=True)
    else:
        default(message, category, filename, lineno, file, line)


def show_warnings_as_lines() -> None:
    """Print :class:`~smokewatch.errors.SmokewatchWarning` (plain http:// alerts, an SMTP
    password sent in the clear, a re-aimed camera) as one ``warning:`` line, like errors:
    Python's default shows the source file and line of the call, which say nothing to the
    user. Other warnings keep Python's format. For the ``smokewatch`` process only
    (:func:`smokewatch.cli.run`): a program or a test that runs the commands in its own
    process keeps its own warning handling."""
    default = warnings.showwarning
    if getattr(default, "smokewatch", False):  # installed already
        return
    shown = functools.partial(_warning_line, default=default)
    shown.smokewatch = True  # type: ignore[attr-defined]
    warnings.showwarning = shown


def tagged(tag: str, style: str, message: object) -> Text:
    """``tag`` in ``style`` (e.g. "skipped:" in yellow), then ``message`` as plain text."""
    return Text.assemble((tag, style), " ", str(message))


#: OS errors about the machine, not the program: a full disk, a read-only mount, a quota.
_MACHINE_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.ENAMETOOLONG}


def _user_message(exc: SmokewatchError) -> str:
    """The error's message; raised again by a torch DataLoader worker, the message carries the
    worker's whole traceback, of which only its last line (our message) is for the user."""
    text = str(exc)
    if "\nOriginal Traceback" not in text:
        return text
    last = text.rstrip().splitlines()[-1]
    _, sep, message = last.partition(": ")
    return message if sep else last


def _os_message(exc: OSError) -> str:
    """``No such file or directory: 'a/b'`` (and the second path of a rename)."""
    where = " -> ".join(repr(os.fsdecode(f)) for f in (exc.filename, exc.filename2) if f)
    what = exc.strerror or str(exc)
    if isinstance(exc, FileExistsError) and exc.filename and not os.path.isdir(exc.filename):
        what = "Not a directory (a file is where a folder must go)"  # from mkdir(exist_ok=True)
    return f"{what}: {where}" if where else what


def user_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Report :class:`SmokewatchError` as one red line and exit 2, with no traceback; so too
    an OS error about a named path (an output folder under a file, a file where a folder
    must go, no permission) or the machine (disk full, read-only).

    Any other exception is a bug and keeps its traceback.
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except SmokewatchError as exc:
            err_console.print(tagged("error:", "bold red", _user_message(exc)), soft_wrap=True)
            raise typer.Exit(USER_ERROR_EXIT) from None
        except OSError as exc:
            if exc.filename is None and exc.errno not in _MACHINE_ERRNOS:
                raise
            err_console.print(tagged("error:", "bold red", _os_message(exc)), soft_wrap=True)
            raise typer.Exit(USER_ERROR_EXIT) from None
        except KeyboardInterrupt:
            err_console.print("interrupted", highlight=False)
            sys.exit(130)

    return wrapper


def refuse_overwrite(out: Path | None, *inputs: Path | None, option: str = "--out") -> None:
    """Stop before ``out`` replaces one of the command's ``inputs``.

    Writes are atomic (a temporary file renamed over the target), so a mistyped ``--out``
    would otherwise swap an input for the output without a word, links and all.
    """
    if out is None:
        return
    target = os.path.realpath(out)
    for source in inputs:
        if source is None:
            continue
        same = os.path.realpath(source) == target
        if not same and os.path.exists(source) and os.path.exists(out):
            same = os.path.samefile(source, out)
        if same:
            raise SmokewatchError(
                f"{option} {out} is this command's input {source}: writing it would replace "
                "that file; choose another path"
            )


def check_output(out: Path | None, option: str = "--out") -> None:
    """Stop before long work whose result ``out`` could not be written: a folder where a file
    goes, or a file where a folder on its path should be (the write would fail at the end,
    the work lost)."""
    if out is None:
        return
    if out.is_dir():
        raise SmokewatchError(f"{option} {out} is a folder; give the file to write")
    folder = out.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise SmokewatchError(
            f"Not a directory: {folder} is a file, so {option} {out} cannot be made"
        )
