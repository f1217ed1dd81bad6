"""Optical-flow frames for the flow stream of a two-stream model (RISE's ``i3d-flow``).

RISE computed dense optical flow between the grey frames of each 36-frame clip with OpenCV's
TV-L1 (``cv2.optflow.DualTVL1OpticalFlow_create`` from opencv-contrib, default parameters),
clipped each component to ±20 pixels, mapped ``[-20, 20]`` linearly onto ``[0, 255]`` and
cached the result as ``uint8`` ``(T, H, W, 2)`` arrays (channel 0 = x, channel 1 = y); the
data loader then scaled the cached values to ``[-1, 1]`` with ``(v - 127.5) / 127.5``. It kept
the clip's frame count: frame 0 is the flow of the first frame onto itself (zero), so the flow
stream sees the same 36 time steps as the RGB stream. This module does the same, with two
deliberate differences that are options here:

* RISE's loop never updated its reference frame, so its "flow" at frame ``t`` is the motion
  from frame 0 to frame ``t`` (large late in the clip and often clipped), not frame-to-frame
  motion. We compute consecutive flow (``reference="previous"``, the intent of the code and of
  two-stream I3D); ``reference="first"`` reproduces RISE's arrays.
* RISE truncated when casting to ``uint8``; :func:`flow_to_uint8` rounds (half a level, 0.08 px,
  less bias).

TV-L1 is slow (tens of seconds per 36×180×180 clip on one core); DIS (``cv2.DISOpticalFlow``,
medium preset) is the fast option, and Farnebäck is offered too. Choose by name: ``"tvl1"``,
``"dis"`` or ``"farneback"``. OpenCV is imported only when flow is computed.

The batch function :func:`compute_flow_cache` writes ``<out_dir>/<stem>.npy`` atomically, reuses
entries newer than their video, records the flow settings in ``<out_dir>/flow.json`` (so a
cache made by DIS is never silently mixed with TV-L1) and reports corrupt videos instead of
aborting.

Flow frames are data, made and cached beside the decoded clips, so they live in ``dataset``;
the model that reads them is ``models/flow_i3d.py``, and ``models`` never imports ``dataset``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np

from smokewatch.core.atomic import atomic_write_text
from smokewatch.dataset.cache import (
    CacheReport,
    cache_path,
    find_videos,
    is_fresh,
    load_clip_array,
    save_clip_array,
)
from smokewatch.errors import VideoError

__all__ = [
    "FLOW_METHODS",
    "RISE_FLOW_BOUND",
    "FlowCacheReport",
    "FlowMethod",
    "FlowReference",
    "clip_flow",
    "compute_flow",
    "compute_flow_cache",
    "flow_cache_path",
    "flow_to_uint8",
    "uint8_to_flow",
]

FlowMethod = Literal["tvl1", "dis", "farneback"]
FlowReference = Literal["previous", "first"]

#: The flow methods by name, fastest last: TV-L1 (RISE's), DIS, Farnebäck.
FLOW_METHODS: tuple[str, ...] = get_args(FlowMethod)

#: RISE's clipping bound in pixels (``clip_flow_bound=20`` in its ``process_videos.py``).
RISE_FLOW_BOUND = 20.0

#: Name of the settings file kept beside cached flow arrays.
MANIFEST = "flow.json"


# --------------------------------------------------------------------------------------------
# Computing flow
# --------------------------------------------------------------------------------------------


def _check_frames(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be (T, H, W, 3) RGB, got shape {frames.shape}")
    if frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8, got {frames.dtype}")
    if frames.shape[0] == 0:
        raise ValueError("frames must hold at least one frame")
    return frames


def _flow_function(method: str) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """A function (grey_a, grey_b) -> float32 (H, W, 2) flow from a onto b, for ``method``."""
    import cv2  # opencv-contrib-python(-headless); only when flow is computed

    cv: Any = cv2
    if method == "tvl1":
        # RISE: cv.optflow.DualTVL1OpticalFlow_create() with OpenCV's default parameters.
        tvl1 = cv.optflow.DualTVL1OpticalFlow_create()
        return lambda a, b: np.asarray(tvl1.calc(a, b, None), dtype=np.float32)
    if method == "dis":
        dis = cv.DISOpticalFlow_create(cv.DISOPTICAL_FLOW_PRESET_MEDIUM)
        return lambda a, b: np.asarray(dis.calc(a, b, None), dtype=np.float32)
    if method == "farneback":
        # The parameters RISE's OpticalFlow class passed for its Farneback option.
        def farneback(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            flow = cv.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0)
            return np.asarray(flow, dtype=np.float32)

        return farneback
    raise ValueError(f"unknown flow method {method!r}; choose one of {', '.join(FLOW_METHODS)}")


def _grey(frames: np.ndarray) -> list[np.ndarray]:
    import cv2

    cv: Any = cv2
    return [np.asarray(cv.cvtColor(np.ascontiguousarray(f), cv.COLOR_RGB2GRAY)) for f in frames]


def clip_flow(flow: np.ndarray, bound: float = RISE_FLOW_BOUND) -> np.ndarray:
    """``flow`` (pixels) with every component clipped to ``[-bound, bound]``, as float32."""
    if not bound > 0:
        raise ValueError(f"bound must be positive, got {bound}")
    return np.clip(np.asarray(flow, dtype=np.float32), -bound, bound)


def compute_flow(
    frames: np.ndarray,
    method: FlowMethod = "tvl1",
    *,
    bound: float | None = RISE_FLOW_BOUND,
    pad_first: bool = True,
    reference: FlowReference = "previous",
) -> np.ndarray:
    """Dense optical flow of a clip: uint8 ``(T, H, W, 3)`` RGB -> float32 ``(T, H, W, 2)``.

    Channel 0 is the horizontal (x, positive = rightwards) and channel 1 the vertical
    (y, positive = downwards) displacement in pixels. Frame ``t`` holds the flow from frame
    ``t - 1`` onto frame ``t`` (``reference="previous"``), or from frame 0 onto frame ``t``
    (``reference="first"``, what RISE's code computed). With ``pad_first`` (RISE's layout)
    frame 0 is all zeros so the result has ``T`` frames like the RGB clip; without it the
    result has ``T - 1`` frames. Components are clipped to ``±bound`` pixels (RISE: 20;
    ``None`` keeps them raw).
    """
    frames = _check_frames(frames)
    if reference not in ("previous", "first"):
        raise ValueError(f"reference must be 'previous' or 'first', got {reference!r}")
    if bound is not None and not bound > 0:
        raise ValueError(f"bound must be positive, got {bound}")
    flow_of = _flow_function(method)
    t, h, w, _ = frames.shape
    if t < 2 and not pad_first:
        raise ValueError("a clip needs at least 2 frames for flow between frames")
    grey = _grey(frames)
    out = np.zeros((t, h, w, 2), dtype=np.float32)
    for i in range(1, t):
        source = grey[i - 1] if reference == "previous" else grey[0]
        out[i] = flow_of(source, grey[i])
    if bound is not None:
        np.clip(out, -bound, bound, out=out)
    return out if pad_first else out[1:]


# --------------------------------------------------------------------------------------------
# Scaling (RISE: [-20, 20] px -> uint8 [0, 255] on disk -> [-1, 1] for the network)
# --------------------------------------------------------------------------------------------


def flow_to_uint8(flow: np.ndarray, bound: float = RISE_FLOW_BOUND) -> np.ndarray:
    """Clip to ``±bound`` and map ``[-bound, bound]`` linearly onto uint8 ``[0, 255]`` (rounded).

    This is RISE's on-disk flow format (``(f + 20) * 255 / 40``); zero flow becomes 128 and one
    level is ``2 * bound / 255`` pixels (0.157 px for RISE's bound).
    """
    scaled = (clip_flow(flow, bound) + bound) * (255.0 / (2.0 * bound))
    return np.rint(scaled).astype(np.uint8)


def uint8_to_flow(flow_u8: np.ndarray, bound: float = RISE_FLOW_BOUND) -> np.ndarray:
    """Invert :func:`flow_to_uint8`: uint8 ``[0, 255]`` -> float32 pixels in ``[-bound, bound]``."""
    arr = np.asarray(flow_u8)
    if arr.dtype != np.uint8:
        raise ValueError(f"expected uint8 flow, got {arr.dtype}")
    if not bound > 0:
        raise ValueError(f"bound must be positive, got {bound}")
    return arr.astype(np.float32) * np.float32(2.0 * bound / 255.0) - np.float32(bound)


# --------------------------------------------------------------------------------------------
# Batch cache
# --------------------------------------------------------------------------------------------


#: The flow cache reports and names files exactly as the decoded-clip cache does.
FlowCacheReport = CacheReport
flow_cache_path = cache_path


def _settings(
    method: str, bound: float, pad_first: bool, reference: str
) -> dict[str, str | float | bool]:
    return {
        "format": "uint8 (T, H, W, 2), [-bound, bound] px -> [0, 255]",
        "method": method,
        "bound": float(bound),
        "pad_first": pad_first,
        "reference": reference,
    }


def _check_manifest(out_dir: Path, settings: dict[str, str | float | bool]) -> None:
    """Refuse to mix flow made with other settings into ``out_dir``; record ours if new."""
    manifest = out_dir / MANIFEST
    if manifest.is_file():
        try:
            existing = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"{manifest}: unreadable flow cache settings ({exc})") from None
        if existing != settings:
            diff = sorted(k for k in settings if existing.get(k) != settings[k])
            raise ValueError(
                f"{out_dir}: holds flow made with other settings ({', '.join(diff)}: "
                f"{', '.join(f'{existing.get(k)!r} there' for k in diff)}); "
                "use another folder or delete it"
            )
        return
    atomic_write_text(manifest, json.dumps(settings, indent=2) + "\n")


def _one(
    video: Path,
    target: Path,
    method: FlowMethod,
    bound: float,
    pad_first: bool,
    reference: FlowReference,
    expected_frames: int | None,
) -> str:
    """Compute and store one clip's flow; 'written' or 'reused'. Raises VideoError."""
    from smokewatch.video import read_clip  # PyAV only when something must be decoded

    out_frames = None
    if expected_frames is not None:
        out_frames = expected_frames if pad_first else expected_frames - 1
    if is_fresh(target, video) and (
        load_clip_array(target, channels=2, frames=out_frames, mmap=True) is not None
    ):
        return "reused"
    frames = read_clip(video, expected_frames=expected_frames)
    if frames.shape[0] < 2 and not pad_first:
        raise VideoError(f"{video}: has {frames.shape[0]} frame, flow needs at least 2")
    flow = compute_flow(frames, method, bound=bound, pad_first=pad_first, reference=reference)
    save_clip_array(flow_to_uint8(flow, bound), target)
    return "written"


def compute_flow_cache(
    video_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    method: FlowMethod = "tvl1",
    workers: int = 1,
    bound: float = RISE_FLOW_BOUND,
    pad_first: bool = True,
    reference: FlowReference = "previous",
    expected_frames: int | None = None,
    strict: bool = False,
    progress: Callable[[Path, str], None] | None = None,
) -> FlowCacheReport:
    """Compute the flow of every ``*.mp4`` under ``video_dir`` into ``<out_dir>/<stem>.npy``.

    Each array is uint8 ``(T, H, W, 2)`` (:func:`flow_to_uint8` of :func:`compute_flow`),
    written atomically; an entry newer than its video is reused. ``workers`` clips are
    computed at once in threads (OpenCV and PyAV release the GIL). Corrupt or unreadable
    videos (:class:`~smokewatch.errors.VideoError`) and duplicate stems are recorded in
    :attr:`FlowCacheReport.failed` and skipped; with ``strict`` the first one raises.
    ``progress(video, status)`` is called after each clip with ``"written"``, ``"reused"`` or
    ``"failed"``. TV-L1 takes tens of seconds per RISE clip; ``method="dis"`` is far faster.
    """
    if method not in FLOW_METHODS:
        raise ValueError(f"unknown flow method {method!r}; choose one of {', '.join(FLOW_METHODS)}")
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if not bound > 0:
        raise ValueError(f"bound must be positive, got {bound}")
    src, dst = Path(video_dir), Path(out_dir)
    videos = find_videos(src)
    dst.mkdir(parents=True, exist_ok=True)
    _check_manifest(dst, _settings(method, bound, pad_first, reference))

    report = FlowCacheReport()

    def record(video: Path, status: str, message: str = "") -> None:
        if status == "failed":
            if strict:
                raise VideoError(message)
            report.failed.append((video, message))
        elif status == "written":
            report.written += 1
        else:
            report.reused += 1
        if progress is not None:
            progress(video, status)

    jobs: list[Path] = []
    seen: dict[str, Path] = {}
    for video in videos:
        if video.stem in seen:
            record(
                video,
                "failed",
                f"{video}: same file name as {seen[video.stem]}; "
                f"both would be cached as {video.stem}.npy",
            )
            continue
        seen[video.stem] = video
        jobs.append(video)

    def run(video: Path) -> tuple[str, str]:
        try:
            target = flow_cache_path(video, dst)
            return (
                _one(video, target, method, bound, pad_first, reference, expected_frames),
                "",
            )
        except VideoError as exc:
            return "failed", str(exc)

    if workers == 1:
        for video in jobs:
            record(video, *run(video))
    else:
        pool = ThreadPoolExecutor(max_workers=workers)
        try:
            # map keeps the order of the videos, so reports are the same for any worker count.
            for video, (status, message) in zip(jobs, pool.map(run, jobs), strict=True):
                record(video, status, message)
        finally:
            # On a strict failure (or Ctrl-C) drop the clips not yet started.
            pool.shutdown(wait=True, cancel_futures=True)
    return report
