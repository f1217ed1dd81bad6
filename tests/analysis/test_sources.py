"""analyze sources: who labeled each clip, and how far citizens and researchers agree."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from smokewatch.analysis.sources import label_sources, source_of
from smokewatch.cli import app
from smokewatch.core.clip import Clip

runner = CliRunner()


def clip(i: int, state: int, admin: int) -> Clip:
    start = 1_546_300_800 + i * 180
    return Clip(
        id=i,
        camera_id=0,
        view_id=0,
        label_state=state,
        label_state_admin=admin,
        start_time=start,
        file_name=f"0-0-2019-01-01-1-2-181-182-180-180-{i}-{start}-{start + 175}",
    )


@pytest.mark.parametrize(
    ("state", "admin", "source"),
    [
        (-1, 23, "researcher-only"),
        (-1, 47, "researcher-only"),  # a gold standard is a researcher's label
        (4, 16, "collaborative"),  # one volunteer answer is enough to take part
        (23, 16, "collaborative"),
        (16, -1, "citizen-only"),
        (20, -1, "citizen-only"),
        (5, -1, None),  # citizens undecided, no researcher: no label yet
        (-1, -1, None),
        (-1, -2, None),  # marked bad
        # bad on either side is no label whatever else was said (core.labels.final_label)
        (23, -2, None),
        (16, -2, None),
        (-2, 23, None),
        (-2, -1, None),
    ],
)
def test_the_source_of_a_clip(state: int, admin: int, source: str | None) -> None:
    assert source_of(state, admin) == source


def test_counts_agreement_and_kappa_on_a_tiny_file() -> None:
    clips = [
        clip(1, -1, 23),
        clip(2, 4, 16),  # collaborative, citizens unsettled: not compared
        clip(3, 23, 23),
        clip(4, 16, 16),
        clip(5, 16, 23),  # citizens missed the smoke
        clip(6, 20, 16),
        clip(7, 16, -1),
        clip(8, -1, -1),
        clip(9, 16, -2),  # marked bad: unlabeled, and not compared
        clip(10, -2, 23),
    ]
    result = label_sources(clips)
    assert result.counts == {"researcher-only": 1, "collaborative": 5, "citizen-only": 1}
    assert (result.total, result.unlabeled, result.both, result.agree) == (10, 3, 4, 3)
    assert result.agreement == 0.75
    assert result.confusion == {"r1c1": 1, "r1c0": 1, "r0c1": 0, "r0c0": 2}
    # kappa by hand: p_o = 3/4; researchers 2 smoke of 4, citizens 1 of 4:
    # p_e = 2/4 * 1/4 + 2/4 * 3/4 = 1/2; kappa = (3/4 - 1/2) / (1 - 1/2) = 1/2
    assert result.kappa == pytest.approx(0.5)


def test_kappa_is_none_when_undefined() -> None:
    assert label_sources([]).kappa is None and label_sources([]).agreement is None
    one_class = label_sources([clip(1, 23, 23), clip(2, 23, 23)])
    assert one_class.agreement == 1.0 and one_class.kappa is None


@pytest.mark.rise
def test_the_papers_figures_on_rise_metadata(rise_dir: Path) -> None:
    r = runner.invoke(
        app, ["analyze", "sources", str(rise_dir / "metadata_02242020.json"), "--json"]
    )
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert result["counts"] == {
        "researcher-only": 5230,
        "collaborative": 4777,
        "citizen-only": 2560,
    }
    assert (result["total"], result["unlabeled"], result["both"], result["agree"]) == (
        12567,
        0,
        1498,
        1369,
    )
    assert result["confusion"] == {"r1c1": 655, "r1c0": 123, "r0c1": 6, "r0c0": 714}
    assert result["agreement"] == pytest.approx(0.9139, abs=1e-4)
    assert result["kappa"] == pytest.approx(0.8286, abs=1e-4)
    text = runner.invoke(app, ["analyze", "sources", str(rise_dir / "metadata_02242020.json")])
    assert "| researcher-only | 5,230 | 41.6% |" in text.stdout
    assert "agree on 1,369 (91.4%), Cohen's kappa 0.829" in text.stdout


def test_a_bad_metadata_file_is_a_user_error(tmp_path: Path) -> None:
    (tmp_path / "m.json").write_text("[{]")
    r = runner.invoke(app, ["analyze", "sources", str(tmp_path / "m.json")])
    assert r.exit_code == 2 and "Traceback" not in r.output
