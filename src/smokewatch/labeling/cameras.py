"""Cameras that upload photos, their API keys, and the inbox their photos land in.

A camera (a Raspberry Pi driving a Nikon, in RISE) posts each photo to
``POST /api/v1/cameras/{id}/photos`` with its own key. The key is 32 random bytes shown once;
the database keeps its SHA-256 digest, compared in constant time. An accepted photo is checked
by Pillow (decoded to the last pixel, so a truncated JPEG is refused, naming why) and written
atomically into the camera's inbox folder under the data dir, named by its capture time and
the digest of its bytes: the same photo sent twice is stored once (the second answer says it
was a duplicate), which makes a camera's retries after a lost response safe.

Continuous mode (:mod:`smokewatch.watch`) takes the photos from the inbox; this module never
decodes video and imports no numpy (the labeling contracts in pyproject.toml).
"""

from __future__ import annotations

import hashlib
import hmac
import io
import os
import re
import secrets
import time
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from PIL import Image, UnidentifiedImageError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from smokewatch.core.atomic import atomic_path
from smokewatch.labeling.errors import ServiceError
from smokewatch.labeling.tables import Camera
from smokewatch.labeling.users import parse_row_id

__all__ = [
    "CAMERAS_DIR",
    "INBOX",
    "PHOTOS",
    "CameraError",
    "StoredPhoto",
    "add_camera",
    "camera_dir",
    "check_key",
    "check_photo",
    "inbox_name",
    "parse_inbox_name",
    "rotate_key",
    "store_photo",
]

#: ``data_dir/watch/cameras/<id>/``: each camera's folders (shared with ``smokewatch.watch``).
CAMERAS_DIR = Path("watch") / "cameras"
#: photos waiting for continuous mode
INBOX = "inbox"
#: every photo ever accepted, by digest (what makes a repeated upload a duplicate)
PHOTOS = "photos"

_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_KEY_PREFIX = "swcam_"
#: formats a camera may send (what the pipeline reads)
_FORMATS = {"JPEG": ".jpg", "PNG": ".png"}
#: ``t<epoch ms>-<sha256 prefix><ext>``: sorted by name is sorted by capture time
_INBOX_RE = re.compile(r"^t(\d{13})-([0-9a-f]{16})(\.jpg|\.png)$")
#: Pillow's decompression-bomb limit, as an error rather than a warning
MAX_PIXELS = 100_000_000


class CameraError(ServiceError):
    """A camera request that cannot be done (unknown camera, bad key, bad image)."""


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _new_key() -> str:
    return _KEY_PREFIX + secrets.token_urlsafe(32)


def add_camera(session: Session, name: str) -> tuple[Camera, str]:
    """A new camera and its API key (the only time the key is known: print it once)."""
    if not _NAME_RE.match(name):
        raise CameraError(f"camera name {name!r}: use 1-64 letters, digits or . _ - (no spaces)")
    if session.scalar(select(Camera).where(Camera.name == name)) is not None:
        raise CameraError(f"a camera named {name!r} exists already (rotate its key instead)", 409)
    key = _new_key()
    now = int(time.time())
    camera = Camera(name=name, key_hash=_digest(key), create_time=now, key_time=now, active=True)
    try:
        with session.begin_nested():
            session.add(camera)
    except IntegrityError:
        raise CameraError(f"a camera named {name!r} exists already", 409) from None
    session.flush()
    return camera, key


def find_camera(session: Session, who: str) -> Camera:
    """A camera by id or name; 404 names what was asked."""
    number = parse_row_id(who)  # a name of digits beyond any id is looked up as a name
    camera = session.get(Camera, number) if number is not None else None
    if camera is None:
        camera = session.scalar(select(Camera).where(Camera.name == who))
    if camera is None:
        raise CameraError(f"no camera {who!r}", 404)
    return camera


def rotate_key(session: Session, who: str) -> tuple[Camera, str]:
    """A new key for a camera (the old one stops working at once); returns it once."""
    camera = find_camera(session, who)
    key = _new_key()
    camera.key_hash = _digest(key)
    camera.key_time = int(time.time())
    camera.active = True
    session.flush()
    return camera, key


def check_key(session: Session, camera_id: int, key: str | None) -> Camera:
    """The camera if ``key`` is its key: 404 for no such camera, 401 for a missing or wrong
    key (or a disabled camera). The digests are compared in constant time."""
    camera = session.get(Camera, camera_id)
    if camera is None:
        raise CameraError(f"no camera {camera_id}", 404)
    if not key:
        raise CameraError("missing camera key (Authorization: Bearer <key>)", 401)
    given = _digest(key).encode("ascii")
    if not hmac.compare_digest(given, camera.key_hash.encode("ascii")) or not camera.active:
        raise CameraError("wrong camera key", 401)
    return camera


