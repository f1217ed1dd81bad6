"""Alerts for detected smoke events: signed webhooks and email, each event sent once.

Detection must never wait for a receiver: :meth:`Notifier.submit` only queues an event, and
one background thread per target delivers it, retrying transient failures with exponential
backoff and jitter within a bounded number of attempts and a bounded total time. A slow or
dead receiver costs its own thread, not the detection loop, and its failures end up in the
:class:`NotifyReport`, never in an exception.

"Sent once" is a ledger, ``alerts.json`` beside the detections file, updated atomically after
each confirmed delivery: a re-run of detection on the same folder does not resend, and an
event whose delivery failed is tried again by the next run.

Webhook bodies are signed with HMAC-SHA256 over ``"<timestamp>.<body>"`` so a receiver can
tell our alerts from forged ones and refuse replays; :func:`verify_signature` is the receiver's
side. The wire format, the retry rules and a receiver are documented in ``docs/alerts.md``.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import os
import queue
import smtplib
import ssl
import threading
import time
import unicodedata
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx

from smokewatch import __version__
from smokewatch.core.atomic import atomic_write_text, remove_partials
from smokewatch.core.detections import Detections, Event, ViewDetections
from smokewatch.core.epoch import local_time
from smokewatch.core.files import read_user_json
from smokewatch.core.retry import Backoff, GaveUp, Retryable, retry, retry_after_seconds
from smokewatch.errors import SmokewatchError, SmokewatchWarning

__all__ = [
    "ALERT_SCHEMA",
    "LEDGER_NAME",
    "AlertsError",
    "Delivery",
    "NotifyOptions",
    "NotifyReport",
    "Notifier",
    "event_payload",
    "read_ledger",
    "sign",
    "verify_signature",
]

#: The version of the webhook body; a change that breaks a receiver bumps it.
ALERT_SCHEMA = 1
#: The sent-once ledger, in the detections folder.
LEDGER_NAME = "alerts.json"
_LEDGER_SCHEMA = 1

SIGNATURE_HEADER = "X-Smokewatch-Signature"
TIMESTAMP_HEADER = "X-Smokewatch-Timestamp"
EVENT_HEADER = "X-Smokewatch-Event"

_RETRY_STATUS = frozenset({429}) | frozenset(range(500, 600))
_SMTP_QUERY = frozenset({"to", "from", "starttls"})


class AlertsError(SmokewatchError, ValueError):
    """A notify target or option that cannot work, or an unreadable ledger; one line."""


# --------------------------------------------------------------------------------------------
# Signing


def sign(body: bytes, timestamp: str, secret: str | bytes) -> str:
    """The ``X-Smokewatch-Signature`` value: ``sha256=<hex HMAC-SHA256 of "<ts>.<body>">``."""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    digest = hmac.new(key, timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(
    body: bytes,
    timestamp: str,
    header: str,
    secret: str | bytes,
    *,
    tolerance_s: float = 300,
    now: float | None = None,
) -> bool:
    """True when ``header`` signs ``body`` at ``timestamp`` with ``secret``, and the timestamp
    is within ``tolerance_s`` of ``now`` (default: the current time).

    The timestamp is part of the signed text, so a captured request cannot be replayed later
    with a fresh timestamp; the tolerance bounds how late a replay could come. Comparison is in
    constant time (:func:`hmac.compare_digest`).
    """
    try:
        sent_at = int(timestamp)
        expected = sign(body, timestamp, secret)
    except (TypeError, ValueError):  # not an integer, or not ASCII
        return False
    current = time.time() if now is None else now
    if abs(current - sent_at) > tolerance_s:
        return False
    return hmac.compare_digest(expected.encode("ascii"), header.strip().encode("utf-8"))


# --------------------------------------------------------------------------------------------
# What is sent


def _iso(epoch: float, zone: ZoneInfo | None = None) -> str:
    when = local_time(epoch, zone)
    if zone is None:
        return when.isoformat().replace("+00:00", "Z")
    return when.isoformat()


def event_payload(view: ViewDetections, event: Event, model: Mapping[str, Any]) -> dict[str, Any]:
    """The webhook body of one event (``docs/alerts.md`` documents each field)."""
    return {
        "schema": ALERT_SCHEMA,
        "event": {
            "id": event.id,
            "camera_id": view.camera_id,
            "view_id": view.view_id,
            "view": view.key,
            "start_time": event.start_time,
            "end_time": event.end_time,
            "start_iso": _iso(event.start_time),
            "end_iso": _iso(event.end_time),
            "duration_s": round(event.end_time - event.start_time, 3),
            "start_frame": event.start_frame,
            "end_frame": event.end_frame,
            "max_probability": event.max_probability,
            "windows": len(event.windows),
        },
        "model": dict(model),
        "evidence": {"clip": event.evidence_clip, "gif": event.evidence_gif},
    }


#: The Unicode categories of every character :meth:`str.splitlines` breaks a line at: control
#: characters (CR, LF, VT, FF, FS, GS, RS, NEL) and the line and paragraph separators (U+2028,
#: U+2029). Python's email module refuses a header holding any of them.
_LINE_BREAKING = frozenset({"Cc", "Zl", "Zp"})


def _breaks_line(c: str) -> bool:
    """True for a character that ends a line somewhere: it never belongs in a header."""
    return unicodedata.category(c) in _LINE_BREAKING


def _header_text(value: str) -> str:
    """``value`` fit for one header line: control characters (CR, LF, ...) and the Unicode
    line and paragraph separators become spaces, so text from a detections file can never
    start a header of its own, nor make the email module refuse the message (every try of
    that event would fail, run after run)."""
    return "".join(" " if _breaks_line(c) else c for c in value).strip()


def _ascii_header(value: str) -> str:
    """An HTTP header value: printable ASCII, anything else percent-encoded."""
    return quote(_header_text(value), safe=" !#$&'()*+,-./:;=?@[]^_`{|}~")


def _duration(seconds: float) -> str:
    total = round(seconds)
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def _clock_text(epoch: float, zone: ZoneInfo) -> str:
    return local_time(epoch, zone).strftime("%Y-%m-%d %H:%M:%S %Z")


def _model_text(model: Mapping[str, Any]) -> str:
    if not model:
        return "  (not recorded)"
    return "\n".join(f"  {key}: {model[key]}" for key in sorted(model, key=str))


# --------------------------------------------------------------------------------------------
# Options and the report


@dataclass(frozen=True, slots=True)
class NotifyOptions:
    """How hard to try one delivery (one event to one target)."""

    timeout: float = 10.0  #: seconds per HTTP request or SMTP exchange
    attempts: int = 5  #: tries per delivery, the first included
    backoff: float = 1.0  #: seconds before the first retry, doubled each retry, jittered
    max_backoff: float = 60.0  #: cap of one wait between tries
    max_wait: float = 300.0  #: a delivery is given up once its tries would run past this
    max_attachment_bytes: int = 10_000_000  #: the evidence mp4 is attached only below this

    def check(self) -> None:
        for name in ("timeout", "backoff", "max_backoff", "max_wait"):
            value = getattr(self, name)
            if not value >= 0 or (name == "timeout" and value == 0):
                raise AlertsError(f"notify option {name} must be a positive number, got {value}")
        if self.attempts < 1:
            raise AlertsError(f"notify option attempts must be at least 1, got {self.attempts}")
        if self.max_attachment_bytes < 0:
            raise AlertsError("notify option max_attachment_bytes must be 0 or more")


@dataclass(frozen=True, slots=True)
class Delivery:
    """One event to one target. ``target`` is the URL with its secrets left out; ``view`` is
    ``"camera-view"``; ``reason`` says why it failed (or a note on a partial success)."""

    target: str
    view: str
    event_id: str
    attempts: int = 0
    reason: str = ""

    def describe(self) -> str:
        text = f"{self.target}: event {self.event_id} of view {self.view}"
        return f"{text}: {self.reason}" if self.reason else text


@dataclass
class NotifyReport:
    """What a :class:`Notifier` did: deliveries sent now, skipped (sent by an earlier run), or
    failed (they are tried again on the next run)."""

    sent: list[Delivery] = field(default_factory=list)
    skipped: list[Delivery] = field(default_factory=list)
    failed: list[Delivery] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        return (
            f"alerts: {len(self.sent)} sent, {len(self.skipped)} already sent, "
            f"{len(self.failed)} failed"
        )


# --------------------------------------------------------------------------------------------
# The ledger


def _ledger_error(path: Path, message: str) -> AlertsError:
    return AlertsError(
        f"{path}: {message} (the alerts ledger; repair it, or delete it to resend "
        "every event of this folder)"
    )


def _parse_ledger(path: Path) -> dict[str, dict[str, Any]]:
    """The ledger at ``path``, per target key: ``{"target": display, "sent": {view: ids}}``;
    every problem is one :class:`AlertsError` naming the file. The one reader of the format,
    for the :class:`Notifier` and for :func:`read_ledger` alike."""
    try:
        data = read_user_json(path, what="alerts ledger", error=AlertsError)
    except AlertsError as exc:
        raise _ledger_error(path, str(exc).removeprefix(f"{path}: ")) from None
    if not isinstance(data, dict) or data.get("schema") != _LEDGER_SCHEMA:
        raise _ledger_error(path, f"expected an object with schema {_LEDGER_SCHEMA}")
    targets = data.get("targets")
    if not isinstance(targets, dict):
        raise _ledger_error(path, "targets: expected an object")
    parsed: dict[str, dict[str, Any]] = {}
    for key, entry in targets.items():
        where = f"targets.{key}"
        if not isinstance(entry, dict) or not isinstance(entry.get("sent"), dict):
            raise _ledger_error(path, f"{where}: expected an object with 'sent'")
        sent: dict[str, set[str]] = {}
        for view, ids in entry["sent"].items():
            if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
                raise _ledger_error(path, f"{where}.sent.{view}: expected a list of event ids")
            sent[view] = set(ids)
        parsed[key] = {"target": str(entry.get("target", "")), "sent": sent}
    return parsed


def read_ledger(path: str | os.PathLike[str]) -> dict[str, dict[str, frozenset[str]]]:
    """The events already delivered, per target (as shown: its password hidden) and view;
    ``{}`` when there is no ledger yet. For a status report: it reads only (a killed
    rewrite's leftovers are the next :class:`Notifier`'s to remove); a ledger that cannot be
    read is one :class:`AlertsError`, as for the notifier."""
    p = Path(path)
    if not p.exists():
        return {}
    delivered: dict[str, dict[str, frozenset[str]]] = {}
    for entry in _parse_ledger(p).values():
        views = delivered.setdefault(entry["target"], {})
        for view, ids in entry["sent"].items():
            views[view] = views.get(view, frozenset()) | ids
    return delivered


class _Ledger:
    """``alerts.json``: per target, the events already delivered. Thread-safe; rewritten
    atomically after every delivery, so a crash loses at most the one in flight (resent)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._targets: dict[str, dict[str, Any]] = {}
        remove_partials(path.parent, {path.name})  # a rewrite a kill cut short
        if path.exists():
            self._targets = _parse_ledger(path)

    def contains(self, key: str, view: str, event_id: str) -> bool:
        with self._lock:
            entry = self._targets.get(key)
            return entry is not None and event_id in entry["sent"].get(view, ())

    def add(self, key: str, display: str, view: str, event_id: str) -> None:
        with self._lock:
            entry = self._targets.setdefault(key, {"target": display, "sent": {}})
            entry["target"] = display
            entry["sent"].setdefault(view, set()).add(event_id)
            data = {
                "schema": _LEDGER_SCHEMA,
                "targets": {
                    k: {
                        "target": e["target"],
                        "sent": {v: sorted(ids) for v, ids in sorted(e["sent"].items())},
                    }
                    for k, e in sorted(self._targets.items())
                },
            }
            atomic_write_text(self.path, json.dumps(data, indent=1) + "\n")


