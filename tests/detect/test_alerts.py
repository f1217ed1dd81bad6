"""Alerts against real local receivers: an HTTP server and an SMTP server (aiosmtpd), both on
127.0.0.1 and started here, never the internet.

Every request and message is recorded, so "sent once", "retried three times" and "not
retried" are counted, not assumed. Waits between tries go through an injected ``sleep`` that
records the delay and returns at once, and the clock that timestamps signatures is fixed.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import time_machine
import trustme
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from PIL import Image

from smokewatch.core.detections import (
    Detections,
    Event,
    ViewDetections,
    Window,
    write_detections,
)
from smokewatch.detect.alerts import (
    LEDGER_NAME,
    AlertsError,
    Notifier,
    NotifyOptions,
    check_targets,
    event_payload,
    sign,
    verify_signature,
)
from smokewatch.settings import Settings
from tests.videos import make_clip

SECRET = "test-secret-0123456789"
NOW = 1_700_000_000.0  # the fixed clock that timestamps signatures and emails
FAST = NotifyOptions(timeout=5.0, attempts=4, backoff=0.5, max_backoff=8.0, max_wait=60.0)


class Sleeps(list[float]):
    """An injected ``sleep``: records each wait between tries and returns at once."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def clock() -> float:
    return NOW


def notifier(urls: list[str], out: Path, **kw: Any) -> Notifier:
    kw.setdefault("secret", SECRET)
    kw.setdefault("options", FAST)
    kw.setdefault("sleep", Sleeps())
    kw.setdefault("clock", clock)
    return Notifier(urls, out_dir=out, **kw)


# -- a camera day's detections, with real evidence files ------------------------------------


def _windows(n: int, t0: float) -> tuple[Window, ...]:
    return tuple(Window(18 * i, 18 * i + 35, t0 + 90 * i, t0 + 90 * i + 175, 0.9) for i in range(n))


def _event(event_id: str, t0: float, *, gif: str | None, clip: str | None) -> Event:
    return Event(
        id=event_id,
        start_time=t0,
        end_time=t0 + 265.0,
        start_frame=0,
        end_frame=53,
        windows=(0, 1),
        max_probability=0.97,
        evidence_clip=clip,
        evidence_gif=gif,
    )


