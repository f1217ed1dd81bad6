"""The analysis report: one HTML file with every table and figure of ``smokewatch analyze``.

Like the detection report it travels alone: styles inline, figures as ``data:`` PNGs, no
script, and a Content-Security-Policy that forbids fetching anything, so the page opens from
an e-mail attachment and tells no third party it was opened. Every text from the data (group
names, notes, file names) is escaped: an answers file is user data.

A report is a list of :class:`Section` (tables and figures); each analysis has a function
that makes its section from its result, so a new analysis adds a section without touching the
page. :func:`build_sections` runs them all on one answers frame.
"""

from __future__ import annotations

import base64
import hashlib
import html
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from smokewatch.analysis.quality import DEFAULT_MIN_RELIABILITY, QualityError, QualityResult
from smokewatch.analysis.tables import Table, aggregate_table, kappa_table, quality_table
from smokewatch.core.atomic import atomic_write_text

if TYPE_CHECKING:
    import pandas as pd

    from smokewatch.analysis.contributors import Contributors
    from smokewatch.analysis.sources import LabelSources
    from smokewatch.core.clip import Clip

__all__ = [
    "REPORT_NAME",
    "Figure",
    "Section",
    "aggregate_section",
    "build_sections",
    "contributors_section",
    "overview_section",
    "quality_section",
    "render_report",
    "sources_section",
    "write_report",
]

REPORT_NAME = "report.html"


@dataclass(frozen=True)
class Figure:
    """A PNG figure and the text a screen reader says for it."""

    png: bytes
    alt: str
    caption: str = ""


@dataclass(frozen=True)
class Section:
    """One part of the report: a heading, paragraphs, tables, figures (all plain text)."""

    id: str
    title: str
    paragraphs: tuple[str, ...] = ()
    tables: tuple[Table, ...] = ()
    figures: tuple[Figure, ...] = ()
    notes: tuple[str, ...] = field(default=())


def overview_section(answers: pd.DataFrame) -> Section:
    """How many answers, workers and clips each group gave."""
    rows = []
    for group in ("researcher", "citizen", "crowd"):
        part = answers[(answers["group"] == group).to_numpy(dtype=bool)]
        if part.empty:
            continue
        gold = int(part["gold"].to_numpy(dtype=bool).sum())
        rows.append(
            (
                group,
                f"{len(part):,}",
                f"{gold:,}",
                f"{part['worker'].nunique():,}",
                f"{part['task'].nunique():,}",
                f"{len(part) / max(part['task'].nunique(), 1):.2f}",
            )
        )
    rows.append(
        (
            "all",
            f"{len(answers):,}",
            f"{int(answers['gold'].to_numpy(dtype=bool).sum()):,}",
            f"{answers['worker'].nunique():,}",
            f"{answers['task'].nunique():,}",
            f"{len(answers) / max(answers['task'].nunique(), 1):.2f}",
        )
    )
    table = Table(
        title="Answers by group",
        headers=("group", "answers", "of them gold", "workers", "clips", "answers per clip"),
        rows=tuple(rows),
    )
    return Section("overview", "Overview", tables=(table,))


def contributors_section(result: Contributors) -> Section:
    """The paper's Table 4 (``analyze contributors``) and its plot."""
    from smokewatch.analysis.contributors import skew_sentence, write_plot

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value:.0%}"

    rows = tuple(
        (
            g.name,
            f"{g.users:,}",
            pct(g.users_share),
            f"{g.submitted:,}",
            f"{g.accepted:,}",
            pct(g.pages_share),
            "-" if g.mean is None or g.std is None else f"{g.mean:.1f} ± {g.std:.1f}",
            "-" if g.reliability is None else f"{g.reliability:.2f}",
        )
        for g in [*result.groups, result.total]
    )
    table = Table(
        title="Citizens by reliability and contribution (paper's Table 4)",
        headers=(
            "group",
            "users",
            "% users",
            "pages submitted",
            "pages accepted",
            "% of data",
            "accepted pages per user",
            "reliability",
        ),
        rows=rows,
        note="Citizens only. Enthusiasts: accepted pages at least the mean; reliable: "
        "accepted / submitted pages at least 0.5.",
    )
    with tempfile.TemporaryDirectory() as folder:  # write_plot writes a file; we embed bytes
        path = os.path.join(folder, "contributors.png")
        write_plot(result, path)
        png = Path(path).read_bytes()
    figure = Figure(png, "Each group's share of users beside its share of the accepted pages")
    return Section(
        "contributors",
        "Contributors",
        paragraphs=(f"Skew: {skew_sentence(result)}.",),
        tables=(table,),
        figures=(figure,),
        notes=tuple(result.notes),
    )


