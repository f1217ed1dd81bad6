"""A camera's photos with their true times: read, checked, grouped into panorama instants.

A photo's time is what a timelapse frame's time will be, so it must be the time the shutter
fired, not when a file was copied: EXIF ``DateTimeOriginal`` (with ``OffsetTimeOriginal``
when the camera wrote one, else local time in the camera's zone), else a strftime-style
pattern on the file name (cameras and upload scripts that drop EXIF), else an error naming
the file. Nothing here reads the clock or the machine's zone: the zone is passed in.

Bad input is the norm on a field camera (truncated uploads, retransmitted files, a clock
that jumped): :func:`scan_photos` reports each such file with its reason and skips it, so a
day is never lost to one bad photo.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from smokewatch.errors import SmokewatchError

#: Pillow's refusal of an image whose header claims more pixels than it will decode (a
#: "decompression bomb", or a corrupt header): a bad photo like any other, never a crash.
_TooLarge = Image.DecompressionBombError

__all__ = [
    "PHOTO_SUFFIXES",
    "Photo",
    "PhotoError",
    "PhotoGroup",
    "PhotoProblem",
    "PhotoScan",
    "PhotoTimeError",
    "group_photos",
    "list_photos",
    "load_photo",
    "photo_readings",
    "photo_time",
    "scan_photos",
    "show_path",
]

#: File suffixes taken as photos when a folder is given (case-insensitive).
PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".png"})

_EXIF_IFD = 0x8769
_DATETIME_ORIGINAL = 36867
_OFFSET_TIME_ORIGINAL = 36881
_SUBSEC_TIME_ORIGINAL = 37521
_MAKE, _MODEL, _BODY_SERIAL = 271, 272, 42033

# strftime directives a file-name pattern may use, as the regex that finds them in a name.
_DIRECTIVES = {
    "Y": r"\d{4}",
    "y": r"\d{2}",
    "m": r"\d{1,2}",
    "d": r"\d{1,2}",
    "H": r"\d{1,2}",
    "M": r"\d{1,2}",
    "S": r"\d{1,2}",
    "f": r"\d{1,6}",
    "j": r"\d{1,3}",
    "z": r"(?:Z|[+-]\d{2}:?\d{2})",
    "b": r"[A-Za-z]{3}",
    "%": "%",
}


class PhotoError(SmokewatchError):
    """A photo cannot be read (missing, corrupt, truncated, not an image); names the file."""


class PhotoTimeError(PhotoError, ValueError):
    """A photo's time cannot be found (no EXIF time, the name does not match the pattern)."""


def show_path(path: Path) -> str:
    """``path`` safe to print: undecodable bytes and control characters escaped.

    Photo names come from cameras and uploads; a name holding a newline or bytes that are
    not UTF-8 must not break a report line or the terminal.
    """
    text = os.fsdecode(path).encode("utf-8", "backslashreplace").decode("utf-8")
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


@dataclass(frozen=True, slots=True)
class Photo:
    """One photo and the epoch time it was taken."""

    path: Path
    time: float


@dataclass(frozen=True, slots=True)
class PhotoProblem:
    """A photo that was skipped, and why (one line, naming what was wrong)."""

    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{show_path(self.path)}: {self.reason}"


@dataclass(slots=True)
class PhotoScan:
    """The usable photos, sorted by time, and every skipped file with its reason."""

    photos: list[Photo] = field(default_factory=list)
    problems: list[PhotoProblem] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class PhotoGroup:
    """Photos taken at one instant (one panorama frame); ``time`` is the earliest photo's."""

    time: float
    photos: tuple[Photo, ...]


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    parts: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char != "%":
            parts.append(re.escape(char))
            i += 1
            continue
        code = pattern[i + 1 : i + 2]
        if code not in _DIRECTIVES:
            raise PhotoTimeError(
                f"--time-pattern {pattern!r}: unsupported directive %{code} "
                f"(use %Y %y %m %d %H %M %S %f %j %z %b)"
            )
        parts.append(_DIRECTIVES[code])
        i += 2
    return re.compile("".join(parts))


def _aware(naive: datetime, offset: str | None, tz: tzinfo) -> datetime:
    """A naive camera-clock time made aware: by the camera's offset if written, else ``tz``."""
    if offset:
        match = re.fullmatch(r"\s*([+-])(\d{2}):?(\d{2})\s*", offset)
        if match:
            sign = 1 if match[1] == "+" else -1
            delta = timedelta(hours=int(match[2]), minutes=int(match[3]))
            return naive.replace(tzinfo=timezone(sign * delta))
    return naive.replace(tzinfo=tz)


def _readings(when: datetime) -> tuple[float, ...]:
    """The instants a local time can be: two in the hour a DST change repeats (the first pass,
    then the second), else one (a time in the skipped hour is read with the offset before)."""
    first = when.replace(fold=0).timestamp()
    second = when.replace(fold=1).timestamp()
    return (first, second) if second > first else (first,)