# --------------------------------------------------------------------------------------------
# Targets


class _Fatal(Exception):
    """A failure another try will not fix; the message is the reason reported."""


@dataclass(frozen=True, slots=True)
class _Job:
    view: ViewDetections
    event: Event
    model: Mapping[str, Any]


class _Target(Protocol):
    key: str  #: the ledger key: a hash of the URL without its password
    display: str  #: the URL as reports show it, secrets left out

    def send(self, job: _Job) -> str:
        """Deliver once; raise :class:`Retryable` or :class:`_Fatal`; return a note."""
        ...

    def close(self) -> None: ...


def _fail_url(url: str, message: str) -> AlertsError:
    shown = _redact(url)
    return AlertsError(f"notify target {shown!r}: {message}")


def _redact(url: str) -> str:
    """``url`` without a password (``user:***@``), for messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url.split("@")[-1]
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return parts._replace(netloc=f"{user}:***@{netloc[1]}").geturl()


def _ledger_key(url_without_password: str) -> str:
    return hashlib.sha256(url_without_password.encode("utf-8")).hexdigest()[:16]


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _snippet(text: str, limit: int = 160) -> str:
    line = " ".join(_header_text(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


class _Webhook:
    """POST one signed JSON body per event."""

    def __init__(
        self,
        url: str,
        *,
        secret: bytes | None,
        options: NotifyOptions,
        clock: Callable[[], float],
    ) -> None:
        parts = urlsplit(url)
        netloc = parts.hostname or ""
        if parts.port is not None:
            netloc = f"{netloc}:{parts.port}"
        self.url = url
        self.display = f"{parts.scheme}://{netloc}" + ("/…" if parts.path.strip("/") else "")
        user = f"{parts.username}@" if parts.username is not None else ""
        self.key = _ledger_key(parts._replace(netloc=user + netloc).geturl())
        self.secret = secret
        self.options = options
        self.clock = clock
        self._client: httpx.Client | None = None

    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(
                timeout=httpx.Timeout(self.options.timeout),
                headers={"User-Agent": f"smokewatch/{__version__}"},
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def send(self, job: _Job) -> str:
        body = json.dumps(
            event_payload(job.view, job.event, job.model), default=str, allow_nan=False
        ).encode("utf-8")
        timestamp = str(int(self.clock()))  # a fresh one each try: retries stay in tolerance
        headers = {
            "Content-Type": "application/json",
            EVENT_HEADER: _ascii_header(job.event.id),
            TIMESTAMP_HEADER: timestamp,
        }
        if self.secret is not None:
            headers[SIGNATURE_HEADER] = sign(body, timestamp, self.secret)
        try:
            response = self._http().post(self.url, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise Retryable(f"timed out ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise Retryable(f"connection failed: {exc or type(exc).__name__}") from None
        except httpx.HTTPError as exc:
            raise _Fatal(f"cannot send: {exc}") from None
        status = f"HTTP {response.status_code} {response.reason_phrase}".rstrip()
        if response.is_success:
            return ""
        if response.status_code in _RETRY_STATUS:
            hint = retry_after_seconds(response.headers.get("retry-after"), self.clock)
            raise Retryable(status, hint)
        if response.is_redirect:
            where = response.headers.get("location", "?")
            raise _Fatal(f"{status}: redirected to {_snippet(where)}; give the final URL")
        detail = _snippet(response.text)
        raise _Fatal(f"{status}: {detail}" if detail else status)


class _Email:
    """One email per event, with the evidence GIF (and a small enough mp4) attached."""

    def __init__(
        self,
        url: str,
        *,
        out_dir: Path,
        zone: ZoneInfo | None,
        options: NotifyOptions,
        clock: Callable[[], float],
        ssl_context: ssl.SSLContext | None,
    ) -> None:
        parts = urlsplit(url)
        host = parts.hostname
        if not host:
            raise _fail_url(url, "no host (expected smtp://[user:password@]host[:port]?to=...)")
        try:
            port = parts.port
        except ValueError:
            raise _fail_url(url, "the port is not a number from 0 to 65535") from None
        query = _query(parts.query)
        unknown = sorted(set(query) - _SMTP_QUERY)
        if unknown:
            raise _fail_url(url, f"unknown parameter {unknown[0]!r} (known: from, starttls, to)")
        to = [a.strip() for v in query.get("to", []) for a in v.split(",") if a.strip()]
        if not to:
            raise _fail_url(url, "no recipients: add ?to=someone@example.org (comma-separated)")
        self.implicit_tls = parts.scheme == "smtps"
        flag = query.get("starttls", ["0"])[-1].strip().lower()
        if flag not in {"0", "1", "true", "false", "yes", "no", ""}:
            raise _fail_url(url, f"starttls must be 1 or 0, got {flag!r}")
        self.starttls = flag in {"1", "true", "yes"}
        if self.starttls and self.implicit_tls:
            raise _fail_url(url, "smtps:// is already TLS; starttls=1 is for smtp://")
        self.user = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else ""
        default_sender = "smokewatch@" + ("localhost" if _is_ip(host) else host)
        sender = query.get("from", [default_sender])[-1].strip()
        for address in [*to, sender]:
            _check_address(url, address)
        self.host = host
        self.port = port or (465 if self.implicit_tls else 25)
        self.to = to
        self.sender = sender
        user = f"{self.user}@" if self.user else ""
        self.display = f"{parts.scheme}://{user}{host}:{self.port} (to {', '.join(to)})"
        flags = "&starttls=1" if self.starttls else ""
        self.key = _ledger_key(
            f"{parts.scheme}://{user}{host}:{self.port}?to={','.join(to)}&from={sender}{flags}"
        )
        self.out_dir = out_dir
        self.zone = zone
        self.options = options
        self.clock = clock
        self.ssl_context = ssl_context
        if self.user and not (self.implicit_tls or self.starttls) and not _is_loopback(host):
            warnings.warn(
                f"notify target {self.display}: the SMTP password travels unencrypted; use "
                "smtps:// or starttls=1",
                SmokewatchWarning,
                stacklevel=5,
            )

    def close(self) -> None:
        pass

    # -- the message --------------------------------------------------------------------------

    def _evidence(self, relative: str | None) -> Path | None:
        """The evidence file inside the out dir, or None (absent, or pointing outside)."""
        if not relative:
            return None
        root = self.out_dir.resolve()
        path = (root / relative).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            return None
        return path

    def message(self, job: _Job) -> EmailMessage:
        view, event = job.view, job.event
        msg = EmailMessage()
        when = _iso(event.start_time).replace("T", " ").replace("Z", " UTC")
        if self.zone is not None:
            when = _clock_text(event.start_time, self.zone)
        msg["Subject"] = f"Smoke detected: camera {view.camera_id} view {view.view_id}, {when}"
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.to)
        msg["Date"] = formatdate(self.clock(), usegmt=True)
        msg["Message-ID"] = make_msgid(domain=self.sender.rsplit("@", 1)[-1])
        msg[EVENT_HEADER] = _header_text(event.id)

        utc = ZoneInfo("UTC")
        lines = [
            "smokewatch detected smoke.",
            "",
            f"Where:  camera {view.camera_id}, view {view.view_id}",
            f"When:   {_clock_text(event.start_time, utc)} to "
            f"{_clock_text(event.end_time, utc)} ({_duration(event.end_time - event.start_time)})",
        ]
        if self.zone is not None:
            lines.append(
                f"        {_clock_text(event.start_time, self.zone)} to "
                f"{_clock_text(event.end_time, self.zone)} (local time, {self.zone.key})"
            )
        windows = len(event.windows)
        lines += [
            f"How sure: highest smoke probability {event.max_probability:.2f} over {windows} "
            f"window{'s' if windows != 1 else ''} (frames {event.start_frame} to "
            f"{event.end_frame})",
            f"Event:  {event.id}",
            "",
            "Model:",
            _model_text(job.model),
            "",
        ]
        attachments: list[tuple[Path, str, str]] = []
        notes: list[str] = []
        gif = self._evidence(event.evidence_gif)
        if gif is not None:
            attachments.append((gif, "image", "gif"))
        elif event.evidence_gif:
            notes.append(f"Evidence GIF {event.evidence_gif}: not found in the output folder.")
        clip = self._evidence(event.evidence_clip)
        if clip is not None and clip.stat().st_size <= self.options.max_attachment_bytes:
            attachments.append((clip, "video", "mp4"))
        elif event.evidence_clip:
            notes.append(
                f"Evidence clip: {event.evidence_clip} in the output folder"
                + (" (too large to attach)." if clip is not None else " (not found).")
            )
        if attachments:
            lines.append("Attached: " + ", ".join(_header_text(p.name) for p, _, _ in attachments))
        lines += notes
        msg.set_content("\n".join(lines) + "\n")
        for path, maintype, subtype in attachments:
            name = _header_text(path.name) or f"evidence.{subtype}"
            msg.add_attachment(path.read_bytes(), maintype=maintype, subtype=subtype, filename=name)
        return msg

    # -- sending --------------------------------------------------------------------------------

    def _connect(self) -> smtplib.SMTP:
        timeout = self.options.timeout
        context = self.ssl_context or ssl.create_default_context()
        if self.implicit_tls:
            return smtplib.SMTP_SSL(self.host, self.port, timeout=timeout, context=context)
        server = smtplib.SMTP(self.host, self.port, timeout=timeout)
        if self.starttls:
            server.starttls(context=context)
        return server

    def send(self, job: _Job) -> str:
        try:
            msg = self.message(job)
        except OSError as exc:
            raise _Fatal(f"cannot read the evidence: {exc}") from None
        try:
            with self._connect() as server:
                if self.user:
                    server.ehlo_or_helo_if_needed()
                    if not server.has_extn("auth"):
                        hint = "use starttls=1 or smtps:// (AUTH is often offered over TLS only)"
                        if self.implicit_tls or self.starttls:
                            hint = "remove the user from the URL"
                        raise _Fatal(f"the server offers no AUTH; {hint}")
                    server.login(self.user, self.password)
                refused = server.send_message(msg, self.sender, self.to)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            reason = "all recipients refused: " + "; ".join(
                f"{who} ({code} {_snippet(msg_.decode('utf-8', 'replace'))})"
                for who, (code, msg_) in exc.recipients.items()
            )
            if all(400 <= code < 500 for code in codes):
                raise Retryable(reason) from None
            raise _Fatal(reason) from None
        except smtplib.SMTPResponseException as exc:
            text = (
                exc.smtp_error.decode("utf-8", "replace")
                if isinstance(exc.smtp_error, bytes)
                else str(exc.smtp_error)
            )
            reason = f"SMTP {exc.smtp_code} {_snippet(text)}"
            if 400 <= exc.smtp_code < 500:
                raise Retryable(reason) from None
            raise _Fatal(reason) from None
        except smtplib.SMTPServerDisconnected as exc:
            raise Retryable(f"the server hung up: {exc}") from None
        except smtplib.SMTPException as exc:  # AUTH or STARTTLS not offered, ...
            raise _Fatal(f"{type(exc).__name__}: {exc}") from None
        except ssl.SSLError as exc:  # a certificate that does not verify will not start to
            raise _Fatal(f"TLS failed: {exc}") from None
        except TimeoutError:
            raise Retryable(f"timed out talking to {self.host}:{self.port}") from None
        except OSError as exc:
            raise Retryable(f"cannot connect to {self.host}:{self.port}: {exc}") from None
        if refused:
            return "refused by the server for " + ", ".join(sorted(refused))
        return ""


def _query(text: str) -> dict[str, list[str]]:
    """An ``smtp://`` URL's query, name -> values in order, each percent-decoded.

    Not :func:`urllib.parse.parse_qs`: it reads ``+`` as a space (HTML form encoding), and
    ``+`` is common in email addresses (``ops+smoke@example.org`` was refused as
    ``'ops smoke@example.org'``). Here ``+`` is itself; a space is ``%20``.
    """
    query: dict[str, list[str]] = {}
    for item in text.split("&"):
        if not item:
            continue
        name, _, value = item.partition("=")
        query.setdefault(unquote(name), []).append(unquote(value))
    return query


def _check_address(url: str, address: str) -> None:
    local, at, domain = address.rpartition("@")
    bad = set(' ,;:<>"()[]\\')
    if not at or not local or not domain or any(c in bad or _breaks_line(c) for c in address):
        raise _fail_url(url, f"{address!r} is not an email address")


# --------------------------------------------------------------------------------------------
# The notifier


class _Worker(threading.Thread):
    """Delivers one target's queue, one event at a time."""

    def __init__(self, notifier: Notifier, target: _Target, index: int) -> None:
        super().__init__(name=f"smokewatch-alerts-{index}", daemon=True)
        self.notifier = notifier
        self.target = target
        self.jobs: queue.Queue[_Job | None] = queue.Queue()

    def run(self) -> None:
        try:
            while (job := self.jobs.get()) is not None:
                if not self.notifier._cancel.is_set():
                    self.notifier._deliver(self.target, job)
        finally:
            self.target.close()


