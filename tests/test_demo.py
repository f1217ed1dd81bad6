"""The demo job: synthetic clips on a fresh clone, RISE-shaped data if present, bad ones skipped;
then the labeling site set up on SQLite (clips, gold standards, tutorial clips, demo account)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import one_line_error
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select
from typer.testing import CliRunner

from smokewatch.cli import app
from smokewatch.clips.synthetic import make_synthetic_clips, render_clip
from smokewatch.core.metadata import read_metadata
from smokewatch.demo import DEMO_ACCOUNT, setup_site, site_settings
from smokewatch.labeling.app import create_app
from smokewatch.labeling.db import open_database
from smokewatch.labeling.tables import Video
from smokewatch.labeling.tutorial import PACKAGED, read_lessons
from smokewatch.labeling.users import AccountError, password_sign_in
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


def test_demo_without_rise_data_uses_synthetic_clips(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh clone with no ``../shared/rise``: ``make demo`` names that default folder, and
    the demo says on stderr that it uses synthetic clips instead."""
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        app,
        [
            "demo",
            "--rise-dir",
            "../shared/rise",  # as the Makefile passes it
            "--out",
            str(tmp_path / "o"),
            "--samples",
            "4",
            "--no-serve",
            "--site-clips",
            "32",
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith(
        "note: no RISE data in ../shared/rise (no such folder): using synthetic clips\n"
    )
    assert "8 of 8 decoded" in result.stdout and "Synthetic dataset" in result.stdout
    sheet = Image.open(tmp_path / "o" / "contact_sheet.png")
    assert sheet.size[1] >= 4 * 120  # four clip rows
    # the labeling site: printed once, and the printed password signs the researcher in
    assert "32 synthetic clips (32 added now)" in result.stdout
    assert "3 with smoke, 3 without" in result.stdout
    password = re.search(r"demo-researcher\s+password: (\S+)", result.stdout)
    assert password is not None, result.stdout
    settings = site_settings(tmp_path / "o" / "site")
    with TestClient(create_app(settings)) as client:
        r = client.post(
            "/api/v1/login_password", json={"name": DEMO_ACCOUNT, "password": password[1]}
        )
        assert r.status_code == 200, r.text
        researcher = r.json()["user_token"]
        volunteer = client.post("/api/v1/login", json={"client_id": "demo.test"}).json()
        page = client.post("/api/v1/get_batch", json={"user_token": volunteer["user_token"]})
        assert page.status_code == 200 and len(page.json()["data"]) == 16
        for item in page.json()["data"][:3]:  # the clips are served where the page says
            clip = client.get(item["url_root"] + item["url_part"])
            assert clip.status_code == 200 and clip.content[4:8] == b"ftyp"
        for lesson in client.get("/api/v1/get_tutorial").json()["lessons"]:
            for c in lesson["clips"]:
                assert client.get(c["url"]).status_code == 200, c["url"]
        review = client.post("/api/v1/get_batch", json={"user_token": researcher})
        assert review.status_code == 200 and "label_state" in review.json()["data"][0]


def test_a_rise_folder_named_but_absent_is_an_error(tmp_path: Path) -> None:
    """``demo --rise-dir typo`` stops (exit 2) instead of quietly showing synthetic clips."""
    (tmp_path / "empty").mkdir()
    for folder, problem in [
        (tmp_path / "nonexistent", "no such folder"),
        (tmp_path / "empty", "it has no clips.csv and no clips/"),
    ]:
        out = tmp_path / "o"
        result = CliRunner().invoke(
            app, ["demo", "--rise-dir", str(folder), "--out", str(out), "--no-serve"]
        )
        one_line_error(result, f"--rise-dir {folder}: {problem}", "leave --rise-dir out")
        assert not out.exists()


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
    out = str(tmp_path / "o")
    args = ["demo", "--rise-dir", str(rise), "--out", out, "--samples", "4", "--no-serve"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "4 of 5 decoded" in result.stdout and "RISE dataset" in result.stdout
    assert "rise-hard-0009.mp4" in result.stderr and "Traceback" not in result.output
    assert (tmp_path / "o" / "contact_sheet.png").is_file()
    # the site gets the four clips that decode, with their labels as gold standards
    assert "4 rise clips (4 added now)" in result.stdout
    assert "2 with smoke, 2 without" in result.stdout
    strict = CliRunner().invoke(app, [*args, "--strict"])
    assert strict.exit_code == 1


def test_setup_site_is_idempotent_and_renews_the_password(tmp_path: Path) -> None:
    kw = {"synthetic": 24, "size": 32, "frames": 6}
    first = setup_site(None, tmp_path, password="first-password", **kw)  # type: ignore[arg-type]
    assert (first.source, first.clips, first.added) == ("synthetic", 24, 24)
    assert (first.gold_pos, first.gold_neg) == (3, 3)
    lessons = sum(len(lesson.clips) for lesson in read_lessons(PACKAGED).lessons)
    assert first.tutorial_clips == lessons
    again = setup_site(None, tmp_path, password="second-password", **kw)  # type: ignore[arg-type]
    assert (again.clips, again.added, again.tutorial_clips) == (24, 0, 0)
    db = open_database(site_settings(tmp_path / "site"))
    try:
        with pytest.raises(AccountError):
            password_sign_in(db, DEMO_ACCOUNT, "first-password")
        assert password_sign_in(db, DEMO_ACCOUNT, "second-password")[0].client_type == 0
        with db.read() as session:
            states = session.execute(select(Video.label_state, Video.label_state_admin)).all()
    finally:
        db.dispose()
    assert sum(1 for s, a in states if a == -1 and s == -1) == 24 - 6 - 6  # left to label
    assert sum(1 for s, _ in states if s in (16, 23)) == 6  # as if two volunteers agreed


def test_a_bad_setting_in_the_environment_is_a_settings_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from smokewatch.settings import SettingsError

    monkeypatch.setenv("SMOKEWATCH_DOWNLOAD_WORKERS", "abc")  # was pydantic's traceback
    with pytest.raises(SettingsError, match="SMOKEWATCH_DOWNLOAD_WORKERS"):
        site_settings(tmp_path / "site")
