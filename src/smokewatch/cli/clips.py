"""``smokewatch clips ...``: timelapse -> clips."""

from __future__ import annotations

import typer

app = typer.Typer(help="Cut 36-frame clips from panorama timelapse, per camera view.", no_args_is_help=True)
