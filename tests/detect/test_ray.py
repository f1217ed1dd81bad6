"""``--engine ray``: two pseudo camera-days on a local Ray (2 CPUs) give the files an
in-process run gives; a re-run finds every view done; an actor killed mid-task is restarted and
its task run again; more actors than Ray holds, or actors that cannot start, are one clear
error, never a wait without end; without Ray, a clear error.

The days are ``detect_helpers``' synthetic day (real H.264), the plume at different frames on
each; the model is the real ``motion3d`` folder, loaded in each actor (registered there by the
worker setup hook). One local Ray for the module (about 5 s to start), shut down after.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import one_line_error, run_cli
from detect_helpers import (
    BOXES,
    SECONDS_PER_FRAME,
    SIZE,
    START,
    detector_for,
    panorama,
    stand_in_detector,
    write_timelapse,
    write_views,
)

import smokewatch
from smokewatch.clips.views import load_views
from smokewatch.core.clip import Box
from smokewatch.core.detections import Detections, read_detections
from smokewatch.detect import (
    CameraDay,
    DetectError,
    DetectOptions,
    Detector,
    FrameClock,
    RayEngine,
    detect_timelapse,
)
from smokewatch.detect.ray_engine import plan_tasks

TESTS = Path(__file__).resolve().parent.parent
DAY = 86400.0
#: Ends a test that waits on Ray past a bound: the thread method, as Ray's waits outlast the
#: signal pytest-timeout sends by default; no hang, but the whole session exits.
NO_HANG = pytest.mark.timeout(120, method="thread")
#: (name, plume frames, start): the second day a day later, its plume earlier
DAYS = [("a", (60, 110), START), ("b", (20, 70), START + DAY)]


def _dies_while_scoring(model_dir: Path, deaths: Path, times: int) -> Detector:
    """:func:`stand_in_detector`, whose process kills itself (SIGKILL, as the OOM killer
    does) in the middle of a task, at its first call to score the first ``times`` times
    (counted by files in ``deaths``, which outlive the process)."""
    detector: Detector = stand_in_detector(model_dir)
    score = detector.scorer

    def scorer(clips: Any) -> Any:
        died = len(list(deaths.iterdir()))
        if died < times:
            (deaths / str(died)).touch()
            os.kill(os.getpid(), signal.SIGKILL)
        return score(clips)

    detector.scorer = scorer
    return detector


def _first_to_score_dies(model_dir: Path, marker: Path, pause: float) -> Detector:
    """:func:`stand_in_detector`, whose process kills itself (SIGKILL) at the first call to
    score in any actor (``marker`` is created once: exactly one dies); every other actor
    waits ``pause`` seconds at its first call, so it is still mid-task when the driver learns
    of the death."""
    detector: Detector = stand_in_detector(model_dir)
    score = detector.scorer
    paused = []

    def scorer(clips: Any) -> Any:
        try:
            marker.open("x").close()
        except FileExistsError:
            if not paused:
                paused.append(True)
                time.sleep(pause)
            return score(clips)
        os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError("unreachable")

    detector.scorer = scorer
    return detector


class _Holder:
    """An actor that only holds the CPUs it was given."""

    def ready(self) -> None:
        pass


@pytest.fixture(scope="module")
def ray_local() -> Iterator[Any]:
    """A local Ray with 2 CPUs whose workers import this checkout and the test helpers (and
    get this module's own helpers by value: the workers cannot import a test module)."""
    ray = pytest.importorskip("ray", reason="the [ray] extra is not installed")
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    path = [str(TESTS), str(Path(smokewatch.__file__).parent.parent), os.environ.get("PYTHONPATH")]
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        logging_level=logging.WARNING,
        runtime_env={
            "env_vars": {"PYTHONPATH": os.pathsep.join(p for p in path if p)},
            "worker_process_setup_hook": "detect_helpers.register_motion3d",
        },
    )
    yield ray
    ray.shutdown()
    ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def _until_all_free(ray: Any, seconds: float = 30.0) -> None:
    """Wait until the local Ray has its 2 CPUs free (an earlier test's actors have gone)."""
    deadline = time.monotonic() + seconds
    while ray.available_resources().get("CPU", 0) < 2:
        if time.monotonic() > deadline:
            pytest.fail(f"Ray still holds CPUs after {seconds:g} s: {ray.available_resources()}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def days(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], Path]:
    """(the two days' timelapses, the views file)."""
    folder = tmp_path_factory.mktemp("days")
    timelapses = [
        write_timelapse(folder / f"{name}.mp4", panorama(plume=plume)) for name, plume, _ in DAYS
    ]
    return timelapses, write_views(folder)


def _camera_days(timelapses: list[Path], views: Path, out: Path) -> list[CameraDay]:
    boxes = load_views(views)
    return [
        CameraDay(path, boxes, out / name, FrameClock(start, SECONDS_PER_FRAME))
        for path, (name, _, start) in zip(timelapses, DAYS, strict=True)
    ]


def _assert_same(ray: Detections, local: Detections) -> None:
    """The same detections: windows, probabilities within 1e-6, events, skipped frames."""
    assert (ray.model, ray.settings, ray.source) == (local.model, local.settings, local.source)
    assert [v.key for v in ray.views] == [v.key for v in local.views]
    for rv, lv in zip(ray.views, local.views, strict=True):
        assert (rv.box, rv.skipped) == (lv.box, lv.skipped)
        assert len(rv.windows) == len(lv.windows)
        for rw, lw in zip(rv.windows, lv.windows, strict=True):
            assert (rw.start_frame, rw.end_frame, rw.start_time, rw.end_time, rw.file) == (
                lw.start_frame, lw.end_frame, lw.start_time, lw.end_time, lw.file,
            )  # fmt: skip
            assert rw.probability == pytest.approx(lw.probability, abs=1e-6)
            assert rw.activation_ratio == pytest.approx(lw.activation_ratio, abs=1e-6)
        assert len(rv.events) == len(lv.events)
        for re, le in zip(rv.events, lv.events, strict=True):
            assert re.max_probability == pytest.approx(le.max_probability, abs=1e-6)
            assert (re.id, re.start_frame, re.end_frame, re.windows) == (
                le.id, le.start_frame, le.end_frame, le.windows,
            )  # fmt: skip
            assert (re.evidence_clip, re.evidence_gif) == (le.evidence_clip, le.evidence_gif)


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def test_plan_splits_a_day_only_to_give_every_actor_a_task() -> None:
    boxes = {k: Box(*ltrb) for k, ltrb in BOXES.items()}
    one = [CameraDay(Path("a.mp4"), boxes, Path("a"), FrameClock())]
    assert plan_tasks(one, 2) == [(0, ["0-0", "0-1"]), (0, ["0-2"])]
    assert plan_tasks(one, 1) == [(0, ["0-0", "0-1", "0-2"])]
    two = one * 2
    assert plan_tasks(two, 2) == [(0, ["0-0", "0-1", "0-2"]), (1, ["0-0", "0-1", "0-2"])]
    assert len(plan_tasks(two, 2, views_per_task=1)) == 6


def test_two_days_on_ray_give_the_in_process_files_and_resume(
    ray_local: Any, days: tuple[list[Path], Path], motion_model: Path, tmp_path: Path
) -> None:
    timelapses, views = days
    options = DetectOptions(size=SIZE)
    local_days = _camera_days(timelapses, views, tmp_path / "local")
    detector, _ = detector_for(motion_model)
    for day in local_days:
        detect_timelapse(
            day.timelapse, day.views, day.out_dir, detector=detector, clock=day.clock,
            options=options,
        )  # fmt: skip

    ray_days = _camera_days(timelapses, views, tmp_path / "ray")
    progress: list[int] = []
    merged: list[int] = []
    load = functools.partial(stand_in_detector, motion_model)
    with RayEngine(load, actors=2) as engine:
        reports = engine.run(
            ray_days,
            options=options,
            views_per_task=1,  # six tasks: each view of each day scored apart, then merged
            on_views=progress.append,
            on_day=lambda d, _: merged.append(d),
        )
        assert progress == [1] * 6 and sorted(merged) == [0, 1]
        assert [r.scored for r in reports] == [["0-0", "0-1", "0-2"]] * 2
        for local, ray in zip(local_days, ray_days, strict=True):
            ray_file = read_detections(ray.out_dir / "detections.json")
            _assert_same(ray_file, read_detections(local.out_dir / "detections.json"))
            assert _files(ray.out_dir) == _files(local.out_dir)  # evidence, clips, report
        smoky = [{v.key: len(v.events) for v in r.views.values()} for r in reports]
        assert smoky == [{"0-0": 0, "0-1": 1, "0-2": 0}] * 2

        stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "ray").rglob("views/*.json")}
        again = engine.run(ray_days, options=options)
        assert [r.reused for r in again] == [["0-0", "0-1", "0-2"]] * 2
        assert [r.model_calls for r in again] == [0, 0]
        assert {p: p.stat().st_mtime_ns for p in stamps} == stamps


