"""``smokewatch serve --workers N`` as a real process: a killed worker is replaced, SIGTERM
stops everything with exit 0, and a worker that cannot start is not restarted forever."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.skipif(
    not hasattr(socket, "SO_REUSEPORT") or not Path("/proc/self/task").is_dir(),
    reason="several workers need SO_REUSEPORT; the test finds them in /proc",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _workers(parent: int) -> set[int]:
    """The parent's worker processes (its other child is multiprocessing's resource tracker)."""
    try:
        children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    except FileNotFoundError:
        return set()
    found = set()
    for pid in children:
        try:
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.add(int(pid))
        except FileNotFoundError:  # exited meanwhile
            pass
    return found


def _until(
    check: Callable[[], bool], what: str, log: Path, server: subprocess.Popen[bytes]
) -> None:
    """Wait for ``check`` while the server runs (a bound against hanging, not a timing test)."""
    deadline = time.monotonic() + 90
    while not check():
        assert server.poll() is None, f"the server exited: {what}\n{log.read_text()}"
        assert time.monotonic() < deadline, f"never happened: {what}\n{log.read_text()}"
        time.sleep(0.1)


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def test_a_killed_worker_is_restarted_and_sigterm_stops_everything(tmp_path: Path) -> None:
    port = _free_port()
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "smokewatch", "serve", "--port", str(port), "--workers", "2"],
            cwd=tmp_path,
            env={**os.environ, "SMOKEWATCH_DATA_DIR": str(tmp_path / "data")},
            stdout=log,
            stderr=log,
        )
    try:
        _until(
            lambda: len(_workers(server.pid)) == 2 and _answers(port), "2 workers", log_path, server
        )
        first = _workers(server.pid)
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        _until(
            lambda: victim not in _workers(server.pid), "the killed worker reaped", log_path, server
        )
        assert _answers(port)  # the other worker serves meanwhile
        _until(lambda: len(_workers(server.pid)) == 2, "a new worker", log_path, server)
        now = _workers(server.pid)
        (new,) = now - first
        _until(lambda: _answers(port), "the service answers", log_path, server)
        text = log_path.read_text()
        assert f"worker {victim} died (killed by SIGKILL)" in text
        assert f"started worker {new} in place of the one that died" in text
        assert server.poll() is None
    finally:
        server.send_signal(signal.SIGTERM)
        status = server.wait(timeout=60)
    assert status == 0, log_path.read_text()
    assert not any(_alive(pid) for pid in now | first)


def test_a_worker_that_dies_at_startup_is_not_restarted_forever(tmp_path: Path) -> None:
    """A database the workers cannot open (a path under a file): each death backs off, and
    after the last back-off the server stops all workers and exits with the reason."""
    port = _free_port()
    script = (
        "from smokewatch.labeling.server import serve; "
        f"serve('127.0.0.1', {port}, 2, backoff=(0.2, 0.2))"
    )
    bad_url = f"sqlite:///{tmp_path / 'a-file' / 'labels.db'}"
    (tmp_path / "a-file").write_text("not a folder")
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env={**os.environ, "SMOKEWATCH_DATABASE_URL": bad_url},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 1, done.stderr
    assert "died at startup (exit status 1) 3 times in a row; not restarting it" in done.stderr
    assert done.stderr.count("restarting it in 0.2 s") >= 2
    assert "FileExistsError" in done.stderr  # the worker's own error is in the log
