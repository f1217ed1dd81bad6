"""``smokewatch analyze quality | aggregate | simulate | report``: how good the labels are.

Registered on :data:`smokewatch.cli.analyze.app` by importing this module (``cli/__init__``);
the analyses live in :mod:`smokewatch.analysis` and are imported when a verb runs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from smokewatch.cli._common import (
    check_output,
    console,
    err_console,
    refuse_overwrite,
    user_errors,
)
from smokewatch.cli.analyze import app
from smokewatch.errors import SmokewatchError

if TYPE_CHECKING:
    import pandas as pd

    from smokewatch.training.progress import Progress

__all__ = ["aggregate_command", "quality_command", "report_command", "simulate_command"]

_ANSWERS = typer.Argument(
    ..., help="An answers export (labels export --answers): .csv or .parquet.", show_default=False
)
_PAGES = typer.Option(
    None,
    "--pages",
    help="The pages export (labels export --pages): reliability counts rejected pages from it; "
    "without it, from the answers' pages (which lack pages whose answers were not kept).",
    show_default=False,
)
_SEED = typer.Option(0, "--seed", help="Seed of the random draws: the same seed, the same table.")
_QUIET = typer.Option(False, "--quiet", "-q", help="No progress bar.")


def _clean(value: Any) -> Any:
    """JSON without NaN (undefined figures are null)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


class _Bars:
    """The analyses' ``progress(stage, done, total)`` as bars on stderr (the bar of
    ``training.progress``, as other long commands show): one per stage, each closed when the
    next begins."""

    def __init__(self) -> None:
        self.stage: str | None = None
        self.bar: Progress | None = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        from smokewatch.training.progress import Progress

        if self.bar is None or stage != self.stage:
            self.close()
            self.stage, self.bar = stage, Progress(True, total, stage).__enter__()
        self.bar.update(done)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


@contextmanager
def _progress(quiet: bool) -> Iterator[Callable[[str, int, int], None] | None]:
    """What a verb passes as ``progress``: bars, or None with --quiet."""
    if quiet:
        yield None
        return
    bars = _Bars()
    try:
        yield bars
    finally:
        bars.close()


def _load(answers: Path, pages: Path | None) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    from smokewatch.analysis.answers import load_answers, load_pages

    frame = load_answers(answers)
    if frame.empty:
        raise SmokewatchError(f"{answers}: no answers")
    return frame, (load_pages(pages) if pages is not None else None)


@app.command("quality")
@user_errors
def quality_command(
    answers: Path = _ANSWERS,
    repeats: int = typer.Option(100, "--repeats", "-r", help="How many draws.", min=1),
    assignments: int = typer.Option(
        3, "--assignments", help="Answers drawn per clip (odd): the paper's 3.", min=1
    ),
    min_reliability: float = typer.Option(
        0.3,
        "--min-reliability",
        help="Filtered rows keep workers whose accepted / submitted pages exceed this "
        "(0: no filtered rows; guessing passes 1/16 = 0.0625).",
    ),
    pages: Path = _PAGES,
    seed: int = _SEED,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object, not Markdown."),
    quiet: bool = _QUIET,
) -> None:
    """Researchers, citizens and crowd against researchers' labels (paper's Tables 5-6).

    Each draw takes ASSIGNMENTS answers per clip from a group and their majority; precision,
    recall, F1 against the researchers' majority, and Cohen's kappa between every pair of
    groups, as mean ± std over the draws.
    """
    from smokewatch.analysis.quality import QualityError, label_quality
    from smokewatch.analysis.tables import kappa_table, quality_table

    frame, page_frame = _load(answers, pages)
    try:
        with _progress(quiet) as progress:
            result = label_quality(
                frame,
                repeats=repeats,
                seed=seed,
                assignments=assignments,
                min_reliability=min_reliability or None,
                pages=page_frame,
                progress=progress,
            )
    except QualityError as exc:
        raise SmokewatchError(f"{answers}: {exc}") from None
    if as_json:
        typer.echo(json.dumps(_clean(result.to_dict()), indent=2))
        return
    typer.echo(quality_table(result).markdown())
    typer.echo(kappa_table(result).markdown(), nl=False)