def test_the_cli_scores_two_days_on_ray_as_in_process(
    ray_local: Any, days: tuple[list[Path], Path], motion_model: Path, tmp_path: Path
) -> None:
    timelapses, views = days
    args = [
        "detect", str(motion_model), "--views", str(views), "--size", str(SIZE), "--no-cam",
        "--quiet",
    ]  # fmt: skip
    for path, (_, _, start) in zip(timelapses, DAYS, strict=True):
        args += ["--timelapse", str(path), "--start-time", str(start)]
    local = run_cli(*args, "--out", str(tmp_path / "local"))
    assert local.exit_code == 0, local.output
    ray = run_cli(*args, "--out", str(tmp_path / "ray"), "--engine", "ray")
    assert ray.exit_code == 0, ray.output
    lines = [line for line in ray.stdout.splitlines() if line.startswith("0-")]
    assert lines == [line for line in local.stdout.splitlines() if line.startswith("0-")]
    assert len(lines) == 6 and all(line.endswith("scored") for line in lines)
    assert sum("1 event" in line for line in lines) == 2
    resumed = run_cli(*args, "--out", str(tmp_path / "ray"))  # in-process, into Ray's
    assert resumed.exit_code == 0, resumed.output
    assert resumed.stdout.count("already done") == 6
    for name, _, _ in DAYS:
        _assert_same(
            read_detections(tmp_path / "ray" / name / "detections.json"),
            read_detections(tmp_path / "local" / name / "detections.json"),
        )


