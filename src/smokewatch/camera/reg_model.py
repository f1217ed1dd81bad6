"""A camera's registration as data, and its YAML file (written atomically).

What a registration is: for each photo position, the camera's intrinsics ``K`` and rotation
``R`` (OpenCV's ``CameraParams``; for a flat ``scans`` registration ``R`` holds the affine
transform), the warper that maps them onto the panorama surface, the panorama's fixed output
rectangle, each camera's seam mask (where its pixels win) and a small reference thumbnail
that the drift check compares later frames to. Everything a later frame needs to be only
warped and blended, and nothing that depends on that frame.

Masks and the thumbnail are PNG bytes in base64 inside the YAML: the file stays one
self-contained, diffable document.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from smokewatch.core.atomic import atomic_write_text
from smokewatch.errors import SmokewatchError

__all__ = [
    "MODES",
    "CameraPose",
    "Registration",
    "RegistrationError",
    "load_registration",
    "save_registration",
]

#: ``panorama``: photos from one point turned (a pan/tilt head, several cameras side by side);
#: ``scans``: flat, shifted views (affine); ``identity``: one photo, used as it is.
MODES = ("panorama", "scans", "identity")
#: The warpers a registration can name: OpenCV's rotation warpers, or none (identity).
WARPERS = ("spherical", "cylindrical", "plane", "affine", "none")
#: The largest side of a photo or a panorama a registration may ask for (OpenCV's remap
#: works below 32767; a hand-edited 99999 would otherwise try to allocate tens of GiB).
MAX_SIDE = 32_000
_SCHEMA = 1


class RegistrationError(SmokewatchError):
    """Photos could not be registered, or a registration file is malformed (names it)."""


@dataclass(frozen=True)
class CameraPose:
    """One photo position: its expected size (after scaling), intrinsics and rotation."""

    size: tuple[int, int]  # (width, height) each photo is resized to before warping
    K: np.ndarray  # 3x3 float32
    R: np.ndarray  # 3x3 float32
    corner: tuple[int, int]  # top-left of its warped image on the panorama surface
    seam: np.ndarray | None = None  # uint8 mask over its warped rectangle (255 = its pixels)


@dataclass(frozen=True)
class Registration:
    """A camera's registration: reused for every later frame until drift is detected."""

    mode: str
    warper: str  # cv2.PyRotationWarper type: spherical, cylindrical, plane, affine
    scale: float  # the warper's scale (the median focal length, in output pixels)
    cameras: tuple[CameraPose, ...]
    origin: tuple[int, int]  # panorama-surface point of output pixel (0, 0)
    output_size: tuple[int, int]  # (width, height) of every composed frame
    reference: np.ndarray | None = None  # small gray thumbnail of the registered frame
    blend_width: float = 0.0  # feather width across seams, output pixels

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise RegistrationError(f"unknown registration mode {self.mode!r} (one of {MODES})")
        if not self.cameras:
            raise RegistrationError("a registration needs at least one camera")
        if (self.mode == "identity") != (self.warper == "none") or (
            self.mode == "identity" and len(self.cameras) != 1
        ):
            raise RegistrationError(
                f"mode {self.mode!r} with warper {self.warper!r} and {len(self.cameras)} "
                "cameras: identity is one camera and no warper, the others warp"
            )
        if self.warper not in WARPERS:
            raise RegistrationError(f"unknown warper {self.warper!r} (one of {WARPERS})")
        if not (math.isfinite(self.scale) and self.scale > 0):
            raise RegistrationError(f"scale {self.scale!r}: expected a positive number")
        if not (math.isfinite(self.blend_width) and self.blend_width >= 0):
            raise RegistrationError(f"blend_width {self.blend_width!r}: expected 0 or more")
        for what, (w, h) in [("output_size", self.output_size)] + [
            (f"cameras[{i}].size", c.size) for i, c in enumerate(self.cameras)
        ]:
            if not (0 < w <= MAX_SIDE and 0 < h <= MAX_SIDE):
                raise RegistrationError(
                    f"{what} {w}x{h}: expected 1 to {MAX_SIDE} pixels on each side"
                )


def _png(mask: np.ndarray | None) -> str | None:
    if mask is None:
        return None
    ok, data = cv2.imencode(".png", mask)
    if not ok:  # pragma: no cover - cv2 encodes any uint8 image
        raise RegistrationError("cannot encode a mask as PNG")
    return base64.b64encode(data.tobytes()).decode("ascii")


def _unpng(text: str | None) -> np.ndarray | None:
    if text is None:
        return None
    data = np.frombuffer(base64.b64decode(text), np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError("not a PNG image")
    return np.asarray(image, dtype=np.uint8)


def _matrix(values: Any) -> np.ndarray:
    matrix = np.asarray(values, dtype=np.float32)
    if matrix.shape != (3, 3) or not np.all(np.isfinite(matrix)):
        raise ValueError("expected a finite 3x3 matrix")
    return matrix


def _pair(values: Any) -> tuple[int, int]:
    a, b = values
    return int(a), int(b)


def save_registration(reg: Registration, path: Path) -> None:
    """Write ``reg`` to ``path`` as YAML, atomically (a reader never sees half a file)."""
    doc = {
        "schema": _SCHEMA,
        "mode": reg.mode,
        "warper": reg.warper,
        "scale": float(reg.scale),
        "origin": list(reg.origin),
        "output_size": list(reg.output_size),
        "blend_width": float(reg.blend_width),
        "reference": _png(reg.reference),
        "cameras": [
            {
                "size": list(c.size),
                "K": c.K.astype(float).round(9).tolist(),
                "R": c.R.astype(float).round(9).tolist(),
                "corner": list(c.corner),
                "seam": _png(c.seam),
            }
            for c in reg.cameras
        ],
    }
    atomic_write_text(path, yaml.safe_dump(doc, sort_keys=False, width=100))


def load_registration(path: Path) -> Registration:
    """Read a registration file; anything malformed is a RegistrationError naming the file."""
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RegistrationError(f"{path}: no such registration file") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise RegistrationError(f"{path}: not a registration file ({exc})") from None
    if not isinstance(doc, dict) or doc.get("schema") != _SCHEMA:
        raise RegistrationError(f"{path}: not a registration file (schema {_SCHEMA} expected)")
    try:
        cameras = tuple(
            CameraPose(
                size=_pair(c["size"]),
                K=_matrix(c["K"]),
                R=_matrix(c["R"]),
                corner=_pair(c["corner"]),
                seam=_unpng(c.get("seam")),
            )
            for c in doc["cameras"]
        )
        return Registration(
            mode=str(doc["mode"]),
            warper=str(doc["warper"]),
            scale=float(doc["scale"]),
            cameras=cameras,
            origin=_pair(doc["origin"]),
            output_size=_pair(doc["output_size"]),
            reference=_unpng(doc.get("reference")),
            blend_width=float(doc.get("blend_width", 0.0)),
        )
    except RegistrationError as exc:
        raise RegistrationError(f"{path}: {exc}") from None
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise RegistrationError(
            f"{path}: malformed registration ({type(exc).__name__}: {exc})"
        ) from None
