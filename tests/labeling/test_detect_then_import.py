"""``smokewatch detect`` then ``clips import --from-detections``, each as the real command: the
files a run records are the files the import finds (clips in another folder than the run's,
a run at its own crop size), and an event whose clips are all gone is said so.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from detect_helpers import BOXES, SIZE, START, Motion3D, panorama, register_motion3d
from detection_runs import RunView, write_run
from sqlalchemy import select
from typer.testing import CliRunner

from smokewatch.cli import app
from smokewatch.core.clip import Box, ClipName
from smokewatch.labeling.db import open_database
from smokewatch.labeling.tables import Event, Video
from smokewatch.settings import load_settings
from smokewatch.training.config import TrainConfig
from smokewatch.training.saved import write_model_dir
from smokewatch.video import write_clip

runner = CliRunner()


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "secret.key").write_bytes(b"a signing key for the tests")
    monkeypatch.setenv("SMOKEWATCH_DATA_DIR", str(folder))
    monkeypatch.setenv("SMOKEWATCH_DATABASE_URL", f"sqlite:///{tmp_path / 'labels.db'}")
    monkeypatch.setenv("SMOKEWATCH_TIMEZONE", "US/Eastern")
    return folder


@pytest.fixture
def motion_model(tmp_path: Path) -> Iterator[Path]:
    """``detect_helpers``' motion model as a model folder (registered for the test only)."""
    from smokewatch.models import registry

    register_motion3d()
    config = TrainConfig(name="motion", model="motion3d", weights=None, frames=12, size=SIZE)
    folder = tmp_path / "model"
    write_model_dir(folder, config, state_dict=Motion3D().state_dict())
    yield folder
    registry._REGISTRY.pop("motion3d", None)


def cli(*args: str) -> Any:
    return runner.invoke(app, list(args))


def stored() -> tuple[set[str], list[str]]:
    """The clip names in the service, and its events' ids."""
    db = open_database(load_settings())
    try:
        with db.read() as s:
            names = {str(n) for n in s.scalars(select(Video.file_name))}
            return names, [str(i) for i in s.scalars(select(Event.detection_id))]
    finally:
        db.dispose()


def test_a_clips_run_into_another_folder_imports_its_event_clips(
    data: Path, motion_model: Path, tmp_path: Path
) -> None:
    """Four 36-frame clips of view 0-1, the plume in the middle two; the run goes elsewhere."""
    clips = tmp_path / "camera" / "clips"
    clips.mkdir(parents=True)
    left, top, right, bottom = BOXES["0-1"]
    pano = panorama(144, (36, 108))
    names = []
    for first in (0, 36, 72, 108):
        name = ClipName(
            0,
            1,
            date(2024, 6, 11),
            Box(left, top, right, bottom),
            SIZE,
            SIZE,
            first,
            round(START + 5 * first),
            round(START + 5 * (first + 35)),
        ).format()
        write_clip(pano[first : first + 36, top:bottom, left:right], clips / f"{name}.mp4")
        names.append(name)
    out = tmp_path / "runs" / "day"
    detected = cli(
        "detect", str(motion_model), "--clips", str(clips), "--out", str(out), "--no-cam",
        "--quiet",
    )  # fmt: skip
    assert detected.exit_code == 0, detected.output
    imported = cli("clips", "import", "--from-detections", str(out / "detections.json"),
                   "--uncertain", "0")  # fmt: skip
    assert imported.exit_code == 0, imported.output
    assert "missing" not in imported.output
    assert "added 2 clips" in imported.stdout and "events: 1 added" in imported.stdout
    clip_names, event_ids = stored()
    assert clip_names == {names[1], names[2]}
    assert len(event_ids) == 1


def test_a_run_at_its_own_crop_size_finds_its_clips(data: Path, tmp_path: Path) -> None:
    """``detect --size 48`` names its clips ...-48-48-...: the import names them so too."""
    run = write_run(tmp_path / "run", [RunView(0, 1, [0.1, 0.95, 0.97], [("e1", [1, 2])])], size=48)
    assert "-48-48-" in run.names[(0, 1)]
    imported = cli("clips", "import", "--from-detections", str(run.path), "--uncertain", "1")
    assert imported.exit_code == 0, imported.output
    assert "missing" not in imported.output
    assert stored()[0] == {run.names[(0, k)] for k in (0, 1, 2)}


def test_a_bad_recorded_size_is_one_line(data: Path, tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", [RunView(0, 1, [0.1])])
    run.path.write_text(run.path.read_text().replace('"settings": {}', '"settings": {"size": -4}'))
    imported = cli("clips", "import", "--from-detections", str(run.path))
    assert imported.exit_code != 0
    assert "settings.size: -4 is not a clip size in pixels" in imported.output
    assert len(imported.output.strip().splitlines()) == 1


def test_an_event_none_of_whose_clips_is_there_is_said_so(data: Path, tmp_path: Path) -> None:
    run = write_run(
        tmp_path / "run", [RunView(0, 1, [0.1, 0.95, 0.97], [("e1", [1, 2])])], clips_mode=True
    )
    for k in (1, 2):
        run.files[(0, k)].unlink()
    imported = cli("clips", "import", "--from-detections", str(run.path), "--uncertain", "0")
    assert imported.exit_code == 0, imported.output
    assert (
        "views[0].events[0]: none of the 2 clips of event e1 was found; the event is stored "
        "without clips" in " ".join(imported.stderr.split())
    )
    assert stored() == (set(), ["e1"])
