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

import bisect
import hashlib
import itertools
import math
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from smokewatch.core.epoch import epoch_problem
from smokewatch.errors import SmokewatchError
from smokewatch.video import IMAGE_ERRORS

#: Pillow's refusal of an image whose header claims more pixels than it will decode (a
#: "decompression bomb", or a corrupt header): a bad photo like any other, never a crash.
#: One of :data:`~smokewatch.video.IMAGE_ERRORS`, caught first for its own message.
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
    """The usable photos, sorted by time, and every skipped file with its reason (name order)."""

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


#: The farthest a clock is set from UTC (the world's zones run from -12:00 to +14:00).
_MAX_OFFSET = timedelta(hours=14)


def _aware(naive: datetime, offset: str | None, tz: tzinfo) -> datetime:
    """A naive camera-clock time made aware: by the camera's offset if written, else ``tz``.

    An offset written as one but that no clock can have (``+99:00``, ``+24:00``) is a
    ValueError: the camera's time is garbage, and guessing its zone would hide that.
    """
    if offset:
        match = re.fullmatch(r"\s*([+-])(\d{2}):?(\d{2})\s*", offset)
        if match:
            sign = 1 if match[1] == "+" else -1
            delta = timedelta(hours=int(match[2]), minutes=int(match[3]))
            if int(match[3]) >= 60 or delta > _MAX_OFFSET:
                raise ValueError(
                    f"EXIF OffsetTimeOriginal {offset.strip()!r} is not a UTC offset "
                    "(-14:00 to +14:00)"
                )
            return naive.replace(tzinfo=timezone(sign * delta))
    return naive.replace(tzinfo=tz)


def _readings(when: datetime) -> tuple[float, ...]:
    """The instants a local time can be: two in the hour a DST change repeats (the first pass,
    then the second), else one (a time in the skipped hour is read with the offset before)."""
    first = when.replace(fold=0).timestamp()
    second = when.replace(fold=1).timestamp()
    return (first, second) if second > first else (first,)


def _frame_times(path: Path, when: datetime, source: str) -> tuple[float, ...]:
    """:func:`_readings`, refused (naming the file) when one is no frame time (core.epoch).

    A clock never set (year 1, 9999) passes for a time here but crashes every date made
    from it later (a build's day, clip names): so the photo is skipped, with the reason.
    """
    readings = _readings(when)
    if any(epoch_problem(t) is not None for t in readings):
        raise PhotoTimeError(
            f"{show_path(path)}: {source} is not between 1970 and 2100 (a clock never set?)"
        )
    return readings


def _exif_time(path: Path, tz: tzinfo) -> tuple[float, ...] | None:
    """The EXIF shutter time, or None when the file has none (or none that parses); an
    error when it has one no clock can have (an impossible offset, a year out of range)."""
    try:
        with Image.open(path) as image:
            exif = image.getexif().get_ifd(_EXIF_IFD)
    except IMAGE_ERRORS:
        return None
    raw = exif.get(_DATETIME_ORIGINAL)
    if not isinstance(raw, str):
        return None
    text = raw.strip().rstrip("\x00")
    try:
        naive = datetime.strptime(text, "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    subsec = str(exif.get(_SUBSEC_TIME_ORIGINAL) or "").strip().rstrip("\x00")
    fraction = float(f"0.{subsec}") if subsec.isdigit() else 0.0
    offset = exif.get(_OFFSET_TIME_ORIGINAL)
    try:
        when = _aware(naive, offset if isinstance(offset, str) else None, tz)
    except ValueError as exc:
        raise PhotoTimeError(f"{show_path(path)}: {exc}") from None
    return tuple(t + fraction for t in _frame_times(path, when, f"EXIF time {text!r}"))


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
    return _frame_times(path, when, f"the time in the name ({match[0]!r})")


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
    return [int(p) if p.isdecimal() else p for p in re.split(r"(\d+)", os.fsdecode(path))]


#: Why a hidden photo under a folder given is not read.
_HIDDEN = "hidden (its name or a folder's starts with '.'): not read"


def _listing(paths: Iterable[Path]) -> tuple[list[Path], list[Path]]:
    """(photos, hidden photos) of the files and folders given, each in natural name order.

    A hidden file (``.img.jpg``, an uploader's partial file, a ``.thumbs`` folder) is not
    read, but it is returned, so that the scan can list it with every other skipped file.
    """
    found: list[Path] = []
    hidden: list[Path] = []
    for path in map(Path, paths):
        if not path.is_dir():
            found.append(path)
            continue
        for p in path.rglob("*"):
            if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES:
                secret = any(part.startswith(".") for part in p.relative_to(path).parts)
                (hidden if secret else found).append(p)
    named = set(found)  # a hidden file given by name, or also under another folder given
    return (
        sorted(named, key=_natural_key),
        sorted(set(hidden) - named, key=_natural_key),
    )


def list_photos(paths: Iterable[Path]) -> list[Path]:
    """Files given, plus every photo under folders given (hidden files skipped), name order."""
    return _listing(paths)[0]


#: In a JPEG's entropy-coded data: 0xFF starting a marker (0xFF00 is a stuffed byte, 0xFFD0-D7
#: a restart marker; both belong to the data).
_JPEG_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7]")


