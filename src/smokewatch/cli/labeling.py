"""``smokewatch serve``, ``smokewatch users ...``, ``clips import`` and ``labels export``.

Nothing here imports torch; the web stack is imported only when one of these verbs runs, so
``smokewatch --help`` stays fast.
"""

from __future__ import annotations

import enum
import functools
import getpass
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, ParamSpec, TypeVar

import typer
from rich.table import Table
from rich.text import Text

from smokewatch.cli._common import console, err_console, refuse_overwrite, tagged, user_errors
from smokewatch.core.clip import url_problem
from smokewatch.errors import SmokewatchError
from smokewatch.settings import Settings, load_settings

if TYPE_CHECKING:
    from smokewatch.core.answers import Answer, Page
    from smokewatch.core.clip import Clip
    from smokewatch.labeling.catalog import ImportReport, PlacedClip
    from smokewatch.labeling.db import Database

__all__ = ["serve_command", "users_app", "labels_app", "cameras_app", "import_command"]

P = ParamSpec("P")
R = TypeVar("R")

users_app = typer.Typer(help="Accounts and roles of the labeling service.", no_args_is_help=True)
labels_app = typer.Typer(help="Labels in the labeling service's database.", no_args_is_help=True)


def _open(settings: Settings) -> Database:
    """The service's database, its errors one line (imported late: ``--help`` stays fast)."""
    from smokewatch.labeling.db import open_service_database

    return open_service_database(settings)


def _service_files(settings: Settings) -> list[Path]:
    """The files an export must never be written over: the SQLite database (and its
    journals) and the token signing key."""
    files = [settings.data_dir / "secret.key"]
    url = settings.resolved_database_url
    if url.startswith("sqlite:///"):
        db = url.removeprefix("sqlite:///")
        files += [Path(db + end) for end in ("", "-wal", "-shm", "-journal")]
    return files


class LogLevel(enum.StrEnum):
    """uvicorn's log levels (its ``LOG_LEVELS``): typer refuses any other name up front."""

    critical = "critical"
    error = "error"
    warning = "warning"
    info = "info"
    debug = "debug"
    trace = "trace"


def _account_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Refusals of the service layers (accounts, pages) are user errors on the command line."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        from smokewatch.labeling.errors import ServiceError

        try:
            return func(*args, **kwargs)
        except ServiceError as exc:
            raise SmokewatchError(exc.message) from None

    return wrapper


@user_errors
def serve_command(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", "-p", min=1, max=65535, help="Port to listen on."),
    workers: int = typer.Option(
        1,
        "--workers",
        "-w",
        min=1,
        max=64,
        help="Worker processes. With PostgreSQL, one per CPU core served best "
        "(bench/labeling_load.py); SQLite writes one transaction at a time in any case.",
    ),
    log_level: LogLevel = typer.Option(
        LogLevel.warning, "--log-level", case_sensitive=False, help="uvicorn log level."
    ),
) -> None:
    """Run the labeling service (SQLite in SMOKEWATCH_DATA_DIR unless SMOKEWATCH_DATABASE_URL).

    Migrates the database first. With --workers > 1 each worker process builds its own app
    from the same environment.
    """
    from smokewatch.labeling.server import serve

    settings = load_settings()
    db = _open(settings)  # migrate once, before any worker starts
    db.dispose()
    os.environ.setdefault("SMOKEWATCH_DATA_DIR", str(settings.data_dir))
    where = settings.resolved_database_url.split("@")[-1]
    err_console.print(
        Text.assemble(
            "smokewatch labeling service on ",
            (f"http://{host}:{port}/", "bold"),
            f" (database: {where})",
        )
    )
    try:
        serve(host, port, workers, log_level.value)
    except OSError as exc:
        raise SmokewatchError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