def check_photo(data: bytes, *, max_bytes: int) -> str:
    """The file suffix of a photo a camera may send (``.jpg``, ``.png``), or a 400 (413 for
    one too large) that says what is wrong: empty, not an image, a format we do not read,
    too many pixels, truncated or corrupt (Pillow decodes it to the last pixel)."""
    if not data:
        raise CameraError("empty photo", 400)
    if len(data) > max_bytes:
        raise CameraError(f"photo is {len(data)} bytes, more than the limit {max_bytes}", 413)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as img:
                fmt = img.format or "?"
                if fmt not in _FORMATS:
                    raise CameraError(f"unsupported image format {fmt} (send JPEG or PNG)", 400)
                if img.width * img.height > MAX_PIXELS:
                    raise CameraError(
                        f"photo is {img.width}x{img.height}, over {MAX_PIXELS} pixels", 400
                    )
                img.load()  # decodes everything: a truncated file fails here
        except CameraError:
            raise
        except UnidentifiedImageError:
            raise CameraError("not an image (Pillow cannot identify it)", 400) from None
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
            raise CameraError(f"photo too large to decode: {exc}", 400) from None
        except (OSError, SyntaxError, ValueError) as exc:
            raise CameraError(f"corrupt or truncated image: {exc}", 400) from None
    return _FORMATS[fmt]


def _exif_time(data: bytes, timezone: str) -> float | None:
    """EXIF DateTimeOriginal (+ OffsetTimeOriginal; without one, the camera's local time in
    ``timezone``, as ``camera.photos.photo_time`` reads it), or None."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            exif = img.getexif().get_ifd(0x8769)
    except Exception:  # noqa: BLE001 - no EXIF is the common case, not an error
        return None
    stamp, offset = exif.get(0x9003), exif.get(0x9011)
    if not isinstance(stamp, str):
        return None
    try:
        when = datetime.strptime(stamp.strip("\x00 "), "%Y:%m:%d %H:%M:%S")
        if isinstance(offset, str) and offset.strip("\x00 "):
            zoned = datetime.strptime(
                stamp.strip("\x00 ") + offset.strip("\x00 "), "%Y:%m:%d %H:%M:%S%z"
            )
            return zoned.timestamp()
        return when.replace(tzinfo=ZoneInfo(timezone)).timestamp()
    except ValueError:
        return None


def inbox_name(taken: float, digest: str, suffix: str) -> str:
    """``t<epoch milliseconds>-<digest prefix><suffix>``: sorts by capture time."""
    return f"t{round(taken * 1000):013d}-{digest[:16]}{suffix}"


def parse_inbox_name(name: str) -> float | None:
    """The capture time (epoch seconds) an inbox name carries, or None for another name."""
    match = _INBOX_RE.match(name)
    return int(match.group(1)) / 1000 if match else None


def camera_dir(data_dir: Path, camera_id: int) -> Path:
    return data_dir / CAMERAS_DIR / str(camera_id)


@dataclass(frozen=True, slots=True)
class StoredPhoto:
    """Where an upload went: its inbox name, capture time, digest, and whether it was sent
    before (then nothing was written)."""

    name: str
    time: float
    sha256: str
    duplicate: bool


def store_photo(
    data_dir: Path,
    camera_id: int,
    data: bytes,
    *,
    taken: float | None,
    max_bytes: int,
    timezone: str = "UTC",
    now: float | None = None,
) -> StoredPhoto:
    """Check ``data`` and put it into the camera's inbox, once.

    The capture time is ``taken`` (the camera's own clock, sent with the photo), else the
    photo's EXIF time (local time in ``timezone`` without an offset), else the time it
    arrived. The bytes are written to a temporary file,
    linked into the inbox, then renamed into ``photos/`` (by digest): a crash between the two
    leaves the photo in the inbox and not yet "seen", so the camera's retry re-links it and
    nothing is lost; continuous mode drops a photo it already made a frame of.
    """
    suffix = check_photo(data, max_bytes=max_bytes)
    digest = hashlib.sha256(data).hexdigest()
    when = taken if taken is not None else _exif_time(data, timezone)
    if when is None:
        when = time.time() if now is None else now
    name = inbox_name(when, digest, suffix)
    folder = camera_dir(data_dir, camera_id)
    seen = folder / PHOTOS / f"{digest}{suffix}"
    if seen.exists():
        return StoredPhoto(name, when, digest, duplicate=True)
    inbox = folder / INBOX
    inbox.mkdir(parents=True, exist_ok=True)
    with atomic_path(seen) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, inbox / name)
        except FileExistsError:
            pass  # the same photo, sent twice at once: one link is enough
    return StoredPhoto(name, when, digest, duplicate=False)
