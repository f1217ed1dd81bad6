"""One job of continuous mode: bring one camera up to date from what is on disk.

A job is level-triggered: it reads durable state (the inbox, the day's ``frames.json``, the
scan state of each day) and does whatever is missing, so running it twice, or again after
its worker was killed at any instruction, gives the same files as running it once:

* a photo becomes frame ``i`` of its day (the frame file, then ``frames.json`` with its time,
  both atomic); its inbox link goes only after that, and a photo no later than the day's
  last frame is dropped, so a photo is never a frame twice; so is a photo for a day already
  over, whose events were raised whole, so an event is never raised twice. Leftovers of a
  killed write (a temporary file, a frame past ``frames.json``) are removed first.
* each complete window (``window_frames`` every ``window_step``, none over a gap longer than
  ``gap_seconds``) is cropped per view, scored, its clip written under its RISE name, and
  only then recorded in ``scan.json``; a killed job scores it again and writes the same name.
* events come from :func:`smokewatch.detect.find_events` over the recorded windows; an event
  is raised once it is *settled* (no later window can change it), its evidence written by
  :func:`smokewatch.detect.evidence.write_events` under its deterministic id, the day's
  ``detections.json`` rewritten (``merge_views``), and the alerts sent by
  :class:`smokewatch.detect.alerts.Notifier`, whose ledger sends each event once.

The caller holds the camera's lock (:mod:`smokewatch.watch.jobs`), so one job per camera runs
at a time; different cameras run in parallel.
"""

from __future__ import annotations

import bisect
import dataclasses
import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from smokewatch.camera.photos import Photo, PhotoGroup, group_photos, load_photo, photo_time
from smokewatch.clips.daylight import Daylight
from smokewatch.clips.extract import crop_views
from smokewatch.clips.views import load_views, select_camera, split_view_key
from smokewatch.clips.windows import check_boxes
from smokewatch.core.atomic import atomic_path, atomic_write_text
from smokewatch.core.clip import Box
from smokewatch.core.detections import Detections, Event, ViewDetections, Window
from smokewatch.core.files import read_user_json
from smokewatch.core.frame_times import FrameTimes, read_frame_times, write_frame_times
from smokewatch.core.window_clips import CLIPS_FOLDER, local_day, window_clip_name
from smokewatch.detect.detector import DetectError, Detector
from smokewatch.detect.evidence import WindowStore, write_events
from smokewatch.detect.results import fingerprint, merge_views, write_view
from smokewatch.detect.rule import EventSpan, find_events
from smokewatch.errors import SmokewatchError, VideoError
from smokewatch.explain.gradcam import activation_ratio
from smokewatch.labeling.cameras import INBOX, camera_dir, parse_inbox_name
from smokewatch.watch.config import WatchConfig

__all__ = [
    "DAYS",
    "ScanStateError",
    "SyncReport",
    "day_folders",
    "day_is_over",
    "inbox_entries",
    "load_scan_state",
    "scored_positions",
    "settled_spans",
    "sync_camera",
]

_log = logging.getLogger(__name__)

#: ``<camera dir>/days/<YYYY-MM-DD>/{frames,detect}``
DAYS = "days"
FRAMES = "frames"
DETECT = "detect"
SCAN = "scan.json"
#: ``<day>/over``: a photo was taken after the day's daylight ended (its time inside), so the
#: day can get no more frames and its events are raised whole
OVER = "over"
#: Grad-CAM volumes of smoke windows, kept for the events' GIFs
VOLUMES = ".volumes"


@dataclass
class SyncReport:
    """What one job did (for logs and tests)."""

    frames_added: int = 0
    photos_dropped: int = 0
    #: view-windows scored: a window position counts once per view, as ``detect`` counts
    windows_scored: int = 0
    events: list[str] = field(default_factory=list)
    alerts_sent: int = 0
    #: when the last photo of each newly raised event's window was taken (for latency)
    raised_at: dict[str, float] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.frames_added or self.windows_scored or self.photos_dropped)


Hook = Callable[[str], None]


def _no_hook(stage: str) -> None:
    return None


def day_folders(data_dir: Path, camera_id: int) -> list[Path]:
    root = camera_dir(data_dir, camera_id) / DAYS
    return sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


# --------------------------------------------------------------------------------------------
# photos -> frames


