"""Downloading clips against a real local HTTP server (127.0.0.1 only, never the internet).

The server serves tiny real H.264 clips made here with PyAV, plus the failures a real host
produces: 503s, 404s, corrupt and truncated bodies, slow streams, refused connections. Every
request is counted, so "skipped without a request" and "not retried" are checked, not assumed.
"""

from __future__ import annotations

import _thread
import io
import json
import os
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from typer.testing import CliRunner

from smokewatch.cli import app
from smokewatch.clips import download as dl
from smokewatch.clips.download import DownloadReport, clip_path, download_clips
from smokewatch.core.clip import Clip
from smokewatch.video import read_clip

FAST: dict[str, Any] = {"backoff": 0.001, "max_backoff": 0.01, "timeout": 5.0}


def _name(i: int) -> str:
    return f"0-0-2018-06-11-6304-964-6807-1467-180-180-{3470 + i}-{1528712115 + i}-{1528712290 + i}"


def _encode(frames: int, size: int = 32) -> bytes:
    """A real H.264 MP4 of ``frames`` frames (gradients, so the encoder has something to do)."""
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(12))
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for t in range(frames):
            rgb = np.full((size, size, 3), (t * 7) % 256, dtype=np.uint8)
            rgb[:, : size // 2, 1] = 255 - t
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(stream.encode(None))
    return buf.getvalue()


@pytest.fixture(scope="module")
def clip_bytes() -> bytes:
    return _encode(36)


@pytest.fixture(scope="module")
def short_clip_bytes() -> bytes:
    return _encode(35)


# -- the server ----------------------------------------------------------------------------


@dataclass
class Reply:
    """One canned response. ``truncate``: send only that many body bytes, then hang up."""

    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    truncate: int | None = None
    # Called in the handler thread after the headers and the first chunk; slows the body.
    slow: Callable[[], None] | None = None


class Server:
    """Routes map a path to replies served in order (the last one repeats)."""

    def __init__(self) -> None:
        self.routes: dict[str, list[Reply]] = {}
        self.hits: Counter[str] = Counter()
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                with server.lock:
                    n = server.hits[self.path]
                    server.hits[self.path] += 1
                    replies = server.routes.get(self.path, [Reply(404)])
                reply = replies[min(n, len(replies) - 1)]
                self.send_response(reply.status)
                for key, value in reply.headers:
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(reply.body)))
                if reply.truncate is not None:
                    self.send_header("Connection", "close")
                self.end_headers()
                try:
                    if reply.truncate is not None:
                        self.wfile.write(reply.body[: reply.truncate])
                        self.wfile.flush()
                        self.close_connection = True
                    elif reply.slow is not None:
                        self.wfile.write(reply.body[:100])
                        self.wfile.flush()
                        reply.slow()
                        for i in range(100, len(reply.body), 10):
                            self.wfile.write(reply.body[i : i + 10])
                            self.wfile.flush()
                            time.sleep(0.05)
                    else:
                        self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.root = f"http://127.0.0.1:{self.port}/videos/"

    def clip(self, i: int, *replies: Reply) -> Clip:
        """A clip whose URL is served by ``replies``."""
        name = _name(i)
        self.routes[f"/videos/{name}.mp4"] = list(replies)
        return _clip(i, self.root)

    def hits_for(self, clip: Clip) -> int:
        return self.hits[f"/videos/{clip.file_name}.mp4"]