@app.command("aggregate")
@user_errors
def aggregate_command(
    answers: Path = _ANSWERS,
    methods: list[str] = typer.Option(
        None,
        "--method",
        "-m",
        help="Method(s) to run (repeat): majority, rise, dawid-skene, glad, mace, "
        "dawid-skene-gold [default: all].",
        show_default=False,
    ),
    groups: list[str] = typer.Option(
        None,
        "--group",
        "-g",
        help="Aggregate the answers of these groups (repeat) [default: all but researcher].",
        show_default=False,
    ),
    out: Path = typer.Option(
        None,
        "--out",
        "-o",
        help="Write the labels per clip and method to this CSV (empty: undecided).",
        show_default=False,
    ),
    seed: int = _SEED,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object, not Markdown."),
    quiet: bool = _QUIET,
) -> None:
    """Majority vote, RISE's state machine, Dawid-Skene, GLAD, MACE and Dawid-Skene with gold
    labels, scored against researchers' labels (accuracy, precision, recall, F1, coverage).

    Scored on the clips with a researcher label that are not gold standards. The state
    machine counts only answers of accepted pages, as RISE's service does. Answers that are
    aggregated are not part of the truth: with --group researcher nothing is scored.
    """
    from smokewatch.analysis.aggregate import (
        AggregationError,
        aggregate,
        crowd_answers,
        researcher_truth,
        score,
    )
    from smokewatch.analysis.tables import aggregate_table
    from smokewatch.core.answers import GROUPS

    refuse_overwrite(out, answers)
    check_output(out)
    frame, _ = _load(answers, None)
    bad = [g for g in groups or () if g not in GROUPS]
    if bad:
        raise SmokewatchError(f"--group {bad[0]!r} is not one of {', '.join(GROUPS)}")
    crowd = crowd_answers(frame, groups or None)
    if crowd.empty:
        raise SmokewatchError(f"{answers}: no answers of the groups asked for")
    try:
        with _progress(quiet) as progress:
            labels = aggregate(crowd, methods or None, seed=seed, progress=progress)
    except AggregationError as exc:
        raise SmokewatchError(str(exc)) from None
    truth = researcher_truth(frame, groups or None)
    gold = set(crowd.loc[crowd["gold"].to_numpy(dtype=bool), "task"].tolist())
    scores = score(labels, truth, exclude=gold)
    if out is not None:
        _write_labels(labels, frame, truth, out)
        err_console.print(f"wrote {len(labels):,} clips' labels to {out}", highlight=False)
    if not len(truth):
        why = (
            "the researchers' answers are the ones aggregated (--group researcher), and "
            "methods are never scored against their own answers"
            if "researcher" in (groups or ())
            else "no researcher answers"
        )
        err_console.print(
            f"{why}: nothing to score against (the labels are still written with --out)",
            highlight=False,
        )
    if as_json:
        typer.echo(json.dumps(_clean(scores.reset_index().to_dict(orient="records")), indent=2))
        return
    typer.echo(aggregate_table(scores).markdown(), nl=False)


def _write_labels(labels: pd.DataFrame, frame: pd.DataFrame, truth: pd.Series, out: Path) -> None:
    from smokewatch.core.atomic import atomic_path

    clips = frame.groupby("task", sort=True)["clip"].first()
    table = labels.copy()
    table.insert(0, "clip", clips.reindex(table.index))
    table["researcher"] = truth.reindex(table.index).astype("Int64")
    with atomic_path(out) as tmp:
        table.reset_index().to_csv(tmp, index=False, na_rep="")


def _beta(text: str, option: str) -> tuple[float, float]:
    try:
        a, b = (float(x) for x in text.split(","))
    except ValueError:
        raise SmokewatchError(f"{option} takes A,B (a Beta distribution), got {text!r}") from None
    return a, b


@app.command("simulate")
@user_errors
def simulate_command(
    clips: int = typer.Option(300, "--clips", help="Clips per simulated crowd.", min=1),
    prior: float = typer.Option(0.4, "--prior", help="Share of clips with smoke."),
    workers: int = typer.Option(30, "--workers", help="Workers in the crowd.", min=1),
    sensitivity: str = typer.Option(
        "8,2", "--sensitivity", help="Beta(A,B) of a worker's P(smoke | smoke), as A,B."
    ),
    specificity: str = typer.Option(
        "8,2", "--specificity", help="Beta(A,B) of a worker's P(no smoke | no smoke), as A,B."
    ),
    spammers: float = typer.Option(0.2, "--spammers", help="Share of workers who spam."),
    spam: str = typer.Option(
        "mixed", "--spam", help="random (coin flips), constant (one answer always) or mixed."
    ),
    gold: float = typer.Option(
        0.0,
        "--gold",
        help="Share of clips set aside as gold standards, 4 on each page of 12 (as RISE's).",
    ),
    max_redundancy: int = typer.Option(
        9, "--max-answers", "-k", help="Curves from 1 to this many answers per clip.", min=1
    ),
    repeats: int = typer.Option(3, "--repeats", "-r", help="Crowds drawn per point.", min=1),
    target: float = typer.Option(0.9, "--target", min=0.0, max=1.0, help="The F1 to reach."),
    plot: Path = typer.Option(
        Path("simulate.png"), "--plot", help="Where to draw the curves (PNG)."
    ),
    answers_out: Path = typer.Option(
        None,
        "--answers-out",
        help="Also write one simulated crowd's answers (at the largest redundancy, the truth "
        "as a researcher's answers) as an answers CSV, to try quality/aggregate/report on.",
        show_default=False,
    ),
    seed: int = _SEED,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object, not Markdown."),
    quiet: bool = _QUIET,
) -> None:
    """How many answers per clip for F1 >= TARGET? Majority vote and Dawid-Skene on simulated
    crowds whose workers' quality and spammers you choose."""
    from smokewatch.analysis.plots import redundancy_plot
    from smokewatch.analysis.redundancy import CURVE_METHODS, needed_redundancy, redundancy_curve
    from smokewatch.analysis.simulate import CrowdSpec
    from smokewatch.analysis.tables import redundancy_table
    from smokewatch.core.atomic import atomic_write_bytes

    if spam not in ("random", "constant", "mixed"):
        raise SmokewatchError(f"--spam is random, constant or mixed, got {spam!r}")
    spec = CrowdSpec(
        workers=workers,
        sensitivity=_beta(sensitivity, "--sensitivity"),
        specificity=_beta(specificity, "--specificity"),
        spammers=spammers,
        spam=spam,  # type: ignore[arg-type]  # checked above
        page_size=12,
        gold_per_page=4 if gold else 0,
    )
    with _progress(quiet) as progress:
        curve = redundancy_curve(
            spec,
            tasks=clips,
            prior=prior,
            max_redundancy=max_redundancy,
            repeats=repeats,
            seed=seed,
            gold=gold,
            progress=progress,
        )
    needed = needed_redundancy(curve, target)
    atomic_write_bytes(plot, redundancy_plot(curve, target=target, methods=CURVE_METHODS))
    err_console.print(f"wrote the curves to {plot}", highlight=False)
    if answers_out is not None:
        _write_simulated(spec, clips, prior, gold, max_redundancy, seed, answers_out)
        err_console.print(f"wrote simulated answers to {answers_out}", highlight=False)
    if as_json:
        payload = {"target": target, "needed": needed, "curve": curve.to_dict(orient="records")}
        typer.echo(json.dumps(_clean(payload), indent=2))
        return
    typer.echo(redundancy_table(curve, needed, target, CURVE_METHODS).markdown(), nl=False)