def inbox_entries(folder: Path) -> list[os.DirEntry[str]]:
    """The photos waiting in an inbox, as a job takes them: its visible regular files (a
    leading dot marks a file a writer has not renamed into place yet). One rule for the
    jobs that take them, the worker that looks again and ``watch status`` that counts them."""
    try:
        with os.scandir(folder) as entries:
            return [e for e in entries if not e.name.startswith(".") and _regular(e)]
    except (FileNotFoundError, NotADirectoryError):
        return []


def _regular(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_file()
    except OSError:
        return False  # gone between listing and looking


def _inbox_photos(folder: Path, camera_time: Callable[[Path], float]) -> list[Photo]:
    photos = []
    for entry in inbox_entries(folder):
        path = Path(entry.path)
        when = parse_inbox_name(path.name)
        photos.append(Photo(path, when if when is not None else camera_time(path)))
    return sorted(photos, key=lambda p: (p.time, p.path.name))


def _clean_frames(folder: Path, count: int) -> None:
    """Remove a killed write's leftovers: temporary files and frames past ``frames.json``."""
    for path in folder.iterdir():
        if path.name.startswith(".") and ".part" in path.name:
            path.unlink(missing_ok=True)
        elif path.suffix == ".png" and path.stem.isdigit() and int(path.stem) >= count:
            path.unlink(missing_ok=True)


def _frame_times(folder: Path) -> tuple[float, ...]:
    sidecar = folder / "frames.json"
    return read_frame_times(sidecar).times if sidecar.is_file() else ()


def _ingest(
    config: WatchConfig, camera_id: int, report: SyncReport, panorama: Callable[[PhotoGroup], Any]
) -> None:
    source = config.camera(camera_id)
    root = camera_dir(config.data_dir, camera_id)
    photos = _inbox_photos(
        root / INBOX,
        lambda p: photo_time(p, time_pattern=source.time_pattern, tz=config.options.daylight.zone),
    )
    groups = group_photos(photos, tolerance_s=config.tolerance_s) if photos else []
    if source.registration is not None and groups:
        groups = groups[:-1]  # the newest instant may still be missing photos
    daylight = config.options.daylight
    days = day_folders(config.data_dir, camera_id)
    for group in groups:
        day = local_day(group.time, daylight.timezone).isoformat()
        folder = root / DAYS / day / FRAMES
        folder.mkdir(parents=True, exist_ok=True)
        if folder.parent not in days:
            days.append(folder.parent)
        times = _frame_times(folder)
        _clean_frames(folder, len(times))
        why = _drop_reason(group.time, times, folder.parent, days, daylight)
        if why is None:
            image = np.asarray(panorama(group), dtype=np.uint8)
            with atomic_path(folder / f"{len(times):06d}.png") as tmp:
                Image.fromarray(image).save(tmp, format="PNG", compress_level=1)
            write_frame_times(
                folder / "frames.json",
                (*times, group.time),
                gap_seconds=config.gap_seconds,
                camera=camera_id,
            )
            report.frames_added += 1
        else:
            report.photos_dropped += len(group.photos)
            names = ", ".join(p.path.name for p in group.photos)
            level = logging.INFO if why == _NIGHT else logging.WARNING
            _log.log(level, "camera %s: photo %s dropped: %s", camera_id, names, why)
            if why == _NIGHT:
                _mark_over(root / DAYS, group.time, daylight)
        for photo in group.photos:
            photo.path.unlink(missing_ok=True)


_NIGHT = "taken at night"


def _drop_reason(
    when: float, times: Sequence[float], day: Path, days: Sequence[Path], daylight: Daylight
) -> str | None:
    """Why a photo group taken at ``when`` is not appended to ``day`` (whose frames were
    taken at ``times``), or ``None``: it is night, it is no later than the day's last frame
    (it would be a frame twice, or out of order), or the day is over (its events were raised
    whole: a frame appended now would raise them again, grown, under another id)."""
    if not daylight.contains(when):
        return _NIGHT
    if times and when <= times[-1]:
        return "no later than the day's last frame"
    if times and day_is_over(day, days):
        return f"its day {day.name} is over (its events were raised whole)"
    return None


def day_is_over(day: Path, days: Sequence[Path]) -> bool:
    """A day is over once a photo came after its daylight ended (its ``over`` file) or a
    later day has begun (a later day folder exists): it takes no more frames, and its events
    are raised whole."""
    return (day / OVER).is_file() or any(d.name > day.name for d in days)


def _mark_over(days: Path, when: float, daylight: Daylight) -> None:
    """A night photo taken at ``when``: the days whose daylight had ended by then (its own
    local date's, after sunset; the day before's, after midnight) get no more frames, so they
    are marked over (durably, before the photo goes: a job is level-triggered), and their
    last events are raised now rather than when a later day's first frame arrives."""
    today = daylight.local_date(when)
    for day in (today - timedelta(days=1), today):
        folder = days / day.isoformat()
        if daylight.window(day)[1] <= when and (folder / FRAMES / "frames.json").is_file():
            if not (folder / OVER).is_file():
                atomic_write_text(folder / OVER, f"{when}\n")


def _identity(group: PhotoGroup) -> np.ndarray:
    """One photo per instant: the photo is the frame."""
    return load_photo(group.photos[0].path)


# --------------------------------------------------------------------------------------------
# frames -> windows


class _ClipStore(WindowStore):
    """Kept windows as :func:`write_events` reads them: the frames from each window's clip
    (written for every window anyway), the Grad-CAM volumes from ``.volumes``; nothing is
    removed (unlike a detection run's work folder, this one lives as long as the day)."""

    def __init__(self, folder: Path, clip_of: Callable[[int], Path | None]) -> None:
        self.folder = folder
        self._pinned: set[int] = set()
        self._clip_of = clip_of

    def frames(self, index: int) -> np.ndarray | None:
        from smokewatch.video import read_clip

        path = self._clip_of(index)
        return read_clip(path) if path is not None and path.is_file() else None


class ScanStateError(SmokewatchError, ValueError):
    """A day's ``scan.json`` that cannot be read: one line naming it, and the way out."""


def _scan_problem(data: Any) -> str | None:
    """What is wrong with a parsed scan state, or None."""
    if not isinstance(data, dict):
        return "expected an object"
    windows = data.get("windows")
    if not isinstance(windows, dict) or not all(isinstance(w, list) for w in windows.values()):
        return "'windows' must map each view to a list of windows"
    start = data.get("next_start")
    if isinstance(start, bool) or not isinstance(start, int) or start < 0:
        return "'next_start' must be a whole number from 0"
    for key, scored in windows.items():
        for i, window in enumerate(scored):
            where = f"windows.{key}[{i}]"
            if not isinstance(window, dict):
                return f"{where}: expected an object"
            try:
                Window(**window)
            except TypeError as exc:
                return f"{where}: {exc}"
            frames = (window["start_frame"], window["end_frame"])
            if not all(isinstance(f, int) and not isinstance(f, bool) and f >= 0 for f in frames):
                return f"{where}: start_frame and end_frame must be whole numbers from 0"
    return None


def load_scan_state(path: Path, keys: Sequence[str] = ()) -> dict[str, Any]:
    """A day's scan state (``next_start``, ``windows`` per view, ``raised``), a fresh one
    when no job has scored there yet, with an empty window list for each of ``keys``.

    A damaged file (a disk that lost it, a hand edit) is one :class:`ScanStateError`: the
    job's one-line failure, ``watch status``'s unreadable day. Deleting it is safe: the next
    job scores the day again, the clips it wrote are reused, and the alerts ledger keeps
    events from being sent twice."""
    state: dict[str, Any] = {"next_start": 0, "windows": {k: [] for k in keys}}
    if not path.is_file():
        return state
    try:
        data = read_user_json(path, what="scan state", error=ScanStateError)
        problem = _scan_problem(data)
    except ScanStateError as exc:
        problem = str(exc).removeprefix(f"{path}: ")
    if problem is not None:
        raise ScanStateError(
            f"{path}: {problem} (the day's scan state; delete it and the next job scores the "
            "day again)"
        )
    state.update(data)
    for k in keys:
        state["windows"].setdefault(k, [])
    return state


def _view(
    key: str, box: Box, windows: Sequence[Window], events: Sequence[Event] = ()
) -> ViewDetections:
    camera, view = split_view_key(key)
    return ViewDetections(camera, view, tuple(windows), tuple(events), (), box.ltrb)


def _read_window_frames(
    folder: Path, views: Mapping[str, Box], first: int, last: int
) -> list[np.ndarray]:
    """Frames ``first..last``, each checked to hold every view's box, as ``detect`` checks
    them (:func:`~smokewatch.clips.windows.check_boxes`): a box outside the frame is a
    one-line :class:`~smokewatch.errors.ViewsError` naming the view and the frame's size
    (Pillow would crop it with a bare ``ValueError``, a traceback in every job)."""
    from smokewatch.video import IMAGE_ERRORS

    frames = []
    for i in range(first, last + 1):
        path = folder / f"{i:06d}.png"
        try:
            with Image.open(path) as image:
                frame = np.asarray(image.convert("RGB"))
        except IMAGE_ERRORS as exc:  # a disk that lost it: one line, not a traceback per job
            raise VideoError(f"{path}: cannot read frame image ({exc})") from None
        check_boxes(views, frame.shape[1], frame.shape[0], path)
        frames.append(frame)
    return frames


def _probabilities(
    detector: Detector, clips: np.ndarray, keys: Sequence[str], first: int, last: int
) -> np.ndarray:
    """P(smoke) of each view's clip of frames ``first..last``; a value that is not a number is
    a :class:`DetectError`, as in ``detect`` (:class:`smokewatch.detect.scan.WindowScan`):
    clamped into [0, 1], NaN would be recorded as 0, smoke reported as no smoke."""
    probs = np.asarray(detector.scorer(clips), dtype=np.float64)
    if not np.isfinite(probs).all():
        v = int(np.flatnonzero(~np.isfinite(probs))[0])
        raise DetectError(
            f"the model gave P(smoke) {probs[v]} for frames {first}-{last} of view {keys[v]}: "
            "a model whose output is not a number is broken; retrain it"
        )
    return probs


def scored_positions(state: dict[str, Any], keys: Sequence[str]) -> int:
    """The window positions scored in a day's scan state, counted over the views ``keys``
    (the views file's now): each position is scored for every view at once, but a view
    added later starts empty and one removed keeps its windows, so no single list says it."""
    return max((len(state["windows"].get(k, [])) for k in keys), default=0)


def _covered(state: dict[str, Any], keys: Sequence[str]) -> int:
    """The last frame a scored window of ``keys`` ends on (-1: none yet)."""
    ends = [int(w[-1]["end_frame"]) for k in keys if (w := state["windows"].get(k))]
    return max(ends, default=-1)


def _tail_wanted(times: FrameTimes, end: int, length: int, covered: int) -> bool:
    """Whether the window ending on ``end`` (a stretch's last frame) is due: the stretch
    holds it (no gap inside) and no scored window reached ``end``."""
    first = end - length + 1
    return first >= 0 and end > covered and not times.spans_gap(first, end)


def _windows_due(
    state: dict[str, Any], times: FrameTimes, length: int, keys: Sequence[str]
) -> bool:
    """Whether :func:`_score` has a window to score before the day ends: the grid's next
    one, or the tail of a stretch a gap has ended (frames after the gap may be too few for
    the grid, and the day may go on for hours)."""
    if state["next_start"] + length <= len(times):
        return True
    covered = _covered(state, keys)
    return any(_tail_wanted(times, g.after_frame, length, covered) for g in times.gaps())


def _score(
    config: WatchConfig,
    day: Path,
    times: FrameTimes,
    views: dict[str, Box],
    detector: Detector,
    report: SyncReport,
    hook: Hook,
    closed: bool = False,
) -> dict[str, list[Window]]:
    """Score the day's windows not scored yet: on the step grid, and, as ``detect`` does, one
    more ending on the last frame before a gap and (once the day is ``closed``) on the day's
    last frame, when the grid left those frames out. ``times``: the day's frame times, with
    the configuration's gap limit."""
    opts = config.options
    frames_dir, out = day / FRAMES, day / DETECT
    state = load_scan_state(out / SCAN, list(views))
    length, step = opts.window_frames, opts.window_step
    keys, boxes = list(views), list(views.values())
    breaks = [g.after_frame for g in times.gaps()]  # stretch k begins after the k-th gap

    def tail(end: int) -> None:
        """The window ending on ``end`` (a stretch's last frame), if the grid left it out."""
        if _tail_wanted(times, end, length, _covered(state, keys)):
            window(end - length + 1, end)

    def window(first: int, last: int) -> None:
        crops = [
            crop_views(frame, boxes, opts.size)
            for frame in _read_window_frames(frames_dir, views, first, last)
        ]
        clips = np.stack([np.stack([c[v] for c in crops]) for v in range(len(keys))])
        probs = _probabilities(detector, clips, keys, first, last)
        gated = [
            v for v, p in enumerate(probs) if opts.cam and detector.cam and p > opts.cam_probability
        ]
        volumes = (
            dict(zip(gated, detector.cam(clips[gated]), strict=True))
            if gated and detector.cam
            else {}
        )
        from smokewatch.video import write_clip

        for v, key in enumerate(keys):
            volume = volumes.get(v)
            window = Window(
                start_frame=first,
                end_frame=last,
                start_time=times.times[first],
                end_time=times.times[last],
                probability=min(1.0, max(0.0, float(probs[v]))),
                activation_ratio=None
                if volume is None
                else activation_ratio(volume, opts.cam_threshold),
                stretch=bisect.bisect_left(breaks, first),  # numbered as detect numbers them
            )
            index = len(state["windows"][key])
            name = window_clip_name(
                _view(key, views[key], []), window, size=opts.size, timezone=opts.daylight.timezone
            )
            clip = out / CLIPS_FOLDER / f"{name.format()}.mp4"
            if not clip.exists():
                write_clip(clips[v], clip, fps=opts.fps)
            if volume is not None:
                with atomic_path(out / VOLUMES / key / f"{index:07d}.cam.npy") as tmp:
                    np.save(tmp, np.asarray(volume, dtype=np.float16))
            state["windows"][key].append(dataclasses.asdict(window))
        hook("scored")
        state["next_start"] = max(int(state["next_start"]), first + step)
        atomic_write_text(out / SCAN, json.dumps(state))
        # one per view, as ``detect`` counts a view's windows: each view's clip is scored
        report.windows_scored += len(keys)
        report.raised_at["_last_window_time"] = times.times[last]

    while state["next_start"] + length <= len(times):
        first = int(state["next_start"])
        last = first + length - 1
        if times.spans_gap(first, last):
            after = [g for g in breaks if first <= g < last]
            for gap in after:  # each stretch that ends in here: one lone frame can be one
                tail(gap)
            state["next_start"] = after[-1] + 1  # the grid starts again after the last gap
            atomic_write_text(out / SCAN, json.dumps(state))
            continue
        window(first, last)
    # a stretch that a gap has ended, with too few frames after it for the grid to reach
    # that gap (the day may also end there): its tail is due now, as detect scores it
    for gap in breaks:
        tail(gap)  # a no-op for a stretch already covered, or one shorter than a window
    if closed:
        tail(len(times) - 1)
    return {k: [Window(**w) for w in state["windows"][k]] for k in keys}


# --------------------------------------------------------------------------------------------
# windows -> events -> alerts


def settled_spans(windows: Sequence[Window], config: WatchConfig, closed: bool) -> list[EventSpan]:
    """The events of ``windows`` that no later window can change.

    An event is raised (its id made of its start and end, its alert sent) once *settled*: it
    comes out the same (frames and windows) whatever windows follow, so it is never raised
    again, grown, under another id. A closed day (a later day has begun, or a photo came
    after its daylight ended) settles everything.

    A later window either leaves the view's last run of smoke windows alone (it starts
    another run, or none), and then no event changes, or it joins that run, every window
    before it with it (smoke or not: ``find_events`` fills the gap); so every future comes
    out as the run grown to end with one later window, as if all of them were smoke. Those
    are tried: each later window on the step grid (``last.start_frame + k * step``, k up to
    enough to cover the longest event and the piece that may join it, past the quiet ones
    that could still be bridged), and after each of them, and after the last window itself,
    the stretch's *tail*, which :func:`_score` adds when a gap comes or the day closes: one
    window ending on the stretch's last frame, starting 1 to ``step - 1`` frames after the
    last grid window. Off the grid, a tail can end where no grid window does and reach back
    to a smoke window no grid window could (36-frame windows every 18, ``max_gap`` 0: smoke
    0-35, quiet 18-53, and the tail 24-59 grows the event 0-35 to 0-59), so one is tried at
    every such start.

    Only the last run's events are tried (on the windows from its first one: a later window
    joins no other run), and a run too far back for any later window to join settles at once.
    """
    rule = config.options.rule
    spans = find_events(windows, rule)
    if closed or not spans:
        return spans
    last = windows[-1]
    step = config.options.window_step
    smoke = [i for i, w in enumerate(windows) if rule.is_smoke(w.probability, w.activation_ratio)]
    # a later window starts at last.start_frame + 1 or after: it joins the last run if it
    # comes within max_gap windows of its last smoke window, or shares frames with it
    bridged = len(windows) - 1 - smoke[-1] <= rule.max_gap
    if not bridged and windows[smoke[-1]].end_frame <= last.start_frame:
        return spans
    # the last run's pieces are adjacent in frames; its first window starts the suffix tried
    first = len(spans) - 1
    while first > 0 and spans[first - 1].end_frame + 1 == spans[first].start_frame:
        first -= 1
    cut = spans[first].windows[0]
    keep = set(find_events(windows[cut:], rule))
    # a run grows at its end only, and is cut into pieces from its start: every piece but
    # the last keeps its frames, and no window that can still join the run (after its last
    # smoke window) reaches back into a piece that ends before that window starts. Such
    # pieces are settled as they are; only the others are tried (a day of steam: one piece,
    # found unsettled by the first future, instead of every future over the whole day)
    pieces = sorted(keep, key=lambda s: s.start_frame)
    after = smoke[-1] + 1
    joins_from = windows[after].start_frame if after < len(windows) else last.start_frame + 1
    sure = {s for s in pieces[:-1] if s.end_frame < joins_from}
    keep -= sure
    seconds = (last.end_time - last.start_time) / max(1, last.end_frame - last.start_frame)

    def later(shift: int) -> Window:
        """A smoke window ``shift`` frames after the last one."""
        return dataclasses.replace(
            last,
            start_frame=last.start_frame + shift,
            end_frame=last.end_frame + shift,
            start_time=last.start_time + shift * seconds,
            end_time=last.end_time + shift * seconds,
            probability=1.0,
            activation_ratio=1.0,
        )

    # grid windows as far as the quiet ones a later smoke window could bridge (max_gap, or
    # as many as it could share frames with the last one over), then enough for the events
    reach = max(rule.max_gap, (last.end_frame - last.start_frame) // step)
    more = reach + (rule.max_frames + rule.min_frames) // step + 3
    grid: list[Window] = []

    def try_futures() -> None:
        for k in range(more + 1):
            if k:
                grid.append(later(k * step))
                keep.intersection_update(find_events([*windows[cut:], *grid], rule))
            for offset in range(1, step):
                if not keep:
                    return
                tail = later(k * step + offset)
                keep.intersection_update(find_events([*windows[cut:], *grid, tail], rule))

    try_futures()
    settled = {
        dataclasses.replace(s, windows=tuple(cut + i for i in s.windows)) for s in keep | sure
    }
    return [*spans[:first], *(s for s in spans[first:] if s in settled)]


def _raise_events(
    config: WatchConfig,
    camera_id: int,
    day: Path,
    views: dict[str, Box],
    windows: dict[str, list[Window]],
    detector: Detector,
    closed: bool,
    report: SyncReport,
    hook: Hook,
) -> bool:
    opts = config.options
    out = day / DETECT
    settings = opts.as_dict()
    source = {"watch": str(camera_dir(config.data_dir, camera_id)), "day": day.name}
    run = fingerprint(detector.model, detector.fingerprint, settings, source)
    times = FrameTimes(_frame_times(day / FRAMES))
    before = {e.id for v in _previous(out) for e in v.events}
    for key, box in views.items():
        wins = windows[key]
        spans = settled_spans(wins, config, closed)
        view = _view(key, box, wins)

        def clip_of(index: int, view: ViewDetections = view) -> Path | None:
            name = window_clip_name(
                view, view.windows[index], size=opts.size, timezone=opts.daylight.timezone
            )
            return out / CLIPS_FOLDER / f"{name.format()}.mp4"

        store = _ClipStore(out / VOLUMES / key, clip_of)
        camera, view_id = split_view_key(key)
        events = write_events(
            spans,
            wins,
            camera_id=camera,
            view_id=view_id,
            time_of=lambda i: times.times[i],
            store=store,
            out_dir=out,
            rule=opts.rule,
            fps=opts.fps,
            write_gif=detector.write_gif,
        )
        write_view(
            out,
            _view(key, box, wins, events),
            model=detector.model,
            settings=settings,
            source=source,
            run=run,
            view_fingerprint=fingerprint(run, key),
        )
    detections = merge_views(out, model=detector.model, settings=settings, source=source, run=run)
    for v in detections.views:
        for e in v.events:
            if e.id not in before:
                report.events.append(e.id)
                report.raised_at[e.id] = times.times[e.end_frame]
    hook("events")
    return _alert(config, out, detections, report) if config.notify else True


def _previous(out: Path) -> tuple[ViewDetections, ...]:
    from smokewatch.core.detections import DetectionsError, read_detections

    path = out / "detections.json"
    try:
        return read_detections(path).views if path.is_file() else ()
    except DetectionsError:
        return ()


def _alert(config: WatchConfig, out: Path, detections: Detections, report: SyncReport) -> bool:
    """Send the events not in the ledger yet; False if any delivery failed (the next job
    tries again)."""
    from smokewatch.detect.alerts import Notifier, NotifyOptions

    # a short try: a job must not hold its camera for minutes; the next job tries again
    notifier = Notifier(
        list(config.notify),
        secret=config.alert_secret,
        out_dir=out,
        timezone=config.options.daylight.timezone,
        options=NotifyOptions(timeout=10.0, attempts=2, backoff=0.5, max_wait=5.0),
    )
    sent = notifier.notify(detections, timeout=60.0)
    report.alerts_sent += len(sent.sent)
    for failure in sent.failed:
        _log.warning("alert failed (tried again by the next job): %s", failure.describe())
    return not sent.failed


# --------------------------------------------------------------------------------------------


def _publish(publish: Callable[[Path], None] | None, detections: Path) -> bool:
    if publish is None or not detections.is_file():
        return True
    try:
        publish(detections)
    except SmokewatchError as exc:
        _log.warning("import into the service failed (tried again by the next job): %s", exc)
        return False
    return True


def sync_camera(
    config: WatchConfig,
    camera_id: int,
    *,
    detector: Callable[[], Detector],
    hook: Hook = _no_hook,
    panorama: Callable[[PhotoGroup], Any] | None = None,
    publish: Callable[[Path], None] | None = None,
) -> SyncReport:
    """Bring ``camera_id`` up to date: inbox -> frames -> windows -> events -> alerts.

    ``detector`` is called only when there is a window to score or an event to raise (a
    worker caches the model); ``panorama`` makes a frame of a photo group (default: the
    camera's :class:`PanoramaMaker`, or the photo itself without a registration);
    ``publish`` takes a day's ``detections.json`` into the labeling service (events for
    researchers, uncertain clips for volunteers) each time its events are raised: it must be
    idempotent, and a failure keeps the day "not raised" so that the next job tries again.
    """
    report = SyncReport()
    source = config.camera(camera_id)
    if panorama is None:
        if source.registration is not None:
            from smokewatch.camera.panorama import PanoramaMaker

            panorama = PanoramaMaker(source.registration).make
        else:
            panorama = _identity
    _ingest(config, camera_id, report, panorama)
    hook("ingested")
    views = select_camera(load_views(config.views), camera_id, source=str(config.views))
    days = day_folders(config.data_dir, camera_id)
    for day in days:
        frames = day / FRAMES
        if not (frames / "frames.json").is_file():
            continue
        state = load_scan_state(day / DETECT / SCAN, list(views))
        closed = day_is_over(day, days)
        scored = scored_positions(state, list(views))
        times = FrameTimes(_frame_times(frames), config.gap_seconds)
        pending = _windows_due(state, times, config.options.window_frames, list(views))
        # events are raised once per (scored windows, closed): "raised" records it, last
        if not pending and state.get("raised") == [scored, closed]:
            continue
        model = detector()
        windows = _score(config, day, times, dict(views), model, report, hook, closed)
        alerted = _raise_events(
            config, camera_id, day, dict(views), windows, model, closed, report, hook
        )
        published = _publish(publish, day / DETECT / "detections.json")
        state = load_scan_state(day / DETECT / SCAN, list(views))
        # an alert or an import that failed keeps the day "not raised": every job tries again
        done = alerted and published
        state["raised"] = [scored_positions(state, list(views)), closed] if done else None
        atomic_write_text(day / DETECT / SCAN, json.dumps(state))
    report.raised_at.pop("_last_window_time", None)
    return report