def _exif_time(path: Path, tz: tzinfo) -> tuple[float, ...] | None:
    """The EXIF shutter time, or None when the file has none (or none that parses)."""
    try:
        with Image.open(path) as image:
            exif = image.getexif().get_ifd(_EXIF_IFD)
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError, _TooLarge):
        return None
    raw = exif.get(_DATETIME_ORIGINAL)
    if not isinstance(raw, str):
        return None
    try:
        naive = datetime.strptime(raw.strip().rstrip("\x00"), "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    subsec = str(exif.get(_SUBSEC_TIME_ORIGINAL) or "").strip().rstrip("\x00")
    if subsec.isdigit():
        naive += timedelta(seconds=float(f"0.{subsec}"))
    offset = exif.get(_OFFSET_TIME_ORIGINAL)
    return _readings(_aware(naive, offset if isinstance(offset, str) else None, tz))


def _name_time(path: Path, pattern: str, tz: tzinfo) -> tuple[float, ...]:
    match = _pattern_regex(pattern).search(path.name)
    if match is None:
        raise PhotoTimeError(
            f"{show_path(path)}: no EXIF DateTimeOriginal, and the name does not match "
            f"--time-pattern {pattern!r}"
        )
    try:
        when = datetime.strptime(match[0], pattern)
    except ValueError as exc:
        raise PhotoTimeError(f"{show_path(path)}: bad time in the name ({exc})") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=tz)
    return _readings(when)


def photo_time(path: Path, *, time_pattern: str | None = None, tz: tzinfo = UTC) -> float:
    """Epoch seconds the photo was taken: EXIF first, then the file-name pattern, else error.

    A time without an offset (EXIF without ``OffsetTimeOriginal``, a name without ``%z``) is
    the camera's local time in ``tz``; in the hour a DST change repeats, its first pass (a
    whole folder is read in order by :func:`scan_photos`, which can tell the second pass).
    """
    return photo_readings(path, time_pattern=time_pattern, tz=tz)[0]


def photo_readings(
    path: Path, *, time_pattern: str | None = None, tz: tzinfo = UTC
) -> tuple[float, ...]:
    """:func:`photo_time`'s instant, or both where the local time falls in a repeated hour."""
    path = Path(path)
    found = _exif_time(path, tz)
    if found is not None:
        return found
    if time_pattern:
        return _name_time(path, time_pattern, tz)
    raise PhotoTimeError(
        f"{show_path(path)}: no EXIF DateTimeOriginal; give --time-pattern to read the time "
        "from the file name (e.g. %Y%m%d-%H%M%S)"
    )


def _natural_key(path: Path) -> list[object]:
    """Sort key that puts ``img-9`` before ``img-10`` (cameras do not zero-pad)."""
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", os.fsdecode(path))]