def _zone(timezone: str | None) -> ZoneInfo | None:
    if not timezone:
        return None
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise AlertsError(f"unknown time zone {timezone!r} for alert emails") from None


def _targets(
    urls: Sequence[str],
    *,
    secret: str | bytes | None,
    allow_unsigned: bool,
    timezone: str | None,
    out_dir: Path,
    options: NotifyOptions,
    clock: Callable[[], float],
    ssl_context: ssl.SSLContext | None,
) -> list[_Target]:
    """One target per distinct URL; every problem with them an :class:`AlertsError`.

    Building a target opens nothing (no connection, no file), so :func:`check_targets` and
    :class:`Notifier` share this and refuse exactly the same URLs.
    """
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    zone = _zone(timezone)
    targets: list[_Target] = []
    seen: set[str] = set()
    for url in urls:
        target = _target(
            url,
            secret=key,
            allow_unsigned=allow_unsigned,
            zone=zone,
            out_dir=out_dir,
            options=options,
            clock=clock,
            ssl_context=ssl_context,
        )
        if target.key not in seen:
            seen.add(target.key)
            targets.append(target)
    return targets


def _target(
    url: str,
    *,
    secret: bytes | None,
    allow_unsigned: bool,
    zone: ZoneInfo | None,
    out_dir: Path,
    options: NotifyOptions,
    clock: Callable[[], float],
    ssl_context: ssl.SSLContext | None,
) -> _Target:
    if not isinstance(url, str) or not url.strip():
        raise AlertsError("notify target: empty URL")
    if any(unicodedata.category(c) == "Cc" or c == " " for c in url):
        raise _fail_url(url, "contains spaces or control characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError as exc:
        raise _fail_url(url, f"not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme in {"http", "https"}:
        if not parts.hostname:
            raise _fail_url(url, "no host (expected https://host/path)")
        if secret is not None and not secret:
            raise AlertsError("the alert signing secret is empty")
        if secret is None and not allow_unsigned:
            raise _fail_url(
                url,
                "no signing secret: unsigned alerts can be forged by anyone who knows the "
                "URL; set SMOKEWATCH_ALERT_SECRET (in the environment or smokewatch's .env) "
                "to a secret the receiver also holds (docs/alerts.md shows how to make one)",
            )
        if scheme == "http" and not _is_loopback(parts.hostname):
            warnings.warn(
                f"notify target {_redact(url)}: plain http:// to a host that is not this "
                "machine; alerts can be read on the way (use https://)",
                SmokewatchWarning,
                stacklevel=4,
            )
        return _Webhook(url, secret=secret, options=options, clock=clock)
    if scheme in {"smtp", "smtps"}:
        return _Email(
            url,
            out_dir=out_dir,
            zone=zone,
            options=options,
            clock=clock,
            ssl_context=ssl_context,
        )
    shown = f"{scheme}://" if scheme else "no scheme"
    raise _fail_url(url, f"{shown} is not supported (https://, http://, smtp://, smtps://)")


def check_targets(
    urls: Sequence[str],
    *,
    secret: str | bytes | None,
    allow_unsigned: bool = False,
    timezone: str | None = None,
) -> list[str]:
    """The targets as reports show them, or the :class:`AlertsError` a :class:`Notifier`
    given the same arguments would raise.

    For a caller that sends later (a watch job builds its notifier only when an event is
    raised, maybe hours after startup) and must refuse a bad target now. Nothing is opened:
    no ledger, no thread, no connection.
    """
    targets = _targets(
        urls,
        secret=secret,
        allow_unsigned=allow_unsigned,
        timezone=timezone,
        out_dir=Path(),
        options=NotifyOptions(),
        clock=time.time,
        ssl_context=None,
    )
    return [t.display for t in targets]


class Notifier:
    """Sends each new smoke event to every target once: webhooks (``https://``, ``http://``)
    and email (``smtp://``, ``smtps://``).

    ``secret`` signs webhook bodies (see :func:`verify_signature`); without one, web targets
    are refused unless ``allow_unsigned`` (anyone could then forge an alert). ``out_dir`` is
    the detections folder: it holds the ledger and the evidence files. ``timezone`` adds local
    times to emails. ``sleep`` replaces the wait between tries (tests); by default the wait
    ends early when :meth:`close` gives up. Every problem with the targets is an
    :class:`AlertsError` here, before anything is sent.
    """

    def __init__(
        self,
        urls: Sequence[str],
        *,
        secret: str | bytes | None,
        out_dir: str | Path,
        allow_unsigned: bool = False,
        options: NotifyOptions | None = None,
        timezone: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.options = options or NotifyOptions()
        self.options.check()
        self.out_dir = Path(out_dir)
        self._clock = clock
        self._sleep = sleep
        # Jitter shortens each wait by up to half; a receiver's Retry-After is the wait itself,
        # however long: max_wait bounds the whole delivery instead (docs/alerts.md).
        options = self.options
        self._backoff = Backoff(
            attempts=options.attempts,
            base=options.backoff,
            cap=options.max_backoff,
            jitter=(0.5, 1.0),
            retry_after="exact",
            max_wait=options.max_wait,
        )
        targets = _targets(
            urls,
            secret=secret,
            allow_unsigned=allow_unsigned,
            timezone=timezone,
            out_dir=self.out_dir,
            options=options,
            clock=clock,
            ssl_context=ssl_context,
        )
        self._ledger = _Ledger(self.out_dir / LEDGER_NAME)
        self._lock = threading.Lock()
        self._report = NotifyReport()
        self._pending: dict[tuple[str, str, str], Delivery] = {}
        self._cancel = threading.Event()
        self._closed = False
        self._workers = [_Worker(self, t, i) for i, t in enumerate(targets)]
        for worker in self._workers:
            worker.start()

    @property
    def targets(self) -> list[str]:
        """The targets, as reports show them."""
        return [w.target.display for w in self._workers]

    # -- queueing ---------------------------------------------------------------------------

    def submit(self, view: ViewDetections, event: Event, model: Mapping[str, Any]) -> None:
        """Queue ``event`` of ``view`` for every target that has not had it; returns at once.

        ``model`` is the detections' model description (``Detections.model``).
        """
        if self._closed:
            raise RuntimeError("Notifier.submit after close")
        job = _Job(view, event, model)
        for worker in self._workers:
            target = worker.target
            key = (target.key, view.key, event.id)
            delivery = Delivery(target.display, view.key, event.id)
            with self._lock:
                if key in self._pending:
                    continue
                if self._ledger.contains(*key):
                    self._report.skipped.append(delivery)
                    continue
                self._pending[key] = delivery
            worker.jobs.put(job)

    def submit_all(self, detections: Detections) -> None:
        """Queue every event of ``detections``."""
        for view in detections.views:
            for event in view.events:
                self.submit(view, event, detections.model)

    def notify(self, detections: Detections, *, timeout: float | None = None) -> NotifyReport:
        """Send every new event of ``detections``, wait (at most ``timeout`` s), close."""
        self.submit_all(detections)
        return self.close(timeout)

    def close(self, timeout: float | None = None) -> NotifyReport:
        """Wait for the queues to drain (at most ``timeout`` seconds) and return the report.

        Deliveries still queued or in flight when the time is up are reported failed (the
        next run tries them again); their threads stop at the next wait, or when their
        request times out.
        """
        if not self._closed:
            self._closed = True
            for worker in self._workers:
                worker.jobs.put(None)
        deadline = None if timeout is None else time.monotonic() + timeout
        for worker in self._workers:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            worker.join(left)
        with self._lock:
            if self._pending:
                self._cancel.set()
                waited = "" if timeout is None else f" {timeout:g} s"
                for key, delivery in list(self._pending.items()):
                    self._report.failed.append(
                        replace(delivery, reason=f"not delivered when closing (waited{waited})")
                    )
                    del self._pending[key]
            return NotifyReport(
                list(self._report.sent), list(self._report.skipped), list(self._report.failed)
            )

    def __enter__(self) -> Notifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- delivering (worker threads) --------------------------------------------------------

    def _wait(self, seconds: float) -> bool:
        """Wait between tries; True when :meth:`close` gave up meanwhile."""
        if self._sleep is not None:
            self._sleep(seconds)
            return self._cancel.is_set()
        return self._cancel.wait(seconds)

    def _deliver(self, target: _Target, job: _Job) -> None:
        key = (target.key, job.view.key, job.event.id)
        if self._ledger.contains(*key):  # queued twice across submit calls
            self._finish(key, "skipped", 0, "")
            return
        attempt = 0

        def send(n: int) -> str:
            nonlocal attempt
            attempt = n
            return target.send(job)

        try:
            note = retry(send, self._backoff, wait=self._wait)
        except GaveUp as exc:
            reason = f"{exc.last}; gave up after {exc.attempts} tries"
            if exc.why == "max_wait":
                reason += f" (the next would start after max_wait {self.options.max_wait:g} s)"
            elif exc.why == "cancelled":
                reason = f"{exc.last}; cancelled when closing"
            self._finish(key, "failed", exc.attempts, reason)
            return
        except _Fatal as exc:
            self._finish(key, "failed", attempt, str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - a bug in one alert never stops the rest
            self._finish(key, "failed", attempt, f"{type(exc).__name__}: {exc}")
            return
        try:
            self._ledger.add(target.key, target.display, job.view.key, job.event.id)
        except OSError as exc:
            note = f"sent, but the ledger could not be written (resent next run): {exc}"
        self._finish(key, "sent", attempt, note)

    def _finish(self, key: tuple[str, str, str], outcome: str, attempts: int, reason: str) -> None:
        with self._lock:
            delivery = self._pending.pop(key, None)
            if delivery is None:  # close() already reported it
                return
            done = replace(delivery, attempts=attempts, reason=reason)
            {"sent": self._report.sent, "skipped": self._report.skipped}.get(
                outcome, self._report.failed
            ).append(done)
