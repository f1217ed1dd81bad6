"""A detection run into the service: the clips it asks volunteers about, first, and its events.

``clips import --from-detections DIR/detections.json`` takes, from every view, the clips of
the windows of each event and, over the whole run, the N windows the model was least sure
about (probability nearest 0.5): the clips where a volunteer's answer teaches the next model
the most. They are imported as ``clips import DIR`` imports a folder (by name, into the clip
store, each checked by the caller's ``verify``) and given a priority, which the draw serves
first; a priority is only ever raised, so importing again changes nothing. Each event is
stored with its evidence, copied into the evidence store, for researchers to confirm or reject.

Which file is a window's clip: ``detect --clips`` records it (``Window.file``: absolute, or
relative to the detections file's folder); a timelapse run writes the clips of the windows
the service will ask for as ``DIR/clips/<RISE name>.mp4`` (``core.window_clips``), named at
the run's crop size (``settings.size``: the size its clips have, whatever the service's). A
clip that is not there is listed and skipped; the rest is imported. An event none of whose
clips is there is still stored (with its evidence), and said so: volunteers get no clip of it.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from smokewatch.core.clip import MAX_INT, ClipName
from smokewatch.core.detections import Detections, Event, ViewDetections, Window
from smokewatch.core.window_clips import CLIPS_FOLDER, window_clip_name
from smokewatch.errors import SmokewatchError
from smokewatch.labeling.catalog import (
    ImportReport,
    PlacedClip,
    import_placed,
    place_files,
)
from smokewatch.labeling.tables import Event as EventRow
from smokewatch.labeling.tables import EventClip, Video
from smokewatch.settings import Settings

__all__ = [
    "DetectionsImport",
    "EventToStore",
    "StoredEvents",
    "WindowClip",
    "evidence_name",
    "place_window_clips",
    "plan_import",
    "run_clip_size",
    "store_detections",
    "store_evidence",
]

#: What the evidence store keeps of each kind of evidence, and under which extension.
_EVIDENCE_KINDS = {"evidence_clip": ".mp4", "evidence_gif": ".gif"}
_GIF_MAGIC = (b"GIF87a", b"GIF89a")
#: The longest event id the database keeps (``event.detection_id``).
_MAX_ID_LENGTH = 255


@dataclass(frozen=True, slots=True)
class WindowClip:
    """A window whose clip the service takes: its name, and the file (None: not there)."""

    name: ClipName
    path: Path
    why: str  #: "event" or "uncertain" (for the messages)


@dataclass(frozen=True, slots=True)
class EventToStore:
    """An event of the run, with the names of its windows' clips and its evidence files."""

    view: ViewDetections
    event: Event
    where: str  #: ``views[i].events[j]``, for messages
    clip_names: tuple[str, ...]
    evidence: dict[str, Path] = field(default_factory=dict)  #: kind -> file in the run folder


@dataclass
class DetectionsImport:
    """What a detections file asks of the service, before any file is placed."""

    clips: list[WindowClip] = field(default_factory=list)
    events: list[EventToStore] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _most_uncertain(detections: Detections, n: int) -> list[tuple[int, int]]:
    """(view index, window index) of the ``n`` windows nearest 0.5 that are in no event; ties
    in file order, so the choice is the same every time."""
    candidates = []
    for v, view in enumerate(detections.views):
        in_events = {i for event in view.events for i in event.windows}
        for i, window in enumerate(view.windows):
            if i not in in_events:
                candidates.append((abs(window.probability - 0.5), v, i))
    candidates.sort()
    return [(v, i) for _, v, i in candidates[: max(n, 0)]]


def _clip_file(
    folder: Path, view: ViewDetections, window: Window, *, size: int, timezone: str
) -> tuple[ClipName, Path]:
    """The name and file of a window's clip (the file may be missing); a
    :class:`SmokewatchError` says why a window's clip cannot be named."""
    if window.file is not None:
        name = ClipName.parse(window.file)
        recorded = Path(window.file)
        path = recorded if recorded.is_absolute() else folder / recorded
        beside = folder / CLIPS_FOLDER / f"{name.format()}.mp4"
        if not os.path.lexists(path) and os.path.lexists(beside):
            return name, beside  # a run folder moved with its clips
        return name, path
    name = window_clip_name(view, window, size=size, timezone=timezone)
    return name, folder / CLIPS_FOLDER / f"{name.format()}.mp4"


def run_clip_size(detections: Detections, default: int) -> int:
    """The size a run's window clips are named (and made) at: its ``settings.size``, or
    ``default`` (the service's) for a file that does not record one. A recorded size that is
    not a positive whole number is refused in one line."""
    size = detections.settings.get("size")
    if size is None:
        return default
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise SmokewatchError(f"settings.size: {size!r} is not a clip size in pixels")
    return size


