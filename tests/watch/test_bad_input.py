"""What cannot work stops with one line, as ``detect`` stops, never a traceback and never
a wrong record: an alert target the notifier refuses (at startup, not at the first event),
a view box outside the frames, a model whose output is not a number."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner
from watch_helpers import CAMERA, EVERY, START, photo, write_config

from smokewatch.detect.detector import DetectError, Detector
from smokewatch.labeling.cameras import INBOX, camera_dir, store_photo
from smokewatch.watch.config import load_watch_config
from smokewatch.watch.pipeline import sync_camera


def post(data_dir: Path, count: int) -> None:
    for i in range(count):
        store_photo(data_dir, CAMERA, photo(i), taken=START + i * EVERY, max_bytes=1 << 20)


def sync(config: Path) -> tuple[int, list[str]]:
    """``smokewatch watch sync -c config``: its exit code and its lines."""
    from smokewatch.cli import app

    result = CliRunner().invoke(app, ["watch", "sync", "-c", str(config)])
    return result.exit_code, result.output.strip().splitlines()


def test_watch_refuses_an_unsigned_alert_target_before_taking_any_photo(
    tmp_path: Path, always_smoke: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Accepted, the first event's job would fail on it, and so every later job, at the same
    day: its events never raised, no later day scored."""
    monkeypatch.delenv("SMOKEWATCH_ALERT_SECRET", raising=False)
    data_dir = tmp_path / "data"
    config = write_config(tmp_path, data_dir, always_smoke, notify="https://alerts.example.org/h")
    post(data_dir, 3)
    code, lines = sync(config)
    assert code == 2, lines
    (line,) = lines
    assert line.startswith(f"error: {config}: 'notify': notify target "), line
    assert "no signing secret" in line and "SMOKEWATCH_ALERT_SECRET" in line
    assert len(list((camera_dir(data_dir, CAMERA) / INBOX).iterdir())) == 3  # nothing taken


def test_a_view_box_outside_the_frames_is_one_line_naming_the_view_and_the_size(
    tmp_path: Path, always_smoke: Path
) -> None:
    """As ``detect`` says it (:func:`smokewatch.clips.windows.check_boxes`), in every job
    until the views are fixed; Pillow's bare ValueError was a traceback in each."""
    data_dir = tmp_path / "data"
    config = write_config(tmp_path, data_dir, always_smoke)
    (tmp_path / "views.yaml").write_text(
        f"cameras:\n  {CAMERA}:\n    views:\n      0: [0, 0, 100, 100]\n"
    )
    post(data_dir, 40)  # 64 x 64 photos
    for _ in range(2):
        code, lines = sync(config)
        assert code == 2, lines
        (line,) = lines
        assert line.startswith(
            f"error: view {CAMERA}-0: box [0, 0, 100, 100] falls outside the 64x64 panorama of "
        ), line


def test_a_model_whose_output_is_not_a_number_stops_the_job_and_records_nothing(
    tmp_path: Path, always_smoke: Path
) -> None:
    """Clamped into [0, 1], NaN was recorded as probability 0: smoke scored as no smoke."""
    path = write_config(tmp_path, tmp_path / "data", always_smoke)
    config = load_watch_config(path, data_dir=tmp_path / "data", timezone="US/Eastern")
    broken = Detector(scorer=lambda clips: np.full(len(clips), np.nan))
    post(config.data_dir, 36)
    with pytest.raises(
        DetectError, match=rf"P\(smoke\) nan for frames 0-35 of view {CAMERA}-0: .* retrain it"
    ):
        sync_camera(config, CAMERA, detector=lambda: broken)
    scan = camera_dir(config.data_dir, CAMERA) / "days" / "2024-06-11" / "detect" / "scan.json"
    assert not scan.exists() or json.loads(scan.read_text())["windows"][f"{CAMERA}-0"] == []


def test_a_warning_is_one_line_not_a_source_line(
    tmp_path: Path, always_smoke: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Python would print ``.../watch/config.py:207: UserWarning: ...`` and the source line
    of the call; the ``smokewatch`` command prints ``warning: ...``, as errors are
    ``error: ...``. In-process callers (CliRunner, pytest.warns) keep their own handling."""
    import subprocess
    import sys

    from smokewatch.cli import app
    from smokewatch.errors import SmokewatchWarning

    monkeypatch.setenv("SMOKEWATCH_ALERT_SECRET", "s3cret")
    config = write_config(
        tmp_path, tmp_path / "data", always_smoke, notify="http://alerts.example.org/h"
    )
    done = subprocess.run(
        [sys.executable, "-m", "smokewatch", "watch", "sync", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    warned = [line for line in done.stderr.splitlines() if "plain http://" in line]
    assert warned and warned[0].startswith("warning: notify target http://alerts.example.org/")
    assert "UserWarning" not in done.stderr and ".py:" not in done.stderr, done.stderr
    with pytest.warns(SmokewatchWarning, match="plain http://"):
        result = CliRunner().invoke(app, ["watch", "sync", "-c", str(config)])
    assert result.exit_code == 0, result.output
