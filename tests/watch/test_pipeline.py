"""One camera job in-process: frames from photos, windows that never span a gap, events
only once settled, the same files when run again, and the folder `detect` reads in batch."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner
from watch_helpers import CAMERA, EVERY, START, photo, write_config

from smokewatch.core.detections import Window
from smokewatch.detect import load_detector
from smokewatch.detect.rule import find_events
from smokewatch.labeling.cameras import INBOX, camera_dir, store_photo
from smokewatch.watch.config import WatchConfig, load_watch_config
from smokewatch.watch.pipeline import settled_spans, sync_camera


@pytest.fixture
def config(tmp_path: Path, always_smoke: Path) -> WatchConfig:
    path = write_config(tmp_path, tmp_path / "data", always_smoke)
    return load_watch_config(path, data_dir=tmp_path / "data", timezone="US/Eastern")


def post(config: WatchConfig, times: list[float]) -> None:
    for t in times:
        store_photo(config.data_dir, CAMERA, photo(int(t)), taken=t, max_bytes=1 << 20)


def day(config: WatchConfig) -> Path:
    return camera_dir(config.data_dir, CAMERA) / "days" / "2024-06-11"


def windows_of(config: WatchConfig) -> list[dict[str, object]]:
    scan = json.loads((day(config) / "detect" / "scan.json").read_text())
    return list(scan["windows"]["1-0"])


def test_an_event_is_raised_once_settled_and_a_rerun_changes_nothing(
    config: WatchConfig, always_smoke: Path
) -> None:
    detector = load_detector(always_smoke, cam=False)
    post(config, [START + i * EVERY for i in range(90)])
    first = sync_camera(config, CAMERA, detector=lambda: detector)
    assert first.frames_added == 90 and first.windows_scored == 4
    assert first.events == []  # frames 0-71 could still grow: not settled yet
    post(config, [START + i * EVERY for i in range(90, 108)])
    second = sync_camera(config, CAMERA, detector=lambda: detector)
    assert second.events == ["1-0-1718107200-1718107910"]
    snapshot = sorted(p.relative_to(day(config)) for p in day(config).rglob("*"))
    again = sync_camera(config, CAMERA, detector=lambda: detector)
    assert (again.frames_added, again.windows_scored, again.events) == (0, 0, [])
    assert sorted(p.relative_to(day(config)) for p in day(config).rglob("*")) == snapshot


def test_a_day_is_over_once_a_photo_comes_after_its_daylight(
    tmp_path: Path, always_smoke: Path
) -> None:
    """Smoke until daytime ends (08:15 here): the last event is raised by the first night
    photo of the same date, not only when the next day's folder appears."""
    path = write_config(tmp_path, tmp_path / "data", always_smoke, day_start="6", day_end="8.25")
    config = load_watch_config(path, data_dir=tmp_path / "data", timezone="US/Eastern")
    detector = load_detector(always_smoke, cam=False)
    post(config, [START + i * EVERY for i in range(90)])  # 08:00-08:14:50, all smoke
    daytime = sync_camera(config, CAMERA, detector=lambda: detector)
    assert daytime.windows_scored == 4 and daytime.events == []  # could still grow
    post(config, [START + 90 * EVERY + 5])  # 08:15:05: night, the same date
    night = sync_camera(config, CAMERA, detector=lambda: detector)
    assert night.photos_dropped == 1
    assert night.events == ["1-0-1718107200-1718108090"]
    assert (day(config) / "over").is_file()
    again = sync_camera(config, CAMERA, detector=lambda: detector)
    assert again.events == [] and not again.changed


def test_late_duplicate_and_night_photos_are_dropped(
    config: WatchConfig, always_smoke: Path
) -> None:
    detector = load_detector(always_smoke, cam=False)
    post(config, [START + i * EVERY for i in range(5)])
    sync_camera(config, CAMERA, detector=lambda: detector)
    night = START + 14 * 3600  # 22:00 local
    post(config, [START + 2 * EVERY + 1, night])  # late (before the last frame), and night
    report = sync_camera(config, CAMERA, detector=lambda: detector)
    assert (report.frames_added, report.photos_dropped) == (0, 2)
    assert not list((camera_dir(config.data_dir, CAMERA) / INBOX).iterdir())
    frames = json.loads((day(config) / "frames" / "frames.json").read_text())
    assert len(frames["frames"]) == 5


