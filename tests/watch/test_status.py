"""Is my camera OK? A failed job leaves a record in its camera's folder (and is raised as it
came), a job that ends well removes it, and `smokewatch watch status` puts it beside what the
camera's files say, exit 1 while a camera is blocked.

No real clock: jobs get a fixed ``clock``, status a fixed ``now`` (the CLI's ``time`` is a
stand-in), and every local time is of a fixed epoch in the configuration's zone, so the
expected text is the same at any hour and in any machine zone (TZ=Pacific/Chatham)."""

from __future__ import annotations

import json
import logging
import os
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from typer.testing import CliRunner
from watch_helpers import CAMERA, EVERY, START, photo, write_config

import smokewatch.cli.watch as watch_cli
import smokewatch.watch.jobs as jobs
from smokewatch.detect import load_detector
from smokewatch.detect.detector import DetectError, Detector
from smokewatch.errors import SmokewatchError
from smokewatch.labeling.cameras import INBOX, camera_dir, store_photo
from smokewatch.watch.config import WatchConfig, load_watch_config
from smokewatch.watch.status import (
    ERROR_CHARS,
    FAILURE_RECORD,
    JobFailure,
    read_failure,
    watch_status,
)

ZONE = "US/Eastern"
SECRET = "s3cret"
#: 2024-06-11 09:30 in the cameras' zone: the jobs' and the status's clock
T0 = datetime(2024, 6, 11, 9, 30, tzinfo=ZoneInfo(ZONE)).timestamp()
NAN = Detector(scorer=lambda clips: np.full(len(clips), np.nan))


def setup(
    tmp_path: Path, model: Path, *, cameras: int = 1, **extra: str
) -> tuple[Path, WatchConfig]:
    """The test camera's configuration (the cameras' zone: US/Eastern), and ``cameras - 1``
    more cameras that never send anything."""
    path = write_config(tmp_path, tmp_path / "data", model, timezone=ZONE, **extra)
    more = "".join(f"  {CAMERA + k}: {{}}\n" for k in range(1, cameras))
    path.write_text(path.read_text().replace(f"  {CAMERA}: {{}}\n", f"  {CAMERA}: {{}}\n{more}"))
    config = load_watch_config(
        path, data_dir=tmp_path / "data", timezone="UTC", alert_secret=SECRET
    )
    return path, config


def post(config: WatchConfig, frames: range) -> None:
    for i in frames:
        store_photo(config.data_dir, CAMERA, photo(i), taken=START + i * EVERY, max_bytes=1 << 20)


def record_path(config: WatchConfig) -> Path:
    return camera_dir(config.data_dir, CAMERA) / FAILURE_RECORD


def day_dir(config: WatchConfig) -> Path:
    return camera_dir(config.data_dir, CAMERA) / "days" / "2024-06-11"


def status_cli(path: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str, Any]:
    """``smokewatch watch status -c path ARGS`` at ``T0``, 80 columns wide (a cron mail)."""
    from smokewatch.cli import app

    monkeypatch.setattr(watch_cli, "time", SimpleNamespace(time=lambda: T0))
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("SMOKEWATCH_ALERT_SECRET", SECRET)
    result = CliRunner().invoke(app, ["watch", "status", "-c", str(path), *args])
    return result.exit_code, result.output, result


def fail_twice(path: Path, monkeypatch: pytest.MonkeyPatch) -> DetectError:
    """Two jobs of a camera whose model outputs NaN, at T0 and 90 s later; the error."""
    monkeypatch.setattr(jobs, "_detector", lambda config: NAN)
    for at in (T0, T0 + 90):
        with pytest.raises(DetectError) as caught:
            jobs.run_job(str(path), CAMERA, clock=lambda at=at: at)
    return caught.value


# --------------------------------------------------------------------------------------------
# the failure record