def list_photos(paths: Iterable[Path]) -> list[Path]:
    """Files given, plus every photo under folders given (hidden files skipped), name order."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found.extend(
                p
                for p in path.rglob("*")
                if p.is_file()
                and p.suffix.lower() in PHOTO_SUFFIXES
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        else:
            found.append(path)
    return sorted(dict.fromkeys(found), key=_natural_key)


def _check_image(path: Path) -> tuple[str, tuple[int, int]]:
    """Cheap structural check (no full decode): header, size, and an intact end of file.

    Returns the camera id from EXIF (make/model/serial, may be empty) and the image size.
    A truncated JPEG (no end-of-image marker) or PNG (no IEND) is refused here, so a half
    uploaded photo never reaches the stitcher.
    """
    if not path.is_file():
        raise PhotoError("no such file")
    if path.stat().st_size == 0:
        raise PhotoError("empty file")
    try:
        with Image.open(path) as image:
            kind = image.format
            size = image.size
            exif = image.getexif()
            camera = "/".join(str(exif.get(t, "")).strip("\x00 ") for t in (_MAKE, _MODEL))
            camera += "/" + str(exif.get_ifd(_EXIF_IFD).get(_BODY_SERIAL, "")).strip("\x00 ")
        with Image.open(path) as image:  # verify() must come right after open()
            image.verify()
    except _TooLarge as exc:
        raise PhotoError(f"image too large to decode ({exc})") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise PhotoError(f"not a readable image ({exc})") from None
    with open(path, "rb") as f:
        f.seek(max(0, path.stat().st_size - 4096))
        tail = f.read().rstrip(b"\x00")
    if kind == "JPEG" and not tail.endswith(b"\xff\xd9"):
        raise PhotoError("truncated JPEG (no end-of-image marker)")
    if kind == "PNG" and b"IEND" not in tail[-12:]:
        raise PhotoError("truncated PNG (no IEND chunk)")
    if kind not in ("JPEG", "PNG", "MPO"):
        raise PhotoError(f"{kind} image: expected JPEG or PNG")
    return camera, size


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def scan_photos(
    paths: Iterable[Path], *, time_pattern: str | None = None, tz: tzinfo = UTC
) -> PhotoScan:
    """Read every photo's time; report and skip bad, duplicate and out-of-order files.

    * unreadable: missing, empty, not an image, truncated, no time;
    * duplicate: the same bytes as an earlier file, or the same camera (folder + EXIF
      make/model/serial) at the same time;
    * out of order: within a folder, in natural name order, a photo taken before one listed
      earlier by the same camera (a clock that jumped back, a misfiled photo) — its time
      cannot be trusted. Cameras that share a folder are told apart by their EXIF
      make/model/serial, as for duplicates.

    A local time in the hour a DST change repeats is read as its first pass, unless that
    would make the photo out of order or a duplicate and the second pass would not: a camera
    that names or stamps its photos in local time goes through that hour twice.
    """
    scan = PhotoScan()
    by_hash: dict[str, Path] = {}
    by_camera_time: dict[tuple[Path, str, float], Path] = {}
    latest: dict[tuple[Path, str], tuple[float, Path]] = {}
    for path in list_photos(paths):
        try:
            camera, _ = _check_image(path)
            readings = photo_readings(path, time_pattern=time_pattern, tz=tz)
            digest = _digest(path)
        except PhotoTimeError as exc:
            scan.problems.append(PhotoProblem(path, str(exc).removeprefix(f"{show_path(path)}: ")))
            continue
        except (PhotoError, OSError) as exc:
            scan.problems.append(PhotoProblem(path, str(exc)))
            continue
        if digest in by_hash:
            first = by_hash[digest]
            scan.problems.append(PhotoProblem(path, f"duplicate of {show_path(first)}"))
            continue
        previous = latest.get((path.parent, camera))
        when = next(
            (
                t
                for t in readings
                if (previous is None or t >= previous[0])
                and (path.parent, camera, t) not in by_camera_time
            ),
            readings[0],
        )
        key = (path.parent, camera, when)
        if key in by_camera_time:
            first = by_camera_time[key]
            scan.problems.append(
                PhotoProblem(path, f"duplicate: same camera and time as {show_path(first)}")
            )
            continue
        if previous is not None and when < previous[0]:
            stamp = datetime.fromtimestamp(when, UTC).isoformat()
            scan.problems.append(
                PhotoProblem(
                    path,
                    f"out of order: taken {stamp}, before {show_path(previous[1])} listed earlier",
                )
            )
            continue
        by_hash[digest] = path
        by_camera_time[key] = path
        latest[(path.parent, camera)] = (when, path)
        scan.photos.append(Photo(path, when))
    scan.photos.sort(key=lambda p: (p.time, _natural_key(p.path)))
    return scan


def group_photos(photos: Sequence[Photo], *, tolerance_s: float = 3.0) -> list[PhotoGroup]:
    """Photos within ``tolerance_s`` of a group's first photo form one panorama instant.

    Anchoring on the first photo (not the previous one) keeps a slow chain of photos from
    merging into one endless group. Within a group photos are in natural path order (folder,
    then name), which is the order the registration's cameras are made in: a camera's place
    is where its photos are, not when its clock says it shot, so a clock a second off
    cannot swap two cameras' slots.
    """
    if tolerance_s < 0:
        raise ValueError(f"tolerance_s must be >= 0, got {tolerance_s}")
    ordered = sorted(photos, key=lambda p: (p.time, _natural_key(p.path)))
    groups: list[PhotoGroup] = []
    current: list[Photo] = []
    for photo in ordered:
        if current and photo.time - current[0].time > tolerance_s:
            groups.append(_group(current))
            current = []
        current.append(photo)
    if current:
        groups.append(_group(current))
    return groups


def _group(photos: list[Photo]) -> PhotoGroup:
    """An instant at its first photo's time, its photos in camera (path) order."""
    return PhotoGroup(photos[0].time, tuple(sorted(photos, key=lambda p: _natural_key(p.path))))


def load_photo(path: Path) -> np.ndarray:
    """Decode a photo to ``H x W x 3`` RGB uint8, upright by its EXIF orientation."""
    path = Path(path)
    try:
        with Image.open(path) as image:
            upright = ImageOps.exif_transpose(image)
            if upright.mode.startswith("I"):  # 16-bit grey: Pillow's RGB would clip it at 255
                return _grey_to_rgb(np.asarray(upright), upright.mode)
            return np.asarray(upright.convert("RGB"), dtype=np.uint8)
    except FileNotFoundError:
        raise PhotoError(f"{show_path(path)}: no such file") from None
    except _TooLarge as exc:
        raise PhotoError(f"{show_path(path)}: image too large to decode ({exc})") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise PhotoError(f"{show_path(path)}: cannot decode image ({exc})") from None


def _grey_to_rgb(values: np.ndarray, mode: str) -> np.ndarray:
    """A 16-bit (or 32-bit integer) grey image as 8-bit RGB: its top 8 bits."""
    wide = values.astype(np.int64)
    if mode.startswith("I;16") or wide.max(initial=0) > 255:
        wide = wide >> 8
    grey = np.clip(wide, 0, 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)