def test_no_window_spans_a_gap_and_the_grid_restarts_after_it(
    config: WatchConfig, always_smoke: Path, tmp_path: Path
) -> None:

    detector = load_detector(always_smoke, cam=False)
    before = [START + i * EVERY for i in range(40)]
    after = [before[-1] + 1200 + i * EVERY for i in range(40)]  # a 20-minute gap
    post(config, before + after)
    sync_camera(config, CAMERA, detector=lambda: detector)
    # the grid's window 0-35, then (as detect does) one ending on the last frame before the
    # gap, 4-39; after it the grid starts again at 40 (the day is open: no tail yet)
    starts = [w["start_frame"] for w in windows_of(config)]
    assert starts == [0, 4, 40]
    sidecar = json.loads((day(config) / "frames" / "frames.json").read_text())
    assert sidecar["gaps"][0]["after_frame"] == 39
    for w in windows_of(config):
        assert float(w["end_time"]) - float(w["start_time"]) == 35 * EVERY  # type: ignore[arg-type]
    # each window knows its stretch (the gap begins the next), numbered as detect numbers them
    assert [w["stretch"] for w in windows_of(config)] == [0, 0, 1]
    batch = _batch_windows(config, detector, tmp_path / "batch")
    assert [(w.start_frame, w.stretch) for w in batch][:3] == [(0, 0), (4, 0), (40, 1)]


def _batch_windows(config: WatchConfig, detector: Any, out: Path) -> list[Any]:
    """``detect`` over the watched day's frame folder, as a batch run: view 1-0's windows."""
    from smokewatch.core.clip import Box
    from smokewatch.detect import detect_timelapse, read_frame_times

    frames = day(config) / "frames"
    report = detect_timelapse(
        frames,
        {"1-0": Box(0, 0, 48, 48)},
        out,
        detector=detector,
        clock=read_frame_times(frames / "frames.json"),
        options=dataclasses.replace(config.options),
        label_clips=0,
    )
    return list(report.views["1-0"].windows)


def test_detect_reads_the_same_frame_folder_in_batch(
    config: WatchConfig, always_smoke: Path, tmp_path: Path
) -> None:
    detector = load_detector(always_smoke, cam=False)
    post(config, [START + i * EVERY for i in range(60)])
    sync_camera(config, CAMERA, detector=lambda: detector)
    batch = _batch_windows(config, detector, tmp_path / "batch")
    # the batch run also scores the folder's last 36 frames (24-59), the end of its stretch;
    # the watched day, still open, waits for more frames on its grid
    assert (batch[-1].start_frame, batch[-1].end_frame) == (24, 59)
    assert [w["start_frame"] for w in windows_of(config)] == [w.start_frame for w in batch[:-1]]
    # once the day is over (a photo after its daylight), watch scores that window too
    post(config, [START + 14 * 3600])
    sync_camera(config, CAMERA, detector=lambda: detector)
    watched = windows_of(config)
    assert [w.start_frame for w in batch] == [w["start_frame"] for w in watched]
    assert [w.end_frame for w in batch] == [w["end_frame"] for w in watched]
    assert [w.start_time for w in batch] == [w["start_time"] for w in watched]
    assert [w.stretch for w in batch] == [w["stretch"] for w in watched]
    assert [round(w.probability, 4) for w in batch] == [
        round(float(w["probability"]), 4)  # type: ignore[arg-type]
        for w in watched
    ]


@pytest.mark.parametrize("later", [40, 0])
def test_a_stretch_ended_by_a_gap_gets_its_tail_even_past_a_lone_stretch(
    config: WatchConfig, always_smoke: Path, tmp_path: Path, later: int
) -> None:
    """40 frames, a gap, 10 frames (too few for a window), a gap, then ``later`` frames:
    the first stretch's tail (4-39) is due once a gap ends it, although the grid's next
    window (18-53) spans both gaps and the 10 frames after the first hold no window."""
    detector = load_detector(always_smoke, cam=False)
    first = [START + i * EVERY for i in range(40)]
    lone = [first[-1] + 1200 + i * EVERY for i in range(10)]  # 20-minute gaps
    rest = [lone[-1] + 1200 + i * EVERY for i in range(later)]
    post(config, first + lone + rest)
    sync_camera(config, CAMERA, detector=lambda: detector)
    starts = [w["start_frame"] for w in windows_of(config)]
    assert starts == ([0, 4, 50] if later else [0, 4])  # the day open: no tail at its end yet
    post(config, [START + 14 * 3600])  # the day is over
    sync_camera(config, CAMERA, detector=lambda: detector)
    batch = _batch_windows(config, detector, tmp_path / "batch")
    watched = windows_of(config)
    assert [(w.start_frame, w.end_frame, w.stretch) for w in batch] == [
        (w["start_frame"], w["end_frame"], w["stretch"]) for w in watched
    ]
    assert [w.start_frame for w in batch] == ([0, 4, 50, 54] if later else [0, 4])


