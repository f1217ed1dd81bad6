"""Who gives the labels: the paper's Table 4, citizens grouped by how much and how well.

A volunteer's *reliability* is accepted / submitted pages (a page is accepted when every gold
standard on it is answered right). With the mean number of accepted pages per user as the
line between few and many:

* reliable enthusiasts: reliability >= 0.5 and accepted pages >= the mean;
* other enthusiasts: accepted pages >= the mean, reliability < 0.5;
* reliable volunteers: reliability >= 0.5, accepted pages < the mean;
* other volunteers: the rest.

Citizens only: researchers' pages have no gold standards (always accepted) and are left out,
as are pages whose acceptance is unknown. The standard deviations are the population's
(``ddof=0``). Pages come from the pages export when there is one; from an answers file a page
is a distinct (worker, page) with its ``page_accepted`` — but a service that keeps no answer
of a rejected page (this one, and RISE) leaves rejected pages out of the answers file, so
reliability from it alone is 1 for everyone (:attr:`Contributors.notes` says so).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "GROUPS",
    "Contributors",
    "GroupRow",
    "contributors",
    "no_citizens",
    "pages_from_answers",
    "skew_sentence",
    "to_json",
    "to_markdown",
    "write_csv",
    "write_plot",
]

#: The groups of Table 4, in its order.
GROUPS = ("reliable enthusiasts", "other enthusiasts", "reliable volunteers", "other volunteers")
RELIABLE = 0.5


@dataclass(frozen=True, slots=True)
class GroupRow:
    """One row of the table: a group of users (or all of them, ``name`` "total").

    ``users_share`` and ``pages_share`` are fractions of all users and of all accepted pages
    (the data); ``mean`` and ``std`` are of accepted pages per user (None: no user);
    ``reliability`` is the group's accepted / submitted pages; ``answers`` the answers its
    users gave (None when only a pages file was read).
    """

    name: str
    users: int
    users_share: float
    submitted: int
    accepted: int
    pages_share: float
    mean: float | None
    std: float | None
    reliability: float | None
    answers: int | None = None


@dataclass(frozen=True, slots=True)
class Contributors:
    """Table 4 and what it rests on; ``users`` is the per-user table (worker, submitted,
    accepted, reliability, group) as records."""

    mean_accepted: float | None
    groups: list[GroupRow]
    total: GroupRow
    skew: dict[str, float | None]
    users: list[dict[str, object]] = field(default_factory=list)
    left_out_pages: int = 0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def pages_from_answers(answers: pd.DataFrame) -> pd.DataFrame:
    """The pages of an answers frame (``analysis.answers.load_answers``): one row per distinct
    (worker, page), with the page's group and ``accepted`` (columns as the pages export)."""
    import pandas as pd

    paged = answers[answers["page"].notna()]
    if paged.empty:
        return pd.DataFrame(
            {
                "page": pd.Series([], dtype="int64"),
                "worker": pd.Series([], dtype="int64"),
                "group": pd.Series([], dtype="string"),
                "accepted": pd.Series([], dtype="boolean"),
            }
        )
    pages = (
        paged.groupby(["worker", "page"], sort=True)
        .agg(group=("group", "first"), accepted=("page_accepted", "first"))
        .reset_index()
    )
    return pages.astype({"page": "int64", "accepted": "boolean"})[
        ["page", "worker", "group", "accepted"]
    ]


def no_citizens(answers: pd.DataFrame, pages: pd.DataFrame | None = None) -> str | None:
    """Why there is no Table 4 to make (it is about citizens): neither ``answers`` nor
    ``pages`` has a citizen row; the reason names the groups ``answers`` holds. None when
    there are citizens."""
    if (answers["group"] == "citizen").any():
        return None
    if pages is not None and (pages["group"] == "citizen").any():
        return None  # all their pages rejected (no answers kept): the table still stands
    counts = answers["group"].astype(str).value_counts()
    held = ", ".join(f"{g} ({n:,})" for g, n in counts.items()) or "none"
    where = "answers or pages" if pages is not None else "answers"
    return f"no citizen {where} (Table 4 is about citizens); the answers are of: {held}"


