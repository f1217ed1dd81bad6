"""``smokewatch demo``: the main job on the embedded default (for now, the dataset demo)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from smokewatch.cli._common import console, err_console, user_errors
from smokewatch.cli.dataset import print_stats


@user_errors
def demo(
    rise_dir: Path = typer.Option(
        Path("../shared/rise"),
        "--rise-dir",
        help="Real RISE data (clips/, clips.csv, metadata); "
        "when absent, synthetic clips are generated instead.",
    ),
    out: Path = typer.Option(Path("out/demo"), "--out", "-o", help="Where the contact sheet goes."),
    samples: int = typer.Option(8, "--samples", min=2, max=64, help="Clips on the contact sheet."),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 if any clip fails to decode."),
) -> None:
    """Decode the RISE clips (or synthetic ones), print the dataset tables, draw a contact sheet."""
    from smokewatch.demo import run_demo

    result = run_demo(rise_dir, out, samples=samples)
    if result.stats is not None:
        console.rule(
            "RISE dataset (metadata_02242020.json)"
            if result.source == "rise"
            else "Synthetic dataset"
        )
        print_stats(result.stats)
    table = Table("", "", title=f"Decoded {result.source} clips", show_header=False)
    table.add_row("clips", f"{result.decoded:,} of {result.videos:,} decoded")
    table.add_row("frames", f"{result.frames:,}")
    rate = result.decoded / result.seconds if result.seconds else 0.0
    table.add_row("speed", f"{rate:,.0f} clips/s ({result.seconds:.1f} s, PyAV, 1 process)")
    table.add_row("contact sheet", str(result.sheet) if result.sheet else "-")
    console.print(table)
    for _path, message in result.failed:
        err_console.print(f"[yellow]skipped:[/] {message}", highlight=False)
    if result.failed and strict:
        raise typer.Exit(1)