def test_a_gap_with_few_frames_after_it_gets_the_stretchs_tail_at_once(
    config: WatchConfig, always_smoke: Path
) -> None:
    """The grid waits for 36 frames after a gap, but the stretch before it has ended: its
    tail is due with the first frame after the gap, not hours later or at the day's end."""
    detector = load_detector(always_smoke, cam=False)
    first = [START + i * EVERY for i in range(40)]
    post(config, first)
    sync_camera(config, CAMERA, detector=lambda: detector)
    assert [w["start_frame"] for w in windows_of(config)] == [0]
    post(config, [first[-1] + 1200])  # one frame after a 20-minute gap
    report = sync_camera(config, CAMERA, detector=lambda: detector)
    assert report.windows_scored == 1
    assert [(w["start_frame"], w["end_frame"]) for w in windows_of(config)] == [(0, 35), (4, 39)]
    again = sync_camera(config, CAMERA, detector=lambda: detector)
    assert not again.changed and again.windows_scored == 0


def test_a_damaged_frame_image_fails_the_job_in_one_line_naming_it(
    config: WatchConfig, always_smoke: Path
) -> None:
    from smokewatch.errors import VideoError

    detector = load_detector(always_smoke, cam=False)
    post(config, [START + i * EVERY for i in range(30)])
    sync_camera(config, CAMERA, detector=lambda: detector)
    frame = day(config) / "frames" / "000012.png"
    frame.write_bytes(frame.read_bytes()[:40])  # cut short
    post(config, [START + i * EVERY for i in range(30, 40)])
    with pytest.raises(VideoError, match=r"000012.png: cannot read frame image") as caught:
        sync_camera(config, CAMERA, detector=lambda: detector)
    assert "\n" not in str(caught.value)


def test_a_view_renamed_mid_day_scores_each_window_once(
    config: WatchConfig, always_smoke: Path
) -> None:
    """The old view's windows stay in the day's state, first; the new view's count from the
    grid on. Nothing may read the stale view as the day's progress: every later job would
    score the tails again and append them twice."""
    calls: list[int] = []
    detector = load_detector(always_smoke, cam=False)

    def counted() -> Any:
        calls.append(1)
        return detector

    first = [START + i * EVERY for i in range(40)]
    post(config, first)
    sync_camera(config, CAMERA, detector=counted)
    config.views.write_text(config.views.read_text().replace("      0: [", "      1: ["))
    second = [first[-1] + 1200 + i * EVERY for i in range(40)]
    post(config, [*second, second[-1] + 1200])  # 40 frames between two gaps, then one
    sync_camera(config, CAMERA, detector=counted)
    scan = json.loads((day(config) / "detect" / "scan.json").read_text())
    # the first stretch's tail (4-39), due once the gap came, then the next stretch's grid
    # window and its tail
    assert [(w["start_frame"], w["end_frame"]) for w in scan["windows"]["1-1"]] == [
        (4, 39), (40, 75), (44, 79)
    ]  # fmt: skip
    calls.clear()
    for _ in range(3):
        again = sync_camera(config, CAMERA, detector=counted)
        assert not again.changed and again.windows_scored == 0
    assert calls == []  # the day is up to date: no model, no events raised again
    scan = json.loads((day(config) / "detect" / "scan.json").read_text())
    assert len(scan["windows"]["1-1"]) == 3 and len(scan["windows"]["1-0"]) == 1


def _windows(smoke: list[bool]) -> list[Window]:
    return [
        Window(18 * k, 18 * k + 35, START + 180 * k, START + 180 * k + 350, 0.99 if s else 0.1)
        for k, s in enumerate(smoke)
    ]


