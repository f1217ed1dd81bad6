"""``smokewatch crowd create|list|report|verify``: paid crowd studies (docs/crowd.md).

``verify`` needs only the site's signing key (``SMOKEWATCH_SECRET_KEY`` or the data folder's
``secret.key``) and the code: a requester can check codes on another machine, offline.
Nothing here imports torch, and the web stack only when a verb runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from smokewatch.cli._common import console, user_errors
from smokewatch.core.files import read_user_text
from smokewatch.errors import SmokewatchError
from smokewatch.settings import Settings, load_settings

__all__ = ["app"]

app = typer.Typer(help="Paid crowd studies (MTurk, Prolific).", no_args_is_help=True)


def _service_errors(run: Any) -> Any:
    from smokewatch.labeling.errors import ServiceError

    try:
        return run()
    except ServiceError as exc:
        raise SmokewatchError(exc.message) from None


def _clip_refs(text: str, source: str) -> list[str]:
    """Clip ids or file names from a file: JSON (a list of ids, names, or RISE metadata
    records) or text, one per line (``#`` starts a comment)."""
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            data = json.loads(stripped)
        except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
            raise SmokewatchError(f"{source}: invalid JSON: {exc}") from None
        refs = []
        for item in data:
            if isinstance(item, dict):
                item = item.get("file_name", item.get("id"))
            if not isinstance(item, (str, int)) or isinstance(item, bool):
                raise SmokewatchError(f"{source}: {item!r} is not a clip id or file name")
            refs.append(str(item))
        return refs
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return [line for line in lines if line]


def _resolve(session: Any, clips: str, seed: int | None) -> list[int]:
    from smokewatch.labeling.crowd import work

    if clips.startswith("random:"):
        try:
            count = int(clips.split(":", 1)[1])
        except ValueError:
            raise SmokewatchError(f"--clips {clips!r}: random:N takes a whole number") from None
        return list(_service_errors(lambda: work.random_clips(session, count, seed)))
    path = Path(clips)
    if not path.is_file():
        raise SmokewatchError(f"--clips {clips!r}: no such file (or give random:N)")
    refs = _clip_refs(read_user_text(path, what="clips file"), str(path))
    return list(_service_errors(lambda: work.clip_ids(session, refs)))


def _database(settings: Settings) -> Any:
    """The service's database, its errors one line as for every labeling verb (this module
    may not import SQLAlchemy, whose errors they are)."""
    from smokewatch.labeling.db import open_service_database

    return open_service_database(settings)


def _money(cents: int) -> str:
    return f"{cents / 100:.2f}"


@app.command("create")
@user_errors
def create_command(
    name: str = typer.Option(..., "--name", help="The study's name (shown to researchers)."),
    clips: str = typer.Option(
        ...,
        "--clips",
        help="A file of clip ids or file names (text, one a line; or JSON: a list, or RISE "
        "metadata), or random:N (N clips without a researcher label).",
    ),
    assignments: int = typer.Option(
        5, "--assignments", "-k", min=1, max=100, help="Workers per task (the paper: 5)."
    ),
    reward: float = typer.Option(
        0.0, "--reward", min=0.0, help="Pay per assignment, in the platform's currency."
    ),
    min_tutorial: int = typer.Option(
        2,
        "--min-tutorial",
        min=0,
        max=4,
        help="Qualification: the tutorial result a worker needs (4 first try … 1 finished; "
        "2: passed within three tries).",
    ),
    moves_states: bool = typer.Option(
        False, "--moves-states", help="Accepted answers also move the citizens' label states."
    ),
    seed: int | None = typer.Option(None, "--seed", help="Seed for random:N and gold draws."),
) -> None:
    """Create a study: CLIPS cut into tasks of 12 clips + 4 gold standards, each wanted from
    ASSIGNMENTS different workers; prints its id and the worker link to give the platform."""
    from smokewatch.labeling.crowd import work

    settings = load_settings()
    db = _database(settings)
    try:
        with db.write() as session:
            ids = _resolve(session, clips, seed)
            study = _service_errors(
                lambda: work.create_study(
                    session,
                    name=name,
                    video_ids=ids,
                    assignments=assignments,
                    reward_cents=round(reward * 100),
                    min_tutorial_action=min_tutorial,
                    moves_states=moves_states,
                    seed=seed,
                )
            )
            row = work.study_row(session, study)
    finally:
        db.dispose()
    console.print(
        f"study {row['id']}: {row['clips']} clips in {row['tasks']} tasks, "
        f"{row['assignments_wanted']} assignments wanted, budget {_money(row['budget_cents'])}",
        highlight=False,
        markup=False,
    )
    console.print(
        f"worker link: /crowd?study={row['id']} (the platform adds workerId, assignmentId, "
        "hitId or PROLIFIC_PID, STUDY_ID, SESSION_ID)",
        highlight=False,
        markup=False,
    )


@app.command("list")
@user_errors
def list_command(
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Every study with its progress (assignments done of wanted, pay so far)."""
    from smokewatch.labeling.crowd import work

    settings = load_settings()
    db = _database(settings)
    try:
        with db.read() as session:
            rows = work.list_studies(session)
    finally:
        db.dispose()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        console.print(
            f"{r['id']}\t{r['name']}\t{r['assignments_done']}/{r['assignments_wanted']} "
            f"done\tpaid {_money(r['paid_cents'])}",
            highlight=False,
            markup=False,
        )


@app.command("report")
@user_errors
def report_command(
    study: int = typer.Argument(..., help="The study's id."),
) -> None:
    """A study's progress and its workers' reliability on the gold standards, as JSON."""
    from smokewatch.labeling.crowd import work

    settings = load_settings()
    db = _database(settings)
    try:
        with db.read() as session:
            report = _service_errors(lambda: work.study_report(session, study))
    finally:
        db.dispose()
    typer.echo(json.dumps(report, indent=2, ensure_ascii=False))


@app.command("verify")
@user_errors
def verify_command(
    code: str = typer.Argument(..., help="The completion code a worker gave."),
    study: int | None = typer.Option(None, "--study", help="Must be for this study."),
    worker: str | None = typer.Option(None, "--worker", help="Must be this worker's id."),
    assignment: str | None = typer.Option(
        None, "--assignment", help="Must be this platform assignment id."
    ),
) -> None:
    """Check a completion code with the site's key alone (no database): prints what it
    records as JSON, or exits 2 when it is not genuine or not the one expected."""
    from smokewatch.labeling.crowd.codes import verify_code
    from smokewatch.labeling.tokens import load_signing_key

    settings = load_settings()
    has_secret = settings.secret_key is not None and settings.secret_key.get_secret_value()
    if not has_secret and not (settings.data_dir / "secret.key").is_file():
        raise SmokewatchError(
            f"no signing key: set SMOKEWATCH_SECRET_KEY or SMOKEWATCH_DATA_DIR to the site's "
            f"(looked for {settings.data_dir / 'secret.key'})"
        )
    key = load_signing_key(settings)
    found = _service_errors(
        lambda: verify_code(key, code, study=study, worker=worker, assignment=assignment)
    )
    typer.echo(json.dumps(found.as_dict(), indent=2, ensure_ascii=False))
