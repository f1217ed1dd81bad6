"""Evidence: each event's clip (H.264 mp4) and the Grad-CAM overlay of its strongest window.

While a day is scored, only the windows an event can be made of are kept, and on disk, not
in memory: a smoke window, and the few windows before it that a gap may fill
(:class:`WindowStore`, a work folder inside the output folder, removed once the view's
evidence is written). A day of a busy view stays a few hundred megabytes at worst, on disk.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from smokewatch.core.atomic import atomic_path
from smokewatch.core.detections import Event, ViewDetections, Window
from smokewatch.core.window_clips import CLIPS_FOLDER, window_clip_name
from smokewatch.detect.detector import GifWriter
from smokewatch.detect.rule import EventRule, EventSpan
from smokewatch.errors import SmokewatchError

__all__ = ["EVIDENCE_DIR", "WindowStore", "event_id", "write_events", "write_window_clips"]

#: Evidence files live in ``<out>/evidence/``; events name them by path relative to ``<out>``.
EVIDENCE_DIR = "evidence"


class WindowStore:
    """The frames (uint8 ``[T, H, W, 3]``) and Grad-CAM volumes of kept windows, by index.

    A window kept for evidence stays; one kept only as a labeling candidate (``keep(...,
    candidate=True)``) may be dropped again when a more uncertain window takes its place.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._pinned: set[int] = set()
        shutil.rmtree(folder, ignore_errors=True)  # a killed run's leftovers are not this run's
        folder.mkdir(parents=True)

    def _path(self, index: int, kind: str) -> Path:
        return self.folder / f"{index:07d}.{kind}.npy"

    def keep(
        self,
        index: int,
        frames: np.ndarray,
        volume: np.ndarray | None = None,
        *,
        candidate: bool = False,
    ) -> None:
        if not candidate:
            self._pinned.add(index)
        if not self._path(index, "frames").exists():
            with atomic_path(self._path(index, "frames")) as tmp:
                np.save(tmp, np.ascontiguousarray(frames, dtype=np.uint8))
        if volume is not None:
            with atomic_path(self._path(index, "cam")) as tmp:
                np.save(tmp, np.asarray(volume, dtype=np.float16))

    def drop(self, index: int) -> None:
        """Forget a candidate's frames (a window kept for evidence stays)."""
        if index not in self._pinned:
            self._path(index, "frames").unlink(missing_ok=True)

    def frames(self, index: int) -> np.ndarray | None:
        path = self._path(index, "frames")
        return np.load(path) if path.exists() else None

    def volume(self, index: int) -> np.ndarray | None:
        path = self._path(index, "cam")
        return np.load(path).astype(np.float32) if path.exists() else None

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def event_id(camera_id: int, view_id: int, start_time: float, end_time: float) -> str:
    """``cam-view-start-end`` (epoch seconds): the same event gets the same id on a re-run."""
    return f"{camera_id}-{view_id}-{round(start_time)}-{round(end_time)}"


def _event_frames(span: EventSpan, windows: Sequence[Window], store: WindowStore) -> np.ndarray:
    """Frames ``span.start_frame..end_frame``, each from the first kept window that has it."""
    picked: dict[int, np.ndarray] = {}
    for j in span.windows:
        w = windows[j]
        if w.end_frame < span.start_frame or w.start_frame > span.end_frame:
            continue
        frames = store.frames(j)
        if frames is None:
            continue
        for f in range(max(w.start_frame, span.start_frame), min(w.end_frame, span.end_frame) + 1):
            if f not in picked and f - w.start_frame < len(frames):
                picked[f] = frames[f - w.start_frame]
    return np.stack([picked[f] for f in sorted(picked)]) if picked else np.zeros((0, 0, 0, 3))


def _strongest_cam(
    span: EventSpan, windows: Sequence[Window], store: WindowStore, rule: EventRule
) -> tuple[np.ndarray, np.ndarray] | None:
    """The frames and volume of the event's most probable smoke window that has a volume."""
    smoke = [
        j
        for j in span.windows
        if rule.is_smoke(windows[j].probability, windows[j].activation_ratio)
    ]
    for j in sorted(smoke, key=lambda j: -windows[j].probability):
        volume, frames = store.volume(j), store.frames(j)
        if volume is not None and frames is not None:
            return frames, volume
    return None


def write_events(
    spans: Sequence[EventSpan],
    windows: Sequence[Window],
    *,
    camera_id: int,
    view_id: int,
    time_of: Callable[[int], float],
    store: WindowStore,
    out_dir: Path,
    rule: EventRule,
    fps: int,
    write_gif: GifWriter | None,
) -> tuple[Event, ...]:
    """Each span as an :class:`Event` with its evidence written under ``out_dir/evidence``."""
    from smokewatch.video import write_clip

    events = []
    for span in spans:
        t0, t1 = time_of(span.start_frame), time_of(span.end_frame)
        name = event_id(camera_id, view_id, t0, t1)
        clip: str | None = None
        frames = _event_frames(span, windows, store)
        if len(frames):
            clip = f"{EVIDENCE_DIR}/{name}.mp4"
            write_clip(frames, out_dir / clip, fps=fps)
        gif: str | None = None
        strongest = _strongest_cam(span, windows, store, rule) if write_gif else None
        if write_gif is not None and strongest is not None:
            gif = f"{EVIDENCE_DIR}/{name}.gif"
            write_gif(*strongest, out_dir / gif, fps)
        events.append(
            Event(
                id=name,
                start_time=t0,
                end_time=t1,
                start_frame=span.start_frame,
                end_frame=span.end_frame,
                windows=span.windows,
                max_probability=max(windows[j].probability for j in span.windows),
                evidence_clip=clip,
                evidence_gif=gif,
            )
        )
    return tuple(events)


def write_window_clips(
    view: ViewDetections,
    indices: Sequence[int],
    *,
    store: WindowStore,
    out_dir: Path,
    size: int,
    timezone: str,
    fps: int,
) -> list[str]:
    """Write the clips of ``view``'s windows ``indices`` as ``out_dir/clips/<RISE name>.mp4``,
    the files ``clips import --from-detections`` takes; returns their paths relative to
    ``out_dir``. A window whose frames were not kept is left out; a clip already there (a
    re-run) is not written again."""
    from smokewatch.video import write_clip

    written = []
    for index in sorted(set(indices)):
        frames = store.frames(index)
        if frames is None:
            continue
        try:
            name = window_clip_name(view, view.windows[index], size=size, timezone=timezone)
        except SmokewatchError:
            continue  # a window no clip record can name; the import lists it as missing
        relative = f"{CLIPS_FOLDER}/{name.format()}.mp4"
        if not (out_dir / relative).exists():
            write_clip(frames, out_dir / relative, fps=fps)
        written.append(relative)
    return written
