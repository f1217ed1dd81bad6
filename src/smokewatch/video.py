"""Decode and encode video files: the one module that imports PyAV.

Every wing that touches a video (clip extraction, the decoded-clip cache, detection) goes
through here, so that

* a bad file always surfaces the same way: :class:`~smokewatch.errors.VideoError` naming the
  file, never a bare ``av`` exception deep inside a training loop;
* truncation is caught: a file whose container promises N frames but decodes fewer is an
  error, not a silently shorter clip (FFmpeg happily returns what it could read);
* clips are written atomically (temp file + rename), so a crash never leaves a half-written
  ``.mp4`` that a later run would "reuse".

Frames are ``uint8`` RGB arrays, ``(H, W, 3)`` per frame and ``(T, H, W, 3)`` per clip.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import av
import numpy as np
from PIL import Image

from smokewatch.core.atomic import atomic_path
from smokewatch.errors import VideoError

__all__ = [
    "IMAGE_ERRORS",
    "LostFrames",
    "VideoInfo",
    "VideoWriter",
    "iter_frames",
    "iter_frames_tolerant",
    "probe",
    "read_clip",
    "write_clip",
]

#: Exceptions PyAV/FFmpeg raise for unreadable input (OSError covers missing/permission).
_AV_ERRORS: tuple[type[BaseException], ...] = (av.FFmpegError, OSError, EOFError)

#: What Pillow raises for an image file it cannot decode, for every wing that reads frames
#: or photos as images: OSError (missing, truncated, not an image: ``UnidentifiedImageError``
#: is one), SyntaxError (a broken PNG chunk), ValueError, and ``DecompressionBombError`` for
#: an image over ``Image.MAX_IMAGE_PIXELS``, which is not an OSError. Catch these to turn a
#: bad file into a one-line error instead of a traceback from deep inside Pillow.
IMAGE_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    SyntaxError,
    ValueError,
    Image.DecompressionBombError,
)


@dataclass(frozen=True, slots=True)
class VideoInfo:
    """What a video file holds, read from its container (frames counted if not recorded)."""

    frames: int
    width: int
    height: int
    fps: float
    codec: str


def _describe(exc: BaseException) -> str:
    """A short reason from an FFmpeg/OS error, without PyAV's repeated file name."""
    if isinstance(exc, av.FFmpegError) and exc.strerror:
        return str(exc.strerror)
    if isinstance(exc, OSError) and exc.strerror:
        return str(exc.strerror)
    return str(exc) or type(exc).__name__


def _open(path: Path) -> Any:
    """Open ``path`` for reading; missing, empty and non-video files become VideoError."""
    if not path.exists():
        raise VideoError(f"{path}: no such file")
    if path.is_dir():
        raise VideoError(f"{path}: is a folder, expected a video file")
    if path.stat().st_size == 0:
        raise VideoError(f"{path}: empty file")
    try:
        container = av.open(str(path), mode="r")
    except _AV_ERRORS as exc:
        raise VideoError(f"{path}: cannot open video ({_describe(exc)})") from None
    if not container.streams.video:
        container.close()
        raise VideoError(f"{path}: has no video stream (not a video, or truncated)")
    return container


def _rgb(frame: av.VideoFrame) -> np.ndarray:
    """A decoded frame as uint8 RGB, converted on the calling thread alone. PyAV (18.1.1 on)
    keeps its colour converter per thread, worker threads included; a process forked after
    the parent decoded (a DataLoader worker) inherits the converter but not its threads,
    and hangs on its first frame. One thread has no workers to miss."""
    out: np.ndarray = frame.to_ndarray(format="rgb24", threads=1)
    return out