def _jpeg_complete(data: bytes) -> bool:
    """Whether a JPEG's segments run to its end-of-image marker.

    Walked segment by segment, not searched for: an EXIF thumbnail holds an end marker of
    its own, so a truncated photo can contain one. Bytes after the end marker (a camera's
    trailer, padding) are allowed, as every decoder ignores them.
    """
    i = 2  # after the start-of-image marker
    while i + 2 <= len(data):
        if data[i] != 0xFF:
            return False
        marker = data[i + 1]
        if marker == 0xD9:
            return True
        if marker == 0xFF:  # fill byte before a marker
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # no length field
            i += 2
            continue
        i += 2 + int.from_bytes(data[i + 2 : i + 4], "big")
        if marker == 0xDA:  # start of scan: the coded data runs to the next marker
            found = _JPEG_MARKER.search(data, i)
            if found is None:
                return False
            i = found.start()
    return False


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
    except IMAGE_ERRORS as exc:
        raise PhotoError(f"not a readable image ({exc})") from None
    if kind == "JPEG" and not _jpeg_complete(path.read_bytes()):
        raise PhotoError("truncated JPEG (no end-of-image marker)")
    with open(path, "rb") as f:
        f.seek(max(0, path.stat().st_size - 4096))
        tail = f.read().rstrip(b"\x00")
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


@dataclass(frozen=True, slots=True)
class _Taken:
    """A readable photo and the instants its time can be (two in a repeated DST hour)."""

    path: Path
    readings: tuple[float, ...]


def scan_photos(
    paths: Iterable[Path], *, time_pattern: str | None = None, tz: tzinfo = UTC
) -> PhotoScan:
    """Read every photo's time; report and skip bad, duplicate and out-of-order files.

    * unreadable: missing, empty, not an image, truncated, no time, a time no clock can
      have (an impossible UTC offset, a year outside 1970-2100); hidden files, not read;
    * duplicate: the same bytes as an earlier file, or the same camera (folder + EXIF
      make/model/serial) at the same time;
    * out of order: see :func:`_in_order`; each camera (folder + EXIF make/model/serial)
      keeps the most photos whose times follow their name order, and the others, whose
      times cannot be trusted (a clock that jumped, a misfiled photo), are skipped.

    A local time in the hour a DST change repeats is read as its first pass, unless that
    would put the photo before the one listed before it, or at another photo's time, and
    the second pass would not: a camera that names or stamps its photos in local time goes
    through that hour twice.
    """
    photos, hidden = _listing(paths)
    scan = PhotoScan(problems=[PhotoProblem(path, _HIDDEN) for path in hidden])
    by_hash: dict[str, Path] = {}
    cameras: dict[tuple[Path, str], list[_Taken]] = {}
    for path in photos:
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
            scan.problems.append(PhotoProblem(path, f"duplicate of {show_path(by_hash[digest])}"))
            continue
        by_hash[digest] = path
        cameras.setdefault((path.parent, camera), []).append(_Taken(path, readings))
    for taken in cameras.values():
        kept, problems = _in_order(taken)
        scan.photos.extend(kept)
        scan.problems.extend(problems)
    scan.photos.sort(key=lambda p: (p.time, _natural_key(p.path)))
    scan.problems.sort(key=lambda p: _natural_key(p.path))
    return scan


def _in_order(taken: list[_Taken]) -> tuple[list[Photo], list[PhotoProblem]]:
    """One camera's photos (in name order) whose times agree with their order, and the rest.

    A camera numbers its photos as it takes them, so name order is shooting order, and a
    photo whose time disagrees has a clock that cannot be trusted. Which photo is the odd
    one out is decided by all of them, not by the first one listed: the most photos whose
    times never go back in name order (gaps allowed) are kept; of equal sets, the one that
    keeps the photos listed first. So a clock that jumps forward or back for one photo, or
    a stray name that sorts first, loses that photo, not every photo after it.

    A counter that wraps (``IMG_9999``, then ``IMG_0000``, which sorts first) is read from
    the wrap on and round to the start, when that keeps more photos, with two or more on
    each side of the wrap and a step across it no longer than the longest step between the
    others kept: a counter wraps between two shots like any others, while a photo whose
    clock went back an hour, listed last, would otherwise pass for the first of a wrap.
    Photos kept at the same time as the one kept before them are duplicates.
    """
    times = _chosen_times(taken)
    order, kept = _counter_order(times)
    kept_set = set(kept)
    problems: list[PhotoProblem] = []
    photos: list[Photo] = []
    for rank, index in enumerate(order):
        path, when = taken[index].path, times[index]
        if rank not in kept_set:
            problems.append(PhotoProblem(path, _out_of_order(rank, order, kept, taken, times)))
        elif photos and when == photos[-1].time:
            reason = f"duplicate: same camera and time as {show_path(photos[-1].path)}"
            problems.append(PhotoProblem(path, reason))
        else:
            photos.append(Photo(path, when))
    return photos, problems


