"""``smokewatch demo``: the dataset demo, then the labeling site on SQLite, served until Ctrl-C."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import typer
from rich.table import Table

from smokewatch.cli._common import console, err_console, tagged, user_errors
from smokewatch.cli.dataset import print_stats
from smokewatch.errors import SmokewatchError


def _free_port(host: str, port: int, tries: int = 20) -> int:
    """``port`` if it is free, else the next free one (said on screen)."""
    for candidate in range(port, min(port + tries, 65536)):
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
            try:
                sock.bind((host, candidate))
            except OSError:
                continue
        if candidate != port:
            err_console.print(f"port {port} is in use; using {candidate}")
        return candidate
    raise SmokewatchError(f"no free port on {host} from {port} to {port + tries - 1}")


def _rise_data(given: Path | None) -> Path | None:
    """The RISE data folder to use, or None for synthetic clips.

    A folder named on the command line must hold the data: a typo (``make demo RISE=typo``)
    is an error, not a quiet switch to synthetic clips. The default folder, named or not
    (``make demo`` passes it), may be absent on a fresh clone: a one-line note says so.
    """
    from smokewatch.demo import DEFAULT_RISE_DIR, rise_data_problem

    folder = DEFAULT_RISE_DIR if given is None else given
    problem = rise_data_problem(folder)
    if problem is None:
        return folder
    if folder != DEFAULT_RISE_DIR:
        raise SmokewatchError(
            f"--rise-dir {folder}: {problem} (RISE data is clips.csv and clips/; "
            "leave --rise-dir out for synthetic clips)"
        )
    err_console.print(
        f"note: no RISE data in {folder} ({problem}): using synthetic clips",
        highlight=False,
        soft_wrap=True,
    )
    return None


@user_errors
def demo(
    rise_dir: Path | None = typer.Option(
        None,
        "--rise-dir",
        help="Real RISE data (clips/, clips.csv, metadata). Default ../shared/rise, and "
        "synthetic clips (said on stderr) where that is absent; a folder named here must hold "
        "the data.",
        show_default=False,
    ),
    out: Path = typer.Option(
        Path("out/demo"), "--out", "-o", help="Contact sheet, and the site's data (OUT/site)."
    ),
    samples: int = typer.Option(8, "--samples", min=2, max=64, help="Clips on the contact sheet."),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 if any clip fails to decode."),
    serve: bool = typer.Option(
        True, "--serve/--no-serve", help="Serve the labeling site until Ctrl-C, or only set it up."
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Address the site listens on."),
    port: int = typer.Option(8000, "--port", "-p", min=1, max=65535, help="Port of the site."),
    site_clips: int = typer.Option(
        96, "--site-clips", min=24, max=2000, help="Synthetic clips for the site (no RISE data)."
    ),
) -> None:
    """Decode the RISE clips (or synthetic ones), print the dataset tables, draw a contact
    sheet; then set up the labeling site with those clips and serve it."""
    from smokewatch.demo import run_demo, setup_site

    rise_dir = _rise_data(rise_dir)
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
        err_console.print(tagged("skipped:", "yellow", message), soft_wrap=True)
    if result.failed and strict:
        raise typer.Exit(1)

    site = setup_site(rise_dir, out, skip={path for path, _ in result.failed}, synthetic=site_clips)
    port = _free_port(host, port) if serve else port
    url = f"http://{host}:{port}/"
    console.rule("Labeling site")
    info = Table("", "", show_header=False)
    info.add_row("clips", f"{site.clips:,} {site.source} clips ({site.added:,} added now)")
    info.add_row("gold standards", f"{site.gold_pos} with smoke, {site.gold_neg} without")
    lessons = {"rise": "real RISE clips", "synthetic": "generated clips", "own": "the site's own"}
    info.add_row("tutorial", f"lessons of {lessons[site.tutorial]} (tutorial.json)")
    info.add_row("database", site.database_url)
    info.add_row("researcher", f"{site.account}  password: {site.password}  (shown once)")
    info.add_row("address", url)
    info.add_row("pages", "/  /label  /tutorial  /gallery  /review  /dashboard  /login")
    console.print(info)
    if not serve:
        return
    from smokewatch.labeling.server import serve as run_server

    os.environ["SMOKEWATCH_DATA_DIR"] = str(site.data_dir)
    os.environ["SMOKEWATCH_DATABASE_URL"] = site.database_url
    console.print(f"serving {url}  (Ctrl-C to stop)")
    try:
        run_server(host, port, 1, "warning")
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        raise SmokewatchError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