@user_errors
@_account_errors
def import_command(
    source: Path = typer.Argument(
        None,
        help="RISE metadata (.json/.csv), or a folder of RISE-named .mp4 clips.",
        show_default=False,
    ),
    from_detections: Path = typer.Option(
        None,
        "--from-detections",
        help="A detection run's detections.json: import the clips of its events and of its "
        "most uncertain windows with a priority (drawn first for volunteers), and its events.",
        show_default=False,
    ),
    uncertain: int = typer.Option(
        50,
        "--uncertain",
        min=0,
        help="With --from-detections: how many of the windows nearest probability 0.5 "
        "(outside events) to import.",
    ),
    priority: int = typer.Option(
        1,
        "--priority",
        min=1,
        max=2**31 - 1,
        help="With --from-detections: the clips' priority (higher is drawn first; an "
        "import only ever raises a clip's priority).",
    ),
    url_root: str = typer.Option(
        None,
        "--url-root",
        help="Override every clip's url_root (e.g. a CDN) [default: as given; "
        "for a folder: the service's own /videos/].",
    ),
    strict: bool = typer.Option(
        False, "--strict", help="Exit with status 1 if any file was skipped."
    ),
) -> None:
    """Add clips to the labeling service. Idempotent: clips already there are skipped.

    A metadata file whose unlabeled records list clip files beside it (what `clips extract`
    writes) is imported as that folder: its ids are one folder's numbering and its clips are
    local files, which must be in the clip store to be seen. Other metadata (RISE's, with
    labels or clips hosted elsewhere) is imported as records.

    From a folder, only regular files are taken (links are skipped) and each must decode to
    SMOKEWATCH_CLIP_FRAMES frames; bad files are skipped and listed at the end, and with
    --strict the command exits 1 for them. With --from-detections the same holds for the
    run's clips (a clip file that is missing is listed and skipped).
    """
    if (source is None) == (from_detections is None):
        raise SmokewatchError("give either SOURCE or --from-detections FILE (one of them)")
    if url_root is not None and (problem := url_problem("url_root", url_root)) is not None:
        raise SmokewatchError(f"--url-root {url_root!r}: {problem}")
    if from_detections is not None:
        _import_detections(from_detections, uncertain, priority, url_root, strict)
        return
    from smokewatch.core.metadata import read_metadata
    from smokewatch.labeling.catalog import (
        clip_files_beside,
        import_clips,
        import_placed,
        place_files,
        place_folder,
    )

    settings = load_settings()
    skipped: list[str] = []
    placed: list[PlacedClip] = []
    clips: list[Clip] = []
    local = source.is_dir()  # files copied into the clip store, numbered by the service
    if local:
        placed, skipped = place_folder(source, settings.videos_dir, _clip_check(settings))
    else:
        clips = read_metadata(source)
        files = clip_files_beside(source, clips)
        if files is not None:  # a `clips extract` folder's metadata.json: that folder's import
            local = True
            err_console.print(
                tagged(
                    "note:",
                    "cyan",
                    f"{source} lists clip files beside it (unlabeled: a `clips extract` "
                    f"folder), so they are imported as `clips import {source.parent}`: copied "
                    "into the clip store and numbered by the service",
                ),
                soft_wrap=True,
            )
            placed, skipped = place_files(files, settings.videos_dir, _clip_check(settings))
        elif url_root is not None:
            for clip in clips:
                clip.url_root = url_root
    db = _open(settings)
    try:
        with db.write() as session:
            if local:
                report = import_placed(session, placed, url_root or settings.videos_url_root)
            else:
                report = import_clips(session, clips)
    finally:
        db.dispose()
    _print_skipped(skipped, report.conflicts)
    console.print(
        f"added {report.added:,} clips, {report.skipped:,} already there{_repointed(report)}, "
        f"{len(report.conflicts)} conflicts" + (f", {len(skipped)} skipped" if skipped else "")
    )
    if report.conflicts or (strict and skipped):
        raise typer.Exit(1)


def _repointed(report: ImportReport) -> str:
    """`` (N repointed to the files just imported)``: clips already there whose address
    changed (an offline host, or another --url-root), or nothing."""
    moved = report.repointed
    return f" ({moved:,} repointed to the files just imported)" if moved else ""


