"""Fetch a published dataset's clips by URL: concurrent, resumable, retried, verified.

A RISE metadata file lists ~12,500 clips, each at ``clip.url``. Downloading them is slow and
flaky (a host that throttles, a connection that drops), and a half-written or corrupt clip that
looks present is worse than a missing one: it poisons caches and training runs much later.
So every clip is

* streamed to a temporary file beside its target (:func:`smokewatch.core.atomic.atomic_path`)
  and renamed into place only after it has been *verified* (it decodes and has 36 frames):
  no partial file is ever left, also not on Ctrl-C;
* skipped when its target already exists and verifies, so a second run resumes where the first
  stopped and makes no request for clips it already has;
* retried with exponential backoff and jitter on connection errors, timeouts, 5xx and 429
  (``Retry-After`` is honoured up to the backoff cap), but not on other 4xx such as 404: the
  server has answered, and asking again will not change the answer;
* given up on early when its host refuses connections many times in a row, so an offline host
  costs seconds, not hours of retries over thousands of clips.

Failures never stop the other downloads; they are collected in a :class:`DownloadReport` with
one human-readable reason per clip.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from rich.console import Console
from rich.filesize import decimal
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from smokewatch.core.atomic import atomic_path, remove_partials
from smokewatch.core.clip import Clip
from smokewatch.core.retry import Backoff, GaveUp, Retryable, retry, retry_after_seconds
from smokewatch.errors import DownloadError

__all__ = [
    "DEFAULT_BACKOFF",
    "DEFAULT_RETRIES",
    "DEFAULT_TIMEOUT",
    "DownloadReport",
    "Verifier",
    "clip_path",
    "download_clips",
    "verify_clip",
]

#: A verifier raises (any exception; its message becomes the failure reason) for a bad clip.
Verifier = Callable[[Path], None]

DEFAULT_RETRIES = 3
DEFAULT_BACKOFF = 0.5  #: seconds before the first retry; doubled each retry
DEFAULT_MAX_BACKOFF = 30.0
DEFAULT_TIMEOUT = 30.0  #: seconds to connect, and between two received chunks
#: Consecutive failed connections to one host after which its remaining clips fail at once.
DEFAULT_HOST_GIVE_UP = 10

_RETRY_STATUS = frozenset({429, 500, 502, 503, 504}) | frozenset(range(505, 600))


def verify_clip(path: Path, *, expected_frames: int = 36) -> None:
    """Raise :class:`~smokewatch.errors.VideoError` unless ``path`` decodes to a full clip.

    ``smokewatch.video`` (PyAV) is imported on first use, so importing this module stays cheap
    and tests can inject another verifier.
    """
    from smokewatch.video import read_clip

    read_clip(path, expected_frames=expected_frames)


def clip_path(out_dir: Path, clip: Clip) -> Path:
    """Where ``clip`` is stored under ``out_dir``: ``<file_name>.mp4``.

    The name is rebuilt from the parsed file name rather than taken verbatim, so a metadata
    record such as ``../../x/0-0-2018-...`` cannot write outside ``out_dir``.
    """
    return out_dir / f"{clip.name.format()}.mp4"


@dataclass
class DownloadReport:
    """What a download run did; lists hold clip file names (without ``.mp4``), in input order."""

    downloaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    bytes_downloaded: int = 0

    @property
    def ok(self) -> bool:
        """True when every clip is now present and verified."""
        return not self.failed

    @property
    def total(self) -> int:
        return len(self.downloaded) + len(self.skipped) + len(self.failed)


class _Cancelled(Exception):
    """Raised inside a worker when the run was interrupted; never leaves this module."""


class _Fatal(Exception):
    """A failure that retrying will not fix; the message is the reason shown to the user."""


@dataclass
class _Outcome:
    name: str
    status: str  # "downloaded" | "skipped" | "failed"
    reason: str = ""
    nbytes: int = 0


class _HostHealth:
    """Counts consecutive failed connections per host, so an offline host is given up on."""

    def __init__(self, give_up_after: int) -> None:
        self._limit = give_up_after
        self._failures: dict[str, int] = {}
        self._last_error: dict[str, str] = {}
        self._lock = threading.Lock()

    def down(self, host: str) -> bool:
        with self._lock:
            return self._limit > 0 and self._failures.get(host, 0) >= self._limit

    def last_error(self, host: str) -> str:
        with self._lock:
            return self._last_error.get(host, "")

    def refused(self, host: str, error: str) -> None:
        with self._lock:
            self._failures[host] = self._failures.get(host, 0) + 1
            self._last_error[host] = error

    def reached(self, host: str) -> None:
        with self._lock:
            self._failures[host] = 0


def _host(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc or url


class _Downloader:
    """The per-run state shared by the worker threads."""

    def __init__(
        self,
        client: httpx.Client,
        *,
        verify: Verifier,
        retries: int,
        backoff: float,
        max_backoff: float,
        host_give_up: int,
        on_bytes: Callable[[int], None],
    ) -> None:
        self.client = client
        self.verify = verify
        # Jitter around the doubled wait; a Retry-After is a floor, capped like the backoff.
        self.backoff = Backoff(attempts=retries + 1, base=backoff, cap=max_backoff)
        self.hosts = _HostHealth(host_give_up)
        self.host_give_up = host_give_up
        self.on_bytes = on_bytes
        self.cancel = threading.Event()
        self._active = 0
        self._idle = threading.Condition()

    def stop(self) -> None:
        """Cancel, and return once no worker is inside a download (its temp file is gone).

        This counts workers itself rather than trusting the executor's shutdown: Ctrl-C can
        land inside ``executor.submit`` after a thread started but before the executor
        recorded it, and ``shutdown(wait=True)`` would not wait for that thread.
        """
        self.cancel.set()
        with self._idle:
            self._idle.wait_for(lambda: self._active == 0)

    # -- one clip --------------------------------------------------------------------------

    def run(self, clip: Clip, dest: Path) -> _Outcome:
        with self._idle:
            self._active += 1
        try:
            # Checked after counting ourselves in: stop() either waits for us or we see it.
            if self.cancel.is_set():
                raise _Cancelled
            return self._run(clip, dest)
        finally:
            with self._idle:
                self._active -= 1
                self._idle.notify_all()

    def _run(self, clip: Clip, dest: Path) -> _Outcome:
        name = dest.name[: -len(".mp4")]
        stale = ""
        if dest.exists():
            try:
                self.verify(dest)
            except ImportError:
                raise
            except Exception as exc:  # noqa: BLE001 - any verifier failure means "fetch again"
                stale = f" (the existing file was invalid and was kept: {exc})"
            else:
                return _Outcome(name, "skipped")
        url = clip.url
        try:
            nbytes = self._fetch_with_retries(url, dest)
        except _Fatal as exc:
            return _Outcome(name, "failed", f"{exc}{stale}")
        return _Outcome(name, "downloaded", nbytes=nbytes)

    def _fetch_with_retries(self, url: str, dest: Path) -> int:
        host = _host(url)

        def once(_attempt: int) -> int:
            if self.hosts.down(host):
                raise _Fatal(
                    f"{host} is unreachable ({self.hosts.last_error(host)}): gave up after "
                    f"{self.host_give_up} failed connections in a row ({url})"
                )
            return self._fetch_once(url, dest, host)

        try:
            return retry(once, self.backoff, wait=self.cancel.wait)
        except GaveUp as exc:
            if exc.why == "cancelled":
                raise _Cancelled from None
            tries = "1 attempt" if exc.attempts == 1 else f"{exc.attempts} attempts"
            raise _Fatal(f"{exc.last}; gave up after {tries} ({url})") from None

    def _fetch_once(self, url: str, dest: Path, host: str) -> int:
        try:
            with self.client.stream("GET", url) as response:
                self.hosts.reached(host)
                if response.status_code != 200:
                    reason = f"HTTP {response.status_code} {response.reason_phrase}".rstrip()
                    if response.status_code in _RETRY_STATUS:
                        hint = retry_after_seconds(response.headers.get("retry-after"))
                        raise Retryable(reason, hint)
                    raise _Fatal(f"{reason} ({url})")
                return self._save(response, dest)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            # Refused, unresolvable or silently dropped: the host, not this clip, is the problem.
            error = str(exc) or type(exc).__name__
            self.hosts.refused(host, error)
            raise Retryable(f"cannot connect to {host}: {error}") from None
        except httpx.UnsupportedProtocol as exc:
            raise _Fatal(f"cannot fetch {url!r}: {exc}") from None
        except httpx.TimeoutException as exc:
            raise Retryable(f"timed out talking to {host}: {exc or type(exc).__name__}") from None
        except httpx.TransportError as exc:
            raise Retryable(f"connection to {host} failed: {exc or type(exc).__name__}") from None
        except httpx.InvalidURL as exc:
            raise _Fatal(f"invalid URL {url!r}: {exc}") from None

    def _save(self, response: httpx.Response, dest: Path) -> int:
        """Stream the body to a temp file, verify it, and only then rename it onto ``dest``."""
        nbytes = 0
        try:
            with atomic_path(dest) as tmp:
                with open(tmp, "wb") as f:
                    # No chunk_size: httpx would buffer up to it, and a slow stream would then
                    # not see a cancellation until the buffer filled.
                    for chunk in response.iter_bytes():
                        if self.cancel.is_set():
                            raise _Cancelled
                        f.write(chunk)
                        nbytes += len(chunk)
                        self.on_bytes(len(chunk))
                try:
                    self.verify(tmp)
                except ImportError:
                    raise
                except Exception as exc:  # noqa: BLE001 - the verifier decides what "bad" is
                    # The verifier names the temp file; the user knows the clip by its name.
                    message = str(exc).removeprefix(f"{tmp}: ") or type(exc).__name__
                    raise _Fatal(f"downloaded but not a valid clip: {message}") from None
        except OSError as exc:
            raise _Fatal(f"cannot write {dest}: {exc}") from None
        return nbytes


@contextlib.contextmanager
def _progress(console: Console | None, total: int) -> Iterator[tuple[Progress | None, TaskID]]:
    if console is None:
        yield None, TaskID(0)
        return
    progress = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[size]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )
    with progress:
        task = progress.add_task("clips", total=total, size=decimal(0))
        yield progress, task


def download_clips(
    clips: Sequence[Clip],
    out_dir: str | Path,
    *,
    workers: int = 8,
    retries: int = DEFAULT_RETRIES,
    backoff: float = DEFAULT_BACKOFF,
    max_backoff: float = DEFAULT_MAX_BACKOFF,
    timeout: float = DEFAULT_TIMEOUT,
    host_give_up: int = DEFAULT_HOST_GIVE_UP,
    verify: Verifier = verify_clip,
    client: httpx.Client | None = None,
    console: Console | None = None,
) -> DownloadReport:
    """Download every clip to ``out_dir/<file_name>.mp4``; return what happened to each.

    Clips already present that pass ``verify`` are skipped without a request. Failures (after
    ``retries`` extra attempts for transient ones) are reported, not raised, so one bad clip
    does not cost the rest of the run; check :attr:`DownloadReport.ok`. Clips that map to the
    same file are fetched once. ``host_give_up`` failed connections in a row to one host fail
    that host's remaining clips without more attempts (0 disables this).

    ``client`` lets callers (and tests) bring their own :class:`httpx.Client`; by default one
    is made and shared by all ``workers`` threads. ``console``: show a progress bar on it.

    On KeyboardInterrupt the workers stop at their next chunk (a silent server: within
    ``timeout``), their temp files are removed, and the interrupt is re-raised: nothing partial
    is left in ``out_dir``. (Should a second Ctrl-C cut that short, the next run removes the
    leftover temp files.)

    Raises :class:`~smokewatch.errors.DownloadError` if ``out_dir`` cannot be created.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if retries < 0:
        raise ValueError(f"retries must be 0 or more, got {retries}")
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"cannot create the output folder {out}: {exc}") from None
    if not out.is_dir():
        raise DownloadError(f"{out} is not a folder")

    # One job per target file, in input order.
    jobs: dict[Path, Clip] = {}
    for clip in clips:
        jobs.setdefault(clip_path(out, clip), clip)
    remove_partials(out, {p.name for p in jobs})  # a killed run's half-written clips

    own_client = client is None
    if client is None:
        client = httpx.Client(
            timeout=httpx.Timeout(timeout),
            follow_redirects=True,
            limits=httpx.Limits(max_connections=workers, max_keepalive_connections=workers),
        )
    outcomes: dict[Path, _Outcome] = {}
    lock = threading.Lock()
    downloaded_bytes = [0]

    with _progress(console, len(jobs)) as (progress, task):

        def on_bytes(n: int) -> None:
            with lock:
                downloaded_bytes[0] += n
                total = downloaded_bytes[0]
            if progress is not None:
                progress.update(task, size=decimal(total))

        downloader = _Downloader(
            client,
            verify=verify,
            retries=retries,
            backoff=backoff,
            max_backoff=max_backoff,
            host_give_up=host_give_up,
            on_bytes=on_bytes,
        )
        executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="smokewatch-dl")
        try:
            pending: dict[Future[_Outcome], Path] = {
                executor.submit(downloader.run, clip, dest): dest for dest, clip in jobs.items()
            }
            while pending:
                # Poll with a timeout so Ctrl-C reaches this thread promptly on every platform.
                done, _ = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                for future in done:
                    dest = pending.pop(future)
                    outcomes[dest] = future.result()  # re-raises a worker's KeyboardInterrupt
                    if progress is not None:
                        progress.advance(task)
        except BaseException:
            executor.shutdown(wait=False, cancel_futures=True)  # drop the queued clips
            downloader.stop()  # and wait for the running ones to remove their temp files
            raise
        finally:
            executor.shutdown(wait=True)
            if own_client:
                client.close()

    report = DownloadReport(bytes_downloaded=downloaded_bytes[0])
    for dest in jobs:
        outcome = outcomes[dest]
        if outcome.status == "downloaded":
            report.downloaded.append(outcome.name)
        elif outcome.status == "skipped":
            report.skipped.append(outcome.name)
        else:
            report.failed.append((outcome.name, outcome.reason))
    return report