def _group_of(accepted: int, reliability: float, mean: float) -> str:
    enthusiast = accepted >= mean and accepted > 0  # when no page passed, the mean is 0
    reliable = reliability >= RELIABLE
    if enthusiast:
        return GROUPS[0] if reliable else GROUPS[1]
    return GROUPS[2] if reliable else GROUPS[3]


def _row(name: str, part: pd.DataFrame, n_users: int, n_accepted: int) -> GroupRow:
    users = len(part)
    submitted = int(part["submitted"].sum())
    accepted = int(part["accepted"].sum())
    answers = int(part["answers"].sum()) if "answers" in part else None
    return GroupRow(
        name=name,
        users=users,
        users_share=users / n_users if n_users else 0.0,
        submitted=submitted,
        accepted=accepted,
        pages_share=accepted / n_accepted if n_accepted else 0.0,
        mean=float(part["accepted"].mean()) if users else None,
        std=float(part["accepted"].std(ddof=0)) if users else None,
        reliability=accepted / submitted if submitted else None,
        answers=answers,
    )


def contributors(pages: pd.DataFrame, answers: pd.DataFrame | None = None) -> Contributors:
    """Table 4 of ``pages`` (columns ``worker``, ``group``, ``accepted``: the pages export, or
    :func:`pages_from_answers`); ``answers`` adds how many answers each group gave."""
    notes: list[str] = []
    citizens = pages[pages["group"] == "citizen"]
    unknown = citizens["accepted"].isna()
    left_out = int(unknown.sum())
    if left_out:
        notes.append(f"{left_out:,} citizen pages of unknown acceptance are left out")
    citizens = citizens[~unknown]
    per_user = (
        citizens.assign(accepted=citizens["accepted"].astype("int64"))
        .groupby("worker", sort=True)
        .agg(submitted=("accepted", "size"), accepted=("accepted", "sum"))
    )
    if answers is not None:
        given = answers[answers["group"] == "citizen"].groupby("worker").size()
        per_user["answers"] = given.reindex(per_user.index, fill_value=0).astype("int64")
    per_user["reliability"] = per_user["accepted"] / per_user["submitted"]
    n_users = len(per_user)
    n_accepted = int(per_user["accepted"].sum())
    mean = float(per_user["accepted"].mean()) if n_users else None
    per_user["group"] = [
        _group_of(int(a), float(r), mean if mean is not None else 0.0)
        for a, r in zip(per_user["accepted"], per_user["reliability"], strict=True)
    ]
    groups = [_row(g, per_user[per_user["group"] == g], n_users, n_accepted) for g in GROUPS]
    total = _row("total", per_user, n_users, n_accepted)
    if n_users and total.submitted == total.accepted:
        notes.append(
            "every page counted was accepted: if these pages come from an answers file, a "
            "service that keeps no answers of rejected pages (this one, RISE) left them out; "
            "give the pages export (labels export --pages) for reliability"
        )
    enthusiasts = groups[0].users + groups[1].users
    enthusiast_pages = groups[0].accepted + groups[1].accepted
    ranked = per_user["accepted"].sort_values(ascending=False).cumsum()
    half = int((ranked < n_accepted / 2).sum()) + 1 if n_accepted else None
    skew: dict[str, float | None] = {
        "enthusiast_users_share": enthusiasts / n_users if n_users else None,
        "enthusiast_pages_share": enthusiast_pages / n_accepted if n_accepted else None,
        "half_of_pages_users_share": half / n_users if half and n_users else None,
    }
    users = [
        {
            "worker": int(worker),
            "submitted": int(row.submitted),
            "accepted": int(row.accepted),
            "reliability": float(row.reliability),
            "group": str(row.group),
        }
        for worker, row in per_user.iterrows()
    ]
    return Contributors(mean, groups, total, skew, users, left_out, notes)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _mean_std(row: GroupRow) -> str:
    if row.mean is None or row.std is None:
        return "-"
    return f"{row.mean:.1f} ± {row.std:.1f}"


