"""``smokewatch models ...``: the model registry and released weights.

torch is imported inside each verb, never at module import: ``smokewatch --help`` and
``smokewatch serve`` stay torch-free.
"""

from __future__ import annotations

import json

import typer
from rich.table import Table
from rich.text import Text

from smokewatch.cli._common import console, err_console, user_errors
from smokewatch.settings import load_settings

app = typer.Typer(help="Models: list, describe, fetch pretrained weights.", no_args_is_help=True)


@app.command("list")
@user_errors
def list_command() -> None:
    """List the registered models and their released weights."""
    from smokewatch.models import list_models, model_info

    table = Table("model", "weights (fetch name)", "summary")
    for name in list_models():
        info = model_info(name)
        table.add_row(name, ", ".join(info["weights"]) or "-", info["summary"])
    console.print(table)


@app.command("info")
@user_errors
def info_command(
    name: str = typer.Argument(..., help="A registered model name (see `smokewatch models list`)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Describe a model: parameters, its weights' source, input and preprocessing, cache state."""
    from smokewatch.models import get_model, model_info

    info = model_info(name)
    model = get_model(name)
    info["parameters"] = sum(p.numel() for p in model.parameters())
    if name.lower() == "i3d":
        from smokewatch.models.i3d_weights import cached_kinetics400

        cached = cached_kinetics400(load_settings().cache_dir)
        info["weights"]["i3d-kinetics400"]["cached"] = str(cached) if cached else None
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    console.print(Text.assemble((info["name"], "bold"), f": {info['summary']}"))
    console.print(f"parameters (default head): {info['parameters']:,}", highlight=False)
    for fetch_name, meta in info["weights"].items():
        console.print(Text(f"\nweights {fetch_name}", style="bold"))
        for key, value in meta.items():
            shown = (
                f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else value
            )
            console.print(f"  {key}: {shown}", highlight=False, soft_wrap=True)


@app.command("fetch")
@user_errors
def fetch_command(
    name: str = typer.Argument(..., help="Weights to fetch, e.g. i3d-kinetics400."),
    force: bool = typer.Option(False, "--force", help="Download and convert again."),
) -> None:
    """Download and convert released weights into the cache (``SMOKEWATCH_CACHE_DIR``)."""
    from smokewatch.models import get_weights

    model, member = get_weights(name)
    settings = load_settings()
    if (model, member.name) != ("i3d", "KINETICS400"):  # pragma: no cover - one set so far
        member.weights.load(settings.cache_dir, True)
        return
    from smokewatch.models.i3d_weights import fetch_kinetics400

    def log(msg: str) -> None:
        err_console.print(msg, highlight=False)

    path = fetch_kinetics400(settings.cache_dir, force=force, log=log)
    typer.echo(str(path))
