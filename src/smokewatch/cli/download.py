"""``smokewatch dataset download``: fetch the clips a metadata file lists."""

from __future__ import annotations

import functools
from pathlib import Path

import typer
from rich.text import Text

from smokewatch.cli._common import console, err_console, user_errors
from smokewatch.core.metadata import read_metadata
from smokewatch.settings import load_settings

__all__ = ["download_command", "FAILED_EXIT", "MAX_LISTED_FAILURES"]

# The same defaults as smokewatch.clips.download (a test checks they agree), repeated here so
# that `smokewatch --help` does not import httpx (~0.1 s) for a verb it is not running.
DEFAULT_RETRIES = 3
DEFAULT_BACKOFF = 0.5
DEFAULT_TIMEOUT = 30.0

#: Exit status when the run finished but some clips could not be fetched or verified.
FAILED_EXIT = 1
#: Failures printed one per line; the rest are counted (an offline host fails thousands).
MAX_LISTED_FAILURES = 50


@user_errors
def download_command(
    metadata: Path = typer.Argument(
        ..., help="RISE metadata file (.json or .csv) whose clips to fetch (url_root + url_part)."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the clips (<file_name>.mp4)."),
    workers: int | None = typer.Option(
        None,
        "--workers",
        "-j",
        min=1,
        max=64,
        help="Concurrent downloads [default: settings' download_workers, 8].",
        show_default=False,
    ),
    limit: int | None = typer.Option(
        None, "--limit", "-n", min=1, help="Fetch only the first N clips of the metadata."
    ),
    retries: int = typer.Option(
        DEFAULT_RETRIES,
        min=0,
        help="Extra attempts per clip on connection errors, timeouts, HTTP 5xx and 429.",
    ),
    backoff: float = typer.Option(
        DEFAULT_BACKOFF,
        min=0.0,
        help="Seconds before the first retry; doubled for each further one (with jitter).",
    ),
    timeout: float = typer.Option(
        DEFAULT_TIMEOUT, min=0.1, help="Seconds to wait to connect, and for each chunk."
    ),
) -> None:
    """Download the clips of a RISE metadata file, verified, into a folder.

    Each clip goes to OUT/<file_name>.mp4 only after it decodes with the expected number of
    frames (36); nothing partial is ever left, also not on Ctrl-C. Clips already present and
    valid are skipped without a request, so rerunning the command resumes an interrupted
    download. Transient errors (connection, timeout, HTTP 5xx/429) are retried with
    exponential backoff; other HTTP errors such as 404 are reported at once.

    Exit status: 0 when every clip is present and verified; 1 when some clips failed (they
    are listed on stderr with the reason; the others are kept); 2 for unusable input (a
    malformed metadata file, an output folder that cannot be created).
    """
    from smokewatch.clips.download import download_clips, verify_clip

    settings = load_settings()
    clips = read_metadata(metadata)
    if limit is not None:
        clips = clips[:limit]
    verify = functools.partial(verify_clip, expected_frames=settings.clip_frames)
    report = download_clips(
        clips,
        out,
        workers=workers if workers is not None else settings.download_workers,
        retries=retries,
        backoff=backoff,
        timeout=timeout,
        verify=verify,
        console=err_console,
    )
    console.print(
        f"{len(report.downloaded)} downloaded, {len(report.skipped)} already present, "
        f"{len(report.failed)} failed -> {out}",
        highlight=False,
    )
    if report.failed:
        err_console.print(Text(f"{len(report.failed)} clip(s) failed:", style="bold red"))
        for name, reason in report.failed[:MAX_LISTED_FAILURES]:
            err_console.print(f"  {name}: {reason}", highlight=False, soft_wrap=True)
        hidden = len(report.failed) - MAX_LISTED_FAILURES
        if hidden > 0:
            err_console.print(f"  ... and {hidden} more", highlight=False)
        raise typer.Exit(FAILED_EXIT)