def _write_simulated(
    spec: Any, clips: int, prior: float, gold: float, redundancy: int, seed: int, out: Path
) -> None:
    import dataclasses

    import pandas as pd

    from smokewatch.analysis.answers import DTYPES
    from smokewatch.analysis.simulate import simulate_crowd
    from smokewatch.core.atomic import atomic_path

    crowd = simulate_crowd(
        dataclasses.replace(spec, redundancy=redundancy),
        tasks=clips,
        prior=prior,
        gold=gold,
        seed=seed,
    )
    truth = crowd.truth
    researcher = pd.DataFrame(
        {
            "task": truth.index.to_numpy(),
            "clip": [f"sim-{t}" for t in truth.index],
            "worker": 0,
            "group": "researcher",
            "label": truth.to_numpy(),
            "time": 0,
            "page": None,
            "page_accepted": None,
            "gold": False,
            "gold_label": None,
            "expert": False,
        }
    ).astype(DTYPES)
    frame = pd.concat([researcher, crowd.answers], ignore_index=True)
    with atomic_path(out) as tmp:
        frame.to_csv(tmp, index=False, na_rep="")


@app.command("report")
@user_errors
def report_command(
    answers: Path = _ANSWERS,
    out: Path = typer.Option(..., "--out", "-o", help="Folder for report.html (created)."),
    metadata: Path = typer.Option(
        None,
        "--metadata",
        help="RISE metadata (.json or .csv): adds who labeled each clip (analyze sources).",
        show_default=False,
    ),
    pages: Path = _PAGES,
    repeats: int = typer.Option(100, "--repeats", "-r", help="Draws of the quality tables.", min=1),
    min_reliability: float = typer.Option(
        0.3, "--min-reliability", help="As analyze quality's (0: no filtered rows)."
    ),
    methods: list[str] = typer.Option(
        None,
        "--method",
        "-m",
        help="Aggregation method(s) (repeat) [default: all].",
        show_default=False,
    ),
    seed: int = _SEED,
    quiet: bool = _QUIET,
) -> None:
    """One self-contained HTML page with every table and figure of analyze: contributors,
    sources (with --metadata), quality and aggregation. Opens offline; fetches nothing."""
    from smokewatch.analysis.aggregate import METHODS
    from smokewatch.analysis.report import build_sections, write_report
    from smokewatch.core.metadata import read_metadata

    frame, page_frame = _load(answers, pages)
    unknown = [m for m in methods or () if m not in METHODS]
    if unknown:
        raise SmokewatchError(f"--method {unknown[0]!r} is not one of {', '.join(METHODS)}")
    clips = read_metadata(metadata) if metadata is not None else None
    with _progress(quiet) as progress:
        sections = build_sections(
            frame,
            pages=page_frame,
            metadata=clips,
            repeats=repeats,
            seed=seed,
            min_reliability=min_reliability or None,
            methods=methods or None,
            progress=progress,
        )
    sources = [answers.name] + [p.name for p in (pages, metadata) if p is not None]
    path = write_report(
        sections,
        out,
        title="Who labels, and how good are the labels",
        subtitle=f"From {', '.join(sources)}; {repeats} draws, seed {seed}.",
    )
    console.print(f"wrote {path}", highlight=False)
