"""A queue that cannot be reached (Redis down): `watch sync --queue` and `watch run` stop
with one line naming it (exit 2); a running watcher and the workers wait for it, one line
per attempt with a growing wait, and go on when it answers."""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from typing import Any

import pytest
import redis
from typer.testing import CliRunner
from watch_helpers import CAMERA, write_config

from smokewatch.watch.jobs import make_consumer, make_huey


@pytest.fixture
def dead_redis() -> str:
    """A Redis URL nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"redis://:hunter2@127.0.0.1:{s.getsockname()[1]}/7"


def named(url: str) -> str:
    return url.replace(":hunter2@", ":***@")  # never the password


@pytest.mark.parametrize("verb", [["sync", "--queue"], ["run", "--sweep", "1"]])
def test_sync_and_run_stop_with_one_line_naming_the_queue(
    tmp_path: Path, always_smoke: Path, dead_redis: str, verb: list[str]
) -> None:
    from smokewatch.cli import app

    config = write_config(tmp_path, tmp_path / "data", always_smoke, queue=dead_redis)
    result = CliRunner().invoke(app, ["watch", *verb, "-c", str(config)])
    assert result.exit_code == 2, result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith(f"error: queue {named(dead_redis)} cannot be reached: "), line
    assert "hunter2" not in result.output


class FlakyQueue:
    """A queue that is down for the first ``down`` attempts, then takes the jobs."""

    def __init__(self, down: int) -> None:
        self.down = down
        self.queued: list[int] = []
        self.smokewatch_address = "redis://127.0.0.1:6379/7"

    def smokewatch_sync(self, config_path: str, camera_id: int) -> None:
        if self.down:
            self.down -= 1
            raise redis.exceptions.ConnectionError("Error 111 connecting. Connection refused.")
        self.queued.append(camera_id)


def test_the_watcher_outlives_a_queue_that_goes_away(
    tmp_path: Path, always_smoke: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from smokewatch.cli.watch import _load, _Watcher

    config = write_config(tmp_path, tmp_path / "data", always_smoke)
    queue = FlakyQueue(down=3)
    watcher = _Watcher(_load(config), queue, sweep=30.0)
    # by the watcher's own clock (monotonic seconds): the first poll sweeps every camera
    assert [watcher.poll(now) for now in (100.0, 101.0, 103.0)] == [1.0, 2.0, 4.0]
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 3 and all("queue redis://127.0.0.1:6379/7 cannot be" in x for x in lines)
    assert lines[-1].endswith("trying again in 4 s")
    assert watcher.poll(107.0) == 0.0 and queue.queued == [CAMERA]  # swept once it answers
    assert "answers again" in capsys.readouterr().err
    assert watcher.poll(108.0) == 0.0 and queue.queued == [CAMERA]  # nothing new, no sweep due
    assert watcher.poll(137.0) == 0.0 and queue.queued == [CAMERA, CAMERA]  # the next sweep


class Waits:
    """A consumer's stop flag that records the waits instead of sleeping them."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        return False

    def is_set(self) -> bool:
        return False


@pytest.mark.parametrize("which", ["worker", "scheduler"])
def test_the_consumer_retries_with_one_line_per_attempt_and_a_growing_wait(
    tmp_path: Path, dead_redis: str, caplog: pytest.LogCaptureFixture, which: str
) -> None:
    """Not huey's traceback every 0.5 s from each worker and every second from the scheduler
    (2,473 lines in 15 s)."""
    consumer = make_consumer(make_huey(dead_redis, tmp_path), workers=1, process=False)
    process: Any = (
        consumer.worker_threads[0][0] if which == "worker" else consumer._create_scheduler()
    )
    process.stop_flag = Waits()
    process.interval = 60  # the scheduler's loop skips a turn after a stall of this many s
    with caplog.at_level(logging.INFO, logger="huey"):
        for _ in range(7):
            process.loop()
    assert process.stop_flag.waits == [1, 2, 4, 8, 16, 30, 30]
    assert len(caplog.records) == 7  # one line per attempt
    for record in caplog.records:
        assert record.exc_info is None and "\n" not in record.getMessage()
        assert f"queue {named(dead_redis)} cannot be reached (ConnectionError" in (
            record.getMessage()
        )


def test_a_workers_log_lines_carry_their_time_and_level(
    tmp_path: Path, always_smoke: Path, dead_redis: str
) -> None:
    """A service log is read hours later: each line says when, and how bad."""
    import contextlib
    import os
    import queue
    import re
    import subprocess
    import sys
    import threading
    import time

    config = write_config(tmp_path, tmp_path / "data", always_smoke, queue=dead_redis)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    worker = subprocess.Popen(
        [sys.executable, "-m", "smokewatch", "watch", "worker", "-c", str(config), "--threads"],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    # the first attempts fail, one warning line each: wait for one (starting the worker can
    # take many seconds on a busy machine, so no fixed sleep), then stop it
    seen: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [seen.put(line) for line in worker.stderr or []])
    reader.start()
    err, deadline = "", time.monotonic() + 90
    while "cannot be reached" not in err and time.monotonic() < deadline:
        with contextlib.suppress(queue.Empty):
            err += seen.get(timeout=0.5)
    worker.terminate()
    worker.wait(timeout=30)
    reader.join(timeout=30)  # what the worker wrote before it stopped, to the pipe's end
    while not seen.empty():
        err += seen.get()
    lines = [line for line in err.splitlines() if "cannot be reached" in line]
    assert lines, err[-2000:]
    stamp = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3} WARNING ")
    assert all(stamp.match(line) for line in lines), lines
