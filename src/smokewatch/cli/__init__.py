"""The ``smokewatch`` command: ``smokewatch <wing> <verb>``; each verb is a thin call into a wing.

Wings register their verbs from their own module here (``cli/dataset.py``, ``cli/clips.py``);
nothing heavy (torch, FastAPI) is imported until a verb that needs it runs.
"""

from __future__ import annotations

import typer

from smokewatch import __version__
from smokewatch.cli import analyze as analyze_cli
from smokewatch.cli import analyze_crowd  # noqa: F401  (adds quality, aggregate, … to analyze)
from smokewatch.cli import clips as clips_cli
from smokewatch.cli import crowd as crowd_cli
from smokewatch.cli import dataset as dataset_cli
from smokewatch.cli import demo as demo_cli
from smokewatch.cli import detect as detect_cli
from smokewatch.cli import explain as explain_cli
from smokewatch.cli import labeling as labeling_cli
from smokewatch.cli import models as models_cli
from smokewatch.cli import timelapse as timelapse_cli
from smokewatch.cli import training as training_cli
from smokewatch.cli import watch as watch_cli
from smokewatch.cli._common import show_warnings_as_lines

app = typer.Typer(
    name="smokewatch",
    help="Recognize industrial smoke emissions in camera timelapse (after RISE, AAAI 2021).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(dataset_cli.app, name="dataset")
app.add_typer(timelapse_cli.app, name="timelapse")
app.add_typer(clips_cli.app, name="clips")
app.add_typer(labeling_cli.users_app, name="users")
app.add_typer(labeling_cli.labels_app, name="labels")
app.add_typer(labeling_cli.cameras_app, name="cameras")
app.add_typer(crowd_cli.app, name="crowd")
app.add_typer(models_cli.app, name="models")
app.add_typer(training_cli.experiments_app, name="experiments")
app.add_typer(analyze_cli.app, name="analyze")
app.add_typer(watch_cli.app, name="watch")
app.command("train")(training_cli.train_command)
app.command("evaluate")(training_cli.evaluate_command)
app.command("detect")(detect_cli.detect_command)
app.command("explain")(explain_cli.explain_command)
app.command("demo")(demo_cli.demo)
app.command("serve")(labeling_cli.serve_command)
clips_cli.app.command("import")(labeling_cli.import_command)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"smokewatch {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """smokewatch: clips, dataset, labeling, models and detection for industrial smoke."""


def run() -> None:
    """The ``smokewatch`` command (console script and ``python -m smokewatch``): the CLI,
    with smokewatch's warnings printed as one line each."""
    show_warnings_as_lines()
    app(prog_name="smokewatch")


__all__ = ["app", "run"]
