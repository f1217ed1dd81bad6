"""The detections file: what is written reads back equal, and every malformed field is named."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from smokewatch.core.detections import (
    SCHEMA,
    Detections,
    DetectionsError,
    Event,
    Skipped,
    ViewDetections,
    Window,
    parse_detections,
    read_detections,
    write_detections,
)


def _sample() -> Detections:
    windows = (
        Window(0, 35, 1_528_712_115.0, 1_528_712_290.0, 0.91, 0.55),
        Window(18, 53, 1_528_712_205.0, 1_528_712_380.0, 0.42, None, stretch=3),
    )
    event = Event(
        id="0-1-1528712115-1528712290",
        start_time=1_528_712_115.0,
        end_time=1_528_712_290.0,
        start_frame=0,
        end_frame=35,
        windows=(0,),
        max_probability=0.91,
        evidence_clip="evidence/0-1-1528712115.mp4",
        evidence_gif="evidence/0-1-1528712115.gif",
    )
    view = ViewDetections(
        camera_id=0,
        view_id=1,
        windows=windows,
        events=(event,),
        skipped=(Skipped(60, 80, "corrupt video segment"),),
        box=(6304, 964, 6807, 1467),
    )
    return Detections(
        model={"path": "models/rise-hard-i3d", "preset": "cpu-small"},
        views=(view, ViewDetections(camera_id=0, view_id=2)),
        settings={"smoke_probability": 0.85},
        source={"kind": "timelapse", "path": "day.mp4"},
    )


def test_written_detections_read_back_equal(tmp_path: Path) -> None:
    path = tmp_path / "detections.json"
    write_detections(_sample(), path)
    data = json.loads(path.read_text())
    assert data["schema"] == SCHEMA
    assert data["views"][0]["events"][0]["windows"] == [0]
    assert data["views"][0]["windows"][1]["activation_ratio"] is None
    assert [w["stretch"] for w in data["views"][0]["windows"]] == [None, 3]
    assert read_detections(path) == _sample()
    assert _sample().views[0].key == "0-1"


def _broken(change: Any) -> dict[str, Any]:
    data = _sample().to_dict()
    change(data)
    return data


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda d: d.update(schema=2), "schema"),
        (lambda d: d.pop("views"), "missing field 'views'"),
        (lambda d: d["views"][0]["windows"][0].update(probability=1.5), "windows[0].probability"),
        (lambda d: d["views"][0]["windows"][0].update(probability=True), "windows[0].probability"),
        (lambda d: d["views"][0]["windows"][0].update(end_frame=-1), "windows[0].end_frame"),
        (lambda d: d["views"][0]["windows"][1].update(stretch=-1), "windows[1].stretch"),
        (lambda d: d["views"][0]["windows"][1].update(stretch="3"), "windows[1].stretch"),
        (lambda d: d["views"][0]["windows"][1].update(start_time=2e9), "end_time"),
        (lambda d: d["views"][0]["windows"][0].update(start_time=1.5e12), "milliseconds?"),
        (lambda d: d["views"][0]["events"][0].update(end_time=-1), "events[0].end_time"),
        (lambda d: d["views"][0]["events"][0].update(windows=[7]), "window 7 does not exist"),
        (lambda d: d["views"][0]["events"][0].update(evidence_gif="../../secret.key"), "inside"),
        (lambda d: d["views"][0]["events"][0].update(evidence_clip="/etc/passwd"), "inside"),
        (lambda d: d["views"][0].update(box=[1, 2, 3]), "box"),
        (lambda d: d["views"][1].update(camera_id="0"), "views[1].camera_id"),
        (lambda d: d.update(model=[]), "model"),
    ],
)
def test_a_malformed_field_is_one_error_naming_it(change: Any, named: str) -> None:
    with pytest.raises(DetectionsError, match="detections.json") as info:
        parse_detections(_broken(change), source="detections.json")
    assert named in str(info.value)
    assert "\n" not in str(info.value)


def test_unreadable_files_are_one_error_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(DetectionsError, match="no such detections file"):
        read_detections(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": 1, "views": [')
    with pytest.raises(DetectionsError, match="bad.json: invalid JSON"):
        read_detections(bad)
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(DetectionsError, match="nested too deeply"):
        read_detections(deep)


def test_a_crash_while_writing_keeps_the_old_file(tmp_path: Path, monkeypatch: Any) -> None:
    path = tmp_path / "detections.json"
    write_detections(_sample(), path)
    before = path.read_bytes()
    import smokewatch.core.atomic as atomic

    def crash(*args: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        write_detections(Detections(model={}), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["detections.json"]