def _day_a(timelapses: list[Path], views: Path, out: Path) -> CameraDay:
    name, _, start = DAYS[0]
    return CameraDay(
        timelapses[0], load_views(views), out / name, FrameClock(start, SECONDS_PER_FRAME)
    )


@NO_HANG
def test_an_actor_killed_mid_task_is_restarted_and_its_task_run_again(
    ray_local: Any, days: tuple[list[Path], Path], motion_model: Path, tmp_path: Path
) -> None:
    timelapses, views = days
    options = DetectOptions(size=SIZE)
    local = _day_a(timelapses, views, tmp_path / "local")
    detector, _ = detector_for(motion_model)
    detect_timelapse(
        local.timelapse, local.views, local.out_dir, detector=detector, clock=local.clock,
        options=options,
    )  # fmt: skip

    deaths = tmp_path / "deaths"
    deaths.mkdir()
    day = _day_a(timelapses, views, tmp_path / "ray")
    load = functools.partial(_dies_while_scoring, motion_model, deaths, 1)
    with RayEngine(load, actors=1) as engine:
        (report,) = engine.run([day], options=options)
    assert len(list(deaths.iterdir())) == 1  # it was killed, once
    assert report.scored == ["0-0", "0-1", "0-2"]
    _assert_same(
        read_detections(day.out_dir / "detections.json"),
        read_detections(local.out_dir / "detections.json"),
    )
    assert _files(day.out_dir) == _files(local.out_dir)  # and no work files left behind


@NO_HANG
def test_an_actor_that_keeps_dying_ends_the_run_with_one_error_naming_the_day(
    ray_local: Any, days: tuple[list[Path], Path], motion_model: Path, tmp_path: Path
) -> None:
    timelapses, views = days
    deaths = tmp_path / "deaths"
    deaths.mkdir()
    day = _day_a(timelapses, views, tmp_path / "ray")
    load = functools.partial(_dies_while_scoring, motion_model, deaths, 99)
    with RayEngine(load, actors=1, retries=1) as engine, pytest.raises(DetectError) as caught:
        engine.run([day], options=DetectOptions(size=SIZE))
    message = str(caught.value)
    assert (
        message.startswith(f"{day.timelapse}: ") and "died (killed, or out of retries)" in message
    )
    assert "\n" not in message
    assert len(list(deaths.iterdir())) == 2  # the task, and its one retry


