"""Scoring windows as they come: batched through the model, Grad-CAM where the gate opens,
smoke windows kept for evidence.

Windows arrive in time order per view (views interleaved); :class:`WindowScan` batches them
across views, and after each batch decides what to keep: a smoke window, and the windows of
its view before it that a filled gap may make part of an event (the last ``max_gap``, or, when
windows overlap more than half, as many as may lie between two overlapping windows); and,
for labeling (``label_clips``), the view's windows whose probability is nearest 0.5 so far.
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass
from pathlib import PurePath

import numpy as np

from smokewatch.core.detections import Window
from smokewatch.detect.detector import DetectError, Detector
from smokewatch.detect.evidence import WindowStore
from smokewatch.detect.options import DetectOptions
from smokewatch.explain.gradcam import activation_ratio

__all__ = ["Slot", "WindowScan"]


@dataclass(frozen=True, slots=True)
class Slot:
    """Where a window lies, before it is scored. ``stretch``: the unbroken stretch of frames
    it was cut from (windows of two stretches never join into one event)."""

    start_frame: int
    end_frame: int
    start_time: float
    end_time: float
    file: str | None = None
    stretch: int = 0


class WindowScan:
    """``add(view, slot, frames)`` windows, ``flush()`` at the end; then ``windows[view]``
    (each with its ``Slot.stretch``, which :func:`find_events` reads)."""

    def __init__(
        self,
        views: int,
        *,
        detector: Detector,
        options: DetectOptions,
        stores: list[WindowStore],
        batch_size: int,
        label_clips: int = 0,
    ) -> None:
        self.detector = detector
        self.label_clips = max(0, label_clips)
        #: per view, the ``label_clips`` non-smoke windows nearest 0.5: (-distance, -index)
        self.uncertain: list[list[tuple[float, int]]] = [[] for _ in range(views)]
        self.options = options
        self.stores = stores
        self.batch_size = max(1, batch_size)
        self.windows: list[list[Window]] = [[] for _ in range(views)]
        # a run fills up to max_gap windows, or any between two windows sharing frames
        between = max(options.rule.max_gap, (options.window_frames - 1) // options.window_step)
        self.recent: list[deque[tuple[int, np.ndarray]]] = [
            deque(maxlen=between) for _ in range(views)
        ]
        self.pending: list[tuple[int, Slot, np.ndarray]] = []
        self.model_calls = 0

    def add(self, view: int, slot: Slot, frames: np.ndarray) -> None:
        self.pending.append((view, slot, frames))
        if len(self.pending) >= self.batch_size:
            self.flush()

    def _cam(self, clips: np.ndarray, probs: np.ndarray) -> dict[int, np.ndarray]:
        cam = self.detector.cam
        if cam is None or not self.options.cam:
            return {}
        gated = [k for k, p in enumerate(probs) if p > self.options.cam_probability]
        if not gated:
            return {}
        volumes = cam(clips[gated])
        return dict(zip(gated, volumes, strict=True))

    def flush(self) -> None:
        if not self.pending:
            return
        clips = np.stack([frames for _, _, frames in self.pending])
        probs = np.asarray(self.detector.scorer(clips), dtype=np.float64)
        self.model_calls += 1
        if not np.isfinite(probs).all():
            # clamped, NaN would read as probability 0: smoke reported as "no events"
            k = int(np.flatnonzero(~np.isfinite(probs))[0])
            view, slot, _ = self.pending[k]
            raise DetectError(
                f"the model gave P(smoke) {probs[k]} for frames {slot.start_frame}-"
                f"{slot.end_frame} of view {self.stores[view].folder.name}"
                f"{f' ({PurePath(slot.file).name})' if slot.file else ''}: "
                "a model whose output is not a number is broken; retrain it"
            )
        volumes = self._cam(clips, probs)
        rule = self.options.rule
        for k, (view, slot, frames) in enumerate(self.pending):
            volume = volumes.get(k)
            ratio = None if volume is None else activation_ratio(volume, self.options.cam_threshold)
            window = Window(
                start_frame=slot.start_frame,
                end_frame=slot.end_frame,
                start_time=slot.start_time,
                end_time=slot.end_time,
                probability=min(1.0, max(0.0, float(probs[k]))),
                activation_ratio=ratio,
                file=slot.file,
                stretch=slot.stretch,
            )
            index = len(self.windows[view])
            self.windows[view].append(window)
            if rule.is_smoke(window.probability, window.activation_ratio):
                store = self.stores[view]
                for before, kept in self.recent[view]:
                    store.keep(before, kept)
                self.recent[view].clear()
                store.keep(index, frames, volume)
            else:
                if self.recent[view].maxlen:
                    self.recent[view].append((index, frames))
                self._candidate(view, index, window.probability, frames)
        self.pending.clear()

    def _candidate(self, view: int, index: int, probability: float, frames: np.ndarray) -> None:
        """Keep the window if it is among the view's ``label_clips`` nearest 0.5 (ties: the
        earlier window stays, as ``clips import --from-detections`` picks)."""
        if not self.label_clips:
            return
        heap = self.uncertain[view]
        item = (-abs(probability - 0.5), -index)
        if len(heap) < self.label_clips:
            heapq.heappush(heap, item)
        elif item > heap[0]:
            _, evicted = heapq.heapreplace(heap, item)
            self.stores[view].drop(-evicted)
        else:
            return
        self.stores[view].keep(index, frames, candidate=True)

    def uncertain_windows(self, view: int) -> list[int]:
        """The indices of the view's kept labeling candidates, in time order."""
        return sorted(-i for _, i in self.uncertain[view])
