"""F1 against answers per clip on simulated crowds, and where it reaches a target."""

from __future__ import annotations

import pandas as pd
import pytest

from smokewatch.analysis.plots import redundancy_plot
from smokewatch.analysis.redundancy import CURVE_METHODS, needed_redundancy, redundancy_curve
from smokewatch.analysis.simulate import CrowdSpec, SimulationError
from smokewatch.analysis.tables import redundancy_table

SPEC = CrowdSpec(workers=8, spammers=0.25, spam="constant", page_size=0)


def test_curve_has_every_method_and_redundancy_and_is_exact_for_a_seed() -> None:
    a = redundancy_curve(SPEC, tasks=60, max_redundancy=3, repeats=1, seed=1)
    b = redundancy_curve(SPEC, tasks=60, max_redundancy=3, repeats=1, seed=1)
    pd.testing.assert_frame_equal(a, b)
    assert list(a.columns) == [
        "redundancy", "method", "f1_mean", "f1_std", "accuracy_mean", "f1_crowds", "crowds",
    ]  # fmt: skip
    assert sorted(zip(a["redundancy"], a["method"], strict=True)) == sorted(
        (r, m) for r in (1, 2, 3) for m in CURVE_METHODS
    )
    assert a["f1_mean"].between(0, 1).all()
    # one crowd: nothing to spread, so no standard deviation (not a 0 that reads as measured)
    assert a["f1_std"].isna().all() and a["crowds"].eq(1).all() and a["f1_crowds"].eq(1).all()
    table = redundancy_table(a, needed_redundancy(a), 0.9, CURVE_METHODS)
    assert all("±" not in cell for row in table.rows for cell in row)
    f1 = a.set_index(["method", "redundancy"])["f1_mean"]
    assert f1["majority", 3] > f1["majority", 1]  # more answers, better labels


def test_gold_tasks_are_not_scored() -> None:
    spec = CrowdSpec(workers=8, page_size=6, gold_per_page=2)
    curve = redundancy_curve(spec, tasks=40, max_redundancy=2, repeats=1, seed=0, gold=0.2)
    assert len(curve) == 4


def test_needed_redundancy_is_the_first_point_at_the_target() -> None:
    curve = pd.DataFrame(
        {
            "redundancy": [1, 2, 3, 1, 2, 3],
            "method": ["majority"] * 3 + ["dawid-skene"] * 3,
            "f1_mean": [0.7, 0.85, 0.88, 0.7, 0.91, 0.95],
            "f1_std": [0.0] * 6,
            "accuracy_mean": [0.0] * 6,
        }
    )
    assert needed_redundancy(curve, 0.9) == {"majority": None, "dawid-skene": 2}
    table = redundancy_table(curve, {"majority": None, "dawid-skene": 2}, 0.9, CURVE_METHODS)
    assert table.rows[1] == ("2", "0.850 ± 0.000", "0.910 ± 0.000")
    assert "majority: not within the range; dawid-skene: 2" in table.title
    png = redundancy_plot(curve, target=0.9, methods=CURVE_METHODS)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")


def test_bad_ranges_are_refused() -> None:
    with pytest.raises(SimulationError, match="max_redundancy"):
        redundancy_curve(SPEC, max_redundancy=0)
    with pytest.raises(SimulationError, match="redundancy"):
        redundancy_curve(SPEC, max_redundancy=9)  # more than the 8 workers
