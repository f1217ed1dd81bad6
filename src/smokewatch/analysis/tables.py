"""The crowd analyses' tables as plain cells, so the terminal (Markdown) and the HTML report
print the same numbers from one place."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from smokewatch.analysis.quality import QualityResult

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "Table",
    "aggregate_table",
    "kappa_table",
    "mean_std",
    "quality_table",
    "redundancy_table",
]


@dataclass(frozen=True)
class Table:
    """A titled table of text cells; the first column names the row, the others are numbers."""

    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    note: str = ""

    def markdown(self) -> str:
        """GitHub-flavoured Markdown: a heading line, the table, the note."""

        def cell(text: str) -> str:
            return text.replace("|", "\\|").replace("\n", " ")

        align = [":---", *["---:"] * (len(self.headers) - 1)]  # names left, numbers right
        lines = [f"### {cell(self.title)}", ""]
        lines.append("| " + " | ".join(cell(h) for h in self.headers) + " |")
        lines.append("| " + " | ".join(align) + " |")
        lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in self.rows]
        if self.note:
            lines += ["", self.note]
        return "\n".join(lines) + "\n"


def mean_std(value: dict[str, Any] | None, digits: int = 3, *, of: int | None = None) -> str:
    """``0.812 ± 0.021``; ``0.812`` when there is no spread (``std`` None); ``n/a`` when
    nothing could be scored. With ``of`` (the draws made) and fewer ``draws`` defining the
    figure, says so: ``0.812 ± 0.021 (87 of 100 draws)``."""
    if not value or value.get("mean") is None:
        return "n/a"
    text = f"{value['mean']:.{digits}f}"
    if value.get("std") is not None:
        text += f" ± {value['std']:.{digits}f}"
    draws = value.get("draws")
    if of is not None and draws is not None and draws < of:
        text += f" ({draws} of {of} draws)"
    return text


def _partly_defined(values: list[dict[str, Any] | None], of: int) -> bool:
    return any(v and v.get("mean") is not None and v.get("draws", of) < of for v in values)


#: What a cell with fewer draws than made means (said under the tables that have one).
_PARTLY = (
    "(n of N draws): the figure was undefined in the other draws (no clip drawn as smoke for "
    "precision, none truly smoke for recall, one label only for kappa); the mean is over the "
    "n that define it. n/a: undefined in every draw."
)


def _number(x: float, digits: int = 3) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def quality_table(result: QualityResult) -> Table:
    """Precision, recall and F1 of each population's drawn majority against researchers."""
    rows = tuple(
        (
            r["population"],
            str(r["workers"]),
            str(r["answers"]),
            f"{r['clips']:.0f}",
            mean_std(r["precision"], of=result.repeats),
            mean_std(r["recall"], of=result.repeats),
            mean_std(r["f1"], of=result.repeats),
        )
        for r in result.rows
    )
    metrics = [r[m] for r in result.rows for m in ("precision", "recall", "f1")]
    return Table(
        title="Label quality against researchers (paper's Table 6)",
        headers=("population", "workers", "answers", "clips", "precision", "recall", "F1"),
        rows=rows,
        note=" ".join(
            [
                f"Majority of {result.assignments} answers drawn per clip, {result.repeats} "
                f"draws (seed {result.seed}); mean ± standard deviation over the draws (no "
                "deviation: every draw took the same answers, or one draw). Gold answers are "
                "left out; researchers are scored against the researcher answers not drawn.",
                *([_PARTLY] if _partly_defined(metrics, result.repeats) else []),
                *(f"Note: {n}." for n in result.notes),
            ]
        ),
    )


def kappa_table(result: QualityResult) -> Table:
    """Cohen's kappa between every pair of populations, as a symmetric matrix."""
    names, matrix = result.kappa_matrix()

    def cell(entry: dict[str, Any] | None) -> str:
        if not entry or entry["kappa"]["mean"] is None:
            return "n/a"
        return f"{mean_std(entry['kappa'], of=result.repeats)} ({entry['clips']:.0f} clips)"

    rows = tuple(
        (name, *(cell(entry) for entry in line)) for name, line in zip(names, matrix, strict=True)
    )
    partly = _partly_defined([k["kappa"] for k in result.kappa], result.repeats)
    return Table(
        title="Agreement between populations: Cohen's kappa (paper's Table 5)",
        headers=("", *names),
        rows=rows,
        note=(
            f"Each cell: kappa of two drawn majorities of {result.assignments} answers on the "
            "clips both have (in brackets: how many, mean over the draws); populations that "
            "share answers (a group and itself, or a group and its reliable workers) are drawn "
            f"without sharing any, so those cells need {2 * result.assignments} answers per "
            "clip." + (f" {_PARTLY}" if partly else "")
        ),
    )


def aggregate_table(scores: pd.DataFrame, *, title: str | None = None) -> Table:
    """One row per aggregation method: coverage, accuracy, precision, recall, F1."""
    rows = tuple(
        (
            str(method),
            f"{int(row['decided'])}/{int(row['tasks'])}",
            _number(row["coverage"]),
            _number(row["accuracy"]),
            _number(row["precision"]),
            _number(row["recall"]),
            _number(row["f1"]),
        )
        for method, row in scores.iterrows()
    )
    return Table(
        title=title or "Aggregated labels against researchers",
        headers=("method", "decided", "coverage", "accuracy", "precision", "recall", "F1"),
        rows=rows,
        note=(
            "Scored on the clips with a researcher label that are not gold standards; accuracy, "
            "precision, recall and F1 on the decided clips, smoke as the positive class."
        ),
    )


def redundancy_table(
    curve: pd.DataFrame, needed: dict[str, int | None], target: float, methods: Sequence[str]
) -> Table:
    """F1 (mean ± std) per method and number of answers per clip; no ± with one crowd, and
    "(n of N crowds)" where F1 was undefined in some (no clip smoke, none labeled smoke)."""
    by = {(int(r["redundancy"]), r["method"]): r for _, r in curve.iterrows()}
    redundancies = sorted({k for k, _ in by})

    def cell(row: Any) -> str:
        mean, std = float(row["f1_mean"]), float(row["f1_std"])
        if math.isnan(mean):
            return "n/a"
        text = f"{mean:.3f}" if math.isnan(std) else f"{mean:.3f} ± {std:.3f}"
        defined, made = row.get("f1_crowds"), row.get("crowds")
        if defined is not None and made is not None and defined < made:
            text += f" ({int(defined)} of {int(made)} crowds)"
        return text

    rows = tuple(
        (str(k), *(cell(by[(k, m)]) if (k, m) in by else "n/a" for m in methods))
        for k in redundancies
    )
    reached = "; ".join(
        f"{m}: {needed[m] if needed.get(m) is not None else 'not within the range'}"
        for m in methods
    )
    return Table(
        title=f"F1 against answers per clip (F1 >= {target:g} needs: {reached})",
        headers=("answers per clip", *(f"F1 {m}" for m in methods)),
        rows=rows,
    )
