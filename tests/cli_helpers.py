"""The command line run in this process, and what a user error must look like there: the
pieces the CLI tests of every wing share."""

from __future__ import annotations

from typing import Any


def run_cli(*args: str) -> Any:
    """``smokewatch ARGS`` in this process, as a user runs it (exit code, stdout, stderr).

    The app is imported here, not at the top of a test module, so collecting tests stays
    light."""
    from typer.testing import CliRunner

    from smokewatch.cli import app

    return CliRunner().invoke(app, list(args))


def one_line_error(result: Any, *words: str) -> str:
    """Assert ``result`` is a user error: exit 2, no traceback, stderr exactly one line
    ``error: ...`` holding every one of ``words``. Returns that stderr."""
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    err = str(result.stderr)
    assert "Traceback" not in result.output, result.output
    assert err.startswith("error: ") and err.count("\n") == 1, err
    for word in words:
        assert word in err, err
    return err
