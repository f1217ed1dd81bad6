"""``--engine ray`` with a cluster that does not answer: one error line naming the address,
within seconds, never a traceback or a wait without end.

The command runs in a child process with a time limit (Ray's waits for a cluster outlast any
signal), at a port just closed on this machine; no Ray is started.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from detect_helpers import START, stand_in_detector, write_timelapse, write_views

from smokewatch.detect import DetectError, RayEngine

#: The most a refusal may take; Ray alone waits 30 s (``ray://``) or many minutes.
BOUND_S = 30.0


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(a short timelapse, the views file)."""
    folder = tmp_path_factory.mktemp("day")
    return write_timelapse(folder / "a.mp4"), write_views(folder)


def _detect(
    motion_model: Path, inputs: tuple[Path, Path], out: Path, *args: str, **env: str
) -> tuple[subprocess.CompletedProcess[str], float]:
    """``smokewatch detect ... --engine ray ARGS`` in a child process: (its result, seconds)."""
    timelapse, views = inputs
    command = [
        sys.executable, "-m", "smokewatch", "detect", str(motion_model), "--timelapse",
        str(timelapse), "--views", str(views), "--start-time", str(START), "--out", str(out),
        "--quiet", "--engine", "ray", *args,
    ]  # fmt: skip
    environ = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    started = time.monotonic()
    proc = subprocess.run(
        command,
        env={**environ, "OMP_NUM_THREADS": "1", **env},
        capture_output=True,
        text=True,
        timeout=3 * BOUND_S,
    )
    return proc, time.monotonic() - started


@pytest.mark.parametrize("scheme", ["ray://", ""], ids=["client", "gcs"])
def test_an_unreachable_cluster_is_one_error_line_within_seconds(
    scheme: str, motion_model: Path, inputs: tuple[Path, Path], tmp_path: Path
) -> None:
    pytest.importorskip("ray", reason="the [ray] extra is not installed")
    address = f"{scheme}127.0.0.1:{_closed_port()}"
    proc, seconds = _detect(motion_model, inputs, tmp_path / "o", "--ray-address", address)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(f"error: cannot reach the Ray cluster at {address}: ")
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert seconds < BOUND_S
    assert not (tmp_path / "o").exists()


def test_an_unreachable_ray_address_variable_is_named(
    motion_model: Path, inputs: tuple[Path, Path], tmp_path: Path
) -> None:
    pytest.importorskip("ray", reason="the [ray] extra is not installed")
    address = f"127.0.0.1:{_closed_port()}"
    proc, seconds = _detect(motion_model, inputs, tmp_path / "o", RAY_ADDRESS=address)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(f"error: cannot reach the Ray cluster at {address} (RAY_ADDRESS)")
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert seconds < BOUND_S


def _ray_init_raising(monkeypatch: pytest.MonkeyPatch, error: Exception) -> Any:
    """Ray (skipped if not installed) whose ``ray.init`` raises ``error``, not yet started,
    with no ``RAY_ADDRESS``."""
    ray: Any = pytest.importorskip("ray", reason="the [ray] extra is not installed")

    def refuse(**kwargs: Any) -> None:
        raise error

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", refuse)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    return ray


def test_ray_refusing_to_connect_is_a_detect_error(
    motion_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cluster that answers but whose Ray will not connect (``ray.init`` raises): the
    error names the address; starting a local Ray that fails keeps Ray's own error."""
    ray = _ray_init_raising(monkeypatch, ConnectionError("ray client connection timeout"))
    with pytest.raises(DetectError, match=r"^cannot reach the Ray cluster at auto: ray client"):
        RayEngine(lambda: stand_in_detector(motion_model), address="auto")

    def fail(**kwargs: Any) -> None:
        raise RuntimeError("Failed to start GCS")

    monkeypatch.setattr(ray, "init", fail)
    with pytest.raises(RuntimeError, match="Failed to start GCS"):
        RayEngine(lambda: stand_in_detector(motion_model))


def test_a_port_out_of_range_is_one_error_line_at_once(
    motion_model: Path, inputs: tuple[Path, Path], tmp_path: Path
) -> None:
    """Ray retried ``localhost:99999`` for minutes (the port check was skipped): now refused
    before Ray starts, naming the address."""
    pytest.importorskip("ray", reason="the [ray] extra is not installed")
    address = "localhost:99999"
    proc, seconds = _detect(motion_model, inputs, tmp_path / "o", "--ray-address", address)
    assert proc.returncode == 2, proc.stderr
    assert (
        proc.stderr
        == f"error: {address}: not a host:port (the port must be a number from 1 to 65535)\n"
    )
    assert seconds < BOUND_S
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("localhost:99999", "not a host:port (the port must be a number from 1 to 65535)"),
        ("localhost:abc", "not a host:port (the port must be a number from 1 to 65535)"),
        ("localhost:0", "not a host:port (the port must be a number from 1 to 65535)"),
        ("foo", "not a host:port (no port; a cluster's address is its head's host:port"),
        (":6379", "not a host:port (no host)"),
        ("localhost:6379/x", "not a host:port (only a host and a port)"),
        ("[::1:6379", "not a host:port (Invalid IPv6 URL)"),
        ("ray://localhost:99999", "not ray://host:port (the port must be a number from 1 to"),
        ("http://localhost:1", "not a Ray address (an HTTP URL); give the cluster's host:port"),
    ],
)
@pytest.mark.parametrize("via", ["option", "variable"])
def test_a_malformed_address_is_one_error_line_before_ray_starts(
    address: str, message: str, via: str, motion_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``foo``, ``localhost:abc`` or an HTTP URL were Ray's ValueError, a traceback; an
    out-of-range port a wait of minutes. Checked before ``ray.init``, which is never called."""
    ray: Any = pytest.importorskip("ray", reason="the [ray] extra is not installed")

    def never(**kwargs: Any) -> None:
        raise AssertionError("ray.init was called")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", never)
    if via == "option":
        monkeypatch.delenv("RAY_ADDRESS", raising=False)
        given, shown = address, address
    else:
        monkeypatch.setenv("RAY_ADDRESS", address)
        given, shown = "auto", f"{address} (RAY_ADDRESS)"  # auto defers to RAY_ADDRESS, as in Ray
    with pytest.raises(DetectError) as caught:
        RayEngine(lambda: stand_in_detector(motion_model), address=given)
    assert str(caught.value).startswith(f"{shown}: {message}")
    assert "\n" not in str(caught.value)


def test_an_address_ray_refuses_is_a_detect_error_naming_it(
    motion_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An address left to Ray (a Ray Client module's ``module://...``) that ``ray.init``
    refuses with a ValueError: one line naming it; starting a local Ray keeps Ray's error."""
    _ray_init_raising(monkeypatch, ValueError("Invalid address format: x\nmore of Ray's words"))
    with pytest.raises(DetectError) as caught:
        RayEngine(lambda: stand_in_detector(motion_model), address="mymodule://x")
    assert str(caught.value) == (
        "cannot use the Ray address mymodule://x: Invalid address format: x"
    )
    with pytest.raises(ValueError, match="Invalid address format"):
        RayEngine(lambda: stand_in_detector(motion_model))