def _check_fits(where: str, event: Event, view: ViewDetections) -> None:
    """Refuse, by field, what the event table cannot hold (PostgreSQL would fail mid-import)."""
    if len(event.id) > _MAX_ID_LENGTH:
        raise SmokewatchError(
            f"{where}.id: {len(event.id):,} characters, the database keeps at most {_MAX_ID_LENGTH}"
        )
    numbers = {
        "camera_id": view.camera_id,
        "view_id": view.view_id,
        "start_frame": event.start_frame,
        "end_frame": event.end_frame,
    }
    for key, value in numbers.items():
        if value > MAX_INT:
            raise SmokewatchError(f"{where}.{key}: {value} is over {MAX_INT}")


def plan_import(
    detections: Detections,
    folder: Path,
    *,
    uncertain: int,
    clip_size: int,
    timezone: str,
) -> DetectionsImport:
    """Which clips to import (every event's windows, then the ``uncertain`` most uncertain
    other windows), which files they are, and the events; ``folder`` holds the detections
    file. Reads no file but to see which exist."""
    plan = DetectionsImport()
    by_name: dict[str, WindowClip] = {}
    named: dict[tuple[int, int], str | None] = {}

    def want(v: int, i: int, why: str) -> str | None:
        if (v, i) in named:
            return named[(v, i)]
        view, window = detections.views[v], detections.views[v].windows[i]
        frames = f"{window.start_frame}-{window.end_frame}"
        where = f"views[{v}].windows[{i}] (view {view.key}, frames {frames})"
        try:
            name, path = _clip_file(folder, view, window, size=clip_size, timezone=timezone)
        except SmokewatchError as exc:
            plan.skipped.append(f"{where}: {exc}")
            named[(v, i)] = None
            return None
        key = name.format()
        named[(v, i)] = key
        if not os.path.lexists(path):
            plan.skipped.append(f"{path}: missing (the clip of {where}, {why})")
            named[(v, i)] = None
            return None
        if key not in by_name:
            by_name[key] = WindowClip(name, path, why)
            plan.clips.append(by_name[key])
        return key

    for v, view in enumerate(detections.views):
        for e, event in enumerate(view.events):
            where = f"views[{v}].events[{e}]"
            _check_fits(where, event, view)
            names = [want(v, i, f"event {event.id}") for i in event.windows]
            evidence = {}
            for kind in _EVIDENCE_KINDS:
                relative = getattr(event, kind)
                if relative is None:
                    continue
                path = folder / relative
                if os.path.lexists(path):
                    evidence[kind] = path
                else:
                    plan.skipped.append(f"{path}: missing ({where}.{kind} of event {event.id})")
            found = tuple(n for n in names if n)
            if event.windows and not found:
                plan.skipped.append(
                    f"{where}: none of the {len(event.windows)} clips of event {event.id} "
                    "was found; the event is stored without clips"
                )
            plan.events.append(EventToStore(view, event, where, found, evidence))
    for v, i in _most_uncertain(detections, uncertain):
        want(v, i, f"uncertain, probability {detections.views[v].windows[i].probability:.3f}")
    return plan


def place_window_clips(
    plan: DetectionsImport, videos_dir: Path, verify: Callable[[Path], object]
) -> list[PlacedClip]:
    """Put the plan's clip files into the clip store (as ``clips import DIR`` does: regular
    files only, never through a link, each checked by ``verify``); what cannot be placed is
    added to ``plan.skipped``. Slow (the caller's check decodes): outside any transaction."""
    placed, skipped = place_files(
        ((clip.path, clip.name) for clip in plan.clips), videos_dir, verify
    )
    plan.skipped.extend(skipped)
    return placed


def evidence_name(digest: str, kind: str) -> str:
    """The evidence store's name of a file: its SHA-256 and the extension of its kind (never
    a name from the run's file: that is text from a file)."""
    return digest + _EVIDENCE_KINDS[kind]


def store_evidence(
    path: Path, kind: str, run_folder: Path, evidence_dir: Path, verify: Callable[[Path], object]
) -> str:
    """Copy one evidence file into the store (``evidence_dir/<sha256>.<ext>``, written
    atomically, content-addressed: importing again writes nothing new) and return its name.

    Only a regular file inside the run's folder is taken, read without following a link; a
    GIF must start like one, and a clip must pass ``verify`` (the caller decodes). A
    :class:`SmokewatchError` names the file and why not.
    """
    real, inside = os.path.realpath(path), os.path.realpath(run_folder)
    if os.path.commonpath([real, inside]) != inside:
        raise SmokewatchError(f"{path}: leads outside the detections folder; not imported")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise SmokewatchError(f"{path}: cannot read ({exc.strerror or exc})") from None
    evidence_dir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with open(fd, "rb") as source:
        if not stat.S_ISREG(os.fstat(source.fileno()).st_mode):
            raise SmokewatchError(f"{path}: not a regular file; not imported")
        out = tempfile.NamedTemporaryFile(
            dir=evidence_dir, prefix=".", suffix=".part", delete=False
        )
        tmp = Path(out.name)
        try:
            with out:
                while chunk := source.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
            if kind == "evidence_gif":
                with tmp.open("rb") as head:
                    if head.read(6) not in _GIF_MAGIC:
                        raise SmokewatchError(f"{path}: not a GIF image; not imported")
            else:
                try:
                    verify(tmp)
                except SmokewatchError as exc:
                    raise SmokewatchError(str(exc).replace(str(tmp), str(path))) from None
            name = evidence_name(digest.hexdigest(), kind)
            os.chmod(tmp, 0o644)
            os.replace(tmp, evidence_dir / name)
        finally:
            tmp.unlink(missing_ok=True)
    return name