def test_an_event_settles_only_when_no_later_window_can_change_it(config: WatchConfig) -> None:
    # a run still open: its last piece could grow, so nothing is settled
    assert settled_spans(_windows([True, True]), config, closed=False) == []
    # one quiet window after it: the gap could still be filled
    assert settled_spans(_windows([True, True, False]), config, closed=False) == []
    # two quiet windows (more than max_gap 1): settled
    (span,) = settled_spans(_windows([True, True, False, False]), config, closed=False)
    assert (span.start_frame, span.end_frame) == (0, 53)
    # a day that is over settles everything
    assert len(settled_spans(_windows([True, True]), config, closed=True)) == 1


def test_watch_help_says_how_to_run_it_as_a_service() -> None:
    from smokewatch.cli import app

    result = CliRunner().invoke(app, ["watch", "--help"])
    assert result.exit_code == 0
    assert "systemd" in result.output and "watch worker" in result.output


def test_an_alert_that_failed_is_sent_by_a_later_job(
    tmp_path: Path, always_smoke: Path, receiver
) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/alerts"
    path = write_config(tmp_path, tmp_path / "data", always_smoke, notify=f"[{dead}]")
    config = load_watch_config(
        path, data_dir=tmp_path / "data", timezone="US/Eastern", alert_secret="s3cret"
    )
    detector = load_detector(always_smoke, cam=False)
    post(config, [START + i * EVERY for i in range(108)])
    report = sync_camera(config, CAMERA, detector=lambda: detector)
    assert report.events and report.alerts_sent == 0
    fixed = dataclasses.replace(config, notify=(receiver.url,))
    again = sync_camera(fixed, CAMERA, detector=lambda: detector)
    assert again.alerts_sent == 1 and receiver.events == report.events
    assert sync_camera(fixed, CAMERA, detector=lambda: detector).alerts_sent == 0


def test_a_service_import_that_fails_is_tried_again_by_the_next_job(
    config: WatchConfig, tmp_path: Path
) -> None:
    """``publish`` is how a raised day reaches the labeling service; a failure (the database
    is down) must not lose it: the day stays "not raised" and the next job publishes again."""
    from smokewatch.errors import SmokewatchError

    for i in range(72):
        t = START + i * EVERY
        store_photo(config.data_dir, CAMERA, photo(i), taken=t, max_bytes=1 << 20)
    detector = load_detector(config.model)
    calls: list[Path] = []

    def down(path: Path) -> None:
        calls.append(path)
        raise SmokewatchError("cannot open the database: down")

    sync_camera(config, CAMERA, detector=lambda: detector, publish=down)
    assert calls and calls[-1].name == "detections.json"
    sync_camera(config, CAMERA, detector=lambda: detector, publish=calls.append)
    assert len(calls) == 2  # tried again
    sync_camera(config, CAMERA, detector=lambda: detector, publish=calls.append)
    assert len(calls) == 2  # published once it worked: nothing more to do


def test_service_must_be_a_boolean(tmp_path: Path, always_smoke: Path) -> None:
    from smokewatch.watch.config import WatchConfigError

    path = write_config(tmp_path, tmp_path / "data", always_smoke, service="yes please")
    with pytest.raises(WatchConfigError, match="'service' must be true or false"):
        load_watch_config(path, data_dir=tmp_path / "data", timezone="UTC")
    path = write_config(tmp_path, tmp_path / "data", always_smoke, service="true")
    assert load_watch_config(path, data_dir=tmp_path / "data", timezone="UTC").service


def test_a_malformed_configuration_is_one_error_naming_the_key(
    tmp_path: Path, always_smoke: Path
) -> None:
    from smokewatch.watch.config import WatchConfigError

    def load(path: Path) -> WatchConfig:
        return load_watch_config(path, data_dir=tmp_path / "data", timezone="UTC")

    for extra, named in [
        ({"gap_seconds": "abc"}, "'gap_seconds' must be a number"),
        ({"tolerance_s": ".nan"}, "'tolerance_s' must be a number"),
    ]:
        path = write_config(tmp_path, tmp_path / "data", always_smoke, **extra)
        with pytest.raises(WatchConfigError, match=named):
            load(path)
    path = write_config(tmp_path, tmp_path / "data", always_smoke)
    for camera in ("abc", "-1", "99999999999999999999", "²"):
        path.write_text(
            path.read_text().replace("cameras:\n  ", f"cameras:\n  '{camera}': {{}}\n  ", 1)
        )
        with pytest.raises(WatchConfigError, match="is not a number"):
            load(path)
        path = write_config(tmp_path, tmp_path / "data", always_smoke)
    path.write_bytes(b"model: \xff\xfe\n")
    with pytest.raises(WatchConfigError, match="watch.yaml"):
        load(path)


