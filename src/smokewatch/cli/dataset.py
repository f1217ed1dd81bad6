"""``smokewatch dataset ...``: labeled clips -> what a model trains on."""

from __future__ import annotations

import typer

app = typer.Typer(help="RISE dataset tools: splits, statistics, downloads, caches.", no_args_is_help=True)