def _chosen_times(taken: list[_Taken]) -> list[float]:
    """Each photo's instant, in name order: its first reading that is not before the photo
    listed before it nor another photo's time, else its first reading."""
    times: list[float] = []
    seen: set[float] = set()
    for item in taken:
        after = times[-1] if times else -math.inf
        when = next((t for t in item.readings if t >= after and t not in seen), item.readings[0])
        times.append(when)
        seen.add(when)
    return times


def _counter_order(times: list[float]) -> tuple[list[int], list[int]]:
    """(order, kept): the photos' indices in the camera's order, and the ranks in it of the
    photos kept (:func:`_in_order`): name order, or name order started again at a counter
    wrap, tried at the three biggest steps back in time."""
    plain = list(range(len(times)))
    best = (plain, _longest_in_time([times[i] for i in plain]))
    drops = sorted(
        (k for k in range(1, len(times)) if times[k] < times[k - 1]),
        key=lambda k: times[k] - times[k - 1],
    )
    for k in drops[:3]:
        order = [*range(k, len(times)), *range(k)]
        kept = _longest_in_time([times[i] for i in order])
        if len(kept) > len(best[1]) and _wraps_in_step(order, kept, times, len(times) - k):
            best = (order, kept)
    return best


def _longest_in_time(times: Sequence[float]) -> list[int]:
    """Indices of the longest subsequence of ``times`` that never goes back; of several, the
    one that keeps the earliest indices (so without an odd photo out, all are kept)."""
    longest_from = [0] * len(times)  # the longest such run starting at each index
    tails: list[float] = []  # patience sorting, right to left, on negated times
    for i in range(len(times) - 1, -1, -1):
        k = bisect.bisect_right(tails, -times[i])
        tails[k : k + 1] = [-times[i]]
        longest_from[i] = k + 1
    kept: list[int] = []
    need, last = len(tails), -math.inf
    for i, t in enumerate(times):
        if need and longest_from[i] >= need and t >= last:
            kept.append(i)
            need, last = need - 1, t
    return kept


def _wraps_in_step(order: list[int], kept: list[int], times: list[float], wrap: int) -> bool:
    """Whether the kept photos go across the wrap (at rank ``wrap``) as a counter does: two
    or more on each side, and a step across no longer than the longest of the others (a
    counter wraps between two shots like any others; a lone photo whose clock went back
    is no wrap)."""
    cut = bisect.bisect_left(kept, wrap)
    if cut < 2 or len(kept) - cut < 2:
        return False
    steps = [times[order[b]] - times[order[a]] for a, b in itertools.pairwise(kept)]
    return steps[cut - 1] <= max(steps[: cut - 1] + steps[cut:])


def _out_of_order(
    rank: int, order: list[int], kept: list[int], taken: list[_Taken], times: list[float]
) -> str:
    """Why the photo at ``rank`` is not kept: taken before a photo kept before it, or after
    one kept after it."""
    when = times[order[rank]]
    stamp = datetime.fromtimestamp(when, UTC).isoformat()
    at = bisect.bisect_left(kept, rank)
    before = order[kept[at - 1]] if at > 0 else None
    after = order[kept[at]] if at < len(kept) else None
    if before is not None and when < times[before]:
        neighbour = f"before {show_path(taken[before].path)} listed earlier"
    elif after is not None:
        neighbour = f"after {show_path(taken[after].path)} listed later"
    else:
        neighbour = "against the camera's other photos"
    return f"out of order: taken {stamp}, {neighbour}"


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
    except IMAGE_ERRORS as exc:
        raise PhotoError(f"{show_path(path)}: cannot decode image ({exc})") from None


def _grey_to_rgb(values: np.ndarray, mode: str) -> np.ndarray:
    """A 16-bit (or 32-bit integer) grey image as 8-bit RGB: its top 8 bits."""
    wide = values.astype(np.int64)
    if mode.startswith("I;16") or wide.max(initial=0) > 255:
        wide = wide >> 8
    grey = np.clip(wide, 0, 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)