def _load(
    tmp_path: Path, model: Path, camera: str = "{}", *, secret: str | None = None, **extra: str
) -> WatchConfig:
    """The test camera's configuration with ``extra`` keys and ``camera`` as its mapping;
    ``secret``: the alert secret of the settings (SMOKEWATCH_ALERT_SECRET)."""
    path = write_config(tmp_path, tmp_path / "data", model, **extra)
    path.write_text(path.read_text().replace(f"  {CAMERA}: {{}}", f"  {CAMERA}: {camera}"))
    return load_watch_config(path, data_dir=tmp_path / "data", timezone="UTC", alert_secret=secret)


@pytest.mark.parametrize(
    ("camera", "extra", "named"),
    [
        ("{}", {"foo": "1"}, r"'foo' at the top level; known keys: cam, cameras, data_dir, "),
        ("{}", {"notfy": "[https://x.org/h]"}, r"'notfy' at the top level \(did you mean 'notify'"),
        ("{foldr: drop}", {}, r"'foldr' in cameras.1 \(did you mean 'folder'\?\); known keys: "
         "folder, registration, time_pattern$"),
        ("{}", {"rule": "{smoke_probabilty: 0.9}"}, r"'smoke_probabilty' in rule \(did you mean "
         "'smoke_probability'"),
    ],
)  # fmt: skip
def test_a_key_the_configuration_does_not_know_is_an_error_naming_it(
    tmp_path: Path, always_smoke: Path, camera: str, extra: dict[str, str], named: str
) -> None:
    """A typo is never ignored: ``notfy:`` would send no alerts, ``foldr:`` watch no folder."""
    from smokewatch.watch.config import WatchConfigError

    with pytest.raises(WatchConfigError, match="watch.yaml: unknown key " + named) as caught:
        _load(tmp_path, always_smoke, camera, **extra)
    assert "\n" not in str(caught.value)
    assert "pause_dir" not in str(caught.value)  # a hook for the tests, never offered


@pytest.mark.parametrize(
    ("camera", "extra", "named"),
    [
        ("{}", {"cam": '"false"'}, r"'cam' must be true or false, not 'false' \(write it witho"),
        ("{}", {"service": "'no'"}, r"'service' must be true or false, not 'no'$"),
        ("{}", {"window_frames": "36.5"}, r"'window_frames' must be a whole number, not 36.5"),
        ("{}", {"size": '"48"'}, r"'size' must be a whole number, not '48'"),
        ("{}", {"window_step": "true"}, r"'window_step' must be a whole number, not True"),
        (
            "{}",
            {"window_step": "37"},
            r"window_step 37 is over window_frames 36: .*'detect --window-step'",
        ),
        ("{}", {"day_start": "six"}, r"'day_start' must be a number, not 'six'"),
        ("{}", {"timezone": "5"}, r"'timezone' must be a non-empty string, not 5"),
        ("{}", {"queue": "[redis]"}, r"'queue' must be a non-empty string"),
        ("{}", {"notify": "5"}, r"'notify' must be a URL or a list of URLs"),
        ("{}", {"rule": "{use_ratio: 'false'}"}, r"'rule.use_ratio' must be true or false"),
        ("{}", {"rule": "{max_gap: 1.5}"}, r"'rule.max_gap' must be a whole number"),
        ("{}", {"rule": "{smoke_probability: '0.9'}"}, r"'rule.smoke_probability' must be a nu"),
        ("{time_pattern: 5}", {}, r"'cameras.1.time_pattern' must be a non-empty string"),
    ],
)  # fmt: skip
def test_a_value_of_the_wrong_type_is_an_error_never_taken_for_another(
    tmp_path: Path, always_smoke: Path, camera: str, extra: dict[str, str], named: str
) -> None:
    """``cam: "false"`` is a string, which ``bool`` would have taken as true."""
    from smokewatch.watch.config import WatchConfigError

    with pytest.raises(WatchConfigError, match=named):
        _load(tmp_path, always_smoke, camera, **extra)


