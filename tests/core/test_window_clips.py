"""The clip file name of a scored window: the convention a timelapse detection run and
``clips import --from-detections`` share."""

from __future__ import annotations

import pytest

from smokewatch.core.clip import ClipName
from smokewatch.core.detections import ViewDetections, Window
from smokewatch.core.window_clips import local_day, window_clip_name
from smokewatch.errors import SmokewatchError

VIEW = ViewDetections(2, 7, box=(10, 20, 190, 200))


def test_a_window_is_named_as_clips_extract_names_a_clip() -> None:
    # 2019-01-02 04:30:00.4 UTC is 23:30 on 2019-01-01 in US/Eastern: the camera's day
    window = Window(540, 575, 1_546_403_400.4, 1_546_403_575.6, 0.5)
    name = window_clip_name(VIEW, window, size=180, timezone="US/Eastern")
    assert name.format() == "2-7-2019-01-01-10-20-190-200-180-180-540-1546403400-1546403576"
    assert ClipName.from_file_name(name.format()) == name
    assert window_clip_name(VIEW, window, size=180, timezone="UTC").day.isoformat() == "2019-01-02"


def test_what_cannot_be_named_says_why() -> None:
    window = Window(0, 35, 0.0, 175.0, 0.5)
    with pytest.raises(SmokewatchError, match="view 2-3 has no box"):
        window_clip_name(ViewDetections(2, 3), window, size=180, timezone="UTC")
    with pytest.raises(SmokewatchError, match="frame 4294967296 is over"):
        window_clip_name(VIEW, Window(2**32, 2**32 + 35, 0.0, 1.0, 0.5), size=180, timezone="UTC")
    with pytest.raises(SmokewatchError, match="unknown time zone 'Mars/Olympus'"):
        local_day(0.0, "Mars/Olympus")