def _clip(i: int, root: str) -> Clip:
    name = _name(i)
    return Clip(
        id=i,
        camera_id=0,
        view_id=0,
        label_state=23,
        label_state_admin=-1,
        start_time=1528712115 + i,
        file_name=name,
        url_root=root,
        url_part=f"{name}.mp4",
    )


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    thread = threading.Thread(target=s.httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()
    thread.join(5)


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy from the environment must not see (or swallow) requests to 127.0.0.1."""
    for key in list(os.environ):
        if key.lower() in {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}:
            monkeypatch.delenv(key)


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _files(out: Path) -> list[str]:
    """Every entry in ``out``, hidden temp files included."""
    return sorted(p.name for p in out.iterdir())


# -- the library ---------------------------------------------------------------------------


def test_downloads_and_verifies_every_clip(
    server: Server, clip_bytes: bytes, tmp_path: Path
) -> None:
    clips = [server.clip(i, Reply(body=clip_bytes)) for i in range(5)]
    report = download_clips(clips, tmp_path, workers=3, **FAST)
    assert report == DownloadReport(
        downloaded=[c.file_name for c in clips], bytes_downloaded=5 * len(clip_bytes)
    )
    assert report.ok
    assert _files(tmp_path) == sorted(f"{c.file_name}.mp4" for c in clips)
    for clip in clips:
        assert read_clip(clip_path(tmp_path, clip), expected_frames=36).shape == (36, 32, 32, 3)


def test_second_run_skips_everything_without_a_request(
    server: Server, clip_bytes: bytes, tmp_path: Path
) -> None:
    clips = [server.clip(i, Reply(body=clip_bytes)) for i in range(4)]
    assert download_clips(clips, tmp_path, **FAST).ok
    hits = sum(server.hits.values())
    assert hits == 4
    again = download_clips(clips, tmp_path, **FAST)
    assert again.skipped == [c.file_name for c in clips]
    assert again.downloaded == [] and again.failed == []
    assert sum(server.hits.values()) == hits


@pytest.mark.parametrize("status", [503, 500, 429])
def test_transient_errors_are_retried(
    server: Server, clip_bytes: bytes, tmp_path: Path, status: int
) -> None:
    clip = server.clip(
        0, Reply(status), Reply(status, headers=(("Retry-After", "0"),)), Reply(body=clip_bytes)
    )
    report = download_clips([clip], tmp_path, retries=3, **FAST)
    assert report.downloaded == [clip.file_name]
    assert server.hits_for(clip) == 3


def test_retries_give_up_and_say_how_often(server: Server, tmp_path: Path) -> None:
    clip = server.clip(0, Reply(503))
    report = download_clips([clip], tmp_path, retries=2, **FAST)
    [(name, reason)] = report.failed
    assert name == clip.file_name
    assert "HTTP 503" in reason and "after 3 attempts" in reason and clip.url in reason
    assert server.hits_for(clip) == 3
    assert _files(tmp_path) == []


def test_truncated_body_is_retried_and_never_kept(
    server: Server, clip_bytes: bytes, tmp_path: Path
) -> None:
    clip = server.clip(
        0, Reply(body=clip_bytes, truncate=len(clip_bytes) // 2), Reply(body=clip_bytes)
    )
    report = download_clips([clip], tmp_path, **FAST)
    assert report.downloaded == [clip.file_name]
    assert server.hits_for(clip) == 2
    assert read_clip(clip_path(tmp_path, clip)).shape[0] == 36


def test_corrupt_file_is_reported_and_nothing_is_left(server: Server, tmp_path: Path) -> None:
    garbage = np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes()
    clip = server.clip(0, Reply(body=garbage))
    report = download_clips([clip], tmp_path, **FAST)
    [(name, reason)] = report.failed
    assert name == clip.file_name
    assert reason.startswith("downloaded but not a valid clip")
    assert ".part" not in reason  # the temp file's name is not the user's business
    assert _files(tmp_path) == []  # no clip, no .part
    assert server.hits_for(clip) == 1  # the same bytes would come again: not retried


def test_clip_with_wrong_frame_count_is_rejected(
    server: Server, short_clip_bytes: bytes, tmp_path: Path
) -> None:
    clip = server.clip(0, Reply(body=short_clip_bytes))
    [(_, reason)] = download_clips([clip], tmp_path, **FAST).failed
    assert "35 frames, expected 36" in reason
    assert _files(tmp_path) == []


def test_404_is_reported_and_not_retried(server: Server, clip_bytes: bytes, tmp_path: Path) -> None:
    good = server.clip(0, Reply(body=clip_bytes))
    missing = _clip(1, server.root)  # no route: 404
    report = download_clips([good, missing], tmp_path, retries=3, **FAST)
    assert report.downloaded == [good.file_name]
    [(name, reason)] = report.failed
    assert name == missing.file_name and "HTTP 404 Not Found" in reason
    assert server.hits_for(missing) == 1
    assert not report.ok


def test_unreachable_host_fails_each_clip_clearly(closed_port: int, tmp_path: Path) -> None:
    clips = [_clip(i, f"http://127.0.0.1:{closed_port}/videos/") for i in range(3)]
    report = download_clips(clips, tmp_path, retries=1, **FAST)
    assert [n for n, _ in report.failed] == [c.file_name for c in clips]
    for _, reason in report.failed:
        assert f"127.0.0.1:{closed_port}" in reason
        assert "cannot connect" in reason or "unreachable" in reason
    assert _files(tmp_path) == []


def test_offline_host_is_given_up_on_quickly(closed_port: int, tmp_path: Path) -> None:
    clips = [_clip(i, f"http://127.0.0.1:{closed_port}/") for i in range(200)]
    report = download_clips(
        clips, tmp_path, workers=4, retries=3, backoff=0.05, max_backoff=0.05, host_give_up=5
    )
    # Given up on, not retried: most clips never try the host (no wall-clock bound here: a
    # loaded machine must not fail this; the count is the behaviour).
    assert len(report.failed) == 200
    assert sum("gave up after 5 failed connections" in r for _, r in report.failed) > 150
    # The cause is still named, also where the host was given up on.
    assert all("refused" in r.lower() for _, r in report.failed), report.failed[-1]


def test_invalid_existing_file_is_fetched_again(
    server: Server, clip_bytes: bytes, tmp_path: Path
) -> None:
    clip = server.clip(0, Reply(body=clip_bytes))
    clip_path(tmp_path, clip).write_bytes(clip_bytes[:300])  # an earlier, broken download
    report = download_clips([clip], tmp_path, **FAST)
    assert report.downloaded == [clip.file_name]
    assert clip_path(tmp_path, clip).read_bytes() == clip_bytes


def test_temp_files_of_a_killed_run_are_removed(
    server: Server, clip_bytes: bytes, tmp_path: Path
) -> None:
    clip = server.clip(0, Reply(body=clip_bytes))
    stale = tmp_path / f".{clip.file_name}.mp4.abc123.part.mp4"
    stale.write_bytes(b"half")
    unrelated = tmp_path / ".other.mp4.abc123.part.mp4"
    unrelated.write_bytes(b"not ours")
    assert download_clips([clip], tmp_path, **FAST).ok
    assert _files(tmp_path) == sorted([f"{clip.file_name}.mp4", unrelated.name])


def test_file_names_cannot_escape_the_output_folder(tmp_path: Path) -> None:
    clip = _clip(0, "http://127.0.0.1:1/")
    clip.file_name = f"../../elsewhere/{clip.file_name}"
    clip._name = None
    assert clip_path(tmp_path, clip) == tmp_path / f"{_name(0)}.mp4"


def test_ctrl_c_stops_promptly_and_leaves_nothing(
    server: Server, clip_bytes: bytes, tmp_path: Path
) -> None:
    interrupted = threading.Event()

    def interrupt() -> None:
        if not interrupted.is_set():
            interrupted.set()
            _thread.interrupt_main()  # what Ctrl-C does to the main thread

    # Every body streams slowly (~40 s at full length), so all downloads are mid-file.
    clips = [server.clip(i, Reply(body=clip_bytes * 10, slow=interrupt)) for i in range(4)]
    start = time.monotonic()
    # Python's own Ctrl-C handler, however the suite was started: a shell starts a background
    # command with SIGINT ignored, and interrupt_main then does nothing. A long timeout: on a
    # loaded machine the client must not give up before the bodies start.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            download_clips(
                clips, tmp_path, workers=4, verify=lambda p: None, **{**FAST, "timeout": 60.0}
            )
    finally:
        signal.signal(signal.SIGINT, previous)
    assert interrupted.is_set()
    # Far sooner than the ~40 s the bodies take: the downloads were cut, not waited for.
    assert time.monotonic() - start < 20
    assert _files(tmp_path) == []


def test_defaults_agree_with_the_cli() -> None:
    from smokewatch.cli import download as cli

    assert (cli.DEFAULT_RETRIES, cli.DEFAULT_BACKOFF, cli.DEFAULT_TIMEOUT) == (
        dl.DEFAULT_RETRIES,
        dl.DEFAULT_BACKOFF,
        dl.DEFAULT_TIMEOUT,
    )


# -- the command ---------------------------------------------------------------------------


def _metadata(path: Path, clips: list[Clip]) -> Path:
    from smokewatch.core.metadata import dumps_json

    path.write_text(dumps_json(clips), encoding="utf-8")
    return path


def _invoke(*args: str) -> tuple[int, str, str, BaseException | None]:
    result = CliRunner().invoke(app, ["dataset", "download", *args])
    return result.exit_code, result.stdout, result.stderr, result.exception


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no stray .env
    return tmp_path


def test_cli_downloads_and_resumes(server: Server, clip_bytes: bytes, in_tmp: Path) -> None:
    clips = [server.clip(i, Reply(body=clip_bytes)) for i in range(3)]
    meta = _metadata(in_tmp / "meta.json", clips)
    out = in_tmp / "clips"
    code, stdout, stderr, _ = _invoke(str(meta), "--out", str(out), "--limit", "2")
    assert code == 0, stderr
    assert "2 downloaded, 0 already present, 0 failed" in stdout
    assert len(_files(out)) == 2
    code, stdout, stderr, _ = _invoke(str(meta), "--out", str(out), "-j", "2")
    assert code == 0, stderr
    assert "1 downloaded, 2 already present, 0 failed" in stdout
    assert sum(server.hits.values()) == 3


def test_cli_unreachable_host_exits_1_with_reasons(closed_port: int, in_tmp: Path) -> None:
    clips = [_clip(i, f"http://127.0.0.1:{closed_port}/videos/") for i in range(2)]
    meta = _metadata(in_tmp / "meta.json", clips)
    code, stdout, stderr, exc = _invoke(
        str(meta), "--out", str(in_tmp / "clips"), "--retries", "1", "--backoff", "0.001"
    )
    assert code == 1
    assert isinstance(exc, SystemExit)  # a clean exit, not a crash
    assert "Traceback" not in stdout + stderr
    assert "0 downloaded, 0 already present, 2 failed" in stdout
    assert "2 clip(s) failed" in stderr
    for clip in clips:
        assert clip.file_name in stderr
    assert stderr.count(f"cannot connect to 127.0.0.1:{closed_port}") == 2


def test_cli_404_exits_1(server: Server, clip_bytes: bytes, in_tmp: Path) -> None:
    clips = [server.clip(0, Reply(body=clip_bytes)), _clip(1, server.root)]
    meta = _metadata(in_tmp / "meta.json", clips)
    code, stdout, stderr, _ = _invoke(str(meta), "--out", str(in_tmp / "clips"))
    assert code == 1
    assert "1 downloaded, 0 already present, 1 failed" in stdout
    assert f"{_name(1)}: HTTP 404 Not Found" in stderr


def test_cli_malformed_json_exits_2_naming_the_problem(in_tmp: Path) -> None:
    meta = in_tmp / "meta.json"
    meta.write_text('[{"camera_id": 0,', encoding="utf-8")
    code, _, stderr, exc = _invoke(str(meta), "--out", str(in_tmp / "clips"))
    assert code == 2 and isinstance(exc, SystemExit)
    assert "meta.json: invalid JSON at line 1" in stderr
    assert "Traceback" not in stderr
    assert not (in_tmp / "clips").exists()


def test_cli_record_missing_a_field_exits_2(in_tmp: Path) -> None:
    record = {"camera_id": 0, "view_id": 0, "id": 1, "label_state": 23, "label_state_admin": -1}
    meta = in_tmp / "meta.json"
    meta.write_text(json.dumps([record]), encoding="utf-8")
    code, _, stderr, _ = _invoke(str(meta), "--out", str(in_tmp / "clips"))
    assert code == 2
    assert "record 0, field 'start_time': missing" in stderr


def test_cli_output_folder_that_is_a_file_exits_2(server: Server, in_tmp: Path) -> None:
    meta = _metadata(in_tmp / "meta.json", [_clip(0, server.root)])
    (in_tmp / "taken").write_text("a file")
    code, _, stderr, _ = _invoke(str(meta), "--out", str(in_tmp / "taken"))
    assert code == 2
    assert "cannot create the output folder" in stderr
    assert sum(server.hits.values()) == 0


def test_cli_help_documents_exit_status() -> None:
    result = CliRunner().invoke(app, ["dataset", "download", "--help"])
    assert result.exit_code == 0
    assert "Exit status" in result.stdout and "--limit" in result.stdout
