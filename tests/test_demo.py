"""The demo job: synthetic clips on a fresh clone, RISE-shaped data if present, bad ones skipped."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from smokewatch.cli import app
from smokewatch.clips.synthetic import make_synthetic_clips, render_clip
from smokewatch.core.metadata import read_metadata
from smokewatch.video import read_clip


def test_synthetic_clips_are_real_videos_with_rise_names(tmp_path: Path) -> None:
    clips = make_synthetic_clips(tmp_path, 4, frames=12, size=64)
    assert [c.derived_label for c in clips] == [1, 0, 1, 0]
    assert read_metadata(tmp_path / "metadata.json")[2].file_name == clips[2].file_name
    frames = read_clip(tmp_path / f"{clips[0].file_name}.mp4", expected_frames=12)
    assert frames.shape == (12, 64, 64, 3)


def test_smoke_clips_change_where_the_plume_is() -> None:
    smoke, clean = (
        render_clip(True, seed=3, frames=12, size=64),
        render_clip(False, seed=3, frames=12, size=64),
    )
    assert smoke.shape == clean.shape == (12, 64, 64, 3)
    # the plume moves: frames differ over time well beyond sensor noise
    assert np.abs(smoke[-1].astype(int) - smoke[0].astype(int)).mean() > 1.0
    assert not np.array_equal(
        render_clip(True, seed=3, frames=4, size=32), render_clip(True, seed=4, frames=4, size=32)
    )


def test_demo_without_rise_data_uses_synthetic_clips(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "demo",
            "--rise-dir",
            str(tmp_path / "absent"),
            "--out",
            str(tmp_path / "o"),
            "--samples",
            "4",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "8 of 8 decoded" in result.stdout and "Synthetic dataset" in result.stdout
    sheet = Image.open(tmp_path / "o" / "contact_sheet.png")
    assert sheet.size[1] >= 4 * 120  # four clip rows


def _fake_rise(tmp_path: Path) -> Path:
    """A RISE-shaped folder: clips/, clips.csv and a metadata file, one clip corrupt."""
    rise = tmp_path / "rise"
    clips = make_synthetic_clips(tmp_path / "gen", 4, frames=36, size=64)
    (rise / "clips").mkdir(parents=True)
    rows = ["file,label,rgb_tc_pred,splits"]
    for i, clip in enumerate(clips):
        name = f"rise-hard-{i:04d}.mp4"
        shutil.copy(tmp_path / "gen" / f"{clip.file_name}.mp4", rise / "clips" / name)
        rows.append(f"{name},{clip.derived_label},0,s0")
    (rise / "clips" / "rise-hard-0009.mp4").write_bytes(
        b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 50
    )
    rows.append("rise-hard-0009.mp4,1,0,s0")
    (rise / "clips.csv").write_text("\n".join(rows) + "\n")
    shutil.copy(tmp_path / "gen" / "metadata.json", rise / "metadata_02242020.json")
    return rise


def test_demo_on_rise_data_skips_and_reports_a_corrupt_clip(tmp_path: Path) -> None:
    rise = _fake_rise(tmp_path)
    args = ["demo", "--rise-dir", str(rise), "--out", str(tmp_path / "o"), "--samples", "4"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "4 of 5 decoded" in result.stdout and "RISE dataset" in result.stdout
    assert "rise-hard-0009.mp4" in result.stderr and "Traceback" not in result.output
    assert (tmp_path / "o" / "contact_sheet.png").is_file()
    strict = CliRunner().invoke(app, [*args, "--strict"])
    assert strict.exit_code == 1
