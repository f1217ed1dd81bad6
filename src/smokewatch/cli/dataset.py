"""``smokewatch dataset ...``: labeled clips -> what a model trains on."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from smokewatch.cli._common import console, err_console, tagged, user_errors
from smokewatch.cli.clips import cache_command
from smokewatch.cli.download import download_command
from smokewatch.clips.views import split_view_key
from smokewatch.core.metadata import read_metadata
from smokewatch.dataset.splits import PARTS, make_splits, write_splits
from smokewatch.dataset.stats import DatasetStats, compute_stats
from smokewatch.errors import SmokewatchError
from smokewatch.settings import load_settings

app = typer.Typer(
    help="RISE dataset tools: splits, statistics, downloads, caches.", no_args_is_help=True
)

app.command("download")(download_command)
app.command("cache")(cache_command)

_METADATA = typer.Argument(
    ..., help="RISE metadata file (.json as RISE publishes it, or .csv with the same columns)."
)


@app.command("split")
@user_errors
def split_command(
    metadata: Path = _METADATA,
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the split files (created)."),
    splits: list[str] = typer.Option(
        None,
        "--split",
        "-s",
        metavar="S0..S5",
        help="Which split to write (repeat); default all six, less any the clips cannot give.",
    ),
) -> None:
    """Write RISE's train/validation/test split files (S0-S5) for a metadata file.

    S0, S1, S2, S4, S5 hold camera views out (views 1-0, 2-0, 2-1, 2-2 are always test); S3 holds
    days out (10 newest days test, 2 validation, the rest train). Files are named as RISE's
    (metadata_train_split_0_by_camera.json, ...) and carry each clip's label and weight.
    Unlabeled, bad and gold-standard clips are left out, as RISE's dataset left them out, and
    so are clips of views RISE's camera splits do not name (another camera's).
    """
    clips = read_metadata(metadata)
    problems: list[str] = []
    try:  # splits asked for by name must all be made; of the default six, those that can
        made = make_splits(clips, splits or None, errors=None if splits else problems)
    except ValueError as exc:
        raise SmokewatchError(str(exc)) from None
    if not made:
        raise SmokewatchError("; ".join(problems) or "no split to write")
    paths = write_splits(made.values(), out)
    table = Table("split", "file key", *PARTS, title=f"{len(paths)} files in {out}")
    for name, split in made.items():
        sizes = split.sizes()
        table.add_row(name, split.spec.file_key, *(f"{sizes[p]:,}" for p in PARTS))
    console.print(table)
    for problem in problems:
        err_console.print(tagged("not written:", "yellow", problem), soft_wrap=True)
    for name, split in made.items():
        if split.left_out:
            views = ", ".join(sorted({c.view for c in split.left_out}, key=split_view_key))
            err_console.print(
                tagged(
                    "left out:",
                    "yellow",
                    f"{name}: {len(split.left_out):,} labeled clips of views {views}, which "
                    "RISE's camera splits do not name",
                ),
                soft_wrap=True,
            )


@app.command("stats")
@user_errors
def stats_command(
    metadata: Path = _METADATA,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
    timezone: str = typer.Option(
        None, "--timezone", help="Cameras' time zone for seasons and hours [default: settings]."
    ),
) -> None:
    """Print the paper's dataset tables: views, clips, frames, smoke, seasons, hours, splits."""
    settings = load_settings()
    clips = read_metadata(metadata)
    try:
        stats = compute_stats(
            clips, timezone=timezone or settings.timezone, frames_per_clip=settings.clip_frames
        )
    except ValueError as exc:
        raise SmokewatchError(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(stats.to_dict(), indent=2))
    else:
        print_stats(stats)


def _pct(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else "-"


def print_stats(stats: DatasetStats) -> None:
    """Render the dataset tables with rich (used by ``dataset stats`` and the demo)."""
    labeled = stats.smoke + stats.no_smoke
    summary = Table("", "count", title="Dataset", show_header=False)
    summary.add_row("views", f"{len(stats.views)}")
    summary.add_row("days", f"{stats.days}")
    summary.add_row("clips", f"{stats.clips:,}")
    summary.add_row("frames", f"{stats.frames:,}")
    summary.add_row("smoke", f"{stats.smoke:,} ({_pct(stats.smoke, labeled)})")
    summary.add_row("no smoke", f"{stats.no_smoke:,} ({_pct(stats.no_smoke, labeled)})")
    if stats.unlabeled:
        summary.add_row("unlabeled", f"{stats.unlabeled:,}")
    if stats.gold:
        summary.add_row("gold standards", f"{stats.gold:,} (not in the splits)")
    if stats.bad:
        summary.add_row("bad", f"{stats.bad:,} (not in the splits)")
    console.print(summary)

    views = Table("view", "clips", "smoke", "no smoke", title="Clips per camera view")
    for view, count in stats.views.items():
        labels = stats.view_labels.get(view, {"smoke": 0, "no_smoke": 0})
        views.add_row(view, f"{count:,}", f"{labels['smoke']:,}", f"{labels['no_smoke']:,}")
    console.print(views)

    when = Table("season", "clips", "", "hours (local)", "clips", title="When the clips were taken")
    seasons = list(stats.seasons.items())
    hours = list(stats.hours.items())
    for i in range(max(len(seasons), len(hours))):
        s = seasons[i] if i < len(seasons) else ("", None)
        h = hours[i] if i < len(hours) else ("", None)
        when.add_row(
            s[0],
            "" if s[1] is None else f"{s[1]:,} ({_pct(s[1], stats.clips)})",
            "",
            h[0],
            "" if h[1] is None else f"{h[1]:,} ({_pct(h[1], stats.clips)})",
        )
    console.print(when)

    if stats.splits:
        ratios = stats.split_ratios()
        splits = Table("split", *PARTS, title="Splits (clips and ratio)")
        for name, sizes in stats.splits.items():
            splits.add_row(name, *(f"{sizes[p]:,} ({ratios[name][p]:.0%})" for p in PARTS))
        console.print(splits)