def sources_section(result: LabelSources) -> Section:
    """Who labeled each clip of the metadata (``analyze sources``)."""
    from smokewatch.analysis.sources import SOURCES

    def share(part: int) -> str:
        return f"{part / result.total:.1%}" if result.total else "-"

    rows = [(name, f"{result.counts[name]:,}", share(result.counts[name])) for name in SOURCES]
    if result.unlabeled:
        rows.append(("unlabeled", f"{result.unlabeled:,}", share(result.unlabeled)))
    rows.append(("total", f"{result.total:,}", ""))
    agreement = "-" if result.agreement is None else f"{result.agreement:.1%}"
    kappa = "-" if result.kappa is None else f"{result.kappa:.3f}"
    return Section(
        "sources",
        "Label sources (metadata)",
        paragraphs=(
            f"Citizens and researchers both settled {result.both:,} clips: they agree on "
            f"{result.agree:,} ({agreement}), Cohen's kappa {kappa}.",
        ),
        tables=(Table("Clips by who labeled them", ("source", "clips", "share"), tuple(rows)),),
    )


def quality_section(result: QualityResult) -> Section:
    """Tables 5-6 of ``analyze quality`` with their figures."""
    from smokewatch.analysis.plots import kappa_plot, quality_plot

    return Section(
        "quality",
        "Label quality",
        tables=(quality_table(result), kappa_table(result)),
        figures=(
            Figure(quality_plot(result), "Precision, recall and F1 of each population"),
            Figure(kappa_plot(result), "Cohen's kappa between every pair of populations"),
        ),
    )


def aggregate_section(scores: pd.DataFrame) -> Section:
    """The method comparison of ``analyze aggregate`` with its figure."""
    from smokewatch.analysis.plots import aggregate_plot

    return Section(
        "aggregate",
        "Aggregation methods",
        tables=(aggregate_table(scores),),
        figures=(Figure(aggregate_plot(scores), "Accuracy, F1 and coverage of each method"),),
    )


