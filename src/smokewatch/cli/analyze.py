"""``smokewatch analyze …``: contributors, label quality and aggregation, from exports."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from smokewatch.cli._common import refuse_overwrite, user_errors
from smokewatch.errors import SmokewatchError

app = typer.Typer(
    help="Who labels and how good the labels are: contributors, citizens vs crowd, "
    "Dawid-Skene, from exported answers and metadata.",
    no_args_is_help=True,
)


@app.command("sources")
@user_errors
def sources_command(
    metadata: Path = typer.Argument(
        ..., help="RISE metadata (.json as RISE publishes it, or .csv).", show_default=False
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """How each clip was labeled: researcher-only, collaborative or citizen-only (Sec. 3.3).

    A side took part when its state is not "no data" (citizens: any answer; researchers: a
    label). Agreement and Cohen's kappa compare citizens' and researchers' settled labels
    where both exist.
    """
    from smokewatch.analysis.sources import SOURCES, label_sources
    from smokewatch.core.metadata import read_metadata

    result = label_sources(read_metadata(metadata))
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    lines = ["| source | clips | share |", "|---|---|---|"]
    for name in SOURCES:
        count = result.counts[name]
        lines.append(f"| {name} | {count:,} | {_share(count, result.total)} |")
    if result.unlabeled:
        share = _share(result.unlabeled, result.total)
        lines.append(f"| unlabeled | {result.unlabeled:,} | {share} |")
    lines.append(f"| total | {result.total:,} | |")
    c = result.confusion
    agreement = "-" if result.agreement is None else f"{result.agreement:.1%}"
    kappa = "-" if result.kappa is None else f"{result.kappa:.3f}"
    lines += [
        "",
        f"Citizens and researchers both settled {result.both:,} clips: they agree on "
        f"{result.agree:,} ({agreement}), Cohen's kappa {kappa}.",
        f"Disagreements: researcher smoke / citizens no smoke {c['r1c0']:,}; "
        f"researcher no smoke / citizens smoke {c['r0c1']:,}.",
    ]
    typer.echo("\n".join(lines))


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "-"


@app.command("contributors")
@user_errors
def contributors_command(
    answers: Path = typer.Argument(
        ...,
        help="An answers export (labels export --answers): .csv or .parquet.",
        show_default=False,
    ),
    pages: Path = typer.Option(
        None,
        "--pages",
        help="The pages export (labels export --pages): pages submitted and accepted come "
        "from it, rejected ones included; without it, from the answers' pages.",
        show_default=False,
    ),
    csv_out: Path = typer.Option(
        None, "--csv", help="Also write the table to this CSV file.", show_default=False
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object, not Markdown."),
    plot: Path = typer.Option(
        None,
        "--plot",
        help="Also draw each group's share of users and of pages (PNG).",
        show_default=False,
    ),
) -> None:
    """The paper's Table 4: citizens by reliability and how much they gave.

    Reliability is accepted / submitted pages; enthusiasts have at least the mean number of
    accepted pages, reliable users a reliability of at least 0.5. Citizens only: researchers'
    pages (never checked against gold standards) are left out.
    """
    from smokewatch.analysis.answers import load_answers, load_pages
    from smokewatch.analysis.contributors import (
        contributors,
        no_citizens,
        pages_from_answers,
        to_json,
        to_markdown,
        write_csv,
        write_plot,
    )

    refuse_overwrite(csv_out, answers, pages, option="--csv")
    refuse_overwrite(plot, answers, pages, csv_out, option="--plot")
    frame = load_answers(answers)
    if frame.empty:  # as analyze quality / aggregate / report say it
        raise SmokewatchError(f"{answers}: no answers")
    page_frame = load_pages(pages) if pages is not None else None
    reason = no_citizens(frame, page_frame)
    if reason is not None:
        raise SmokewatchError(f"{answers}: {reason}")
    result = contributors(
        page_frame if page_frame is not None else pages_from_answers(frame), frame
    )
    if csv_out is not None:
        write_csv(result, str(csv_out))
    if plot is not None:
        write_plot(result, str(plot))
    if as_json:
        typer.echo(to_json(result))
        return
    typer.echo(to_markdown(result), nl=False)
