"""The paper's dataset tables, computed from RISE's metadata."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from smokewatch.cli import app
from smokewatch.core.clip import Clip
from smokewatch.dataset.stats import compute_stats, hour_bin_of, season_of

ET = ZoneInfo("US/Eastern")


@pytest.mark.parametrize(
    ("month", "season"),
    [(12, "winter"), (1, "winter"), (2, "winter"), (3, "spring"), (5, "spring"), (6, "summer"),
     (8, "summer"), (9, "fall"), (11, "fall")],
)  # fmt: skip
def test_seasons(month: int, season: str) -> None:
    assert season_of(datetime(2019, month, 15, tzinfo=ET)) == season


@pytest.mark.parametrize(
    ("hour", "name"),
    [(6, "6-10 am"), (10, "6-10 am"), (11, "11 am-3 pm"), (15, "11 am-3 pm"), (16, "4-8 pm"),
     (20, "4-8 pm"), (21, "other hours"), (5, "other hours")],
)  # fmt: skip
def test_hour_bins(hour: int, name: str) -> None:
    assert hour_bin_of(datetime(2019, 1, 1, hour, 59, tzinfo=ET)) == name


def test_local_time_is_used_not_utc() -> None:
    # 2019-01-01 10:30 US/Eastern is 15:30 UTC: the morning bin, not the afternoon one.
    start = int(datetime(2019, 1, 1, 10, 30, tzinfo=ET).timestamp())
    clip = Clip(id=1, camera_id=0, view_id=0, label_state=23, label_state_admin=-1,
                start_time=start,
                file_name=f"0-0-2019-01-01-0-0-10-10-180-180-0-{start}-{start}")  # fmt: skip
    stats = compute_stats([clip])
    assert stats.hours["6-10 am"] == 1 and stats.seasons["winter"] == 1
    assert (stats.clips, stats.frames, stats.smoke, stats.no_smoke) == (1, 36, 1, 0)
    assert "S3" not in stats.splits  # one day cannot make a date split
    with pytest.raises(ValueError, match="unknown time zone"):
        compute_stats([clip], timezone="Mars/Olympus")


def test_views_are_listed_in_number_order() -> None:
    start = int(datetime(2019, 1, 1, 10, 30, tzinfo=ET).timestamp())
    clips = [
        Clip(id=i, camera_id=camera, view_id=view, label_state=23, label_state_admin=-1,
             start_time=start,
             file_name=f"{camera}-{view}-2019-01-01-0-0-10-10-180-180-0-{start}-{start}")
        for i, (camera, view) in enumerate([(1, 0), (0, 10), (0, 2), (0, 1)])
    ]  # fmt: skip
    stats = compute_stats(clips)
    assert list(stats.views) == list(stats.view_labels) == ["0-1", "0-2", "0-10", "1-0"]


@pytest.mark.rise
def test_the_papers_numbers(rise_dir: Path) -> None:
    result = CliRunner().invoke(
        app, ["dataset", "stats", str(rise_dir / "metadata_02242020.json"), "--json"]
    )
    assert result.exit_code == 0, result.output
    s = json.loads(result.stdout)
    assert (s["clips"], s["frames"], len(s["views"]), s["days"]) == (12567, 452412, 19, 30)
    assert (s["smoke"], round(s["smoke_ratio"], 2)) == (5090, 0.41)
    assert s["seasons"] == {"winter": 7292, "spring": 1057, "summer": 2999, "fall": 1219}
    assert s["hours"] == {"6-10 am": 4001, "11 am-3 pm": 6071, "4-8 pm": 2495}
    assert s["splits"]["S0"] == {"train": 7765, "validation": 1620, "test": 3182}
    assert s["splits"]["S3"] == {"train": 7611, "validation": 1796, "test": 3160}
    assert all(abs(sum(r.values()) - 1) < 1e-9 for r in s["split_ratios"].values())
    # smoke per view, against the labels RISE published in its S0 files (every clip once)
    published: dict[str, list[int]] = {}
    for part in ("train", "validation", "test"):
        path = rise_dir / "split" / f"metadata_{part}_split_0_by_camera.json"
        for r in json.loads(path.read_text()):
            published.setdefault(f"{r['camera_id']}-{r['view_id']}", []).append(r["label"])
    assert s["view_labels"] == {
        v: {"smoke": sum(labels), "no_smoke": len(labels) - sum(labels)}
        for v, labels in published.items()
    }
    assert sum(v["smoke"] for v in s["view_labels"].values()) == 5090


@pytest.mark.rise
def test_tables_are_printed(rise_dir: Path) -> None:
    result = CliRunner().invoke(app, ["dataset", "stats", str(rise_dir / "metadata_02242020.json")])
    assert result.exit_code == 0, result.output
    for text in (
        "452,412",
        "5,090 (41%)",
        "7,292",
        "1,057",
        "2,999",
        "1,219",
        "4,001",
        "6,071",
        "2,495",
    ):
        assert text in result.stdout


def test_bad_metadata_is_one_clear_line(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text("[{]")
    result = CliRunner().invoke(app, ["dataset", "stats", str(path)])
    assert result.exit_code == 2
    assert "invalid JSON at line 1" in result.stderr
    assert "Traceback" not in result.output


def test_bad_and_gold_clips_are_counted_apart() -> None:
    """Finding: a clip two volunteers called smoke and a researcher marked bad counted as
    smoke, and gold standards as labeled clips; neither is in the splits."""

    def clip(i: int, state: int, admin: int) -> Clip:
        start = 1_560_000_000 + i
        name = f"0-0-2019-06-08-0-0-10-10-180-180-0-{start}-{start + 5}"
        return Clip(id=i, camera_id=0, view_id=0, label_state=state, label_state_admin=admin,
                    start_time=start, file_name=name)  # fmt: skip

    stats = compute_stats([clip(1, 23, -1), clip(2, 23, -2), clip(3, -1, 47), clip(4, -1, 32),
                           clip(5, 16, -1), clip(6, 5, -1)])  # fmt: skip
    counts = (stats.smoke, stats.no_smoke, stats.unlabeled, stats.gold, stats.bad)
    assert counts == (1, 1, 1, 2, 1)
    assert sum(counts) == stats.clips == 6
    assert sum(stats.splits["S0"].values()) == 2
