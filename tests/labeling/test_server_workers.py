"""``smokewatch serve --workers N`` as a real process: a killed worker is replaced, SIGTERM
stops everything with exit 0, a worker that cannot start is not restarted forever, a worker
takes no connection before its app is ready, and workers die with a killed parent."""

from __future__ import annotations

import errno
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
    check: Callable[[], bool], what: str, log: Path, server: subprocess.Popen[bytes] | None
) -> None:
    """Wait for ``check`` while the server runs (a bound against hanging, not a timing test);
    ``server=None``: the server is expected to be gone."""
    deadline = time.monotonic() + 90
    while not check():
        if server is not None:
            assert server.poll() is None, f"the server exited: {what}\n{log.read_text()}"
        assert time.monotonic() < deadline, f"never happened: {what}\n{log.read_text()}"
        time.sleep(0.1)


def _start(tmp_path: Path, port: int, log_path: Path) -> subprocess.Popen[bytes]:
    """``smokewatch serve --workers 2`` on SQLite in ``tmp_path/data``, its output in a file
    (that much output would fill a pipe and stall the server)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMOKEWATCH_")}
    with log_path.open("w") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "smokewatch", "serve", "--port", str(port), "--workers", "2"],
            cwd=tmp_path,
            env={**env, "SMOKEWATCH_DATA_DIR": str(tmp_path / "data")},
            stdout=log,
            stderr=log,
        )


def _stop(server: subprocess.Popen[bytes], pids: set[int]) -> int:
    """SIGTERM and the exit status; a server that does not stop is killed with its workers,
    so a failing test leaves nothing serving."""
    server.send_signal(signal.SIGTERM)
    try:
        return server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        for pid in pids | _workers(server.pid) | {server.pid}:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        server.wait()
        raise


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _alive(pid: int) -> bool:
    """Running (a zombie is not: an orphan waits for whoever reaps it, maybe nobody here)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def test_a_killed_worker_is_restarted_and_sigterm_stops_everything(tmp_path: Path) -> None:
    port = _free_port()
    log_path = tmp_path / "serve.log"
    server = _start(tmp_path, port, log_path)
    first: set[int] = set()
    now: set[int] = set()
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
        _until(lambda: _answers(port), "the service answers meanwhile", log_path, server)
        _until(lambda: len(_workers(server.pid)) == 2, "a new worker", log_path, server)
        now = _workers(server.pid)
        (new,) = now - first
        _until(lambda: _answers(port), "the service answers", log_path, server)
        text = log_path.read_text()
        assert f"worker {victim} died (killed by SIGKILL)" in text
        assert f"started worker {new} in place of the one that died" in text
        assert server.poll() is None
    finally:
        status = _stop(server, first | now)
    assert status == 0, log_path.read_text()
    assert not any(_alive(pid) for pid in now | first)


def test_no_connection_is_taken_before_a_worker_can_answer(tmp_path: Path) -> None:
    """The workers' signing key is a named pipe, so each worker blocks building its app until
    the test writes the key. Meanwhile the port must refuse connections: a worker listening
    before its app is ready queues them, and resets them all if it then dies at startup."""
    port = _free_port()
    log_path = tmp_path / "serve.log"
    (tmp_path / "data").mkdir()
    key_path = tmp_path / "data" / "secret.key"
    os.mkfifo(key_path)
    server = _start(tmp_path, port, log_path)
    writer: list[int] = []

    def a_worker_reads_the_key() -> bool:
        try:  # opening a pipe's write end without blocking succeeds once a reader has it open
            writer.append(os.open(key_path, os.O_WRONLY | os.O_NONBLOCK))
        except OSError as exc:
            assert exc.errno == errno.ENXIO, exc
            return False
        return True

    try:
        _until(a_worker_reads_the_key, "a worker building its app", log_path, server)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=10).close()
        # Let the workers go on: the path becomes a regular file for those that open it later,
        # and those reading the pipe get the key (one of two readers may get nothing, die at
        # startup and be restarted: this test is not about that).
        key = os.urandom(32).hex()
        (tmp_path / "data" / "key.tmp").write_text(key)
        os.replace(tmp_path / "data" / "key.tmp", key_path)
        os.write(writer[0], key.encode())
        os.close(writer.pop())
        _until(
            lambda: len(_workers(server.pid)) == 2 and _answers(port), "2 workers", log_path, server
        )
    finally:
        for fd in writer:
            os.close(fd)
        status = _stop(server, set())
    assert status == 0, log_path.read_text()


def test_a_port_another_program_listens_on_is_one_clear_error(tmp_path: Path) -> None:
    """The workers' sockets share the port with each other only: a program already listening
    there (without SO_REUSEPORT) fails the parent's first bind, one line and exit 2."""
    with socket.socket() as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("SMOKEWATCH_")}
        done = subprocess.run(
            [sys.executable, "-m", "smokewatch", "serve", "--port", str(port), "--workers", "2"],
            cwd=tmp_path,
            env={**env, "SMOKEWATCH_DATA_DIR": str(tmp_path / "data")},
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 2, done.stderr
    assert f"error: cannot listen on 127.0.0.1:{port}: Address already in use\n" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_workers_exit_when_the_parent_is_killed(tmp_path: Path) -> None:
    port = _free_port()
    log_path = tmp_path / "serve.log"
    server = _start(tmp_path, port, log_path)
    workers: set[int] = set()
    try:
        _until(
            lambda: len(_workers(server.pid)) == 2 and _answers(port), "2 workers", log_path, server
        )
        workers = _workers(server.pid)
        server.kill()
        server.wait()
        _until(lambda: not any(_alive(pid) for pid in workers), "the workers exit", log_path, None)
        assert not _answers(port)
    finally:
        for pid in workers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        if server.poll() is None:
            _stop(server, workers)


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
