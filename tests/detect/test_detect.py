"""``smokewatch detect`` on a synthetic camera day with a plume at known frames.

The day (``detect_helpers``): 150 frames, three views, smoke in view 0-1 during frames 60-109;
the model (``motion3d``) is real and its output known, the Grad-CAM a stand-in that lights
what moved. Real H.264 video throughout, decoded by PyAV.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from cli_helpers import one_line_error, run_cli
from detect_helpers import (
    BOXES,
    FRAMES,
    PLUME,
    SECONDS_PER_FRAME,
    SIZE,
    SMOKY_VIEW,
    START,
    detector_for,
    panorama,
    write_timelapse,
    write_views,
)
from model_dirs import tiny3d_model_dir
from PIL import Image
from videos import synthetic_frames

from smokewatch.clips.views import load_views
from smokewatch.core.detections import read_detections
from smokewatch.detect import DetectOptions, EventRule, FrameClock, detect_timelapse
from smokewatch.detect.results import view_file
from smokewatch.video import read_clip, write_clip

STEP = 18


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the day as an mp4, its views file)."""
    folder = tmp_path_factory.mktemp("day")
    return write_timelapse(folder / "day.mp4"), write_views(folder)


def _run(timelapse: Path, views: Path, out: Path, model: Path, **options: Any) -> tuple[Any, Any]:
    detector, counted = detector_for(model)
    report = detect_timelapse(
        timelapse,
        load_views(views),
        out,
        detector=detector,
        clock=options.pop("clock", FrameClock(START, SECONDS_PER_FRAME)),
        options=DetectOptions(size=SIZE, **options),
    )
    return report, counted