def _decode(path: Path) -> Iterator[np.ndarray]:
    """Yield RGB frames; raise VideoError on decode errors or when frames are missing."""
    container = _open(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        promised = int(stream.frames or 0)
        count = 0
        try:
            for frame in container.decode(stream):
                yield _rgb(frame)
                count += 1
        except _AV_ERRORS as exc:
            raise VideoError(
                f"{path}: corrupt video, decoding failed after {count} frames ({_describe(exc)})"
            ) from None
        if count == 0:
            raise VideoError(f"{path}: no decodable frames (corrupt or truncated file)")
        if promised and count < promised:
            raise VideoError(
                f"{path}: truncated video, decoded {count} of the {promised} frames "
                "its container lists"
            )
    finally:
        container.close()


def iter_frames(path: str | os.PathLike[str]) -> Iterator[np.ndarray]:
    """Yield the frames of a (possibly long) video one at a time, as uint8 ``(H, W, 3)`` RGB.

    For day-long timelapse that would not fit in memory. Errors (missing, corrupt, truncated)
    raise :class:`VideoError` naming the file, possibly after some frames were yielded.
    """
    return _decode(Path(path))


@dataclass(frozen=True, slots=True)
class LostFrames:
    """``count`` frames at this point of a video that could not be decoded, and why."""

    count: int
    reason: str


def _frame_index(frame: Any, origin: int, step: float, fallback: int) -> int:
    """A decoded frame's position in the video, from its timestamp when it has one."""
    if frame.pts is None or step <= 0:
        return fallback
    pts: int = frame.pts
    return round((pts - origin) / step)


def _tolerant(path: Path) -> Iterator[np.ndarray | LostFrames]:
    container = _open(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        promised = int(stream.frames or 0)
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        tb = stream.time_base
        step = float(1 / (rate * tb)) if rate and tb else 0.0
        origin = int(stream.start_time or 0)
        expected = 0  # index of the next frame we have not yet accounted for
        reason = ""
        try:
            for packet in container.demux(stream):
                try:
                    frames = packet.decode()
                except _AV_ERRORS as exc:
                    reason = reason or _describe(exc)
                    continue
                for frame in frames:
                    index = _frame_index(frame, origin, step, expected)
                    if index < expected:  # a repeat or out-of-order frame: already counted
                        continue
                    if index > expected:
                        yield LostFrames(index - expected, reason or "frames the decoder dropped")
                        reason = ""
                    yield _rgb(frame)
                    expected = index + 1
        except _AV_ERRORS as exc:  # the container itself is damaged: nothing more to read
            reason = reason or _describe(exc)
        if expected == 0 and promised == 0:
            raise VideoError(f"{path}: no decodable frames (corrupt or truncated file)")
        if promised > expected:
            yield LostFrames(promised - expected, reason or "truncated")
    finally:
        container.close()


def iter_frames_tolerant(path: str | os.PathLike[str]) -> Iterator[np.ndarray | LostFrames]:
    """Like :func:`iter_frames`, but a damaged stretch is reported and skipped, not fatal.

    For a day of timelapse, where one bad segment must not cost the rest of the day. Packets
    are decoded one by one; a packet FFmpeg cannot decode is dropped, and the frames it cost
    are yielded as one :class:`LostFrames` where they were (counted from the next good frame's
    timestamp, or from the frame count the container lists, for a damaged end). Items are in
    order: each array is one frame, each ``LostFrames`` stands for ``count`` frames. A file
    that cannot be opened, or decodes to nothing, still raises :class:`VideoError`.
    """
    return _tolerant(Path(path))


def read_clip(path: str | os.PathLike[str], *, expected_frames: int | None = None) -> np.ndarray:
    """Decode a whole clip into a uint8 ``(T, H, W, 3)`` RGB array.

    ``expected_frames`` (RISE: 36) turns a wrong frame count into a :class:`VideoError` too,
    so a short clip cannot slip into a batch and break stacking much later.
    """
    p = Path(path)
    frames = list(_decode(p))
    if expected_frames is not None and len(frames) != expected_frames:
        raise VideoError(f"{p}: has {len(frames)} frames, expected {expected_frames}")
    shapes = {f.shape for f in frames}
    if len(shapes) != 1:
        raise VideoError(f"{p}: frame size changes within the clip ({sorted(shapes)})")
    return np.stack(frames)


def probe(path: str | os.PathLike[str]) -> VideoInfo:
    """Frame count, size, frame rate and codec of a video, without decoding pixels.

    The count comes from the container when it records one (MP4 does); otherwise the packets
    are counted, which reads the file but decodes nothing.
    """
    p = Path(path)
    container = _open(p)
    try:
        stream = container.streams.video[0]
        frames = int(stream.frames or 0)
        if frames == 0:
            try:
                frames = sum(1 for packet in container.demux(stream) if packet.size)
            except _AV_ERRORS as exc:
                raise VideoError(f"{p}: corrupt video ({_describe(exc)})") from None
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        return VideoInfo(
            frames=frames,
            width=int(stream.codec_context.width),
            height=int(stream.codec_context.height),
            fps=float(rate) if rate else 0.0,
            codec=str(stream.codec_context.name),
        )
    finally:
        container.close()


def _check_frames(frames: np.ndarray, path: Path) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"{path}: frames must be (T, H, W, 3), got shape {frames.shape}")
    if frames.dtype != np.uint8:
        raise ValueError(f"{path}: frames must be uint8, got {frames.dtype}")
    t, h, w, _ = frames.shape
    if t == 0:
        raise ValueError(f"{path}: no frames to write")
    if h % 2 or w % 2:
        raise ValueError(f"{path}: H.264 yuv420p needs even width and height, got {w}x{h}")
    return np.ascontiguousarray(frames)


def write_clip(
    frames: np.ndarray,
    path: str | os.PathLike[str],
    *,
    fps: int = 12,
    crf: int = 23,
) -> None:
    """Encode uint8 ``(T, H, W, 3)`` RGB frames as an H.264 MP4 (libx264, yuv420p, faststart).

    The file appears under ``path`` only once it is complete: it is encoded to a temporary
    file beside it and renamed, so an error or interrupt leaves no partial clip. ``faststart``
    puts the index first so browsers (the labeling pages) can start playing immediately. The
    file is flushed to disk before the rename (by ``atomic_path``), so a crash cannot leave an
    empty clip there.
    """
    p = Path(path)
    frames = _check_frames(frames, p)
    _, height, width, _ = frames.shape
    with atomic_path(p) as tmp:
        try:
            with av.open(
                str(tmp), mode="w", format="mp4", container_options={"movflags": "+faststart"}
            ) as container:
                stream = container.add_stream("libx264", rate=Fraction(fps))
                stream.width = width
                stream.height = height
                stream.pix_fmt = "yuv420p"
                stream.options = {"crf": str(crf)}
                for frame in frames:
                    video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
                    container.mux(stream.encode(video_frame))
                container.mux(stream.encode(None))
        except _AV_ERRORS as exc:
            raise VideoError(f"{p}: cannot write video ({_describe(exc)})") from None


class VideoWriter:
    """Stream uint8 ``(H, W, 3)`` RGB frames into an H.264 MP4, one at a time (a day of
    panoramas never sits in memory), with :func:`write_clip`'s guarantees.

    ``with VideoWriter(path) as out: out.write(frame) ...``: frames go to the encoder as they
    come; the file appears under ``path`` only when the block ends cleanly (temp file beside
    it, then a rename), and an error inside the block leaves nothing there. The size is the
    first frame's; every frame must have it. ``pad_odd`` repeats the last row/column of a
    frame with an odd height/width (H.264 in yuv420p needs even ones) instead of refusing it:
    boxes in panorama pixels stay where they were. ``lookahead`` bounds the frames libx264
    keeps for rate control (its default, 40 panoramas of 7000 pixels, is ~600 MB).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fps: float = 12,
        crf: int = 23,
        pad_odd: bool = False,
        lookahead: int = 10,
        faststart: bool = True,
    ) -> None:
        if not fps > 0:
            raise ValueError(f"{path}: fps must be positive, got {fps}")
        self.path = Path(path)
        self.fps = Fraction(fps).limit_denominator(1001)
        self.crf = crf
        self.pad_odd = pad_odd
        self.lookahead = lookahead
        self.faststart = faststart
        self.frames = 0
        self.shape: tuple[int, int, int] | None = None  #: the first frame's (H, W, 3)
        self._stack: contextlib.ExitStack | None = None
        self._tmp: Path | None = None
        self._container: Any = None
        self._stream: Any = None

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.close()
        else:
            self.abort()

    def open(self) -> None:
        """Start the temporary file (``with`` does it); the encoder starts with frame one."""
        if self._stack is not None:
            raise RuntimeError(f"{self.path}: writer already open")
        stack = contextlib.ExitStack()
        self._tmp = stack.enter_context(atomic_path(self.path))
        self._stack = stack

    def _start(self, height: int, width: int) -> None:
        assert self._tmp is not None
        options = {"movflags": "+faststart"} if self.faststart else {}
        try:
            self._container = av.open(
                str(self._tmp), mode="w", format="mp4", container_options=options
            )
            stream = self._container.add_stream("libx264", rate=self.fps)
            stream.width = width
            stream.height = height
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": str(self.crf), "rc-lookahead": str(self.lookahead)}
            self._stream = stream
        except _AV_ERRORS as exc:
            raise VideoError(f"{self.path}: cannot write video ({_describe(exc)})") from None

    def write(self, frame: np.ndarray) -> None:
        """Encode one uint8 ``(H, W, 3)`` RGB frame."""
        if self._stack is None:
            raise RuntimeError(f"{self.path}: writer is not open (use it in a with block)")
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[-1] != 3 or frame.dtype != np.uint8:
            raise VideoError(
                f"{self.path}: frame {self.frames} must be uint8 (H, W, 3) RGB, got "
                f"{frame.dtype} {frame.shape}"
            )
        if self.shape is None:
            h, w, _ = frame.shape
            if (h % 2 or w % 2) and not self.pad_odd:
                raise VideoError(
                    f"{self.path}: H.264 yuv420p needs even width and height, got {w}x{h}"
                )
            self.shape = (h, w, 3)
            self._start(h + h % 2, w + w % 2)
        elif frame.shape != self.shape:
            raise VideoError(
                f"{self.path}: frame {self.frames} is {frame.shape[1]}x{frame.shape[0]}, "
                f"the first was {self.shape[1]}x{self.shape[0]}"
            )
        h, w, _ = frame.shape
        if h % 2 or w % 2:
            frame = np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
        try:
            video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            self._container.mux(self._stream.encode(video_frame))
        except _AV_ERRORS as exc:
            raise VideoError(f"{self.path}: cannot write video ({_describe(exc)})") from None
        self.frames += 1

    def close(self) -> None:
        """Flush the encoder and move the finished file into place (no frames: an error)."""
        stack = self._stack
        if stack is None:
            return
        try:
            if self.frames == 0:
                raise VideoError(f"{self.path}: no frames to write")
            try:
                self._container.mux(self._stream.encode(None))
                self._container.close()
            except _AV_ERRORS as exc:
                raise VideoError(f"{self.path}: cannot write video ({_describe(exc)})") from None
            self._container = None
        except BaseException:
            self.abort()
            raise
        self._stack = None
        stack.close()  # the rename

    def abort(self) -> None:
        """Stop and remove the temporary file; nothing appears under ``path``."""
        stack, self._stack = self._stack, None
        if self._container is not None:
            with contextlib.suppress(*_AV_ERRORS):
                self._container.close()
            self._container = None
        if stack is not None:
            stack.__exit__(_Aborted, _Aborted(), None)


class _Aborted(Exception):
    """Raised into :func:`~smokewatch.core.atomic.atomic_path` so it removes its temp file."""
