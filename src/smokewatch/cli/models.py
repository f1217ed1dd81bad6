"""``smokewatch models ...``: the model registry and released weights.

torch is imported inside each verb, never at module import: ``smokewatch --help`` and
``smokewatch serve`` stay torch-free.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from smokewatch.cli._common import console, err_console, user_errors
from smokewatch.settings import load_settings

app = typer.Typer(
    help="Models: list, describe, fetch pretrained weights, convert old folders.",
    no_args_is_help=True,
)


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
    from torch import nn

    from smokewatch.models import get_model, model_info

    info = model_info(name)
    model = get_model(name)
    # None for a model that is not a network (the SVM: scikit-learn's, nothing until fitted)
    info["parameters"] = (
        sum(p.numel() for p in model.parameters()) if isinstance(model, nn.Module) else None
    )
    cache_dir = load_settings().cache_dir
    for fetch_name, meta in info["weights"].items():
        _, cached = _weights_files(fetch_name)
        path = cached(cache_dir)
        meta["cached"] = str(path) if path else None
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    console.print(Text.assemble((info["name"], "bold"), f": {info['summary']}"))
    if info["parameters"] is None:
        console.print(f"parameters: none ({type(model).__name__} is not a network)")
    else:
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
    from smokewatch.models.weights_files import WeightsFetchError

    fetch, _ = _weights_files(name)

    def log(msg: str) -> None:
        err_console.print(msg, highlight=False)

    try:
        path = fetch(load_settings().cache_dir, force=force, log=log)
    except WeightsFetchError as exc:  # pip's own lines were logged as they came: one line here
        raise WeightsFetchError(str(exc).splitlines()[0]) from None
    typer.echo(str(path))


@app.command("convert")
@user_errors
def convert_command(
    model_dir: Path = typer.Argument(
        ..., help="A model folder holding svm.joblib or heads.joblib."
    ),
    yes: bool = typer.Option(
        False, "--yes", "-y", help="Do not ask: you made this folder or trust its author."
    ),
) -> None:
    """Rewrite a model folder saved before skops (its SVM or heads as a ``.joblib`` pickle)
    in today's format, which loads without running code.

    Reading the pickle runs whatever code it holds, so convert only folders you made
    yourself or whose author you trust; a folder from anyone else should be retrained.
    """
    from smokewatch.training.saved import convert_pickled_model_dir

    if not yes:
        typer.confirm(
            f"{model_dir}: reading its pickle runs any code the file holds; do you trust it?",
            abort=True,
        )
    made = convert_pickled_model_dir(model_dir)
    err_console.print(f"converted: {made}", highlight=False)


#: fetch(cache_dir, *, force, log) -> path; cached(cache_dir) -> path or None
_Fetch = Callable[..., Path]
_Cached = Callable[[Path], Path | None]


def _weights_files(name: str) -> tuple[_Fetch, _Cached]:
    """How a released weights set (``i3d-kinetics400``) is fetched, and where it is cached.

    One entry per member of a registered weights enum; ``tests/models`` checks that none is
    missing. An unknown name is the registry's :class:`~smokewatch.models.ModelError`.
    """
    from smokewatch.models import ModelError, get_weights
    from smokewatch.models import efficientnet_weights as lite0
    from smokewatch.models import i3d_weights as i3d

    files: dict[tuple[str, str], tuple[_Fetch, _Cached]] = {
        ("i3d", "KINETICS400"): (i3d.fetch_kinetics400, i3d.cached_kinetics400),
        ("efficientnet-lite0-tsm", "IMAGENET"): (lite0.fetch_imagenet, lite0.cached_imagenet),
    }
    model, member = get_weights(name)
    try:
        return files[model, member.name]
    except KeyError:
        raise ModelError(f"weights {name!r} have no fetcher (a bug: add one here)") from None