def skew_sentence(result: Contributors) -> str:
    """The skew in words: "x% of users gave y% of the accepted pages"."""
    s = result.skew
    if s["enthusiast_users_share"] is None or s["enthusiast_pages_share"] is None:
        return "no accepted pages"
    line = (
        f"{_pct(s['enthusiast_users_share'])} of users (the enthusiasts) gave "
        f"{_pct(s['enthusiast_pages_share'])} of the accepted pages"
    )
    if s["half_of_pages_users_share"] is not None:
        line += f"; {_pct(s['half_of_pages_users_share'])} of users gave half of them"
    return line


_HEADER = (
    "group",
    "users",
    "% users",
    "pages submitted",
    "pages accepted",
    "% of data",
    "accepted pages per user (mean ± std)",
    "reliability",
)


def _cells(row: GroupRow) -> list[str]:
    return [
        row.name,
        f"{row.users:,}",
        _pct(row.users_share),
        f"{row.submitted:,}",
        f"{row.accepted:,}",
        _pct(row.pages_share),
        _mean_std(row),
        "-" if row.reliability is None else f"{row.reliability:.2f}",
    ]


def to_markdown(result: Contributors) -> str:
    """Table 4 as a Markdown table, then the mean, the skew and any notes."""
    lines = ["| " + " | ".join(_HEADER) + " |", "|" + "---|" * len(_HEADER)]
    for row in [*result.groups, result.total]:
        lines.append("| " + " | ".join(_cells(row)) + " |")
    mean = "-" if result.mean_accepted is None else f"{result.mean_accepted:.1f}"
    lines += [
        "",
        f"Citizens only (researchers left out). Enthusiasts: accepted pages >= the mean "
        f"({mean}); reliable: accepted / submitted pages >= {RELIABLE}.",
        f"Skew: {skew_sentence(result)}.",
    ]
    lines += [f"Note: {note}." for note in result.notes]
    return "\n".join(lines) + "\n"


def write_csv(result: Contributors, path: str) -> None:
    """The table's rows (groups, then the total) as CSV, atomically."""
    import csv
    import io

    from smokewatch.core.atomic import atomic_write_text

    out = io.StringIO()
    names = list(GroupRow.__dataclass_fields__)
    writer = csv.writer(out)
    writer.writerow(names)
    for row in [*result.groups, result.total]:
        writer.writerow(["" if v is None else v for v in asdict(row).values()])
    atomic_write_text(path, out.getvalue())


def to_json(result: Contributors) -> str:
    """The result as JSON (NaN-free: undefined figures are null)."""

    def clean(value: object) -> object:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    return json.dumps(clean(result.to_dict()), indent=2)


def write_plot(result: Contributors, path: str) -> None:
    """A bar chart: each group's share of users beside its share of the accepted pages (PNG,
    written atomically; matplotlib's Agg canvas, no display needed)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from smokewatch.core.atomic import atomic_path

    fig = Figure(figsize=(7, 3.6), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    xs = range(len(result.groups))
    width = 0.38
    users = [100 * g.users_share for g in result.groups]
    pages = [100 * g.pages_share for g in result.groups]
    ax.bar([x - width / 2 for x in xs], users, width, label="% of users", color="#9bb7d4")
    ax.bar([x + width / 2 for x in xs], pages, width, label="% of accepted pages", color="#c0504d")
    ax.set_xticks(list(xs), [g.name.replace(" ", "\n") for g in result.groups])
    ax.set_ylabel("%")
    ax.set_ylim(0, 100)
    ax.set_title(f"Contributors: {skew_sentence(result)}", fontsize=8)
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