def test_every_documented_key_is_read(tmp_path: Path, always_smoke: Path) -> None:
    """The keys docs/watch.md shows, with their types, load as written."""
    config = _load(
        tmp_path, always_smoke, "{folder: drop, time_pattern: 'IMG_%Y%m%d'}",
        queue="sqlite", notify="[https://alerts.example.org/smoke]", cam="true",
        timezone="US/Eastern", day_start="6", day_end="20", gap_seconds="60", service="false",
        tolerance_s="3", rule="{smoke_probability: 0.85, max_gap: 1, max_frames: 72, "
        "min_frames: 36, use_ratio: true}", window_frames="36", window_step="18", device="cpu",
        secret="s3cret",
    )  # fmt: skip
    assert config.options.cam and config.options.rule.use_ratio and not config.service
    assert config.notify == ("https://alerts.example.org/smoke",)
    assert config.camera(CAMERA).folder == tmp_path / "drop"


def test_a_model_or_views_that_do_not_exist_are_an_error_at_once(
    tmp_path: Path, always_smoke: Path
) -> None:
    """Not when the first frames come, maybe hours later (with no frames, sync said nothing)."""
    from smokewatch.watch.config import WatchConfigError

    with pytest.raises(WatchConfigError, match=r"'model' .*runs/nope does not exist"):
        _load(tmp_path, tmp_path / "runs" / "nope")
    path = write_config(tmp_path, tmp_path / "data", always_smoke)
    path.write_text(path.read_text().replace("views.yaml", "missing.yaml"))
    with pytest.raises(WatchConfigError, match=r"'views' .*missing.yaml does not exist"):
        load_watch_config(path, data_dir=tmp_path / "data", timezone="UTC")


@pytest.mark.parametrize(
    ("notify", "secret", "named"),
    [
        ("https://alerts.example.org/smoke", None, r"notify target "
         r"'https://alerts.example.org/smoke': no signing secret: .*SMOKEWATCH_ALERT_SECRET"),
        ("[https://]", "s3cret", r"notify target 'https://': no host"),
        ("'https://x.org:99999/h'", "s3cret", r"not a valid URL"),
        ("ftp://x.org/h", "s3cret", r"ftp:// is not supported"),
        ("smtp://mail.example.org", None, r"no recipients: add \?to="),
        ("https://x.org/h", "", r"the alert signing secret is empty"),
    ],
)  # fmt: skip
def test_a_notify_target_the_notifier_refuses_is_an_error_at_once(
    tmp_path: Path, always_smoke: Path, notify: str, secret: str | None, named: str
) -> None:
    """Not when the first event is raised, maybe hours later: that job, and every later one
    at the same day, would fail there, and no later day would be scored."""
    from smokewatch.watch.config import WatchConfigError

    with pytest.raises(WatchConfigError, match=r"watch.yaml: 'notify': .*" + named) as caught:
        _load(tmp_path, always_smoke, notify=notify, secret=secret)
    assert "\n" not in str(caught.value)
    # with the secret, a webhook loads, and an email target (never signed) with it
    ok = _load(tmp_path, always_smoke, notify="[https://x.org/h, 'smtp://m.org?to=a@b.org']",
               secret="s3cret")  # fmt: skip
    assert ok.notify == ("https://x.org/h", "smtp://m.org?to=a@b.org")


def _rule_config(config: WatchConfig, frames: int, step: int, **rule: int) -> WatchConfig:
    from smokewatch.detect.rule import EventRule

    options = dataclasses.replace(
        config.options, window_frames=frames, window_step=step, rule=EventRule(**rule)
    )
    return dataclasses.replace(config, options=options)


def _window(first: int, frames: int, smoke: bool) -> Window:
    last = first + frames - 1
    return Window(first, last, START + 10 * first, START + 10 * last, 0.99 if smoke else 0.1)


def test_a_tail_window_never_grows_an_event_already_settled(config: WatchConfig) -> None:
    """The tail (the window ending on a stretch's last frame, scored before a gap or once
    the day is over) is off the step grid: it can share frames with a smoke window that no
    grid window reaches, and join it whatever lies between."""
    config = _rule_config(config, 36, 18, max_gap=0)
    rule = config.options.rule
    open_day = [_window(0, 36, True), _window(18, 36, False)]  # 60 frames: 0-35 smoke
    assert settled_spans(open_day, config, closed=False) == []  # the tail 24-59 may come
    (grown,) = find_events([*open_day, _window(24, 36, True)], rule)
    assert (grown.start_frame, grown.end_frame) == (0, 59)
    # with another quiet grid window, no tail can reach it: settled
    (span,) = settled_spans([*open_day, _window(36, 36, False)], config, closed=False)
    assert (span.start_frame, span.end_frame, span.windows) == (0, 35, (0,))