def _gif(path: Path, shade: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = [Image.new("RGB", (16, 16), (shade, 40 * i, 90)) for i in range(3)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)


@pytest.fixture
def out(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    _gif(folder / "evidence" / "0-3-a.gif", 10)
    _gif(folder / "evidence" / "2-1-b.gif", 120)
    make_clip(folder / "evidence" / "0-3-a.mp4", frames=4, size=32)
    return folder


T0 = 1528712115.0  # 2018-06-11 10:15:15 UTC, 06:15:15 in US/Eastern (EDT)


@pytest.fixture
def detections() -> Detections:
    """Three events in two views; the third has no evidence files on disk."""
    view_a = ViewDetections(
        camera_id=0,
        view_id=3,
        windows=_windows(2, T0),
        events=(
            _event("a", T0, gif="evidence/0-3-a.gif", clip="evidence/0-3-a.mp4"),
            _event("c", T0 + 3600, gif="evidence/missing.gif", clip=None),
        ),
    )
    view_b = ViewDetections(
        camera_id=2,
        view_id=1,
        windows=_windows(2, T0),
        events=(_event("b", T0 + 60, gif="evidence/2-1-b.gif", clip=None),),
    )
    return Detections(
        model={"path": "models/rise-hard-i3d", "kind": "i3d", "threshold": 0.85},
        views=(view_a, view_b),
    )


# -- the HTTP receiver ------------------------------------------------------------------------


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Records POSTs; answers with ``replies`` in order (the last one repeats)."""

    url: str = ""
    replies: list[tuple[int, dict[str, str]]] = field(default_factory=lambda: [(200, {})])
    requests: list[Request] = field(default_factory=list)
    #: Called with the request's number before it is answered (outside the lock).
    before_reply: Callable[[int], None] | None = None


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with lock:
                n = len(state.requests)
                state.requests.append(
                    Request(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                status, headers = state.replies[min(n, len(state.replies) - 1)]
            if state.before_reply is not None:
                state.before_reply(n)
            answer = b"bad event" if status == 400 else b"ok"
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/smoke?token=abc"
    yield state
    server.shutdown()
    server.server_close()


@dataclass
class Stall:
    """A receiver that accepts connections and never answers."""

    url: str
    accepted: threading.Event


@pytest.fixture
def stall() -> Iterator[Stall]:
    listener = socket.create_server(("127.0.0.1", 0))
    accepted = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            held.append(conn)
            accepted.set()

    threading.Thread(target=accept, daemon=True).start()
    yield Stall(f"http://127.0.0.1:{listener.getsockname()[1]}/hook", accepted)
    listener.close()
    for conn in held:
        conn.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


# -- webhooks -----------------------------------------------------------------------------------


def test_each_event_is_posted_once_signed(
    out: Path, detections: Detections, receiver: Receiver
) -> None:
    report = notifier([receiver.url], out).notify(detections, timeout=30)

    assert report.ok and len(report.sent) == 3 and not report.skipped
    assert all(d.attempts == 1 for d in report.sent)
    assert len(receiver.requests) == 3
    by_id = {r.headers["x-smokewatch-event"]: r for r in receiver.requests}
    assert set(by_id) == {"a", "b", "c"}

    request = by_id["a"]
    assert request.path == "/hooks/smoke?token=abc"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-smokewatch-timestamp"] == str(int(NOW))
    body = json.loads(request.body)
    assert body == event_payload(
        detections.views[0], detections.views[0].events[0], {**detections.model}
    )
    assert body["schema"] == 1
    assert body["event"]["camera_id"] == 0 and body["event"]["view_id"] == 3
    assert body["event"]["start_iso"] == "2018-06-11T10:15:15Z"
    assert body["event"]["end_iso"] == "2018-06-11T10:19:40Z"
    assert body["event"]["duration_s"] == 265.0
    assert body["event"]["windows"] == 2 and body["event"]["max_probability"] == 0.97
    assert body["model"]["path"] == "models/rise-hard-i3d"
    assert body["evidence"] == {"clip": "evidence/0-3-a.mp4", "gif": "evidence/0-3-a.gif"}

    for r in receiver.requests:
        ts, sig = r.headers["x-smokewatch-timestamp"], r.headers["x-smokewatch-signature"]
        assert sig.startswith("sha256=")
        assert verify_signature(r.body, ts, sig, SECRET, now=NOW + 10)


def test_a_tampered_or_replayed_alert_does_not_verify(
    out: Path, detections: Detections, receiver: Receiver
) -> None:
    notifier([receiver.url], out).notify(detections, timeout=30)
    r = receiver.requests[0]
    ts, sig = r.headers["x-smokewatch-timestamp"], r.headers["x-smokewatch-signature"]
    assert verify_signature(r.body, ts, sig, SECRET, now=NOW)
    tampered = r.body.replace(b'"max_probability": 0.97', b'"max_probability": 0.10')
    assert tampered != r.body
    assert not verify_signature(tampered, ts, sig, SECRET, now=NOW)
    assert not verify_signature(r.body, str(int(NOW) + 1), sig, SECRET, now=NOW)
    assert not verify_signature(r.body, ts, sig, "another-secret", now=NOW)
    assert not verify_signature(r.body, ts, "sha256=" + "0" * 64, SECRET, now=NOW)
    assert not verify_signature(r.body, "yesterday", sig, SECRET, now=NOW)
    # The same request, replayed later than the tolerance, is refused.
    assert verify_signature(r.body, ts, sig, SECRET, now=NOW + 300)
    assert not verify_signature(r.body, ts, sig, SECRET, now=NOW + 301)
    assert not verify_signature(r.body, ts, sig, SECRET, now=NOW + 60, tolerance_s=30)


def test_a_rerun_sends_nothing_and_the_ledger_keeps_no_secrets(
    out: Path, detections: Detections, receiver: Receiver
) -> None:
    first = notifier([receiver.url], out).notify(detections, timeout=30)
    assert len(first.sent) == 3

    again = notifier([receiver.url], out).notify(detections, timeout=30)
    assert len(receiver.requests) == 3  # nothing new
    assert not again.sent and not again.failed
    assert sorted(d.event_id for d in again.skipped) == ["a", "b", "c"]

    text = (out / LEDGER_NAME).read_text()
    ledger = json.loads(text)
    (entry,) = ledger["targets"].values()
    assert entry["sent"] == {"0-3": ["a", "c"], "2-1": ["b"]}
    assert "token" not in text and "hooks" not in text  # the URL's path may hold a secret


def test_the_ledger_survives_and_only_missing_events_are_sent(
    out: Path, detections: Detections, receiver: Receiver
) -> None:
    # A run that delivered one event, then died: the ledger on disk is all that is left.
    only_a = Detections(
        model=detections.model,
        views=(ViewDetections(0, 3, detections.views[0].windows, detections.views[0].events[:1]),),
    )
    crashed = notifier([receiver.url], out)
    crashed.submit_all(only_a)
    assert len(crashed.close(30).sent) == 1
    assert json.loads((out / LEDGER_NAME).read_text())["targets"]
    assert not list(out.glob(".alerts.json.*"))  # written atomically: no temp file left

    report = notifier([receiver.url], out).notify(detections, timeout=30)
    assert sorted(d.event_id for d in report.sent) == ["b", "c"]
    assert [d.event_id for d in report.skipped] == ["a"]
    assert [r.headers["x-smokewatch-event"] for r in receiver.requests].count("a") == 1


_CHILD = """
import sys
from smokewatch.core.detections import read_detections
from smokewatch.detect.alerts import Notifier
url, out, secret = sys.argv[1:]
Notifier([url], secret=secret, out_dir=out).notify(read_detections(out + "/detections.json"))
"""


def test_a_killed_run_leaves_a_ledger_that_the_next_run_trusts(
    out: Path, detections: Detections, receiver: Receiver
) -> None:
    write_detections(detections, out / "detections.json")
    second_arrived, release = threading.Event(), threading.Event()

    def hold_the_second(n: int) -> None:
        if n == 1:
            second_arrived.set()
            release.wait(30)

    receiver.before_reply = hold_the_second
    child = subprocess.Popen([sys.executable, "-c", _CHILD, receiver.url, str(out), SECRET])
    try:
        assert second_arrived.wait(60), "the child never sent its second alert"
        os.kill(child.pid, signal.SIGKILL)  # mid-delivery: the second alert is unanswered
        assert child.wait(30) == -signal.SIGKILL
    finally:
        release.set()
        if child.poll() is None:
            child.kill()

    (entry,) = json.loads((out / LEDGER_NAME).read_text())["targets"].values()
    assert entry["sent"] == {"0-3": ["a"]}  # confirmed before the kill; nothing half-written
    receiver.before_reply = None
    report = notifier([receiver.url], out).notify(detections, timeout=30)
    assert [d.event_id for d in report.skipped] == ["a"]
    # "c" reached the receiver but was never confirmed, so it is sent again: at least once.
    assert sorted(d.event_id for d in report.sent) == ["b", "c"]
    assert [r.headers["x-smokewatch-event"] for r in receiver.requests] == ["a", "c", "c", "b"]


def test_a_corrupt_ledger_is_a_clear_error(out: Path) -> None:
    (out / LEDGER_NAME).write_text('{"schema": 1, "targets": {"x": ')
    with pytest.raises(AlertsError, match=r"alerts\.json: invalid JSON.*delete it to resend"):
        notifier(["https://example.org/hook"], out)
    (out / LEDGER_NAME).write_text('{"schema": 1, "targets": {"x": {"sent": {"0-3": [1]}}}}')
    with pytest.raises(AlertsError, match=r"targets\.x\.sent\.0-3: expected a list of event ids"):
        notifier(["https://example.org/hook"], out)


def test_events_of_different_views_with_one_id_are_both_sent(
    tmp_path: Path, receiver: Receiver
) -> None:
    views = tuple(
        ViewDetections(0, v, _windows(2, T0), (_event("e1", T0, gif=None, clip=None),))
        for v in (0, 1)
    )
    report = notifier([receiver.url], tmp_path).notify(Detections({}, views), timeout=30)
    assert sorted(d.view for d in report.sent) == ["0-0", "0-1"]
    assert len(receiver.requests) == 2


def test_503_twice_then_200_is_delivered_on_the_third_try(
    out: Path, detections: Detections, receiver: Receiver
) -> None:
    receiver.replies = [(503, {"Retry-After": "7"}), (503, {}), (200, {})]
    sleeps = Sleeps()
    one = Detections(detections.model, detections.views[1:])
    report = notifier([receiver.url], out, sleep=sleeps).notify(one, timeout=30)

    assert report.ok and [d.attempts for d in report.sent] == [3]
    assert len(receiver.requests) == 3
    assert sleeps[0] == 7  # Retry-After honoured
    assert 0.5 <= sleeps[1] <= 1.0  # backoff 0.5 s doubled, with jitter in [50 %, 100 %]
    # Each try is signed afresh, and all carry the same body.
    assert len({r.body for r in receiver.requests}) == 1
    assert "b" in json.loads((out / LEDGER_NAME).read_text())["targets"].popitem()[1]["sent"]["2-1"]


def test_a_400_is_not_retried_and_is_tried_again_next_run(
    out: Path, detections: Detections, receiver: Receiver
) -> None:
    receiver.replies = [(400, {})]
    one = Detections(detections.model, detections.views[1:])
    sleeps = Sleeps()
    report = notifier([receiver.url], out, sleep=sleeps).notify(one, timeout=30)

    (failed,) = report.failed
    assert not report.ok and not report.sent
    assert failed.attempts == 1 and not sleeps
    assert "HTTP 400 Bad Request: bad event" in failed.reason
    assert "token" not in failed.describe()  # reports leave the URL's path out
    assert not (out / LEDGER_NAME).exists()

    receiver.replies = [(200, {})]
    again = notifier([receiver.url], out).notify(one, timeout=30)
    assert [d.event_id for d in again.sent] == ["b"]


def test_retries_are_bounded_by_attempts_and_by_max_wait(
    out: Path, detections: Detections, receiver: Receiver
) -> None:
    one = Detections(detections.model, detections.views[1:])
    sleeps = Sleeps()
    refused = f"http://127.0.0.1:{_free_port()}/hook"
    report = notifier([refused], out, sleep=sleeps).notify(one, timeout=30)
    (failed,) = report.failed
    assert failed.attempts == FAST.attempts and len(sleeps) == FAST.attempts - 1
    assert "connection failed" in failed.reason and "gave up after 4 tries" in failed.reason

    receiver.replies = [(429, {"Retry-After": "3600"})]
    report = notifier([receiver.url], out).notify(one, timeout=30)
    (failed,) = report.failed
    assert failed.attempts == 1 and len(receiver.requests) == 1
    assert "HTTP 429" in failed.reason and "max_wait 60 s" in failed.reason


def test_a_stalled_receiver_blocks_neither_submit_nor_the_other_targets(
    out: Path, detections: Detections, receiver: Receiver, stall: Stall
) -> None:
    slow = NotifyOptions(timeout=30.0, attempts=2, backoff=0.01, max_wait=60.0)
    alerts = notifier([stall.url, receiver.url], out, options=slow, sleep=None)
    alerts.submit_all(detections)  # returns although the stalled receiver never answers
    assert stall.accepted.wait(10)  # the first alert is now in flight, waiting for an answer

    report = alerts.close(timeout=1.0)
    assert sorted(d.event_id for d in report.sent) == ["a", "b", "c"]
    assert all(d.target.startswith("http://127.0.0.1:") for d in report.sent)
    stalled = [d for d in report.failed if d.target == stall.url.removesuffix("/hook") + "/…"]
    assert sorted(d.event_id for d in stalled) == ["a", "b", "c"]
    assert all("not delivered when closing (waited 1 s)" in d.reason for d in stalled)
    # Only the receiver that answered is in the ledger: the stalled one is retried next run.
    (entry,) = json.loads((out / LEDGER_NAME).read_text())["targets"].values()
    assert entry["target"] == receiver.url.split("/hooks")[0] + "/…"


def test_unsigned_alerts_are_refused_unless_allowed(
    out: Path, detections: Detections, receiver: Receiver
) -> None:
    with pytest.raises(AlertsError, match="no signing secret: unsigned alerts can be forged") as no:
        notifier([receiver.url], out, secret=None)
    # what a user can do, and only that: the command line has no way to allow unsigned alerts
    assert "set SMOKEWATCH_ALERT_SECRET (in the environment or smokewatch's .env)" in str(no.value)
    assert "docs/alerts.md" in str(no.value) and "allow" not in str(no.value)
    with pytest.raises(AlertsError, match="secret is empty"):
        notifier([receiver.url], out, secret="")
    one = Detections(detections.model, detections.views[1:])
    report = notifier([receiver.url], out, secret=None, allow_unsigned=True).notify(one)
    assert report.ok and "x-smokewatch-signature" not in receiver.requests[0].headers


def test_plain_text_to_another_machine_warns(out: Path, recwarn: pytest.WarningsRecorder) -> None:
    notifier(["http://127.0.0.1:9/hook", "http://localhost/hook"], out).close()
    assert not recwarn.list
    with pytest.warns(UserWarning, match=r"plain http:// .*use https://"):
        notifier(["http://alerts.example.org/hook"], out).close()
    secure = "smtp://u:p@mail.example.org?to=a@example.org&starttls=1"
    notifier([secure, secure.replace("smtp:", "smtps:").split("&")[0]], out).close()
    assert not recwarn.list
    with pytest.warns(UserWarning, match=r"SMTP password travels unencrypted.*smtps://"):
        notifier(["smtp://u:p@mail.example.org?to=a@example.org"], out).close()


def test_header_text_from_detections_cannot_add_http_headers(
    tmp_path: Path, receiver: Receiver
) -> None:
    event = _event("e1\r\nX-Injected: yes", T0, gif=None, clip=None)
    view = ViewDetections(0, 0, _windows(2, T0), (event,))
    report = notifier([receiver.url], tmp_path).notify(Detections({}, (view,)))
    assert report.ok
    (request,) = receiver.requests
    assert "x-injected" not in request.headers
    assert request.headers["x-smokewatch-event"] == "e1  X-Injected: yes"
    assert json.loads(request.body)["event"]["id"] == "e1\r\nX-Injected: yes"  # data, intact


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.org/x", "ftp:// is not supported"),
        ("example.org/hook", "no scheme is not supported"),
        ("https:///hook", "no host"),
        ("https://example.org:http/hook", "not a valid URL"),
        ("https://exa mple.org/hook", "spaces or control characters"),
        ("", "empty URL"),
        ("smtp://mail.example.org", "no recipients: add ?to="),
        ("smtp://mail.example.org?to=", "no recipients"),
        ("smtp://:25?to=a@example.org", "no host"),
        ("smtp://mail.example.org?to=nobody", "'nobody' is not an email address"),
        ("smtp://mail.example.org?to=a@x.org%0D%0ABcc:e@x.org", "is not an email address"),
        ("smtp://mail.example.org?to=a@x.org&from=me", "'me' is not an email address"),
        ("smtp://mail.example.org?to=a@x.org&cc=b@x.org", "unknown parameter 'cc'"),
        ("smtp://mail.example.org?to=a@x.org&starttls=maybe", "starttls must be 1 or 0"),
        ("smtps://mail.example.org?to=a@x.org&starttls=1", "already TLS"),
        ("smtp://u:p@mail.example.org:99999?to=a@x.org", "not a valid URL"),
    ],
)
def test_malformed_targets_are_one_clear_line(out: Path, url: str, message: str) -> None:
    with pytest.raises(AlertsError, match="notify target") as caught:
        notifier([url], out)
    text = str(caught.value)
    assert message in text and "\n" not in text
    assert ":p@" not in text  # a password in the URL is never printed
    with pytest.raises(AlertsError) as checked:  # the check a watch config runs at load
        check_targets([url], secret="s3cret")
    assert str(checked.value) == text


def test_checking_targets_opens_nothing_and_refuses_what_the_notifier_refuses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, recwarn: pytest.WarningsRecorder
) -> None:
    monkeypatch.chdir(tmp_path)
    threads = threading.active_count()
    hook = "https://alerts.example.org/hooks/smoke"
    mail = "smtp://u:p@mail.example.org?to=a@example.org&starttls=1"
    shown = check_targets([hook, mail, hook], secret="s3cret", timezone="Europe/Berlin")
    assert shown == [
        "https://alerts.example.org/…",
        "smtp://u@mail.example.org:25 (to a@example.org)",
    ]
    assert threading.active_count() == threads and not recwarn.list  # no worker started
    assert not list(tmp_path.iterdir())  # no ledger, no folder of its own
    with notifier([hook, mail, hook], tmp_path / "out") as alerts:
        assert alerts.targets == shown
    with pytest.raises(AlertsError, match="no signing secret"):
        check_targets([hook], secret=None)
    assert check_targets([hook], secret=None, allow_unsigned=True) == shown[:1]
    with pytest.raises(AlertsError, match="secret is empty"):
        check_targets([hook], secret=b"")
    with pytest.raises(AlertsError, match="unknown time zone 'Mars/Olympus'"):
        check_targets([mail], secret=None, timezone="Mars/Olympus")
    with pytest.warns(UserWarning, match="plain http://") as warned:
        check_targets(["http://alerts.example.org/hook"], secret="s3cret")
    assert warned[0].filename == __file__  # the warning points at the caller, not at alerts.py
    with pytest.warns(UserWarning, match="travels unencrypted") as warned:
        check_targets([mail.split("&")[0]], secret=None)
    assert warned[0].filename == __file__


def test_bad_options_and_time_zone_are_clear_errors(out: Path) -> None:
    with pytest.raises(AlertsError, match="attempts must be at least 1"):
        notifier([], out, options=NotifyOptions(attempts=0))
    with pytest.raises(AlertsError, match="timeout must be a positive number"):
        notifier([], out, options=NotifyOptions(timeout=0))
    with pytest.raises(AlertsError, match="unknown time zone 'Mars/Olympus'"):
        notifier([], out, timezone="Mars/Olympus")


def test_the_secret_is_a_setting_that_never_prints(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().alert_secret is None
    monkeypatch.setenv("SMOKEWATCH_ALERT_SECRET", "s3cret-from-env")
    settings = Settings()
    assert settings.alert_secret is not None
    assert settings.alert_secret.get_secret_value() == "s3cret-from-env"
    assert "s3cret-from-env" not in repr(settings)


# -- email --------------------------------------------------------------------------------------


@dataclass
class Mail:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    login: bytes | None

    def parsed(self) -> EmailMessage:
        message = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        return message


@dataclass
class Mailbox:
    port: int
    received: list[Mail] = field(default_factory=list)

    def url(self, scheme: str = "smtp", user: str = "", query: str = "") -> str:
        userinfo = f"{user}@" if user else ""
        return f"{scheme}://{userinfo}127.0.0.1:{self.port}?{query}"


class _Handler:
    def __init__(self, box: list[Mail]) -> None:
        self.box = box

    async def handle_DATA(  # noqa: N802 - aiosmtpd's name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        login = session.auth_data if isinstance(session.auth_data, bytes) else None
        content = envelope.original_content or b""
        self.box.append(Mail(str(envelope.mail_from), list(envelope.rcpt_tos), content, login))
        return "250 OK"


def _authenticate(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        b"watcher",
        b"p@ss word",
    )
    if not ok:  # handled=False: the server answers 535 itself
        return AuthResult(success=False, handled=False)
    return AuthResult(success=True, auth_data=auth_data.login)


def _smtp_server(
    *, auth: bool, tls: ssl.SSLContext | None = None, implicit_tls: bool = False
) -> Iterator[Mailbox]:
    """aiosmtpd on its own event loop thread, bound to port 0 (no port race). With ``tls``:
    STARTTLS required before anything else, or (``implicit_tls``) TLS from the first byte."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    received: list[Mail] = []
    starttls = tls is not None and not implicit_tls

    def factory() -> SMTP:
        return SMTP(
            _Handler(received),
            hostname="localhost",
            loop=loop,
            authenticator=_authenticate if auth else None,
            auth_required=auth,
            auth_require_tls=starttls,  # aiosmtpd does not count implicit TLS as TLS
            tls_context=tls if starttls else None,
            require_starttls=starttls,
        )

    server = asyncio.run_coroutine_threadsafe(
        loop.create_server(factory, "127.0.0.1", 0, ssl=tls if implicit_tls else None), loop
    ).result(10)
    box = Mailbox(server.sockets[0].getsockname()[1], received)

    async def shut() -> None:
        # On the loop's own thread: asyncio.Server is not thread-safe, and closing it from
        # here raced the loop detaching the last connection (both woke the same waiters).
        server.close()
        await server.wait_closed()

    try:
        yield box
    finally:
        asyncio.run_coroutine_threadsafe(shut(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    """A throwaway certificate authority: the server's certificate, the client's trust."""
    return trustme.CA()


@pytest.fixture
def server_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture
def client_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    yield from _smtp_server(auth=False)


@pytest.fixture
def auth_mailbox() -> Iterator[Mailbox]:
    yield from _smtp_server(auth=True)


def _attachments(message: EmailMessage) -> dict[str, tuple[str, bytes]]:
    out: dict[str, tuple[str, bytes]] = {}
    for part in message.iter_attachments():
        assert isinstance(part, EmailMessage)
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        out[str(part.get_filename())] = (part.get_content_type(), payload)
    return out


def test_one_email_per_event_with_the_evidence_attached(
    out: Path, detections: Detections, mailbox: Mailbox
) -> None:
    url = mailbox.url(query="to=ops@example.org,%20board@example.org&from=smokewatch@example.org")
    report = notifier([url], out, timezone="US/Eastern").notify(detections, timeout=30)

    assert report.ok and len(report.sent) == 3 and len(mailbox.received) == 3
    by_event = {m.parsed()["X-Smokewatch-Event"]: m for m in mailbox.received}
    mail = by_event["a"]
    assert mail.mail_from == "smokewatch@example.org"
    assert mail.rcpt_tos == ["ops@example.org", "board@example.org"]
    message = mail.parsed()
    assert message["From"] == "smokewatch@example.org"
    assert message["To"] == "ops@example.org, board@example.org"
    assert message["Subject"] == "Smoke detected: camera 0 view 3, 2018-06-11 06:15:15 EDT"

    body = message.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "camera 0, view 3" in text
    assert "2018-06-11 10:15:15 UTC to 2018-06-11 10:19:40 UTC (4 min 25 s)" in text
    assert "2018-06-11 06:15:15 EDT to 2018-06-11 06:19:40 EDT (local time, US/Eastern)" in text
    assert "highest smoke probability 0.97 over 2 windows" in text
    assert "path: models/rise-hard-i3d" in text

    attached = _attachments(message)
    assert attached == {
        "0-3-a.gif": ("image/gif", (out / "evidence/0-3-a.gif").read_bytes()),
        "0-3-a.mp4": ("video/mp4", (out / "evidence/0-3-a.mp4").read_bytes()),
    }
    assert _attachments(by_event["b"].parsed()) == {
        "2-1-b.gif": ("image/gif", (out / "evidence/2-1-b.gif").read_bytes())
    }
    no_files = by_event["c"].parsed()
    assert not _attachments(no_files)
    assert "evidence/missing.gif: not found" in no_files.get_body(("plain",)).get_content()  # type: ignore[union-attr]

    again = notifier([url], out).notify(detections, timeout=30)
    assert len(mailbox.received) == 3 and len(again.skipped) == 3


def test_a_large_clip_is_named_not_attached(
    out: Path, detections: Detections, mailbox: Mailbox
) -> None:
    options = NotifyOptions(max_attachment_bytes=100)
    one = Detections(detections.model, (ViewDetections(0, 3, (), detections.views[0].events[:1]),))
    report = notifier([mailbox.url(query="to=ops@example.org")], out, options=options).notify(one)
    assert report.ok
    message = mailbox.received[0].parsed()
    assert list(_attachments(message)) == ["0-3-a.gif"]
    assert mailbox.received[0].mail_from == "smokewatch@localhost"  # the default sender
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "evidence/0-3-a.mp4 in the output folder (too large to attach)" in text


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_credentials_in_the_url_are_sent_and_a_wrong_password_is_not_retried(
    out: Path, detections: Detections, auth_mailbox: Mailbox
) -> None:
    one = Detections(detections.model, detections.views[1:])
    url = auth_mailbox.url(user="watcher:p%40ss%20word", query="to=ops@example.org")
    report = notifier([url], out).notify(one, timeout=30)
    assert report.ok
    (mail,) = auth_mailbox.received
    assert mail.login == b"watcher"
    assert "p@ss" not in (out / LEDGER_NAME).read_text()

    # Changing the password does not make it another target (nothing is resent), so the
    # failures below are tried on a folder of their own.
    assert not notifier([url.replace("p%40ss", "new")], out).notify(one).sent
    elsewhere = out.parent / "elsewhere"
    sleeps = Sleeps()
    wrong = auth_mailbox.url(user="watcher:nope", query="to=ops@example.org")
    report = notifier([wrong], elsewhere, sleep=sleeps).notify(one, timeout=30)
    (failed,) = report.failed
    assert failed.attempts == 1 and not sleeps and "SMTP 535" in failed.reason
    assert "nope" not in failed.describe()

    sleeps = Sleeps()
    anonymous = auth_mailbox.url(query="to=ops@example.org")
    (failed,) = notifier([anonymous], elsewhere, sleep=sleeps).notify(one, timeout=30).failed
    assert "SMTP 530" in failed.reason and not sleeps  # the server requires AUTH: fatal


def test_a_dead_mail_server_is_retried_then_reported(out: Path, detections: Detections) -> None:
    one = Detections(detections.model, detections.views[1:])
    sleeps = Sleeps()
    url = f"smtp://127.0.0.1:{_free_port()}?to=ops@example.org"
    (failed,) = notifier([url], out, sleep=sleeps).notify(one, timeout=30).failed
    assert failed.attempts == FAST.attempts and len(sleeps) == FAST.attempts - 1
    assert "cannot connect to 127.0.0.1" in failed.reason


def test_text_from_detections_cannot_add_mail_headers(tmp_path: Path, mailbox: Mailbox) -> None:
    gif_name = "e\r\nBcc: evil@example.org\r\nX-Injected: 1.gif"
    _gif(tmp_path / gif_name, 50)
    event = _event("e1\r\nBcc: evil@example.org", T0, gif=gif_name, clip=None)
    view = ViewDetections(0, 0, _windows(2, T0), (event,))
    model = {"name\r\nX-Injected": "i3d\r\nBcc: evil@example.org"}
    url = mailbox.url(query="to=ops@example.org")
    report = notifier([url], tmp_path).notify(Detections(model, (view,)))

    assert report.ok
    (mail,) = mailbox.received
    assert mail.rcpt_tos == ["ops@example.org"]
    message = mail.parsed()
    assert message["Bcc"] is None and message["X-Injected"] is None
    assert message["X-Smokewatch-Event"] == "e1  Bcc: evil@example.org"
    headers = mail.data.split(b"\r\n\r\n", 1)[0]
    assert b"\r\nBcc:" not in headers and b"\r\nX-Injected" not in headers
    ((name, (kind, data)),) = _attachments(message).items()
    assert "\n" not in name and "\r" not in name and kind == "image/gif"
    assert data == (tmp_path / gif_name).read_bytes()


def test_line_and_paragraph_separators_in_detections_do_not_stop_the_email(
    tmp_path: Path, mailbox: Mailbox
) -> None:
    """U+2028 and U+2029 are line breaks to Python's email module, which refused the whole
    message: that event's email failed on every try of every run."""
    gif_name = "e\u2028Bcc: evil@example.org\u2029.gif"
    _gif(tmp_path / gif_name, 50)
    event = _event("e1\u2028Bcc: evil@example.org\u2029X-Injected: 1", T0, gif=gif_name, clip=None)
    view = ViewDetections(0, 0, _windows(2, T0), (event,))
    url = mailbox.url(query="to=ops@example.org")
    report = notifier([url], tmp_path).notify(Detections({}, (view,)))

    assert report.ok, [f.describe() for f in report.failed]
    (mail,) = mailbox.received
    assert mail.rcpt_tos == ["ops@example.org"]
    message = mail.parsed()
    assert message["Bcc"] is None and message["X-Injected"] is None
    assert message["X-Smokewatch-Event"] == "e1 Bcc: evil@example.org X-Injected: 1"
    ((name, _),) = _attachments(message).items()
    assert "\u2028" not in name and "\u2029" not in name


def test_a_plus_in_to_and_from_is_a_plus_not_a_space(out: Path, mailbox: Mailbox) -> None:
    """``+`` (sub-addressing) is common in addresses; read as a form's space it was refused."""
    one = ViewDetections(0, 0, _windows(2, T0), (_event("p", T0, gif=None, clip=None),))
    url = mailbox.url(query="to=ops+smoke@example.org,b%2Bc@example.org&from=smoke+bot@example.org")
    report = notifier([url], out).notify(Detections({}, (one,)))

    assert report.ok, [f.describe() for f in report.failed]
    (mail,) = mailbox.received
    assert mail.mail_from == "smoke+bot@example.org"
    assert mail.rcpt_tos == ["ops+smoke@example.org", "b+c@example.org"]
    assert mail.parsed()["To"] == "ops+smoke@example.org, b+c@example.org"
    with pytest.raises(AlertsError, match="'a b@x.org' is not an email address"):
        notifier(["smtp://mail.example.org?to=a%20b@x.org"], out)  # a space is %20, refused


@pytest.fixture
def starttls_mailbox(server_tls: ssl.SSLContext) -> Iterator[Mailbox]:
    yield from _smtp_server(auth=True, tls=server_tls)


@pytest.fixture
def smtps_mailbox(server_tls: ssl.SSLContext) -> Iterator[Mailbox]:
    yield from _smtp_server(auth=True, tls=server_tls, implicit_tls=True)


def test_starttls_encrypts_before_the_password_is_sent(
    out: Path, detections: Detections, starttls_mailbox: Mailbox, client_tls: ssl.SSLContext
) -> None:
    one = Detections(detections.model, detections.views[1:])
    user = "watcher:p%40ss%20word"
    url = starttls_mailbox.url(user=user, query="to=ops@example.org&starttls=1")
    report = notifier([url], out, ssl_context=client_tls).notify(one, timeout=30)
    assert report.ok
    (mail,) = starttls_mailbox.received
    assert mail.login == b"watcher"
    assert [name for name in _attachments(mail.parsed())] == ["2-1-b.gif"]

    # Without starttls=1 the server offers no AUTH: a clear failure, not retried.
    sleeps = Sleeps()
    plain = starttls_mailbox.url(user=user, query="to=ops@example.org")
    (failed,) = notifier([plain], out / "plain", sleep=sleeps).notify(one, timeout=30).failed
    assert "the server offers no AUTH; use starttls=1 or smtps://" in failed.reason
    assert failed.attempts == 1 and not sleeps


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_smtps_and_a_certificate_that_does_not_verify(
    out: Path, detections: Detections, smtps_mailbox: Mailbox, client_tls: ssl.SSLContext
) -> None:
    one = Detections(detections.model, detections.views[1:])
    url = smtps_mailbox.url("smtps", user="watcher:p%40ss%20word", query="to=ops@example.org")
    assert notifier([url], out, ssl_context=client_tls).notify(one, timeout=30).ok
    assert len(smtps_mailbox.received) == 1

    # The system's trust store does not know the test CA: a TLS failure, never retried.
    sleeps = Sleeps()
    (failed,) = notifier([url], out / "untrusted", sleep=sleeps).notify(one, timeout=30).failed
    assert "TLS failed" in failed.reason and "CERTIFICATE_VERIFY_FAILED" in failed.reason
    assert failed.attempts == 1 and not sleeps
    assert len(smtps_mailbox.received) == 1


# -- the receiver in docs/alerts.md ---------------------------------------------------------


def _doc_receiver() -> dict[str, Any]:
    """Run the receiver code block of docs/alerts.md as a module (not its ``__main__``)."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "alerts.md").read_text()
    block = text.split("```python\n# receiver.py", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {"__name__": "receiver"}
    exec(compile("# receiver.py" + block, "docs/alerts.md", "exec"), namespace)  # noqa: S102
    return namespace


def test_the_receiver_in_the_docs_accepts_alerts_and_refuses_forgeries(
    out: Path, detections: Detections
) -> None:
    receiver = _doc_receiver()
    receiver["SECRET"] = SECRET
    server = ThreadingHTTPServer(("127.0.0.1", 0), receiver["Handler"])
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/alerts"
    try:
        # Sender and receiver share one frozen clock: the receiver checks freshness itself.
        with time_machine.travel(NOW, tick=False):
            forged = notifier([url], out / "forged", secret="not-the-secret", clock=time.time)
            (failed,) = forged.notify(detections, timeout=30).failed[:1]
            assert "HTTP 401" in failed.reason and failed.attempts == 1
            assert not receiver["seen"]

            report = notifier([url], out, clock=time.time).notify(detections, timeout=30)
        assert report.ok and len(report.sent) == 3
        assert receiver["seen"] == {("0-3", "a"), ("0-3", "c"), ("2-1", "b")}
    finally:
        server.shutdown()
        server.server_close()

    body = json.dumps(event_payload(detections.views[1], detections.views[1].events[0], {}))
    headers = {"X-Smokewatch-Timestamp": str(int(NOW))}
    headers["X-Smokewatch-Signature"] = sign(
        body.encode(), headers["X-Smokewatch-Timestamp"], SECRET
    )
    verify_request = receiver["verify_request"]
    assert verify_request(body.encode(), headers, SECRET, now=NOW)["event"]["id"] == "b"
    assert verify_request(body.encode(), headers, SECRET, now=NOW + 301) is None  # a replay
    assert verify_request(body.encode() + b" ", headers, SECRET, now=NOW) is None
