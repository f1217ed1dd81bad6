"""Many camera-days on Ray: one task per day (or per group of its views), the model held by
actors, results merged into the same files as an in-process run.

Each actor loads the model once (its own process, ``num_cpus`` CPUs and as many torch
threads) and runs :func:`detect_timelapse` without merging on the tasks it is given: it
decodes the day, scores its views and writes their result files (``OUT/views/``) and
evidence. When every task of a day is done, the driver calls :func:`detect_timelapse` again
with all the day's views: it finds each one done by its fingerprint and writes
``detections.json`` and the report, exactly as an in-process run does. So resuming works as
in-process (a view already done is not scored again), and the two engines' files are the same.

Actors work in the driver's working folder, so relative paths mean what they mean to the
driver; on a cluster the model, the timelapses and the output folders must be on a file system
every node shares, at the same paths. Ray is imported only when an engine is built
(``pip install 'smokewatch[ray]'``). docs/detections.md, "Many camera-days: Ray".

Failures: an actor whose process dies (killed, out of memory, its node lost) is restarted by
Ray and its task run again, ``retries`` times at most (Ray's ``max_restarts`` and
``max_task_retries``; safe, as a view already finished is not scored again); past that (or
killed with no restart), or when Ray cannot hold or start the actors asked for, or the
cluster does not answer, a :class:`DetectError` says so. A task that fails ends the run only
once the other actors' running tasks are done, so their views are written, not thrown away.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import socket
import urllib.parse
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from smokewatch.core.clip import Box
from smokewatch.detect.clock import FrameClock
from smokewatch.detect.detector import DetectError, Detector, load_detector
from smokewatch.detect.options import DetectOptions
from smokewatch.detect.timelapse import DetectReport, detect_timelapse
from smokewatch.detect.timings import Timings
from smokewatch.errors import SmokewatchError

__all__ = ["RAY_INSTALL", "CameraDay", "RayEngine", "import_ray", "model_loader", "plan_tasks"]

#: How to get Ray, in every message that says it is missing.
RAY_INSTALL = "pip install 'smokewatch[ray]'"

#: Builds the detector inside an actor (picklable: Ray sends it to every actor).
DetectorLoader = Callable[[], Detector]

#: Seconds a cluster's ``host:port`` has to accept a connection before it is called unreachable.
CONNECT_TIMEOUT = 10.0


@dataclass(frozen=True)
class CameraDay:
    """One timelapse to score: its views (``"camera-view"`` -> box), the times of its frames
    and the folder its results go to (one folder per day)."""

    timelapse: Path
    views: Mapping[str, Box]
    out_dir: Path
    clock: FrameClock


def import_ray() -> Any:
    """The ``ray`` module, or a :class:`DetectError` that says how to install it."""
    try:
        import ray
    except ModuleNotFoundError as exc:
        if exc.name != "ray":
            raise
        raise DetectError(
            f"the Ray engine needs Ray, which is not installed: {RAY_INSTALL}"
        ) from None
    return ray


def _given_address(address: str | None) -> tuple[str, str] | None:
    """The address Ray would join and how the messages name it, or None for a local Ray.

    As ``ray.init`` reads them: ``address``, except that ``RAY_ADDRESS`` stands in for none
    or ``auto``.
    """
    env = os.environ.get("RAY_ADDRESS") or None
    if address is not None and not (address == "auto" and env is not None):
        return address, address
    if env is None:
        return None
    return env, f"{env} (RAY_ADDRESS)"


def _host_port(given: str, shown: str) -> tuple[str, int] | None:
    """The ``(host, port)`` of a cluster address, or None for one left to Ray (``auto``,
    ``local``, ``ray://host`` without a port, a Ray Client module's ``module://...``).

    Checked here, as Ray gives a malformed address no clear answer: a port out of range
    (``localhost:99999``) had it retry for many minutes, and ``foo``, ``localhost:abc`` or an
    HTTP URL ended in a traceback. A :class:`DetectError` names what is wrong instead.
    """
    if given in ("auto", "local"):
        return None
    scheme, sep, rest = given.partition("://")
    if not sep:
        scheme, rest = "", given
    elif scheme.lower() in ("http", "https"):
        raise DetectError(
            f"{shown}: not a Ray address (an HTTP URL); give the cluster's host:port "
            "(e.g. 10.0.0.5:6379) or ray://host:port"
        )
    elif scheme != "ray":
        return None  # a Ray Client builder's module://address: Ray reads it
    what = "not a host:port" if not sep else "not ray://host:port"
    try:
        parts = urllib.parse.urlsplit("//" + rest)
        host = parts.hostname
    except ValueError as exc:
        raise DetectError(f"{shown}: {what} ({exc})") from None
    if parts.username is not None or parts.path or parts.query or parts.fragment:
        raise DetectError(f"{shown}: {what} (only a host and a port)")
    if not host:
        raise DetectError(f"{shown}: {what} (no host)")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port is None and sep:
        return None  # ray://host: Ray Client's default port
    if port is None:
        raise DetectError(
            f"{shown}: {what} (no port; a cluster's address is its head's host:port, "
            "e.g. 10.0.0.5:6379)"
        )
    if not 0 < port < 65536:
        raise DetectError(f"{shown}: {what} (the port must be a number from 1 to 65535)")
    return host, port


def _check_reachable(address: str | None) -> str | None:
    """The cluster Ray would join (``address``, else ``RAY_ADDRESS``) as the messages name it,
    or None for a local Ray; a :class:`DetectError` when the address is malformed or its
    ``host:port`` does not answer.

    Ray would wait first: ``ray://`` about 30 s, a GCS address retrying for many minutes.
    ``auto``, ``local`` and ``ray://`` addresses without a port are left to Ray.
    """
    found = _given_address(address)
    if found is None:
        return None
    given, shown = found
    where = _host_port(given, shown)
    if where is None:
        return shown
    try:
        with socket.create_connection(where, timeout=CONNECT_TIMEOUT):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise DetectError(f"cannot reach the Ray cluster at {shown}: {reason}") from None
    return shown


class _ActorDied(DetectError):
    """An actor that died for good: killed with no restart, or Ray's restarts spent."""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _cpus_gpus(resources: Mapping[str, float]) -> str:
    """``2 CPUs`` or ``2 CPUs, 1 GPUs``: what counts for actors, not Ray's memory and node keys."""
    text = f"{resources.get('CPU', 0):g} CPUs"
    return text + (f", {resources['GPU']:g} GPUs" if resources.get("GPU") else "")


def _load_as_given(
    model_dir: Path,
    shown: str,
    device: str,
    cam: bool,
    batch_size: int,
    weights_cache_dir: Path | None,
) -> Detector:
    detector = load_detector(
        model_dir,
        device=device,
        cam=cam,
        batch_size=batch_size,
        weights_cache_dir=weights_cache_dir,
    )
    detector.model["path"] = shown  # as the in-process engine writes it
    return detector


def model_loader(
    model_dir: str | os.PathLike[str],
    *,
    device: str = "cpu",
    cam: bool = True,
    batch_size: int = 4,
    weights_cache_dir: Path | None = None,
) -> DetectorLoader:
    """:func:`load_detector` with these arguments, for an actor to call (picklable)."""
    return functools.partial(
        _load_as_given, Path(model_dir), str(model_dir), device, cam, batch_size, weights_cache_dir
    )


def plan_tasks(
    days: Sequence[CameraDay], actors: int, views_per_task: int | None = None
) -> list[tuple[int, list[str]]]:
    """The tasks: (day index, view keys), days in order.

    Each task decodes its day once, so fewer views per task means more decoding; by default a
    day is split only as far as it takes to give every actor a task (one day, two actors: two
    halves; as many days as actors or more: a day per task).
    """
    if views_per_task is not None and views_per_task < 1:
        raise DetectError(f"a task needs at least one view, got {views_per_task}")
    tasks: list[tuple[int, list[str]]] = []
    groups = max(1, math.ceil(actors / max(1, len(days))))
    for d, day in enumerate(days):
        keys = list(day.views)
        if not keys:
            continue
        per = views_per_task or math.ceil(len(keys) / min(groups, len(keys)))
        tasks.extend((d, keys[i : i + per]) for i in range(0, len(keys), per))
    return tasks


class _DetectorActor:
    """The body of a Ray actor: holds one detector, scores the tasks sent to it."""

    def __init__(self, load: DetectorLoader, threads: int, cwd: str, timed: bool) -> None:
        import torch

        torch.set_num_threads(max(1, threads))
        try:
            os.chdir(cwd)
        except OSError:
            self._missing: str | None = (
                f"{cwd}: the driver's working folder is not on this Ray node; the model, the "
                "timelapses and the output folders must be on a file system every node shares"
            )
        else:
            self._missing = None
        self._load = load
        self._timed = timed
        self._detector: Detector | None = None

    def _get(self) -> Detector:
        if self._missing is not None:
            raise DetectError(self._missing)
        if self._detector is None:
            self._detector = self._load()
        return self._detector

    def ready(self) -> None:
        """Nothing: answered once the actor has started."""

    def describe(self) -> tuple[dict[str, Any], str]:
        """The model as the files describe it, and its fingerprint."""
        detector = self._get()
        return detector.model, detector.fingerprint

    def detect(
        self,
        task: int,
        day: CameraDay,
        keys: list[str],
        options: DetectOptions,
        batch_size: int,
        label_clips: int,
    ) -> tuple[int, DetectReport, Timings | None]:
        """Score ``keys`` of ``day`` (write their files, do not merge): (task, report, timings)."""
        timings = Timings() if self._timed else None
        report = detect_timelapse(
            day.timelapse,
            {k: day.views[k] for k in keys},
            day.out_dir,
            detector=self._get(),
            clock=day.clock,
            options=options,
            batch_size=batch_size,
            label_clips=label_clips,
            merge=False,
            timings=timings,
        )
        return task, report, timings


def _unfinished(day: CameraDay) -> Callable[[np.ndarray], np.ndarray]:
    """The merge's scorer: it must find every view done, never score one."""

    def scorer(clips: np.ndarray) -> np.ndarray:
        raise DetectError(
            f"{day.timelapse}: a view was not finished by its Ray task (were the files written "
            "on a file system the driver sees?)"
        )

    return scorer


class RayEngine:
    """Actors holding the model, on a local Ray (``ray.init()``) or a cluster (``address``).

    ``load`` builds the detector in each actor (:func:`model_loader`). ``actors`` defaults to
    the CPUs Ray has free (divided by ``cpus_per_actor``; with ``gpus_per_actor``, no more
    than its GPUs allow); more than the cluster's nodes can hold is an error. Each actor uses
    ``cpus_per_actor`` torch threads. An already initialized Ray is used as it is (and left
    running); otherwise the engine starts or joins one and shuts it down on :meth:`close`.
    ``timings`` adds up the actors' (decode, crop, model, Grad-CAM ...) seconds.

    An actor whose process dies is restarted, and its task run again, ``retries`` times at
    most; actors not started within ``start_timeout`` seconds (None: no limit) are an error.
    """

    def __init__(
        self,
        load: DetectorLoader,
        *,
        actors: int | None = None,
        cpus_per_actor: int = 1,
        gpus_per_actor: float = 0.0,
        address: str | None = None,
        timings: Timings | None = None,
        retries: int = 3,
        start_timeout: float | None = 300.0,
    ) -> None:
        ray = import_ray()
        self._ray = ray
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            self._init(address)
        elif address is not None:
            raise DetectError("Ray is already initialized in this process; give no address")
        self._load = load
        self._cpus = max(1, cpus_per_actor)
        self._gpus = gpus_per_actor
        self._retries = max(0, retries)
        self._start_timeout = start_timeout
        try:
            self._target = self._room_for(actors)
        except DetectError:
            if self._owns_ray:
                ray.shutdown()
            raise
        self._actors: list[Any] = []
        self._timings = timings
        self._description: tuple[dict[str, Any], str] | None = None

    def _init(self, address: str | None) -> None:
        """``ray.init``, a cluster that does not answer as a :class:`DetectError`."""
        joining = _check_reachable(address)
        try:
            self._ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING)
        except ValueError as exc:
            if joining is None:
                raise  # starting a local Ray: not about an address
            # Ray's word on an address it cannot use (one the checks above let through)
            raise DetectError(f"cannot use the Ray address {joining}: {_first_line(exc)}") from None
        except (ConnectionError, TimeoutError, RuntimeError) as exc:
            if joining is None and not isinstance(exc, ConnectionError | TimeoutError):
                raise  # starting a local Ray: not about an address
            where = f"the Ray cluster at {joining}" if joining else "a local Ray"
            raise DetectError(f"cannot reach {where}: {_first_line(exc)}") from None

    def _fits(self, resources: Mapping[str, float]) -> int:
        """How many of the engine's actors ``resources`` (one node's, or free) hold."""
        count = int(resources.get("CPU", 0) // self._cpus)
        if self._gpus:
            count = min(count, int(resources.get("GPU", 0) // self._gpus))
        return count

    def _asked(self) -> str:
        return f"{self._cpus} CPU(s)" + (f" and {self._gpus:g} GPU(s)" if self._gpus else "")

    def _room_for(self, actors: int | None) -> int:
        """The actors to use: ``actors``, if the cluster's nodes can hold them (else actors
        asked for would wait for room forever), or as many as the free resources hold."""
        if actors is None:
            free = self._ray.available_resources()
            actors = self._fits(free)
            if actors < 1:
                raise DetectError(
                    f"Ray has no room for an actor of {self._asked()} (free: {_cpus_gpus(free)})"
                )
            return actors
        actors = max(1, actors)
        nodes = [node.get("Resources", {}) for node in self._ray.nodes() if node.get("Alive")]
        held = sum(self._fits(resources) for resources in nodes)
        if actors > held:
            total = self._ray.cluster_resources()
            raise DetectError(
                f"Ray has no room for {actors} actor{'s' * (actors != 1)} of {self._asked()}: "
                f"its nodes hold {held} at most ({_cpus_gpus(total)} in all)"
            )
        return actors

    @property
    def actors(self) -> int:
        """How many actors the engine uses (at most; fewer when there are fewer tasks)."""
        return self._target

    def _spawn(self, count: int) -> None:
        """Actors up to ``count`` (no more than the engine's), each waited for until started."""
        remote = self._ray.remote(_DetectorActor).options(
            num_cpus=self._cpus,
            num_gpus=self._gpus,
            max_restarts=self._retries,
            max_task_retries=self._retries,
        )
        cwd = os.getcwd()
        timed = self._timings is not None
        new = [
            remote.remote(self._load, self._cpus, cwd, timed)
            for _ in range(min(count, self._target) - len(self._actors))
        ]
        self._actors.extend(new)
        if not new:
            return
        started = [actor.ready.remote() for actor in new]
        ready, late = self._ray.wait(started, num_returns=len(started), timeout=self._start_timeout)
        if late:
            free = self._ray.available_resources()
            for actor in new:  # none left waiting for room
                self._ray.kill(actor)
            del self._actors[-len(new) :]
            raise DetectError(
                f"{len(late)} of {len(new)} Ray actors of {self._asked()} did not start within "
                f"{self._start_timeout:g} s (free: {_cpus_gpus(free)}): other work holds the "
                "room they need, or they fail to start (see Ray's logs)"
            )
        self._get(ready, "a Ray actor starting")

    def _get(self, refs: Any, who: str) -> Any:
        """``ray.get``, with our own errors raised as they were raised in the actor, and an
        actor dead for good as a :class:`DetectError` naming ``who``.

        Dead for good: Ray's restarts spent, or killed with no restart (``ray.kill``); which,
        Ray does not say, so the message names both rather than claim retries that were
        never made.
        """
        try:
            return self._ray.get(refs)
        except self._ray.exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, SmokewatchError):
                raise cause from None
            raise
        except self._ray.exceptions.RayActorError as exc:
            raise _ActorDied(
                f"{who} died (killed, or out of retries): {_first_line(exc)}"
            ) from None

    def run(
        self,
        days: Sequence[CameraDay],
        *,
        options: DetectOptions | None = None,
        batch_size: int = 8,
        label_clips: int = 50,
        views_per_task: int | None = None,
        on_views: Callable[[int], None] | None = None,
        on_day: Callable[[int, DetectReport], None] | None = None,
    ) -> list[DetectReport]:
        """Score every day; one :class:`DetectReport` per day, in order, each merged.

        ``options``, ``batch_size`` and ``label_clips`` are :func:`detect_timelapse`'s; a task
        scores ``views_per_task`` views of a day (default: see :func:`plan_tasks`).

        ``on_views(n)`` after each task (``n`` views finished, done again or reused), for
        progress; ``on_day(index, report)`` once a day is merged (days finish in any order).

        A task that fails (its actor dead for good, or an error raised in it) ends the run,
        but not at once: no new task is started, the tasks still running are waited for, so
        the views they finish are written (and their days merged) rather than lost with
        their actors, and then the first failure is raised.
        """
        opts = options if options is not None else DetectOptions()
        tasks = plan_tasks(days, self._target, views_per_task)
        self._spawn(max(1, len(tasks)))
        if self._description is None:
            self._description = self._get(
                self._actors[0].describe.remote(), "the Ray actor loading the model"
            )
        model, model_fingerprint = self._description
        left = [0] * len(days)
        for d, _ in tasks:
            left[d] += 1
        parts: list[list[DetectReport]] = [[] for _ in days]
        reports: list[DetectReport | None] = [None] * len(days)

        def finish(d: int) -> None:
            report = self._merge(days[d], parts[d], model, model_fingerprint, opts)
            reports[d] = report
            if on_day is not None:
                on_day(d, report)

        for d in range(len(days)):
            if left[d] == 0:
                finish(d)  # a day without views: checked and merged like in-process
        pending = deque(enumerate(tasks))
        idle = list(self._actors)
        running: dict[Any, tuple[Any, int]] = {}
        failed: Exception | None = None
        while running or (pending and failed is None):
            while idle and pending and failed is None:
                i, (d, keys) = pending.popleft()
                actor = idle.pop()
                ref = actor.detect.remote(i, days[d], keys, opts, batch_size, label_clips)
                running[ref] = (actor, i)
            done, _ = self._ray.wait(list(running), num_returns=1)
            for ref in done:
                actor, i = running.pop(ref)
                d, keys = tasks[i]
                try:
                    _, part, timings = self._get(
                        ref, f"{days[d].timelapse}: the Ray actor scoring this day"
                    )
                except _ActorDied as exc:
                    self._actors.remove(actor)  # a later run starts another in its place
                    failed = failed or exc
                    continue
                except Exception as exc:  # raised once the running tasks are done
                    idle.append(actor)
                    failed = failed or exc
                    continue
                idle.append(actor)
                parts[d].append(part)
                if self._timings is not None and timings is not None:
                    self._timings.merge(timings)
                if on_views is not None:
                    on_views(len(keys))
                left[d] -= 1
                if left[d] == 0:
                    finish(d)
        if failed is not None:
            raise failed
        return [r for r in reports if r is not None]

    def _merge(
        self,
        day: CameraDay,
        parts: list[DetectReport],
        model: dict[str, Any],
        model_fingerprint: str,
        options: DetectOptions,
    ) -> DetectReport:
        """``detections.json`` and the report from the views' files, as in-process."""
        describe_only = Detector(
            scorer=_unfinished(day), model=dict(model), fingerprint=model_fingerprint
        )
        merged = detect_timelapse(
            day.timelapse,
            day.views,
            day.out_dir,
            detector=describe_only,
            clock=day.clock,
            options=options,
        )
        scored = {k for p in parts for k in p.scored}
        reused = {k for p in parts for k in p.reused}
        keys = list(day.views)
        return DetectReport(
            detections=merged.detections,
            views=merged.views,
            scored=[k for k in keys if k in scored],
            reused=[k for k in keys if k in reused],
            model_calls=sum(p.model_calls for p in parts),
        )

    def close(self) -> None:
        """End the actors (and the Ray this engine started)."""
        for actor in self._actors:
            try:
                self._ray.kill(actor)
            except Exception:  # an actor that already died  # noqa: BLE001
                pass
        self._actors.clear()
        if self._owns_ray and self._ray.is_initialized():
            self._ray.shutdown()

    def __enter__(self) -> RayEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