def _print_skipped(skipped: list[str], conflicts: list[str]) -> None:
    for line in skipped:
        err_console.print(tagged("skipped:", "yellow", line), soft_wrap=True)
    for line in conflicts:
        err_console.print(tagged("conflict:", "red", line), soft_wrap=True)


def _import_detections(
    from_detections: Path, uncertain: int, priority: int, url_root: str | None, strict: bool
) -> None:
    """``clips import --from-detections``: decoding (the clips, the evidence clips) is done
    here, where video may be read; the labeling package places, copies and stores."""
    from smokewatch.labeling.detection_import import import_detection_run
    from smokewatch.video import read_clip

    plan, stored = import_detection_run(
        from_detections,
        load_settings(),
        read_clip,
        uncertain=uncertain,
        priority=priority,
        url_root=url_root,
    )
    report = stored.clips
    _print_skipped(plan.skipped, report.conflicts)
    console.print(
        f"added {report.added:,} clips, {report.skipped:,} already there{_repointed(report)}, "
        f"{len(report.conflicts)} conflicts; priority {priority} given to "
        f"{stored.prioritized:,} clips; events: {stored.events_added:,} added, "
        f"{stored.events_known:,} already there"
        + (f"; {len(plan.skipped)} skipped" if plan.skipped else "")
    )
    if report.conflicts or (strict and plan.skipped):
        raise typer.Exit(1)


def _clip_check(settings: Settings) -> Callable[[Path], object]:
    """What makes a file a clip for the service: it decodes, to exactly the clip's frames.

    The labeling package reads no video, so the check is made here and handed to it.
    """
    from smokewatch.video import read_clip

    return functools.partial(read_clip, expected_frames=settings.clip_frames)


@labels_app.command("export")
@user_errors
def export_command(
    out: Path = typer.Option(
        ...,
        "--out",
        "-o",
        help="File to write: .json (RISE metadata) or .csv; with --answers or --pages, "
        ".csv or .parquet.",
    ),
    only_labeled: bool = typer.Option(
        False, "--only-labeled", help="Only clips with a final label."
    ),
    answers: bool = typer.Option(
        False,
        "--answers",
        help="Every answer kept instead (task, clip, worker, group, label, time, page, "
        "page_accepted, gold, gold_label): what 'smokewatch analyze' reads. A page that "
        "failed its gold standards keeps no answers.",
    ),
    pages: bool = typer.Option(
        False,
        "--pages",
        help="Every page sent back instead, accepted or not (page, worker, group, time, "
        "accepted, clips, gold): a rejected page keeps no answers, so reliability needs this.",
    ),
) -> None:
    """Export every clip with its label states, in RISE's metadata layout (by id).

    With --answers, the label history (docs/analysis.md says what each column means: the
    gold columns are the clip's researcher state now, not when it was answered); with
    --pages, the pages. Both stream from the database and are written atomically.
    """
    if answers and pages:
        raise SmokewatchError("give --answers or --pages, not both")
    refuse_overwrite(out, *_service_files(load_settings()))
    if (answers or pages) and only_labeled:
        raise SmokewatchError("--only-labeled is for the metadata export only")
    if answers or pages:
        _export_rows(out, "answers" if answers else "pages")
        return
    if out.suffix.lower() not in (".json", ".csv"):  # any other would be written as JSON
        raise SmokewatchError(f"{out}: a metadata export is .json or .csv")
    from smokewatch.core.metadata import write_metadata
    from smokewatch.labeling.catalog import export_clips

    db = _open(load_settings())
    try:
        with db.read() as session:
            clips = list(export_clips(session, only_labeled=only_labeled))
    finally:
        db.dispose()
    write_metadata(clips, out)
    console.print(f"wrote {len(clips):,} clips to {out}")


