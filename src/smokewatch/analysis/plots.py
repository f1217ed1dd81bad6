"""The crowd analyses' figures as PNG bytes (matplotlib, Agg canvas, no pyplot state).

Figures are built on a :class:`matplotlib.figure.Figure` with an Agg canvas, never through
``pyplot``: no global figure list, no backend chosen from the environment, so a command on a
server without a display and a test in a worker thread draw the same.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from smokewatch.analysis.quality import QualityResult

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = ["aggregate_plot", "kappa_plot", "quality_plot", "redundancy_plot"]

_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def _figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    # no "Software"/date metadata: the same data give the same bytes
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _value(entry: dict[str, Any] | None, key: str = "mean") -> float:
    if not entry or entry.get(key) is None:
        return math.nan
    return float(entry[key])


def redundancy_plot(
    curve: pd.DataFrame, *, target: float = 0.9, methods: Sequence[str] = ()
) -> bytes:
    """F1 (mean ± std band) against answers per clip, one line per method, the target dashed."""
    fig = _figure(6.4, 4.0)
    ax = fig.add_subplot()
    names = list(methods) or list(dict.fromkeys(curve["method"]))
    for i, method in enumerate(names):
        rows = curve[curve["method"] == method].sort_values("redundancy")
        x = rows["redundancy"].to_numpy()
        y = rows["f1_mean"].to_numpy(dtype=float)
        s = rows["f1_std"].to_numpy(dtype=float)
        color = _COLORS[i % len(_COLORS)]
        ax.plot(x, y, marker="o", color=color, label=method)
        ax.fill_between(x, y - s, y + s, color=color, alpha=0.15, linewidth=0)
    ax.axhline(target, color="#555555", linestyle="--", linewidth=1, label=f"F1 = {target:g}")
    ax.set_xlabel("answers per clip")
    ax.set_ylabel("F1 against the true labels")
    ax.set_xticks(sorted(set(curve["redundancy"].astype(int))))
    ax.set_ylim(max(0.0, float(curve["f1_mean"].min()) - 0.1), 1.0)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    return _png(fig)


def quality_plot(result: QualityResult) -> bytes:
    """Precision, recall and F1 (mean ± std) of each population, grouped bars."""
    fig = _figure(7.0, 3.6)
    ax = fig.add_subplot()
    names = [r["population"] for r in result.rows]
    metrics = ("precision", "recall", "f1")
    width = 0.8 / len(metrics)
    for i, metric in enumerate(metrics):
        x = [j + (i - 1) * width for j in range(len(names))]
        y = [_value(r[metric]) for r in result.rows]
        e = [_value(r[metric], "std") for r in result.rows]
        ax.bar(x, y, width, yerr=e, capsize=3, color=_COLORS[i], label=metric)
    ax.set_xticks(range(len(names)), [n.replace(" (", "\n(") for n in names], fontsize=8)
    ax.set_ylim(0, 1.0)
    ax.set_ylabel("against researchers")
    ax.grid(axis="y", alpha=0.3)
    fig.legend(loc="outside upper center", ncols=len(metrics), fontsize=8, frameon=False)
    return _png(fig)


def kappa_plot(result: QualityResult) -> bytes:
    """The kappa matrix as a heat map, mean values written in the cells."""
    import numpy as np

    names, matrix = result.kappa_matrix()
    values = np.array(
        [[_value(e["kappa"]) if e else math.nan for e in line] for line in matrix], dtype=float
    )
    size = 1.2 + 1.1 * len(names)
    fig = _figure(size + 1.0, size)
    ax = fig.add_subplot()
    image = ax.imshow(np.ma.masked_invalid(values), vmin=-0.2, vmax=1.0, cmap="viridis")
    labels = [n.replace(" (", "\n(") for n in names]
    ax.set_xticks(range(len(names)), labels, fontsize=7, rotation=30, ha="right")
    ax.set_yticks(range(len(names)), labels, fontsize=7)
    for i in range(len(names)):
        for j in range(len(names)):
            v = values[i, j]
            text, color = ("n/a", "#666666") if math.isnan(v) else (f"{v:.2f}", "white")
            if v > 0.6:  # viridis is light at the top: dark text stays readable
                color = "black"
            ax.text(j, i, text, ha="center", va="center", fontsize=8, color=color)
    fig.colorbar(image, ax=ax, label="Cohen's kappa")
    return _png(fig)


def aggregate_plot(scores: pd.DataFrame) -> bytes:
    """Accuracy, F1 and coverage of each aggregation method, grouped bars."""
    fig = _figure(7.0, 3.4)
    ax = fig.add_subplot()
    names = [str(m) for m in scores.index]
    metrics = ("accuracy", "f1", "coverage")
    width = 0.8 / len(metrics)
    for i, metric in enumerate(metrics):
        x = [j + (i - 1) * width for j in range(len(names))]
        ax.bar(x, scores[metric].to_numpy(dtype=float), width, color=_COLORS[i], label=metric)
    ax.set_xticks(range(len(names)), names, fontsize=8)
    ax.set_ylim(0, 1.0)
    ax.grid(axis="y", alpha=0.3)
    fig.legend(loc="outside upper center", ncols=len(metrics), fontsize=8, frameon=False)
    return _png(fig)