@dataclass
class StoredEvents:
    """What :func:`store_detections` changed."""

    clips: ImportReport
    prioritized: int = 0  #: clips whose priority was raised
    events_added: int = 0
    events_known: int = 0


def store_detections(
    session: Session,
    plan: DetectionsImport,
    placed: Sequence[PlacedClip],
    evidence: dict[tuple[int, str], str],
    *,
    priority: int,
    url_root: str,
) -> StoredEvents:
    """In one transaction: the placed clips (new ones added), their priority raised to at
    least ``priority``, and the plan's events with their clips and evidence (``evidence``:
    (event index in the plan, kind) -> stored name). An event already there (same view,
    start and id) keeps its status and review; only evidence it lacked is added."""
    if not 1 <= priority <= MAX_INT:
        raise SmokewatchError(f"priority must be between 1 and {MAX_INT}, got {priority}")
    report = StoredEvents(import_placed(session, placed, url_root))
    names = sorted({p.name.format() for p in placed})
    ids: dict[str, int] = {}
    for start in range(0, len(names), 2000):
        part = names[start : start + 2000]
        rows = session.execute(select(Video.file_name, Video.id).where(Video.file_name.in_(part)))
        ids.update({str(n): int(i) for n, i in rows})
        raised = session.execute(
            update(Video)
            .where(Video.file_name.in_(part), Video.priority < priority)
            .values(priority=priority)
        )
        report.prioritized += int(getattr(raised, "rowcount", 0) or 0)
    now = int(time.time())
    for k, item in enumerate(plan.events):
        event, view = item.event, item.view
        row = session.scalar(
            select(EventRow).where(
                EventRow.camera_id == view.camera_id,
                EventRow.view_id == view.view_id,
                EventRow.start_time == event.start_time,
                EventRow.detection_id == event.id,
            )
        )
        files = {kind: evidence.get((k, kind)) for kind in _EVIDENCE_KINDS}
        if row is None:
            row = EventRow(
                detection_id=event.id,
                camera_id=view.camera_id,
                view_id=view.view_id,
                start_time=event.start_time,
                end_time=event.end_time,
                start_frame=event.start_frame,
                end_frame=event.end_frame,
                max_probability=event.max_probability,
                evidence_clip=files["evidence_clip"],
                evidence_gif=files["evidence_gif"],
                import_time=now,
            )
            session.add(row)
            session.flush()
            report.events_added += 1
        else:
            report.events_known += 1
            row.evidence_clip = row.evidence_clip or files["evidence_clip"]
            row.evidence_gif = row.evidence_gif or files["evidence_gif"]
        wanted = {ids[n] for n in item.clip_names if n in ids}
        known = set(session.scalars(select(EventClip.video_id).where(EventClip.event_id == row.id)))
        if wanted - known:
            session.execute(
                insert(EventClip),
                [{"event_id": row.id, "video_id": v} for v in sorted(wanted - known)],
            )
    return report


def import_detection_run(
    path: Path,
    settings: Settings,
    read_clip: Callable[..., object],
    *,
    uncertain: int = 50,
    priority: int = 1,
    url_root: str | None = None,
) -> tuple[DetectionsImport, StoredEvents]:
    """A whole detection run into the settings' service: plan, place the clips, store the
    evidence, then events and priorities in one transaction. Idempotent, so a caller that was
    killed half-way (``smokewatch watch``) simply runs it again. ``read_clip`` is the
    caller's decoder (``smokewatch.video.read_clip``): this package reads no video."""
    import functools

    from smokewatch.core.detections import read_detections
    from smokewatch.labeling.db import open_service_database

    detections = read_detections(path)
    folder = path.parent
    plan = plan_import(
        detections,
        folder,
        uncertain=uncertain,
        # the run named its window clips at its own crop size (``detect --size``); an older
        # file without one, at the service's
        clip_size=run_clip_size(detections, settings.clip_size),
        # the run named its window clips in its camera's zone; an older file without one,
        # in the service's
        timezone=detections.time_zone or settings.timezone,
    )
    check = functools.partial(read_clip, expected_frames=settings.clip_frames)
    placed = place_window_clips(plan, settings.videos_dir, check)
    evidence: dict[tuple[int, str], str] = {}
    for k, item in enumerate(plan.events):
        for kind, file in item.evidence.items():
            try:
                evidence[(k, kind)] = store_evidence(
                    file, kind, folder, settings.evidence_dir, read_clip
                )
            except SmokewatchError as exc:
                plan.skipped.append(str(exc))
    db = open_service_database(settings)
    try:
        with db.write() as session:
            stored = store_detections(
                session,
                plan,
                placed,
                evidence,
                priority=priority,
                url_root=url_root or settings.videos_url_root,
            )
    finally:
        db.dispose()
    return plan, stored