def test_a_day_of_steam_settles_its_pieces_without_trying_every_future(
    config: WatchConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run of smoke all day is cut into pieces from its start: all but the last are final
    as they are, so only the last is tried, and one future shows it may still grow (the
    search over every future and tail offset ran ``find_events`` on the whole day 187
    times per view and job)."""
    from smokewatch.watch import pipeline

    config = _rule_config(config, 36, 18)
    rule = config.options.rule
    day = [_window(18 * k, 36, True) for k in range(100)]
    calls = []

    def counted(windows: Any, rule: Any, *args: Any) -> Any:
        calls.append(len(windows))
        return find_events(windows, rule, *args)

    monkeypatch.setattr(pipeline, "find_events", counted)
    settled = settled_spans(day, config, closed=False)
    assert settled == find_events(day, rule)[:-1]  # every piece but the growing last one
    assert len(settled) > 5 and len(calls) <= 4, len(calls)


@pytest.mark.parametrize(
    ("frames", "step", "rule"),
    [
        (36, 18, {"max_gap": 0}),
        (36, 18, {"max_gap": 1}),
        (8, 3, {"max_gap": 1, "max_frames": 16, "min_frames": 8}),
        (6, 2, {"max_gap": 1, "max_frames": 12, "min_frames": 6}),
    ],
)
def test_a_settled_event_is_the_same_whatever_windows_come_next(
    config: WatchConfig, frames: int, step: int, rule: dict[str, int]
) -> None:
    """Every day of six grid windows (each smoke or not), closed with or without a tail at
    each offset the grid can leave: what was settled on any of its open prefixes is among
    the closed day's events, the same frames and the same windows."""
    import itertools

    config = _rule_config(config, frames, step, **rule)

    def grid(smoke: tuple[bool, ...]) -> list[Window]:
        return [_window(k * step, frames, s) for k, s in enumerate(smoke)]

    settled = {
        smoke: settled_spans(grid(smoke), config, closed=False)
        for n in range(1, 7)
        for smoke in itertools.product([False, True], repeat=n)
    }
    for smoke in itertools.product([False, True], repeat=6):
        for offset in range(step):  # 0: no tail
            tail = [_window(5 * step + offset, frames, True)] if offset else []
            closed = set(find_events([*grid(smoke), *tail], config.options.rule))
            for n in range(1, 7):
                for span in settled[smoke[:n]]:
                    assert span in closed, (smoke[:n], span, smoke, offset)


def test_an_event_alerted_while_the_day_is_open_keeps_its_id_when_the_day_closes(
    tmp_path: Path, always_smoke: Path, receiver
) -> None:
    """Smoke in window 0-35, none in 18-53, max_gap 0: the day's tail 24-59, scored when the
    day is over, joins 0-35 (they share frames); so 0-35 is not raised while the day is open,
    and the one event, 0-59, is raised and alerted once, with the id it keeps."""
    path = write_config(
        tmp_path, tmp_path / "data", always_smoke, notify=f"[{receiver.url}]", rule="{max_gap: 0}"
    )
    config = load_watch_config(
        path, data_dir=tmp_path / "data", timezone="US/Eastern", alert_secret="s3cret"
    )
    scripted = iter([0.99, 0.1, 0.99])  # 0-35, 18-53, then the tail 24-59
    detector = dataclasses.replace(
        load_detector(always_smoke, cam=False),
        scorer=lambda clips: np.array([next(scripted) for _ in clips]),
    )
    post(config, [START + i * EVERY for i in range(60)])
    assert sync_camera(config, CAMERA, detector=lambda: detector).events == []
    post(config, [START + 14 * 3600])  # a night photo: the day is over
    closed = sync_camera(config, CAMERA, detector=lambda: detector)
    assert [w["start_frame"] for w in windows_of(config)] == [0, 18, 24]
    assert closed.events == ["1-0-1718107200-1718107790"] == receiver.events  # frames 0-59
    found = json.loads((day(config) / "detect" / "detections.json").read_text())
    assert [e["id"] for v in found["views"] for e in v["events"]] == closed.events