def test_a_failed_job_is_recorded_and_raised_and_a_job_that_ends_well_clears_it(
    tmp_path: Path,
    always_smoke: Path,
    monkeypatch: pytest.MonkeyPatch,
    disk_calls: list[tuple[str, int, str]],
) -> None:
    path, config = setup(tmp_path, always_smoke)
    post(config, range(36))
    monkeypatch.setattr(jobs, "_detector", lambda config: NAN)
    with pytest.raises(DetectError, match=r"P\(smoke\) nan for frames 0-35 of view 1-0") as first:
        jobs.run_job(str(path), CAMERA, clock=lambda: T0)
    error = str(first.value)
    on_disk = json.loads(record_path(config).read_text())
    assert on_disk == {"since": T0, "last": T0, "failures": 1, "error": error}
    # written atomically: its data on the disk before the rename puts it in place
    (inode,) = {i for op, i, name in disk_calls if op == "replace" and name == FAILURE_RECORD}
    renamed = disk_calls.index(("replace", inode, FAILURE_RECORD))
    assert ("fsync", inode, "") in disk_calls[:renamed]
    # the next job fails the same way: the same run of failures, one more
    with pytest.raises(DetectError):
        jobs.run_job(str(path), CAMERA, clock=lambda: T0 + 90)
    assert read_failure(config.data_dir, CAMERA) == JobFailure(T0, T0 + 90, 2, error)
    # the model fixed: the job scores the window, and the camera is not blocked any more
    good = load_detector(always_smoke, cam=False)
    monkeypatch.setattr(jobs, "_detector", lambda config: good)
    reports = jobs.run_job(str(path), CAMERA, clock=lambda: T0 + 180)
    assert sum(r.windows_scored for r in reports) == 1
    assert not record_path(config).exists()
    assert read_failure(config.data_dir, CAMERA) is None


