"""Run the service with uvicorn in one or several worker processes, restarting dead workers.

Several workers each get their *own* listening socket on the same port (``SO_REUSEPORT``), so
the kernel spreads connections over them. With uvicorn's shared socket, the first worker to
wake accepts a whole burst of connections (asyncio accepts up to the backlog at once), and
browsers keep their connections open: measured here, one of two workers did 94% of the work.
That is also why uvicorn's own supervisor (``uvicorn.supervisors.Multiprocess``, which does
restart dead workers) is not used: it hands every worker the one shared socket.

A worker that dies is started again, so one crash is not an outage. A worker that dies soon
after it started (a bad database URL, an unreadable key) would die the same way again: such
deaths back off, and after a few in a row the server stops with an error instead of
restarting forever. docs/labeling-api.md ("Running the service") has the numbers.

Sockets are bound here but never put in the listening state: the kernel spreads new
connections over every *listening* socket on the port, so a worker still loading its app would
get its share queued, and reset if it then died at startup. uvicorn's ``Server.startup`` hands
the socket to ``loop.create_server(sock=...)``, which calls ``listen()`` only after the app is
built and its lifespan has started (asyncio's ``Server._start_serving``, uvloop's likewise).
Until then the port refuses connections (or another worker takes them) rather than queueing
them on a worker that cannot answer. Workers also die with the parent (Linux
``PR_SET_PDEATHSIG``), so a parent killed with SIGKILL leaves no orphans serving the port.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["serve"]

_APP = "smokewatch.labeling.app:create_app_from_env"
#: Delays (s) before restarting a worker after each early death in a row; one more: give up.
BACKOFF = (0.5, 1.0, 2.0, 4.0, 8.0)
#: A worker that lived this long (s) was not crashing at startup: its death restarts at once.
STABLE_AFTER = 30.0
_STARTUP_FAILURE = 3  # uvicorn's exit status when the app or its lifespan failed to start

log = logging.getLogger("uvicorn.error")


def _config(host: str, port: int, log_level: str) -> Any:
    import uvicorn

    return uvicorn.Config(
        _APP,
        factory=True,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=10,
    )


def _bind(host: str, port: int) -> socket.socket:
    """A socket bound to the port but not listening (see the module docstring for why).

    A port another program listens on fails here, at ``bind``.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _die_with(parent: int) -> None:
    """Have the kernel send SIGTERM (uvicorn's graceful stop) when ``parent`` dies, however."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        log.warning("worker %d will outlive a killed parent: prctl failed", os.getpid())
    if os.getppid() != parent:  # it died before the prctl: nobody would restart or stop us
        raise SystemExit(0)


def _worker(host: str, port: int, log_level: str, parent: int) -> None:
    _die_with(parent)
    import uvicorn

    sock = _bind(host, port)
    uvicorn.Server(_config(host, port, log_level)).run(sockets=[sock])


@dataclass
class _Slot:
    """One worker's place: its current process, and its early deaths in a row."""

    proc: Any = None
    started: float = 0.0
    early_deaths: int = 0
    start_at: float = 0.0  # when to start the next process (after a back-off)


def _how(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit status {exitcode}"


def serve(
    host: str,
    port: int,
    workers: int = 1,
    log_level: str = "warning",
    *,
    backoff: Sequence[float] = BACKOFF,
    stable_after: float = STABLE_AFTER,
) -> None:
    """Serve until SIGTERM or Ctrl-C; a dead worker is restarted (see the module docstring).

    Raises ``SystemExit`` with a message when a worker keeps dying at startup.
    """
    import uvicorn

    if workers <= 1 or not hasattr(socket, "SO_REUSEPORT"):
        # one process: restarting it is the process manager's job (systemd, a container)
        uvicorn.run(
            _APP,
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            access_log=False,
        )
        return
    _config(host, port, log_level)  # sets up uvicorn's logging here too, for our messages
    # Bind once in the parent first: a port in use fails here, with one clear error.
    probe = _bind(host, port)
    ctx = multiprocessing.get_context("spawn")
    slots = [_Slot() for _ in range(workers)]

    def start(slot: _Slot) -> int:
        slot.proc = ctx.Process(
            target=_worker, args=(host, port, log_level, os.getpid()), daemon=False
        )
        slot.proc.start()
        slot.started = time.monotonic()
        return int(slot.proc.pid)

    for slot in slots:
        start(slot)
    probe.close()
    stopping = False

    def _stop(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    gave_up = None
    try:
        while not stopping and gave_up is None:
            now = time.monotonic()
            for slot in slots:
                if slot.proc is None:
                    if now >= slot.start_at:
                        pid = start(slot)
                        log.warning("started worker %d in place of the one that died", pid)
                    continue
                if slot.proc.is_alive():
                    continue
                lived = now - slot.started
                how = _how(slot.proc.exitcode)
                early = slot.proc.exitcode == _STARTUP_FAILURE or lived < stable_after
                slot.early_deaths = slot.early_deaths + 1 if early else 0
                if slot.early_deaths > len(backoff):
                    gave_up = (
                        f"worker {slot.proc.pid} died at startup ({how}) {slot.early_deaths} "
                        "times in a row; not restarting it: see the log above for its error"
                    )
                    break
                delay = backoff[slot.early_deaths - 1] if early else 0.0
                log.warning(
                    "worker %d died (%s) after %.1f s; restarting it in %.1f s",
                    slot.proc.pid,
                    how,
                    lived,
                    delay,
                )
                slot.proc, slot.start_at = None, now + delay
            if gave_up is None and not stopping:
                waits = [s.start_at - now for s in slots if s.proc is None]
                sentinels = [s.proc.sentinel for s in slots if s.proc is not None]
                timeout = max(0.0, min([0.5, *waits]))
                multiprocessing.connection.wait(sentinels, timeout=timeout)
    finally:
        running = [s.proc for s in slots if s.proc is not None]
        for proc in running:
            if proc.is_alive() and proc.pid is not None:
                os.kill(proc.pid, signal.SIGTERM)
        for proc in running:
            proc.join(timeout=15)
            if proc.is_alive():
                proc.kill()
    if gave_up is not None:
        log.error(gave_up)
        raise SystemExit(f"smokewatch serve stopped: {gave_up}")
