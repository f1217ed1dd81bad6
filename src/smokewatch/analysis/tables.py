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


def mean_std(value: dict[str, Any] | None, digits: int = 3) -> str:
    """``0.812 ± 0.021``, or ``n/a`` when nothing could be scored."""
    if not value or value.get("mean") is None:
        return "n/a"
    return f"{value['mean']:.{digits}f} ± {value['std']:.{digits}f}"


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
            mean_std(r["precision"]),
            mean_std(r["recall"]),
            mean_std(r["f1"]),
        )
        for r in result.rows
    )
    return Table(
        title="Label quality against researchers (paper's Table 6)",
        headers=("population", "workers", "answers", "clips", "precision", "recall", "F1"),
        rows=rows,
        note=" ".join(
            [
                f"Majority of {result.assignments} answers drawn per clip, {result.repeats} "
                f"draws (seed {result.seed}); mean ± standard deviation over the draws. Gold "
                "answers are left out; researchers are scored against the researcher answers "
                "not drawn.",
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
        return f"{mean_std(entry['kappa'])} ({entry['clips']:.0f})"

    rows = tuple(
        (name, *(cell(entry) for entry in line)) for name, line in zip(names, matrix, strict=True)
    )
    return Table(
        title="Agreement between populations: Cohen's kappa (paper's Table 5)",
        headers=("", *names),
        rows=rows,
        note=(
            f"Each cell: kappa of two drawn majorities of {result.assignments} answers on the "
            "clips both have (in brackets: how many, mean over the draws); populations that "
            "share answers (a group and itself, or a group and its reliable workers) are drawn "
            f"without sharing any, so those cells need {2 * result.assignments} answers per "
            "clip."
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
    """F1 (mean ± std) per method and number of answers per clip."""
    by = {(int(r["redundancy"]), r["method"]): r for _, r in curve.iterrows()}
    redundancies = sorted({k for k, _ in by})
    rows = tuple(
        (
            str(k),
            *(
                f"{by[(k, m)]['f1_mean']:.3f} ± {by[(k, m)]['f1_std']:.3f}"
                if (k, m) in by
                else "n/a"
                for m in methods
            ),
        )
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
