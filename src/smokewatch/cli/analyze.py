"""``smokewatch analyze …``: contributors, label quality and aggregation, from exports."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Who labels and how good the labels are: contributors, citizens vs crowd, "
    "Dawid-Skene, from exported answers and metadata.",
    no_args_is_help=True,
)