def test_the_plume_is_found_in_its_view_at_its_time(
    day: tuple[Path, Path], motion_model: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    report, counted = _run(*day, out, motion_model)
    detections = read_detections(out / "detections.json")
    assert detections == report.detections
    assert [v.key for v in detections.views] == list(BOXES)
    # windows at 0, 18, ..., 108 in each view, and the tail window ending on the last frame
    assert counted.windows == 3 * 8
    by_view = {v.key: v for v in detections.views}
    for key, view in by_view.items():
        assert view.box == BOXES[key]
        assert [w.start_frame for w in view.windows] == [*range(0, 109, STEP), FRAMES - 36]
        for w in view.windows:
            assert w.end_frame == w.start_frame + 35
            assert w.start_time == START + SECONDS_PER_FRAME * w.start_frame
            # Grad-CAM only past the gate
            assert (w.activation_ratio is None) == (w.probability <= 0.6)
        if key != SMOKY_VIEW:
            assert view.events == ()
            assert max(w.probability for w in view.windows) < 0.5
    (event,) = by_view[SMOKY_VIEW].events
    truth_start, truth_end = PLUME[0], PLUME[1] - 1
    assert abs(event.start_frame - truth_start) <= STEP
    assert abs(event.end_frame - truth_end) <= STEP
    assert event.start_time == START + SECONDS_PER_FRAME * event.start_frame
    assert event.end_time == START + SECONDS_PER_FRAME * event.end_frame
    assert event.id == f"0-1-{round(event.start_time)}-{round(event.end_time)}"
    windows = by_view[SMOKY_VIEW].windows
    assert event.max_probability == max(windows[i].probability for i in event.windows) > 0.85
    # the evidence: the view's own frames of the event, and the strongest window's overlay
    clip = read_clip(out / str(event.evidence_clip))
    assert clip.shape == (event.end_frame - event.start_frame + 1, SIZE, SIZE, 3)
    left, top, right, bottom = BOXES[SMOKY_VIEW]
    truth = panorama()[event.start_frame : event.end_frame + 1, top:bottom, left:right]
    assert np.abs(clip.astype(int) - truth).mean() < 6  # H.264 loses a little
    with Image.open(out / str(event.evidence_gif)) as gif:
        assert gif.format == "GIF" and gif.n_frames > 1
    assert not (out / ".work").exists()  # kept windows are gone once evidence exists


def test_a_view_already_done_is_not_scored_again(
    day: tuple[Path, Path], motion_model: Path, tmp_path: Path
) -> None:
    timelapse, views_file = day
    out = tmp_path / "out"
    views = load_views(views_file)
    detector, counted = detector_for(motion_model)
    clock = FrameClock(START, SECONDS_PER_FRAME)
    options = DetectOptions(size=SIZE)
    first = detect_timelapse(
        timelapse, {"0-0": views["0-0"]}, out, detector=detector, clock=clock, options=options
    )
    assert first.scored == ["0-0"] and counted.windows == 8
    stamp = view_file(out, "0-0").stat().st_mtime_ns
    # every view now: only the two new ones are scored
    second = detect_timelapse(
        timelapse, views, out, detector=detector, clock=clock, options=options
    )
    assert second.reused == ["0-0"] and second.scored == ["0-1", "0-2"]
    assert counted.windows == 8 + 16
    assert view_file(out, "0-0").stat().st_mtime_ns == stamp
    # all done: nothing decoded or scored, the same file written again
    calls = counted.calls
    third = detect_timelapse(timelapse, views, out, detector=detector, clock=clock, options=options)
    assert third.scored == [] and counted.calls == calls
    assert third.detections == second.detections
    # a damaged result file is scored again; so is everything under another rule
    view_file(out, "0-2").write_text("{broken")
    fourth = detect_timelapse(
        timelapse, views, out, detector=detector, clock=clock, options=options
    )
    assert fourth.scored == ["0-2"]
    stricter = DetectOptions(size=SIZE, rule=EventRule(smoke_probability=0.95))
    fifth = detect_timelapse(
        timelapse, views, out, detector=detector, clock=clock, options=stricter
    )
    assert fifth.scored == list(BOXES)
    assert fifth.detections is not None
    assert fifth.detections.settings["rule"]["smoke_probability"] == 0.95


def _partials(out: Path) -> set[str]:
    """The temporary files of atomic writes (``.<name>.XXXX.part<suffix>``) under ``out``."""
    return {p.relative_to(out).as_posix() for p in out.rglob(".*.part.*")}


def test_a_killed_writers_leftovers_are_swept_and_never_merged(
    day: tuple[Path, Path], motion_model: Path, tmp_path: Path
) -> None:
    """``views/*.json`` also matched an atomic write's temporary file: a run killed before
    the rename left ``.0-1.json.XXXX.part.json``, the next run scored 0-1 again and merged it
    twice. A rerun now sweeps its views' leftovers (only theirs) and merges named files."""
    timelapse, views_file = day
    out = tmp_path / "out"
    detector, _ = detector_for(motion_model)
    clock = FrameClock(START, SECONDS_PER_FRAME)
    options = DetectOptions(size=SIZE)
    views = load_views(views_file)
    detect_timelapse(timelapse, views, out, detector=detector, clock=clock, options=options)
    # killed after writing 0-1's result and before renaming it; and mid-way through evidence
    view_file(out, "0-1").rename(out / "views" / ".0-1.json.1a2b3c4d.part.json")
    (out / "evidence" / ".0-1-1-2.mp4.0badf00d.part.mp4").write_bytes(b"half a clip")
    (out / "clips" / ".0-1-2024-06-11-x.mp4.0badf00d.part.mp4").write_bytes(b"half a clip")
    # another job's, into the same folders (views not in this run): left alone
    theirs = {"views/.5-5.json.0badf00d.part.json", "evidence/.5-5-1-2.gif.0badf00d.part.gif"}
    for name in theirs:
        (out / name).write_bytes(b"{}")
    # a copy of a view file under another name holds a view already merged
    (out / "views" / "0-0 copy.json").write_bytes(view_file(out, "0-0").read_bytes())

    again = detect_timelapse(timelapse, views, out, detector=detector, clock=clock, options=options)
    assert again.scored == ["0-1"]
    merged = read_detections(out / "detections.json")
    assert [v.key for v in merged.views] == ["0-0", "0-1", "0-2"]
    assert _partials(out) == theirs


def test_detect_clips_sweeps_its_leftovers_and_merges_each_view_once(tmp_path: Path) -> None:
    """``--clips`` writes the same ``views/`` files: a killed run's temporary file is neither
    merged nor left behind."""
    model_dir = tiny3d_model_dir(tmp_path / "model")
    clips = tmp_path / "clips"
    clips.mkdir()
    for view in (0, 1):
        name = f"0-{view}-2024-06-11-0-0-32-32-32-32-0-{int(START)}-{int(START) + 55}.mp4"
        write_clip(synthetic_frames(12, 32, seed=view), clips / name)
    out = tmp_path / "det"
    args = ["detect", str(model_dir), "--clips", str(clips), "--out", str(out), "--no-cam"]
    assert run_cli(*args, "--quiet").exit_code == 0
    view_file(out, "0-1").rename(out / "views" / ".0-1.json.1a2b3c4d.part.json")
    (out / "evidence").mkdir(exist_ok=True)
    (out / "evidence" / ".0-1-1-2.gif.0badf00d.part.gif").write_bytes(b"half a gif")

    again = run_cli(*args, "--quiet")
    assert again.exit_code == 0, again.output
    merged = read_detections(out / "detections.json")
    assert [v.key for v in merged.views] == ["0-0", "0-1"]
    assert _partials(out) == set()


def _corrupt_frames(path: Path, first: int, last: int) -> None:
    """Overwrite the packets of frames ``first..last`` with random bytes, in place."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        packets = sorted(
            (p.pts, p.pos, p.size) for p in container.demux(stream) if p.size and p.pos
        )
    start = packets[first][1]
    end = packets[last][1] + packets[last][2]
    data = bytearray(path.read_bytes())
    data[start:end] = np.random.default_rng(0).bytes(end - start)
    path.write_bytes(bytes(data))


def test_a_corrupt_segment_is_reported_and_the_rest_of_the_day_scored(
    day: tuple[Path, Path], motion_model: Path, tmp_path: Path
) -> None:
    timelapse = tmp_path / "corrupt.mp4"
    timelapse.write_bytes(day[0].read_bytes())
    _corrupt_frames(timelapse, 40, 45)
    out = tmp_path / "out"
    proc = run_cli(
        "detect", str(motion_model), "--timelapse", str(timelapse), "--views", str(day[1]),
        "--out", str(out), "--start-time", str(START), "--size", str(SIZE), "--no-cam",
        "--quiet",
    )  # fmt: skip
    assert proc.exit_code == 0, proc.output
    detections = read_detections(out / "detections.json")
    for view in detections.views:
        lost = [s for s in view.skipped if s.reason.startswith("corrupt segment")]
        # the damaged frames, and those that depended on them (FFmpeg drops or fails them)
        assert any(s.start_frame <= 40 and s.end_frame >= 45 for s in lost)
        assert max(s.end_frame for s in lost) < 100  # the damage ends; later frames decode
        for w in view.windows:  # no window holds a lost frame
            assert all(w.end_frame < s.start_frame or w.start_frame > s.end_frame for s in lost)
        assert any(w.start_frame > max(s.end_frame for s in lost) for w in view.windows)
        assert max(w.end_frame for w in view.windows) >= FRAMES - STEP  # the day went on
    for s in lost:
        assert (
            f"frames {s.start_frame}-{s.end_frame} of {timelapse}: corrupt segment" in proc.stderr
        )
    # the plume after the damage is still found, probability alone (--no-cam)
    smoky = {v.key: v for v in detections.views}[SMOKY_VIEW]
    assert smoky.events and smoky.events[0].evidence_gif is None
    assert detections.settings["rule"]["use_ratio"] is False


def test_frame_times_file_gives_each_frame_its_time_and_night_is_skipped(
    day: tuple[Path, Path], motion_model: Path, tmp_path: Path
) -> None:
    # 19:55 local: frames from 20:00 on are night (default daytime 6:00-20:00)
    t0 = START + 11 * 3600 + 55 * 60
    times = [t0 + 5 * i + 0.5 * (i % 3) for i in range(FRAMES)]
    sidecar = tmp_path / "frames.json"
    sidecar.write_text(json.dumps({"frames": times, "gaps": []}))
    plain = tmp_path / "times.json"
    plain.write_text(json.dumps(times))
    results = []
    for name, path in (("a", sidecar), ("b", plain)):
        out = tmp_path / name
        proc = run_cli(
            "detect", str(motion_model), "--timelapse", str(day[0]), "--views", str(day[1]),
            "--out", str(out), "--frame-times", str(path), "--size", str(SIZE), "--no-cam",
            "--quiet",
        )  # fmt: skip
        assert proc.exit_code == 0, proc.output
        results.append(read_detections(out / "detections.json"))
    assert [v.windows for v in results[0].views] == [v.windows for v in results[1].views]
    view = results[0].views[0]
    night_from = next(i for i, t in enumerate(times) if t >= t0 + 300)
    assert [(s.start_frame, s.end_frame, s.reason) for s in view.skipped] == [
        (night_from, FRAMES - 1, "night (outside daytime)")
    ]
    # 36..71 would reach the night: the tail window 24..59 ends on the last daytime frame
    assert [w.start_frame for w in view.windows] == [0, 18, night_from - 36]
    for w in view.windows:
        assert (w.start_time, w.end_time) == (times[w.start_frame], times[w.end_frame])
    assert results[0].source["frames"] == FRAMES


def test_image_folder_with_an_unreadable_frame(motion_model: Path, tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, frame in enumerate(panorama(80, plume=None)):
        Image.fromarray(frame).save(folder / f"{i:04d}.png")
    (folder / "0040.png").write_bytes(b"not a png")
    report, _ = _run(folder, write_views(tmp_path), tmp_path / "out", motion_model)
    view = report.detections.views[0]
    (lost,) = view.skipped
    assert (lost.start_frame, lost.end_frame) == (40, 40) and "0040.png" in lost.reason
    # windows restart after it; each stretch ends with a window on its last frame
    assert [w.start_frame for w in view.windows] == [0, 4, 41, 44]


def test_cli_errors_are_one_line(
    day: tuple[Path, Path], motion_model: Path, tmp_path: Path
) -> None:
    timelapse, views = day
    base = ["detect", str(motion_model), "--out", str(tmp_path / "o"), "--no-cam", "--quiet"]
    tl = ["--timelapse", str(timelapse), "--views", str(views), "--start-time", str(START)]
    one_line_error(run_cli(*base, *tl, "--view", "0-9"), "no view 0-9", "0-0, 0-1, 0-2")
    bad_views = tmp_path / "bad.yaml"
    bad_views.write_text("cameras:\n  0:\n    views:\n      0: [10, 10, 5]\n")
    one_line_error(
        run_cli(*base, "--timelapse", str(timelapse), "--views", str(bad_views),
                    "--start-time", str(START)),
        str(bad_views), "view 0-0",
    )  # fmt: skip
    outside = tmp_path / "outside.yaml"
    outside.write_text("cameras:\n  0:\n    views:\n      0: [100, 0, 200, 48]\n")
    one_line_error(
        run_cli(*base, "--timelapse", str(timelapse), "--views", str(outside),
                    "--start-time", str(START), "--size", str(SIZE)),
        "outside",
    )  # fmt: skip
    not_model = ["detect", str(tmp_path), "--out", str(tmp_path / "o"), "--no-cam"]
    one_line_error(run_cli(*not_model, *tl), "not a model directory")
    short = tmp_path / "short.json"
    short.write_text(json.dumps(list(range(FRAMES - 1))))
    one_line_error(
        run_cli(*base, "--timelapse", str(timelapse), "--views", str(views),
                    "--frame-times", str(short)),
        f"{FRAMES - 1} frame times", f"{FRAMES} frames",
    )  # fmt: skip
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    one_line_error(
        run_cli(*base, "--timelapse", str(empty), "--views", str(views),
                    "--start-time", str(START)),
        "empty",
    )  # fmt: skip
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(1).bytes(5000))
    one_line_error(
        run_cli(*base, "--timelapse", str(garbage), "--views", str(views),
                    "--start-time", str(START)),
        str(garbage),
    )  # fmt: skip
    one_line_error(run_cli(*base), "--timelapse", "--clips")
    one_line_error(run_cli(*base, "--timelapse", str(timelapse), "--views", str(views)),
                    "--start-time", "--frame-times")  # fmt: skip


def test_the_cli_runs_a_day_and_skips_it_when_run_again(
    day: tuple[Path, Path], motion_model: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    args = [
        "detect", str(motion_model), "--timelapse", str(day[0]), "--views", str(day[1]),
        "--out", str(out), "--start-time", "2024-06-11T08:00:00", "--size", str(SIZE),
        "--no-cam", "--quiet",
    ]  # fmt: skip
    proc = run_cli(*args)
    assert proc.exit_code == 0, proc.output
    assert "0-1: 8 windows, 1 event" in proc.stdout
    assert proc.stdout.count("scored") == 3
    stamp = (out / "views" / "0-1.json").stat().st_mtime_ns
    again = run_cli(*args)
    assert again.exit_code == 0, again.output
    assert again.stdout.count("already done") == 3
    assert (out / "views" / "0-1.json").stat().st_mtime_ns == stamp
    detections = read_detections(out / "detections.json")
    assert detections.source["start_time"] == START
    assert detections.model["preset"] == "motion"


def test_detect_clips_scores_equal_evaluate(tmp_path: Path) -> None:
    model_dir = tiny3d_model_dir(tmp_path / "model")
    clips = tmp_path / "clips"
    clips.mkdir()
    rows = []
    for k, (view, first) in enumerate([(0, 0), (0, 12), (0, 24), (1, 0), (1, 12)]):
        t0 = int(START) + 5 * first
        name = f"0-{view}-2024-06-11-0-0-32-32-32-32-{first}-{t0}-{t0 + 55}.mp4"
        write_clip(synthetic_frames(12, 32, seed=k), clips / name)
        rows.append((name, k % 2))
    write_clip(synthetic_frames(12, 32, seed=9), clips / "junk.mp4")
    labels = clips / "labels.csv"
    with open(labels, "w", newline="") as f:
        csv.writer(f).writerows([("file", "label"), *rows])
    evaluated = run_cli(
        "evaluate", str(model_dir), "--labels", str(labels), "--clips", str(clips),
        "--out", str(tmp_path / "eval"), "--no-grids", "--quiet",
    )  # fmt: skip
    assert evaluated.exit_code == 0, evaluated.output
    with open(tmp_path / "eval" / "predictions.csv", newline="") as f:
        expected = {r["file"]: float(r["probability"]) for r in csv.DictReader(f)}
    detected = run_cli(
        "detect", str(model_dir), "--clips", str(clips), "--out", str(tmp_path / "det"),
        "--no-cam", "--quiet",
    )  # fmt: skip
    assert detected.exit_code == 0, detected.output
    assert "junk.mp4: not a RISE clip name" in detected.stderr
    detections = read_detections(tmp_path / "det" / "detections.json")
    assert [(v.key, len(v.windows)) for v in detections.views] == [("0-0", 3), ("0-1", 2)]
    # each window names its clip relative to the output folder
    assert {Path(w.file).parent for v in detections.views for w in v.windows} == {
        Path("..") / "clips"
    }
    got = {Path(w.file).name: w.probability for v in detections.views for w in v.windows}
    assert got.keys() == expected.keys()
    for name, p in expected.items():
        assert got[name] == pytest.approx(p, abs=1e-4)
    first = detections.views[0].windows[1]
    assert (first.start_frame, first.end_frame) == (12, 23)
    assert (first.start_time, first.end_time) == (START + 60, START + 115)
    assert detections.source["skipped_files"] == ["junk.mp4: not a RISE clip name"]


def test_a_folder_with_no_rise_clips_says_what_it_skipped_and_why(tmp_path: Path) -> None:
    """Not "no clips" alone: .mp4 files with other names, and links that lead to no file (a
    link to a clip is followed), are counted with their reason."""
    model_dir = tiny3d_model_dir(tmp_path / "model")
    clips = tmp_path / "rc"
    clips.mkdir()
    write_clip(synthetic_frames(12, 32, seed=1), clips / "rise-hard-0001.mp4")
    write_clip(synthetic_frames(12, 32, seed=2), clips / "rise-hard-0002.mp4")
    name = f"0-0-2024-06-11-0-0-32-32-32-32-0-{int(START)}-{int(START) + 55}.mp4"
    (clips / name).symlink_to(tmp_path / "gone.mp4")
    result = run_cli("detect", str(model_dir), "--clips", str(clips), "--out", str(tmp_path / "d"))
    one_line_error(
        result,
        f"{clips}: no clips with RISE names (cam-view-Y-M-D-...-end.mp4); skipped 3 .mp4 files: "
        f"1 a symbolic link to no file (e.g. {name}); 2 not a RISE clip name (e.g. "
        "rise-hard-0001.mp4)",
    )


def test_detect_clips_records_the_zone_and_reports_in_it(tmp_path: Path) -> None:
    model_dir = tiny3d_model_dir(tmp_path / "model")
    clips = tmp_path / "clips"
    clips.mkdir()
    t0 = 1_781_503_200  # 2026-06-15 06:00 UTC: 11:45 in Kathmandu (UTC+5:45), 02:00 in New York
    for k, first in enumerate((0, 12)):
        s = t0 + 5 * first
        name = f"0-0-2026-06-15-0-0-32-32-32-32-{first}-{s}-{s + 55}.mp4"
        write_clip(synthetic_frames(12, 32, seed=k), clips / name)
    detected = run_cli(
        "detect", str(model_dir), "--clips", str(clips), "--out", str(tmp_path / "det"),
        "--no-cam", "--quiet", "--timezone", "Asia/Kathmandu",
    )  # fmt: skip
    assert detected.exit_code == 0, detected.output
    assert read_detections(tmp_path / "det" / "detections.json").time_zone == "Asia/Kathmandu"
    page = (tmp_path / "det" / "report.html").read_text()
    assert "Asia/Kathmandu" in page and "11:45" in page
    assert "US/Eastern" not in page


def test_the_report_is_written_when_its_module_is_installed(
    day: tuple[Path, Path], motion_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys
    import types

    calls: list[tuple[Any, Path, str | None]] = []
    fake = types.ModuleType("smokewatch.detect.report")

    def write_report(detections: Any, out_dir: Path, time_zone: str | None = None) -> None:
        calls.append((detections, out_dir, time_zone))

    fake.write_report = write_report  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "smokewatch.detect.report", fake)
    report, _ = _run(*day, tmp_path / "out", motion_model)
    # the report shows local times in the zone of the run's daylight rule
    assert calls == [(report.detections, tmp_path / "out", "US/Eastern")]


def test_a_worker_scores_views_from_plain_arguments_and_the_merge_finds_them(
    day: tuple[Path, Path], motion_model: Path, tmp_path: Path
) -> None:
    from smokewatch.detect import detect_view_day, load_detector

    out = tmp_path / "out"
    options = DetectOptions(size=SIZE, cam=False)
    (smoky,) = detect_view_day(
        str(motion_model), str(day[0]), {SMOKY_VIEW: BOXES[SMOKY_VIEW]}, str(out),
        start_time=START, seconds_per_frame=SECONDS_PER_FRAME, options=options,
    )  # fmt: skip
    assert smoky.key == SMOKY_VIEW and len(smoky.events) == 1
    assert not (out / "detections.json").exists()  # merging is the caller's
    detector = load_detector(motion_model, cam=False)
    merged = detect_timelapse(
        day[0], load_views(day[1]), out, detector=detector,
        clock=FrameClock(START, SECONDS_PER_FRAME), options=options,
    )  # fmt: skip
    assert merged.reused == [SMOKY_VIEW] and merged.scored == ["0-0", "0-2"]
    assert merged.detections is not None
    assert {v.key: v for v in merged.detections.views}[SMOKY_VIEW] == smoky


def test_a_night_only_day_warns(day: tuple[Path, Path], motion_model: Path, tmp_path: Path) -> None:
    proc = run_cli(
        "detect", str(motion_model), "--timelapse", str(day[0]), "--views", str(day[1]),
        "--out", str(tmp_path / "o"), "--start-time", "2024-06-11T23:00:00", "--size",
        str(SIZE), "--no-cam", "--quiet",
    )  # fmt: skip
    assert proc.exit_code == 0, proc.output
    assert "no daytime window of 36 frames" in proc.stderr
    view = read_detections(tmp_path / "o" / "detections.json").views[0]
    assert view.windows == () and [(s.start_frame, s.end_frame) for s in view.skipped] == [
        (0, FRAMES - 1)
    ]


def test_notify_sends_each_event_once_signed(
    day: tuple[Path, Path], motion_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from smokewatch.detect.alerts import verify_signature

    received: list[tuple[bytes, dict[str, str]]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((body, dict(self.headers)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("SMOKEWATCH_ALERT_SECRET", "s3cret")
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    args = [
        "detect", str(motion_model), "--timelapse", str(day[0]), "--views", str(day[1]),
        "--out", str(tmp_path / "out"), "--start-time", "2024-06-11T08:00:00",
        "--size", str(SIZE), "--no-cam", "--quiet", "--notify", url,
    ]  # fmt: skip
    try:
        first = run_cli(*args)
        assert first.exit_code == 0, first.output
        assert len(received) == 1  # the day has one event (view 0-1)
        assert "alerts: 1 sent, 0 already sent, 0 failed" in first.stdout
        assert "alerts: alerts:" not in first.stdout
        body, headers = received[0]
        assert json.loads(body)["event"]["view_id"] == 1
        assert verify_signature(
            body,
            headers["X-Smokewatch-Timestamp"],
            headers["X-Smokewatch-Signature"],
            "s3cret",
            now=float(headers["X-Smokewatch-Timestamp"]),
        )
        again = run_cli(*args)
        assert again.exit_code == 0, again.output
        assert len(received) == 1  # sent once: a re-run sends nothing
    finally:
        server.shutdown()
    monkeypatch.delenv("SMOKEWATCH_ALERT_SECRET")
    unsigned = run_cli(*args)  # no secret now: unsigned alerts are refused before scoring
    assert unsigned.exit_code == 2
    assert "secret" in unsigned.output.lower()


def test_notify_sends_each_days_alerts_before_the_next_day_is_scored(
    day: tuple[Path, Path], motion_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two days, one event each: day 1's alert is out while day 2 is still to be scored."""
    import shutil
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    out = tmp_path / "out"
    day2_done: list[bool] = []  # per alert: was day 2's result there when it arrived

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            day2_done.append((out / "2024-06-12" / "detections.json").exists())
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    days = [tmp_path / "2024-06-11.mp4", tmp_path / "2024-06-12.mp4"]
    for path in days:
        shutil.copyfile(day[0], path)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("SMOKEWATCH_ALERT_SECRET", "s3cret")
    try:
        proc = run_cli(
            "detect", str(motion_model), "--views", str(day[1]), "--out", str(out),
            "--timelapse", str(days[0]), "--start-time", "2024-06-11T08:00:00",
            "--timelapse", str(days[1]), "--start-time", "2024-06-12T08:00:00",
            "--size", str(SIZE), "--no-cam", "--quiet",
            "--notify", f"http://127.0.0.1:{server.server_address[1]}/hook",
        )  # fmt: skip
    finally:
        server.shutdown()
    assert proc.exit_code == 0, proc.output
    assert day2_done == [False, True]
    assert proc.stdout.count("alerts: 1 sent") == 2


def test_a_timelapse_run_writes_the_clips_the_labeling_import_takes(
    day: tuple[Path, Path], motion_model: Path, tmp_path: Path
) -> None:
    from smokewatch.labeling.detection_import import plan_import

    out = tmp_path / "out"
    detector, _ = detector_for(motion_model)
    label_clips = 3
    detect_timelapse(
        day[0],
        load_views(day[1]),
        out,
        detector=detector,
        clock=FrameClock(START, SECONDS_PER_FRAME),
        options=DetectOptions(size=SIZE),
        label_clips=label_clips,
    )
    detections = read_detections(out / "detections.json")
    timezone = detections.settings["daylight"]["timezone"]
    plan = plan_import(detections, out, uncertain=label_clips, clip_size=SIZE, timezone=timezone)
    assert plan.skipped == []
    event_windows = sum(len(e.windows) for v in detections.views for e in v.events)
    assert event_windows > 0
    assert len(plan.clips) == event_windows + label_clips
    # each view keeps its own nearest-0.5 windows (a Ray task sees only its views)
    written = sorted(p.name for p in (out / "clips").iterdir())
    assert len(written) == event_windows + label_clips * len(BOXES)
    # a clip holds its window's own frames of its own view
    pano = panorama()
    by_key = {v.key: v for v in detections.views}
    for clip in plan.clips:
        key = f"{clip.name.camera_id}-{clip.name.view_id}"
        window = next(w for w in by_key[key].windows if w.start_frame == clip.name.start_frame)
        left, top, right, bottom = BOXES[key]
        truth = pano[window.start_frame : window.end_frame + 1, top:bottom, left:right]
        frames = read_clip(clip.path)
        assert frames.shape == truth.shape
        assert np.abs(frames.astype(int) - truth).mean() < 6
    assert not (out / ".work").exists()


def test_no_label_clips_writes_only_event_clips(
    day: tuple[Path, Path], motion_model: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    detector, _ = detector_for(motion_model)
    detect_timelapse(
        day[0],
        load_views(day[1]),
        out,
        detector=detector,
        clock=FrameClock(START, SECONDS_PER_FRAME),
        options=DetectOptions(size=SIZE),
        label_clips=0,
    )
    detections = read_detections(out / "detections.json")
    event_windows = sum(len(e.windows) for v in detections.views for e in v.events)
    assert len(list((out / "clips").iterdir())) == event_windows


def test_the_help_gives_the_units_of_sizes_and_places() -> None:
    """``--size 180`` is pixels and ``--latitude 40.4`` degrees: the help says so."""
    import inspect

    from smokewatch.cli.detect import detect_command

    options = inspect.signature(detect_command).parameters
    helps = {name: str(options[name].default.help) for name in ("size", "latitude", "longitude")}
    assert helps["size"].startswith("Pixels:")
    assert helps["latitude"].startswith("Degrees north")
    assert helps["longitude"].startswith("Degrees east")
