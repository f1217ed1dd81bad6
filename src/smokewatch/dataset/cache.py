"""A uint8 ``.npy`` cache of decoded clips, and RISE's frame perturbation.

Decoding H.264 costs more than reading raw pixels back (a 36x180x180x3 clip is 3.5 MB as
uint8), and training reads every clip many times, so clips are decoded once and kept as
``<cache_dir>/<stem>.npy``. The cache stays uint8 (float32 would be 4x the disk and page
cache); normalisation belongs to the data loader.

A cached file is reused only while it is newer than its video, and written atomically, so an
interrupted build never leaves a half-written array that a later epoch would load. A corrupt
video is skipped and reported: one bad clip out of 12,000 must not abort an hour of decoding.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from smokewatch.core.atomic import atomic_path
from smokewatch.errors import VideoError

__all__ = [
    "CacheReport",
    "build_cache",
    "cache_path",
    "cached_frames",
    "find_videos",
    "load_clip_array",
    "save_clip_array",
    "is_fresh",
    "perturb_frames",
]


@dataclass(slots=True)
class CacheReport:
    """What :func:`build_cache` did: counts of arrays written and reused, and each failure."""

    written: int = 0
    reused: int = 0
    failed: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.written + self.reused + len(self.failed)

    @property
    def ok(self) -> bool:
        return not self.failed


def cache_path(video_path: str | os.PathLike[str], cache_dir: str | os.PathLike[str]) -> Path:
    """Where the decoded array of ``video_path`` lives: ``<cache_dir>/<stem>.npy``."""
    return Path(cache_dir) / f"{Path(video_path).stem}.npy"


def is_fresh(cached: Path, video: Path) -> bool:
    try:
        return cached.stat().st_mtime_ns >= video.stat().st_mtime_ns
    except FileNotFoundError:
        return False


def load_clip_array(
    cached: Path, *, channels: int = 3, frames: int | None = None, mmap: bool = False
) -> np.ndarray | None:
    """A cached uint8 ``(T, H, W, channels)`` clip, or None when it is missing, unreadable or
    not such an array (then rebuild it). ``mmap``: map it instead of reading it (to check)."""
    try:
        arr: np.ndarray = np.load(cached, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    if arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[-1] != channels:
        return None
    if frames is not None and arr.shape[0] != frames:
        return None
    return arr


def save_clip_array(arr: np.ndarray, target: Path) -> None:
    """Write a clip array atomically: a reader sees the whole array or none."""
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, arr, allow_pickle=False)


def _cached(
    video_path: Path, cache_dir: Path, expected_frames: int | None
) -> tuple[np.ndarray, bool]:
    """(frames, written?) for one clip: reuse a fresh cache entry or decode and store."""
    from smokewatch.video import read_clip  # PyAV only when something must be decoded

    target = cache_path(video_path, cache_dir)
    if not video_path.exists():
        raise VideoError(f"{video_path}: no such file")
    if is_fresh(target, video_path):
        arr = load_clip_array(target, frames=expected_frames)
        if arr is not None:
            return arr, False
    arr = read_clip(video_path, expected_frames=expected_frames)
    save_clip_array(arr, target)
    return arr, True


def cached_frames(
    video_path: str | os.PathLike[str],
    cache_dir: str | os.PathLike[str],
    *,
    expected_frames: int | None = None,
) -> np.ndarray:
    """The clip's uint8 ``(T, H, W, 3)`` frames, decoded once and cached as ``<stem>.npy``.

    The cache entry is reused while its modification time is not older than the video's; a
    re-encoded or re-downloaded video is decoded again. Errors are :class:`VideoError`.
    """
    arr, _ = _cached(Path(video_path), Path(cache_dir), expected_frames)
    return arr


def find_videos(video_dir: Path) -> list[Path]:
    if not video_dir.is_dir():
        raise VideoError(f"{video_dir}: not a folder of videos")
    # Names starting with "." are atomic writers' temporary files, not clips.
    found = (p for p in video_dir.rglob("*") if p.suffix.lower() == ".mp4")
    return sorted(p for p in found if p.is_file() and not p.name.startswith("."))


def build_cache(
    video_dir: str | os.PathLike[str],
    cache_dir: str | os.PathLike[str],
    *,
    strict: bool = False,
    progress: bool | Callable[[Iterable[Path]], Iterable[Path]] = True,
    expected_frames: int | None = None,
) -> CacheReport:
    """Decode every ``*.mp4`` under ``video_dir`` (recursively) into ``cache_dir``.

    Corrupt or unreadable videos are recorded in :attr:`CacheReport.failed` and skipped;
    with ``strict`` the first failure raises its :class:`VideoError` instead. Two videos with
    the same stem would share a cache file, so the second is reported as failed.
    ``progress`` shows a rich progress bar on stderr (or wraps the iterable with a callable).
    """
    src = Path(video_dir)
    dst = Path(cache_dir)
    videos = find_videos(src)
    report = CacheReport()
    items: Iterable[Path] = videos
    if progress is True:
        from rich.console import Console
        from rich.progress import track

        console = Console(stderr=True)
        items = track(videos, description="caching clips", console=console, transient=True)
    elif callable(progress):
        items = progress(videos)
    seen: dict[str, Path] = {}
    dst.mkdir(parents=True, exist_ok=True)
    for path in items:
        stem = path.stem
        if stem in seen:
            message = f"{path}: same file name as {seen[stem]}; both would be cached as {stem}.npy"
            if strict:
                raise VideoError(message)
            report.failed.append((path, message))
            continue
        seen[stem] = path
        try:
            _, written = _cached(path, dst, expected_frames)
        except VideoError as exc:
            if strict:
                raise
            report.failed.append((path, str(exc)))
            continue
        if written:
            report.written += 1
        else:
            report.reused += 1
    return report


def perturb_frames(frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The clip with its frames in a random order (RISE's ``-FP`` frame perturbation).

    RISE trains/tests on shuffled frames to measure how much a model relies on temporal
    order. Returns a new array; pixels within each frame are untouched.
    """
    frames = np.asarray(frames)
    if frames.ndim < 1 or frames.shape[0] == 0:
        raise ValueError(f"expected frames along the first axis, got shape {frames.shape}")
    return frames[rng.permutation(frames.shape[0])]
