"""The frames.json sidecar: what is written reads back equal; bad files are named and refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smokewatch.core.frame_times import (
    SCHEMA,
    FrameTimes,
    FrameTimesError,
    Gap,
    check_gap_seconds,
    find_sidecar,
    parse_frame_times,
    read_frame_times,
    sidecar_for,
    write_frame_times,
)

#: every ~10 s, one 20-minute hole after frame 4
TIMES = [1_528_711_020.0, 1_528_711_030.4, 1_528_711_039.9, 1_528_711_050.2, 1_528_711_060.0]
TIMES += [1_528_712_260.0 + 10 * i + 0.25 for i in range(4)]


def test_round_trip_with_gaps_and_extra_keys(tmp_path: Path) -> None:
    path = tmp_path / "day.frames.json"
    written = write_frame_times(path, TIMES, gap_seconds=60, camera=0)
    data = json.loads(path.read_text())
    assert data["schema"] == SCHEMA and data["frames"] == TIMES and data["gap_seconds"] == 60
    assert data["gaps"] == [
        {"after_frame": 4, "start": TIMES[4], "end": TIMES[5], "seconds": 1200.25}
    ]
    assert data["camera"] == 0  # extra keys beside the standard ones
    again = read_frame_times(path)
    assert again == written == FrameTimes(tuple(TIMES), 60.0)
    assert again.gaps() == [Gap(4, TIMES[4], TIMES[5])]
    assert not list(tmp_path.glob(".*"))  # atomic: no temporary file left


def test_gaps_and_spans_gap_follow_the_limit_asked() -> None:
    times = FrameTimes(tuple(TIMES))
    assert times.gap_seconds is None
    assert [g.after_frame for g in times.gaps()] == [4]  # default 60 s
    assert [g.after_frame for g in times.gaps(10.0)] == [0, 2, 4]  # jitter over 10 s
    assert times.gaps(2000.0) == []
    assert times.spans_gap(0, 4) is False  # ends on the frame before the hole
    assert times.spans_gap(4, 5) is True
    assert times.spans_gap(3, 8) is True
    assert times.spans_gap(5, 8) is False
    assert times.spans_gap(3, 8, limit=1201.0) is False
    assert times.spans_gap(0, 1, limit=10.0) is True
    assert times.spans_gap(2, 2) is False
    with pytest.raises(IndexError):
        times.spans_gap(0, 9)
    with pytest.raises(ValueError, match="positive"):
        times.gaps(0)


def test_plain_lists_and_detect_files_still_read(tmp_path: Path) -> None:
    plain = tmp_path / "times.json"
    plain.write_text(json.dumps([1, 2.5, 4]))
    assert read_frame_times(plain) == FrameTimes((1.0, 2.5, 4.0))
    old = tmp_path / "frames.json"
    old.write_text(json.dumps({"frames": [1, 2, 3], "gaps": [], "note": "x"}))
    assert read_frame_times(old).times == (1.0, 2.0, 3.0)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("{not json", ["invalid JSON", "line 1"]),
        ("[]", ["no frame times"]),
        ('"frames"', ["expected a list of epoch seconds"]),
        ('{"gaps": []}', ["missing field 'frames'"]),
        ('{"frames": {"0": 1}}', ["frames: expected a list"]),
        ("[1, 2, 2]", ["frames[2]", "not after", "strictly increase"]),
        ("[1, 3, 2]", ["frames[2]", "not after"]),
        ('[1, "2"]', ["frames[1]", "expected epoch seconds"]),
        ("[1, true]", ["frames[1]"]),
        ("[1, NaN]", ["frames[1]", "finite"]),
        ("[1528712115000, 1528712120000]", ["frames[0]", "milliseconds?"]),
        ("[-1, 2]", ["frames[0]", "between 1970 and 2100"]),
        ("[1, 1e300]", ["frames[1]", "between 1970 and 2100"]),
        ('{"schema": 2, "frames": [1]}', ["schema 2 is not supported"]),
        ('{"frames": [1, 2], "gap_seconds": -1}', ["gap_seconds", "positive"]),
        ('{"frames": [1, 2], "gap_seconds": "60"}', ["gap_seconds"]),
        # a JSON integer too large for a float: OverflowError tracebacks, not errors
        ("[1" + "0" * 400 + "]", ["frames[0]", "401 digits is not epoch seconds"]),
        ("[1, 2, -1" + "0" * 400 + "]", ["frames[2]", "401 digits is not epoch seconds"]),
        ('{"frames": [1, 2], "gap_seconds": 1' + "0" * 400 + "}", ["gap_seconds", "positive"]),
    ],
)
def test_malformed_files_are_one_error_naming_the_file(
    tmp_path: Path, text: str, words: list[str]
) -> None:
    path = tmp_path / "day.frames.json"
    path.write_text(text)
    with pytest.raises(FrameTimesError) as caught:
        read_frame_times(path)
    message = str(caught.value)
    assert message.startswith(str(path))
    for word in words:
        assert word in message


def test_a_tampered_gap_list_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "day.frames.json"
    write_frame_times(path, TIMES, gap_seconds=60)
    data = json.loads(path.read_text())
    data["frames"][5:] = [t - 1190 for t in TIMES[5:]]  # the hole closed by hand, not the gaps
    path.write_text(json.dumps(data))
    with pytest.raises(FrameTimesError, match="gaps do not match its frames"):
        read_frame_times(path)
    data["gaps"] = []
    path.write_text(json.dumps(data))
    assert read_frame_times(path).gaps() == []


def test_missing_file_and_bad_values_in_code(tmp_path: Path) -> None:
    with pytest.raises(FrameTimesError, match="no such frame-times file"):
        read_frame_times(tmp_path / "nope.json")
    with pytest.raises(FrameTimesError, match="not after"):
        FrameTimes((2.0, 1.0))
    with pytest.raises(FrameTimesError, match="not after"):
        write_frame_times(tmp_path / "x.json", [1, 1])
    assert not (tmp_path / "x.json").exists()
    with pytest.raises(ValueError, match="may not replace"):
        write_frame_times(tmp_path / "x.json", [1, 2], frames=[3])


def test_sidecar_places(tmp_path: Path) -> None:
    assert sidecar_for(tmp_path / "2018-06-11.mp4") == tmp_path / "2018-06-11.frames.json"
    assert sidecar_for(tmp_path / "day") == tmp_path / "day.frames.json"
    folder = tmp_path / "frames"
    folder.mkdir()
    assert sidecar_for(folder) == folder / "frames.json"
    assert find_sidecar(folder) is None
    assert find_sidecar(tmp_path / "2018-06-11.mp4") is None
    write_frame_times(folder / "frames.json", [1, 2])
    assert find_sidecar(folder) == folder / "frames.json"


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(st.floats(0.01, 3000.0), min_size=1, max_size=60),
    limit=st.floats(1.0, 2000.0),
    data=st.data(),
)
def test_spans_gap_agrees_with_gaps(steps: list[float], limit: float, data: st.DataObject) -> None:
    times = [1_700_000_000.0]
    for step in steps:
        times.append(times[-1] + step)
    value = FrameTimes(tuple(times))
    first = data.draw(st.integers(0, len(times) - 1))
    last = data.draw(st.integers(first, len(times) - 1))
    after = {g.after_frame for g in value.gaps(limit)}
    assert value.spans_gap(first, last, limit) == any(first <= a < last for a in after)
    # and what is written reads back equal, gaps included
    assert parse_frame_times(json.loads(json.dumps(value.to_dict(gap_seconds=limit)))) == (
        FrameTimes(value.times, limit)
    )


@pytest.mark.parametrize(
    "limit", [float("inf"), float("nan"), 0, -1.0, pytest.param(10**400, id="huge"), True, "60"]
)
def test_a_gap_limit_must_be_a_finite_positive_number(limit: float) -> None:
    # writers check it before their work (a timelapse build), not after a day of encoding
    with pytest.raises(ValueError, match="gap limit must be a finite, positive number") as caught:
        check_gap_seconds(limit)
    assert len(str(caught.value)) < 120  # a huge integer is described, not printed
    with pytest.raises(ValueError, match="gap limit"):
        FrameTimes((1.0, 2.0), limit)
    assert check_gap_seconds(60) == 60.0