@NO_HANG
def test_an_actor_dead_for_good_lets_the_others_finish_their_tasks_first(
    ray_local: Any, days: tuple[list[Path], Path], motion_model: Path, tmp_path: Path
) -> None:
    """One actor dead for good (no retries) ended the run at once, and closing the engine
    killed the healthy actor mid-task: its views were lost. Now its task finishes (its views
    are written), then the run stops with one line that claims no retries it did not make."""
    timelapses, views = days
    day = _day_a(timelapses, views, tmp_path / "ray")
    load = functools.partial(_first_to_score_dies, motion_model, tmp_path / "died", 3.0)
    with RayEngine(load, actors=2, retries=0) as engine, pytest.raises(DetectError) as caught:
        engine.run([day], options=DetectOptions(size=SIZE))  # two tasks: 0-0 0-1, and 0-2
    assert (tmp_path / "died").exists()
    written = {p.stem for p in (day.out_dir / "views").glob("*.json")}
    assert written in ({"0-0", "0-1"}, {"0-2"})  # the survivor's task, whichever it was
    assert not (day.out_dir / "detections.json").exists()  # the day is not merged half-done
    message = str(caught.value)
    assert message.startswith(f"{day.timelapse}: the Ray actor scoring this day died ")
    assert "(killed, or out of retries)" in message and "\n" not in message


@NO_HANG
def test_more_actors_than_ray_holds_is_one_line_error(
    ray_local: Any, days: tuple[list[Path], Path], motion_model: Path, tmp_path: Path
) -> None:
    timelapses, views = days
    args = [
        "detect", str(motion_model), "--views", str(views), "--size", str(SIZE), "--quiet",
        "--out", str(tmp_path / "o"), "--engine", "ray",
    ]  # fmt: skip
    for path, (_, _, start) in zip(timelapses, DAYS, strict=True):
        args += ["--timelapse", str(path), "--start-time", str(start)]
    many = run_cli(*args, "--ray-actors", "3")  # on 2 CPUs
    one_line_error(many, "no room for 3 actors of 1 CPU(s)", "hold 2 at most", "2 CPUs in all")
    wide = run_cli(*args, "--ray-actors", "1", "--threads", "3")
    one_line_error(wide, "no room for 1 actor of 3 CPU(s)", "hold 0 at most")
    # Ray frees an ended actor's CPU a moment later: the message reports what is free now
    _until_all_free(ray_local)
    unasked = run_cli(*args, "--threads", "3")  # as many as fit: none
    one_line_error(unasked, "no room for an actor of 3 CPU(s)", "free: 2 CPUs")
    assert not (tmp_path / "o").exists()


@NO_HANG
def test_actors_that_do_not_start_in_time_are_one_error(
    ray_local: Any, days: tuple[list[Path], Path], motion_model: Path, tmp_path: Path
) -> None:
    timelapses, views = days
    load = functools.partial(stand_in_detector, motion_model)
    with RayEngine(load, actors=1, start_timeout=2.0) as engine:
        holder = ray_local.remote(_Holder).options(num_cpus=2).remote()  # all of Ray's CPUs
        try:
            ray_local.get(holder.ready.remote(), timeout=30)
            with pytest.raises(DetectError, match=r"1 of 1 Ray actors .* did not start within 2 s"):
                engine.run([_day_a(timelapses, views, tmp_path / "ray")])
        finally:
            ray_local.kill(holder)


def test_without_ray_the_engine_says_how_to_install_it(
    days: tuple[list[Path], Path],
    motion_model: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # as if it were not installed
    timelapses, views = days
    proc = run_cli(
        "detect", str(motion_model), "--timelapse", str(timelapses[0]), "--views", str(views),
        "--start-time", str(START), "--out", str(tmp_path / "o"), "--engine", "ray", "--quiet",
    )  # fmt: skip
    assert proc.exit_code == 2
    assert "pip install 'smokewatch[ray]'" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_ray_cli_errors_are_one_line(
    days: tuple[list[Path], Path], motion_model: Path, tmp_path: Path
) -> None:
    timelapses, views = days
    base = ["detect", str(motion_model), "--out", str(tmp_path / "o"), "--quiet"]
    clips = run_cli(*base, "--clips", str(tmp_path), "--engine", "ray")
    assert clips.exit_code == 2 and "--engine local" in clips.stderr
    tl = ["--timelapse", str(timelapses[0]), "--views", str(views), "--start-time", str(START)]
    address = run_cli(*base, *tl, "--ray-address", "auto")
    assert address.exit_code == 2 and "go with --engine ray" in address.stderr
    two = run_cli(*base, *tl, "--timelapse", str(timelapses[1]))
    assert two.exit_code == 2 and "2 --timelapse need 2 --start-time" in two.stderr
    same = run_cli(*base, *tl, "--timelapse", str(timelapses[0]), "--start-time", str(START + DAY))
    assert same.exit_code == 2 and "its own name" in same.stderr