def _export_rows(out: Path, kind: str) -> None:
    """``labels export --answers`` / ``--pages``: rows streamed from a read transaction into
    a CSV or Parquet file, by the file's suffix."""
    from smokewatch.core.answers import write_answers_csv, write_pages_csv
    from smokewatch.labeling.answers_export import export_answers, export_pages

    suffix = out.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise SmokewatchError(f"{out}: an {kind} export is .csv or .parquet")
    db = _open(load_settings())
    try:
        with db.read() as session:
            if kind == "answers" and suffix == ".csv":
                count = write_answers_csv(export_answers(session), out)
            elif kind == "answers":
                count = _write_parquet(export_answers(session), kind, out)
            elif suffix == ".csv":
                count = write_pages_csv(export_pages(session), out)
            else:
                count = _write_parquet(export_pages(session), kind, out)
    finally:
        db.dispose()
    console.print(f"wrote {count:,} {kind} to {out}")


def _write_parquet(rows: Iterable[Answer] | Iterable[Page], kind: str, out: Path) -> int:
    """Write rows to Parquet atomically, a row group per 50,000 rows (memory stays flat).

    pyarrow is imported here only: the labeling package stays free of it.
    """
    import itertools

    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise SmokewatchError(
            "writing Parquet needs pyarrow: pip install 'smokewatch[analysis]' (or use .csv)"
        ) from None
    from smokewatch.core.answers import COLUMNS, PAGE_COLUMNS, iter_rows
    from smokewatch.core.atomic import atomic_path

    types = {
        "task": pa.int64(),
        "clip": pa.string(),
        "worker": pa.int64(),
        "group": pa.string(),
        "label": pa.int64(),
        "time": pa.int64(),
        "page": pa.int64(),
        "page_accepted": pa.bool_(),
        "gold": pa.bool_(),
        "gold_label": pa.int64(),
        "expert": pa.bool_(),
        "accepted": pa.bool_(),
        "clips": pa.int64(),
    }
    columns = COLUMNS if kind == "answers" else PAGE_COLUMNS
    # "gold" is a flag in the answers and a count in the pages
    schema = pa.schema(
        [(c, pa.int64() if (c == "gold" and kind == "pages") else types[c]) for c in columns]
    )
    count = 0
    records = iter_rows(rows)
    with atomic_path(out) as tmp, pq.ParquetWriter(tmp, schema) as writer:
        while chunk := list(itertools.islice(records, 50_000)):
            writer.write_table(pa.Table.from_pylist(chunk, schema=schema))
            count += len(chunk)
        if count == 0:
            writer.write_table(schema.empty_table())
    return count


@users_app.command("add")
@user_errors
@_account_errors
def users_add(
    name: str = typer.Argument(
        ..., help="Account name (letters, digits, . _ @ -).", show_default=False
    ),
    role: str = typer.Option("researcher", "--role", help="researcher or expert (or any role)."),
    password: str = typer.Option(
        None,
        "--password",
        help="Password (at least 8 characters) [default: asked for; or SMOKEWATCH_NEW_PASSWORD].",
    ),
) -> None:
    """Create a password account (researchers and experts sign in with one)."""
    from smokewatch.labeling.tables import Role
    from smokewatch.labeling.users import add_account

    try:
        number = Role.parse(role)
    except ValueError as exc:
        raise SmokewatchError(str(exc)) from None
    secret = password or os.environ.get("SMOKEWATCH_NEW_PASSWORD")
    if not secret:
        secret = getpass.getpass(f"password for {name}: ")
        if secret != getpass.getpass("again: "):
            raise SmokewatchError("the two passwords differ")
    db = _open(load_settings())
    try:
        with db.write() as session:
            user = add_account(session, name, secret, number)
            uid = user.id
    finally:
        db.dispose()
    console.print(f"added {Role.NAMES[number]} {name!r} (user {uid})")


@users_app.command("set-role")
@user_errors
@_account_errors
def users_set_role(
    who: str = typer.Argument(..., help="Account name, client id or user id.", show_default=False),
    role: str = typer.Argument(
        ...,
        help="researcher, expert, amateur, layperson or banned (or 0, 1, 2, 3, -1).",
        show_default=False,
    ),
) -> None:
    """Change a user's role; it takes effect on the user's next request."""
    from smokewatch.labeling.tables import Role
    from smokewatch.labeling.users import set_role

    db = _open(load_settings())
    try:
        with db.write() as session:
            user = set_role(session, who, role)
            line = f"user {user.id} ({user.client_id}) is now {Role.NAMES[user.client_type]}"
    finally:
        db.dispose()
    console.print(line)