def build_sections(
    answers: pd.DataFrame,
    *,
    pages: pd.DataFrame | None = None,
    metadata: Sequence[Clip] | None = None,
    repeats: int = 100,
    seed: int = 0,
    min_reliability: float | None = DEFAULT_MIN_RELIABILITY,
    methods: Sequence[str] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> list[Section]:
    """Every section the data allow: overview, contributors, sources (with ``metadata``),
    quality and aggregation (with researcher answers to score against); ``progress(stage,
    done, total)`` is told of the quality draws and the aggregation methods done."""
    from smokewatch.analysis.aggregate import aggregate, crowd_answers, researcher_truth, score
    from smokewatch.analysis.contributors import contributors, no_citizens, pages_from_answers
    from smokewatch.analysis.quality import label_quality
    from smokewatch.analysis.sources import label_sources

    sections = [overview_section(answers)]
    reason = no_citizens(answers, pages)
    if reason is not None:
        sections.append(Section("contributors", "Contributors", notes=(reason,)))
    else:
        sections.append(
            contributors_section(
                contributors(pages if pages is not None else pages_from_answers(answers), answers)
            )
        )
    if metadata is not None:
        sections.append(sources_section(label_sources(metadata)))
    try:
        result = label_quality(
            answers,
            repeats=repeats,
            seed=seed,
            min_reliability=min_reliability,
            pages=pages,
            progress=progress,
        )
    except QualityError as exc:
        sections.append(Section("quality", "Label quality", notes=(str(exc),)))
    else:
        sections.append(quality_section(result))
    truth = researcher_truth(answers)
    crowd = crowd_answers(answers)
    if len(truth) and not crowd.empty:
        labels = aggregate(crowd, methods, seed=seed, progress=progress)
        gold = set(crowd.loc[crowd["gold"].to_numpy(dtype=bool), "task"].tolist())
        sections.append(aggregate_section(score(labels, truth, exclude=gold)))
    else:
        sections.append(
            Section(
                "aggregate",
                "Aggregation methods",
                notes=("needs researcher answers (the truth) and other answers to aggregate",),
            )
        )
    return sections


_CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2329;
background:#f6f7f9}
main{max-width:1100px;margin:0 auto;padding:1.5rem}
h1{font-size:1.6rem;margin:.2rem 0 .3rem}
h2{font-size:1.25rem;margin:2rem 0 .6rem;border-bottom:1px solid #d5d9de;padding-bottom:.2rem}
h3{font-size:1rem;margin:1.2rem 0 .4rem}
.meta{color:#5b6670;font-size:.9rem;margin:0}
nav a{margin-right:1rem}
.scroll{overflow-x:auto}
table{border-collapse:collapse;background:#fff;font-size:.9rem;margin:.2rem 0}
th,td{padding:.3rem .6rem;border:1px solid #dde1e5;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left}
thead th{background:#eef1f4}
.note{color:#5b6670;font-size:.85rem;max-width:70rem}
.warn{background:#fff5d6;border-left:4px solid #e0a800;padding:.4rem .7rem;max-width:70rem}
figure{margin:1rem 0;background:#fff;padding:.5rem;border:1px solid #dde1e5;display:inline-block;
max-width:100%;box-sizing:border-box}
figure img{max-width:100%;height:auto;display:block}
figcaption{color:#5b6670;font-size:.85rem}
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _table(table: Table) -> str:
    head = "".join(f'<th scope="col">{_e(h)}</th>' for h in table.headers)
    body = "".join(
        "<tr>"
        + "".join(
            (f'<th scope="row">{_e(c)}</th>' if i == 0 else f"<td>{_e(c)}</td>")
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in table.rows
    )
    note = f'<p class="note">{_e(table.note)}</p>' if table.note else ""
    return (
        f'<h3>{_e(table.title)}</h3>\n<div class="scroll"><table><thead><tr>{head}</tr>'
        f"</thead><tbody>{body}</tbody></table></div>\n{note}\n"
    )


def _figure(figure: Figure) -> str:
    data = base64.b64encode(figure.png).decode("ascii")
    caption = f"<figcaption>{_e(figure.caption)}</figcaption>" if figure.caption else ""
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{_e(figure.alt)}">'
        f"{caption}</figure>\n"
    )


def _section(section: Section) -> str:
    parts = [f'<section id="{_e(section.id)}">\n<h2>{_e(section.title)}</h2>\n']
    parts += [f'<p class="warn">{_e(n)}</p>\n' for n in section.notes]
    parts += [f"<p>{_e(p)}</p>\n" for p in section.paragraphs]
    parts += [_table(t) for t in section.tables]
    parts += [_figure(f) for f in section.figures]
    parts.append("</section>\n")
    return "".join(parts)


def render_report(sections: Sequence[Section], *, title: str, subtitle: str = "") -> str:
    """The report's HTML text: the sections in order, a table of contents on top."""
    from smokewatch import __version__

    digest = base64.b64encode(hashlib.sha256(_CSS.encode("utf-8")).digest()).decode()
    policy = (
        f"default-src 'none'; style-src 'sha256-{digest}'; img-src data:; "
        "base-uri 'none'; form-action 'none'"
    )
    nav = "".join(f'<a href="#{_e(s.id)}">{_e(s.title)}</a>' for s in sections)
    meta = f'<p class="meta">{_e(subtitle)}</p>' if subtitle else ""
    body = "".join(_section(s) for s in sections)
    return (
        "<!doctype html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="generator" content="smokewatch {_e(__version__)}">\n'
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n<main>\n"
        f"<h1>{_e(title)}</h1>\n{meta}\n<nav>{nav}</nav>\n{body}</main>\n</body>\n</html>\n"
    )


def write_report(
    sections: Sequence[Section], out: str | os.PathLike[str], *, title: str, subtitle: str = ""
) -> Path:
    """Write :func:`render_report` to ``out/report.html`` atomically; returns the path."""
    path = Path(out) / REPORT_NAME
    atomic_write_text(path, render_report(sections, title=title, subtitle=subtitle))
    return path