def test_an_unexpected_error_is_recorded_with_its_type_on_one_line_and_raised_as_it_came(
    tmp_path: Path, always_smoke: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, config = setup(tmp_path, always_smoke)
    boom = RuntimeError("the disk\nsaid\tno " + "x" * 2000)

    def fails(*args: object, **kwargs: object) -> None:
        raise boom

    monkeypatch.setattr(jobs, "sync_camera", fails)
    with pytest.raises(RuntimeError) as caught:
        jobs.run_job(str(path), CAMERA, clock=lambda: T0)
    assert caught.value is boom and caught.value.__context__ is None
    failure = read_failure(config.data_dir, CAMERA)
    assert failure is not None and failure.failures == 1
    assert failure.error.startswith("RuntimeError: the disk said no xxx")
    assert "\n" not in failure.error and len(failure.error) == ERROR_CHARS


def test_a_record_that_cannot_be_written_never_hides_the_jobs_own_error(
    tmp_path: Path,
    always_smoke: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    path, config = setup(tmp_path, always_smoke)
    record_path(config).mkdir(parents=True)  # a folder where the record goes
    boom = SmokewatchError("alerts.json: invalid JSON")

    def fails(*args: object, **kwargs: object) -> None:
        raise boom

    monkeypatch.setattr(jobs, "sync_camera", fails)
    with caplog.at_level(logging.WARNING, logger="smokewatch.watch.jobs"):
        with pytest.raises(SmokewatchError) as caught:
            jobs.run_job(str(path), CAMERA, clock=lambda: T0)
    assert caught.value is boom
    assert "the job failure record could not be written" in caplog.text


# --------------------------------------------------------------------------------------------
# watch status


def test_status_of_a_healthy_camera_says_what_its_jobs_did(
    tmp_path: Path, always_smoke: Path, monkeypatch: pytest.MonkeyPatch, receiver: Any
) -> None:
    monkeypatch.setenv("SMOKEWATCH_ALERT_SECRET", SECRET)
    path, config = setup(tmp_path, always_smoke, cameras=2, notify=f"[{receiver.url}]")
    post(config, range(90))
    reports = jobs.run_job(str(path), CAMERA, clock=lambda: T0)
    post(config, range(90, 108))
    reports += jobs.run_job(str(path), CAMERA, clock=lambda: T0)
    events = [e for r in reports for e in r.events]
    assert len(events) == 1 and receiver.events == events
    # one photo comes after the jobs and waits, 125 s old by its mtime
    post(config, range(200, 201))
    (waiting,) = (camera_dir(config.data_dir, CAMERA) / INBOX).iterdir()
    os.utime(waiting, (T0 - 125, T0 - 125))

    report = watch_status(config, now=T0)
    camera, silent = report.cameras
    assert (camera.inbox, camera.oldest_photo, camera.oldest_age) == (1, T0 - 125, 125.0)
    (day,) = camera.days
    assert day.day == "2024-06-11" and day.unreadable is None
    assert day.frames == sum(r.frames_added for r in reports) == 108
    assert day.last_frame == START + 107 * EVERY
    assert day.windows_scored == sum(r.windows_scored for r in reports) == day.windows_allowed
    assert (day.windows_scored, day.views, day.closed, day.raised) == (5, 1, False, True)
    assert day.events == len(events)
    assert day.alerts_sent == sum(r.alerts_sent for r in reports) == len(receiver.events)
    assert not camera.blocked and not report.blocked and not camera.no_data
    assert silent.camera_id == CAMERA + 1 and silent.no_data and not silent.blocked

    code, output, _ = status_cli(path, monkeypatch)
    assert code == 0, output
    lines = output.splitlines()
    assert lines[0] == f"camera {CAMERA}: 1 photo waiting in the inbox, the oldest 2 min old"
    (row,) = [line for line in lines if "2024-06-11" in line]
    # 08:17:50 in Pittsburgh: the last frame's local time, whatever the machine's zone
    assert [c.strip() for c in row.split("│")[1:-1]] == [
        "2024-06-11", "108", "08:17:50", "5/5", "1", "yes", "1"
    ]  # fmt: skip
    assert "times in US/Eastern" in output
    assert f"camera {CAMERA + 1}: no data yet (no photo received, no day folder)" in lines
    assert "BLOCKED" not in output
    assert all(len(line) <= 80 for line in lines)


def test_a_blocked_camera_says_since_when_and_why_and_exits_1(
    tmp_path: Path, always_smoke: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, config = setup(tmp_path, always_smoke)
    post(config, range(36))
    error = str(fail_twice(path, monkeypatch))
    code, output, _ = status_cli(path, monkeypatch)
    assert code == 1, output
    (blocked,) = [line for line in output.splitlines() if "BLOCKED" in line]
    assert blocked == (
        "BLOCKED since 2024-06-11 09:30:00 EDT (2 failed jobs, last 2024-06-11 09:31:30 EDT): "
        + error
    )
    (row,) = [line for line in output.splitlines() if "2024-06-11" in line and "│" in line]
    # the 36 frames allow a window; none is scored, nothing is raised
    assert [c.strip() for c in row.split("│")[1:-1]] == [
        "2024-06-11", "36", "08:05:50", "0/1", "-", "no", "0"
    ]  # fmt: skip


def test_status_json_has_every_key_and_the_failure(
    tmp_path: Path, always_smoke: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, config = setup(tmp_path, always_smoke, cameras=2)
    post(config, range(36))
    error = str(fail_twice(path, monkeypatch))
    code, _, result = status_cli(path, monkeypatch, "--json")
    assert code == 1
    doc = json.loads(result.stdout)
    assert doc["timezone"] == ZONE and doc["now"] == T0 and doc["blocked"] is True
    camera, silent = doc["cameras"]
    assert camera["camera"] == CAMERA and camera["blocked"] is True
    assert camera["inbox"] == {"photos": 0, "oldest_mtime": None, "oldest_age_s": None}
    assert camera["days_total"] == 1 and camera["failure_unreadable"] is None
    assert camera["failure"] == {
        "since": T0,
        "since_local": "2024-06-11T09:30:00-04:00",
        "last": T0 + 90,
        "last_local": "2024-06-11T09:31:30-04:00",
        "failures": 2,
        "error": error,
    }
    assert camera["days"] == [
        {
            "day": "2024-06-11",
            "unreadable": None,
            "frames": 36,
            "last_frame": START + 35 * EVERY,
            "last_frame_local": "2024-06-11T08:05:50-04:00",
            "windows_scored": 0,
            "windows_allowed": 1,
            "views": 0,
            "closed": False,
            "raised": False,
            "events": None,
            "alerts_sent": 0,
        }
    ]
    assert silent == {
        "camera": CAMERA + 1,
        "blocked": False,
        "no_data": True,
        "inbox": {"photos": 0, "oldest_mtime": None, "oldest_age_s": None},
        "days_total": 0,
        "days": [],
        "failure": None,
        "failure_unreadable": None,
    }


@pytest.mark.parametrize(
    ("name", "garbage", "reason"),
    [
        ("detect/scan.json", "{", r"detect/scan.json: invalid JSON at line 1, column 2"),
        ("detect/scan.json", '{"windows": [1]}', r"detect/scan.json: 'windows' must map each"),
        ("detect/scan.json", '{"next_start": -40, "windows": {}}', r"'next_start' must be a wh"),
        ("detect/scan.json", '{"next_start": 0, "windows": {"1-0": [1]}}', r"1-0\[0\]: expected"),
        ("detect/scan.json", '{"next_start": 0, "windows": {"1-0": [{"end_frame": 3}]}}', "1-0"),
        ("detect/detections.json", "[]", r"^detect/detections.json: "),
        ("detect/alerts.json", '{"schema": 1, "targets": 5}', r"alerts.json: targets: expected"),
        ("frames/frames.json", "nope", r"^frames/frames.json: invalid JSON"),
    ],
)
def test_a_damaged_file_makes_its_day_unreadable_and_nothing_else(
    tmp_path: Path,
    always_smoke: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    garbage: str,
    reason: str,
) -> None:
    import re

    path, config = setup(tmp_path, always_smoke)
    post(config, range(36))
    jobs.run_job(str(path), CAMERA, clock=lambda: T0)
    (day_dir(config) / name).write_text(garbage)
    files = {p: p.stat().st_mtime_ns for p in config.data_dir.rglob("*")}
    (day,) = watch_status(config, now=T0).cameras[0].days
    assert day.unreadable is not None and re.search(reason, day.unreadable), day.unreadable
    assert "\n" not in day.unreadable and str(day_dir(config)) not in day.unreadable
    code, output, result = status_cli(path, monkeypatch)
    assert code == 0 and result.exception is None, output
    assert f"  2024-06-11: unreadable: {day.unreadable}" in output.splitlines()
    assert "Traceback" not in output
    assert {p: p.stat().st_mtime_ns for p in config.data_dir.rglob("*")} == files  # read only


def test_text_from_files_prints_as_it_is_never_as_markup(
    tmp_path: Path, always_smoke: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, config = setup(tmp_path, always_smoke)
    text = "ledger [red]broken[/] in [bold]x[/bold] \\[y]"

    def fails(*args: object, **kwargs: object) -> None:
        raise SmokewatchError(text)

    monkeypatch.setattr(jobs, "sync_camera", fails)
    with pytest.raises(SmokewatchError):
        jobs.run_job(str(path), CAMERA, clock=lambda: T0)
    code, output, _ = status_cli(path, monkeypatch)
    assert code == 1
    (blocked,) = [line for line in output.splitlines() if "BLOCKED" in line]
    assert blocked.endswith(f"): {text}"), blocked


def test_a_failure_record_that_cannot_be_read_still_blocks(
    tmp_path: Path, always_smoke: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, config = setup(tmp_path, always_smoke)
    record_path(config).parent.mkdir(parents=True)
    record_path(config).write_text('{"since": 1, "last": 2, "failures": "many", "error": "x"}')
    code, output, _ = status_cli(path, monkeypatch)
    assert code == 1
    assert "BLOCKED: a job failed; its record cannot be read: " in output
    assert "'failures' must be a whole number from 1, not 'many'" in output


def test_the_latest_days_are_shown_and_a_day_over_is_marked(
    tmp_path: Path, always_smoke: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, config = setup(tmp_path, always_smoke)
    post(config, range(3))
    for i in range(3):  # the next day, same hour: the first day is over
        when = START + 86400 + i * EVERY
        store_photo(config.data_dir, CAMERA, photo(100 + i), taken=when, max_bytes=1 << 20)
    jobs.run_job(str(path), CAMERA, clock=lambda: T0)
    first, second = watch_status(config, now=T0).cameras[0].days
    assert (first.day, first.frames, first.closed, first.raised) == ("2024-06-11", 3, True, True)
    assert (second.day, second.frames, second.closed) == ("2024-06-12", 3, False)
    latest = watch_status(config, now=T0, days=1).cameras[0]
    assert [d.day for d in latest.days] == ["2024-06-12"] and latest.day_count == 2
    code, output, _ = status_cli(path, monkeypatch)
    assert code == 0, output
    assert "│ 2024-06-11* │" in output and "│ 2024-06-12  │" in output
    assert "times in US/Eastern; *: the day is over (no more frames)" in output
    code, output, _ = status_cli(path, monkeypatch, "--days", "1")
    assert "2024-06-11" not in output and "│ 2024-06-12 │" in output
    assert "  (the latest 1 of 2 days; --days 0: all)" in output.splitlines()


def test_status_needs_no_alert_secret_while_the_jobs_do(
    tmp_path: Path, always_smoke: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A monitor reading the files need not hold the secret that signs the alerts: status
    sends nothing, so it does not check the targets; `watch sync` still refuses at once."""
    from smokewatch.cli import app

    path, _ = setup(tmp_path, always_smoke, notify="https://alerts.example.org/hook")
    monkeypatch.setattr(watch_cli, "time", SimpleNamespace(time=lambda: T0))
    monkeypatch.setenv("SMOKEWATCH_ALERT_SECRET", "")
    status = CliRunner().invoke(app, ["watch", "status", "-c", str(path)])
    assert status.exit_code == 0, status.output
    assert "camera 1: no data yet" in status.output
    sync = CliRunner().invoke(app, ["watch", "sync", "-c", str(path)])
    assert sync.exit_code == 2 and "no signing secret" in sync.output


def test_a_damaged_scan_state_fails_the_job_in_one_line_naming_the_file(
    tmp_path: Path, always_smoke: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from smokewatch.cli import app
    from smokewatch.watch.pipeline import ScanStateError

    path, config = setup(tmp_path, always_smoke)
    post(config, range(36))
    jobs.run_job(str(path), CAMERA, clock=lambda: T0)
    scan = day_dir(config) / "detect" / "scan.json"
    scan.write_text('{"next_start": 18, "windows": {"1-0": []')  # cut short
    post(config, range(36, 40))  # new frames: the job must read the day's state
    with pytest.raises(ScanStateError) as caught:
        jobs.run_job(str(path), CAMERA, clock=lambda: T0 + 60)
    message = str(caught.value)
    assert message.startswith(f"{scan}: invalid JSON") and "\n" not in message
    assert "delete it and the next job scores the day again" in message
    assert read_failure(config.data_dir, CAMERA) == JobFailure(T0 + 60, T0 + 60, 1, message)
    monkeypatch.setenv("SMOKEWATCH_ALERT_SECRET", SECRET)
    sync = CliRunner().invoke(app, ["watch", "sync", "-c", str(path)])
    assert sync.exit_code != 0 and "Traceback" not in sync.output
    assert "invalid JSON" in sync.output
    scan.unlink()  # the way out the message gives: the day is scored again
    jobs.run_job(str(path), CAMERA, clock=lambda: T0 + 120)
    assert read_failure(config.data_dir, CAMERA) is None
    assert len(json.loads(scan.read_text())["windows"]["1-0"]) == 1


@pytest.mark.parametrize("value", ["NaN", "Infinity", "1e300", "-1e20"])
def test_a_record_with_an_impossible_time_is_unreadable_not_a_traceback(
    tmp_path: Path, always_smoke: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    path, config = setup(tmp_path, always_smoke, cameras=2)
    record_path(config).parent.mkdir(parents=True)
    record_path(config).write_text(f'{{"since": {value}, "last": 1, "failures": 1, "error": "x"}}')
    code, output, result = status_cli(path, monkeypatch)
    assert code == 1 and result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in output
    (blocked,) = [line for line in output.splitlines() if "BLOCKED" in line]
    assert "its record cannot be read" in blocked and "'since'" in blocked
    assert "camera 2: no data yet" in output  # the report goes on to the next camera
    code, output, _ = status_cli(path, monkeypatch, "--json")
    assert code == 1 and json.loads(output)["cameras"][0]["failure_unreadable"]


def test_a_record_removed_as_it_is_read_is_no_failure(
    tmp_path: Path, always_smoke: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job that ended well removes the record between status's look and its read."""
    import smokewatch.watch.status as status_module

    path, config = setup(tmp_path, always_smoke)
    post(config, range(36))
    fail_twice(path, monkeypatch)
    assert record_path(config).is_file()
    real = status_module.read_user_json

    def removed_first(p: Path, **kw: Any) -> Any:
        if Path(p).name == FAILURE_RECORD:
            Path(p).unlink(missing_ok=True)
        return real(p, **kw)

    monkeypatch.setattr(status_module, "read_user_json", removed_first)
    assert read_failure(config.data_dir, CAMERA) is None
    code, output, _ = status_cli(path, monkeypatch)
    assert code == 0 and "BLOCKED" not in output, output


def test_control_characters_in_an_error_never_reach_the_terminal(
    tmp_path: Path, always_smoke: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, config = setup(tmp_path, always_smoke)
    boom = SmokewatchError("/drop/cam\x1b]0;owned\x07\x1b[2J/x.jpg: bad\u202eexe")

    def fails(*args: object, **kwargs: object) -> None:
        raise boom

    monkeypatch.setattr(jobs, "sync_camera", fails)
    with pytest.raises(SmokewatchError):
        jobs.run_job(str(path), CAMERA, clock=lambda: T0)
    failure = read_failure(config.data_dir, CAMERA)
    assert failure is not None
    assert failure.error == "/drop/cam\\x1b]0;owned\\x07\\x1b[2J/x.jpg: bad\\u202eexe"
    code, output, _ = status_cli(path, monkeypatch)
    assert code == 1 and "\x1b" not in output and "\u202e" not in output
    assert "\\x1b]0;owned" in output


def test_a_worker_whose_settings_fail_is_blocked_too(
    tmp_path: Path, always_smoke: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``service: true`` reads the worker's settings for the import into the service; a bad
    one there fails every job before any pass, and is recorded (under the camera's lock)."""
    path, config = setup(tmp_path, always_smoke)
    boom = SmokewatchError("SMOKEWATCH_CLIP_FRAMES: not a whole number")

    def fails(*args: object, **kwargs: object) -> None:
        raise boom

    monkeypatch.setattr(jobs, "_publisher", fails)
    with pytest.raises(SmokewatchError) as caught:
        jobs.run_job(str(path), CAMERA, clock=lambda: T0)
    assert caught.value is boom
    assert read_failure(config.data_dir, CAMERA) == JobFailure(T0, T0, 1, str(boom))


@pytest.mark.parametrize(
    "garbage",
    [
        '{"next_start": -40, "windows": {"1-0": []}}',
        '{"next_start": 0, "windows": {"1-0": [1]}}',
        '{"next_start": 0, "windows": {"1-0": [{"end_frame": 3}]}}',
        '{"next_start": 0, "windows": {"1-0": [{"start_frame": "0", "end_frame": 35, '
        '"start_time": 1, "end_time": 2, "probability": 0.5}]}}',
    ],
)
def test_a_hand_edited_scan_state_is_one_line_for_the_job_too(
    tmp_path: Path, always_smoke: Path, garbage: str
) -> None:
    from smokewatch.watch.pipeline import ScanStateError

    path, config = setup(tmp_path, always_smoke)
    post(config, range(36))
    jobs.run_job(str(path), CAMERA, clock=lambda: T0)
    (day_dir(config) / "detect" / "scan.json").write_text(garbage)
    post(config, range(36, 60))
    with pytest.raises(ScanStateError, match="delete it and the next job scores the day again"):
        jobs.run_job(str(path), CAMERA, clock=lambda: T0 + 60)


def test_what_waits_in_an_inbox_is_one_rule_for_status_the_jobs_and_the_pipeline(
    tmp_path: Path,
) -> None:
    """Visible regular files wait; a writer's temporary file (leading dot), a folder or a
    dangling link does not; a missing inbox or a file in its place holds nothing."""
    import smokewatch.watch.status as status_module
    from smokewatch.watch.pipeline import _inbox_photos, inbox_entries

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name in ("b.jpg", "a.jpg"):
        (inbox / name).write_bytes(b"x")
    os.utime(inbox / "a.jpg", (1_000, 1_000))
    (inbox / ".c.jpg.part").write_bytes(b"x")
    (inbox / "sub").mkdir()
    (inbox / "gone.jpg").symlink_to(tmp_path / "nowhere")
    assert sorted(e.name for e in inbox_entries(inbox)) == ["a.jpg", "b.jpg"]
    assert status_module._inbox(inbox) == (2, 1_000)
    photos = _inbox_photos(inbox, lambda p: 0.0)
    assert sorted(p.path.name for p in photos) == ["a.jpg", "b.jpg"]
    data = tmp_path / "data"
    (camera_dir(data, CAMERA) / INBOX).mkdir(parents=True)
    for entry in inbox_entries(inbox):
        os.link(entry.path, camera_dir(data, CAMERA) / INBOX / entry.name)
    (camera_dir(data, CAMERA) / INBOX / ".d.part").write_bytes(b"x")
    (camera_dir(data, CAMERA) / INBOX / "sub").mkdir()
    assert jobs._inbox(data, CAMERA) == frozenset({"a.jpg", "b.jpg"})
    assert inbox_entries(tmp_path / "missing") == []
    assert inbox_entries(inbox / "a.jpg") == []
    assert status_module._inbox(tmp_path / "missing") == (0, None)