@users_app.command("ban")
@user_errors
@_account_errors
def users_ban(
    who: str = typer.Argument(..., help="Account name, client id or user id.", show_default=False),
) -> None:
    """Ban a user: every request of theirs is refused from now on (403)."""
    users_set_role(who, "banned")


@users_app.command("list")
@user_errors
def users_list(
    limit: int = typer.Option(50, "--limit", min=1, help="How many (by score)."),
) -> None:
    """Users by score, with their role and reliability (accepted / submitted pages)."""
    from sqlalchemy import select

    from smokewatch.labeling.tables import Role, User

    db = _open(load_settings())
    table = Table("id", "client id", "role", "score", "pages", "reliability")
    try:
        with db.read() as session:
            for u in session.scalars(
                select(User).order_by(User.score.desc(), User.id).limit(limit)
            ):
                rel = f"{u.pages_accepted / u.pages_submitted:.0%}" if u.pages_submitted else "-"
                table.add_row(
                    str(u.id),
                    u.client_id,
                    Role.NAMES.get(u.client_type, "?"),
                    str(u.score),
                    f"{u.pages_accepted}/{u.pages_submitted}",
                    rel,
                )
    finally:
        db.dispose()
    console.print(table)


cameras_app = typer.Typer(
    help="Cameras that upload photos for continuous mode (smokewatch watch).",
    no_args_is_help=True,
)


def _print_key(camera_id: int, name: str, key: str, what: str) -> None:
    console.print(f"{what} camera {name!r} (id {camera_id}); its API key, shown only now:")
    console.print(key, highlight=False)
    err_console.print(
        f"upload with: curl -H 'Authorization: Bearer KEY' -F photo=@PHOTO.jpg "
        f"http://HOST:8000/api/v1/cameras/{camera_id}/photos",
        highlight=False,
    )


@cameras_app.command("add")
@user_errors
@_account_errors
def cameras_add(
    name: str = typer.Argument(
        ..., help="Camera name (letters, digits, . _ -).", show_default=False
    ),
) -> None:
    """Add a camera and print its API key once (only its SHA-256 digest is stored)."""
    from smokewatch.labeling.cameras import add_camera

    db = _open(load_settings())
    try:
        with db.write() as session:
            camera, key = add_camera(session, name)
            camera_id = camera.id
    finally:
        db.dispose()
    _print_key(camera_id, name, key, "added")


@cameras_app.command("rotate")
@user_errors
@_account_errors
def cameras_rotate(
    who: str = typer.Argument(..., help="Camera id or name.", show_default=False),
) -> None:
    """Give a camera a new API key (the old one is refused from now on); print it once."""
    from smokewatch.labeling.cameras import rotate_key

    db = _open(load_settings())
    try:
        with db.write() as session:
            camera, key = rotate_key(session, who)
            camera_id, name = camera.id, camera.name
    finally:
        db.dispose()
    _print_key(camera_id, name, key, "new key for")


@cameras_app.command("list")
@user_errors
def cameras_list() -> None:
    """The cameras, with when each key was made and the photos waiting in each inbox."""
    from datetime import UTC, datetime

    from sqlalchemy import select

    from smokewatch.labeling.cameras import INBOX, camera_dir
    from smokewatch.labeling.tables import Camera

    settings = load_settings()
    db = _open(settings)
    table = Table("id", "name", "key made (UTC)", "active", "inbox")
    try:
        with db.read() as session:
            for c in session.scalars(select(Camera).order_by(Camera.id)):
                inbox = camera_dir(settings.data_dir, c.id) / INBOX
                waiting = sum(1 for _ in inbox.iterdir()) if inbox.is_dir() else 0
                made = datetime.fromtimestamp(c.key_time, UTC).strftime("%Y-%m-%d %H:%M")
                table.add_row(str(c.id), c.name, made, "yes" if c.active else "no", str(waiting))
    finally:
        db.dispose()
    console.print(table)
