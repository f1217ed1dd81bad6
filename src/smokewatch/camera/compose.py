"""Compose a frame with a saved registration (warp + blend only), and check it for drift.

Everything that does not depend on the frame is computed once, when the
:class:`Compositor` is built: each camera's remap tables (``cv2.PyRotationWarper.buildMaps``
then ``cv2.convertMaps`` to fixed point, OpenCV's fastest remap), its place on the fixed
output rectangle, and its blending weights (a feather across the registration's seams,
normalised so the weights of every covered pixel sum to one). A frame then costs one
``cv2.remap`` per photo, a per-frame exposure gain (photos of one instant are exposed
separately), and a weighted sum.

The drift check asks two things of a frame: do the photos still agree where they overlap
(phase correlation of each pair's overlap: a bumped or re-aimed camera shifts its photo
against its neighbours), and does the whole view still sit where the registration saw it
(phase correlation against the reference thumbnail: a rig turned as a whole, or a single
camera moved). Dark or featureless frames (night, fog) are inconclusive, never failures.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from smokewatch.camera.reg_model import Registration, RegistrationError

__all__ = ["Compositor", "DriftCheck", "check_drift", "thumbnail"]

#: Width of the reference thumbnail the global drift check compares frames with.
THUMB_WIDTH = 320
_EPS = 1e-6


def thumbnail(frame: np.ndarray) -> np.ndarray:
    """A small gray copy of a panorama frame (the registration's reference)."""
    height, width = frame.shape[:2]
    scale = min(1.0, THUMB_WIDTH / width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    return np.asarray(cv2.resize(gray, size, interpolation=cv2.INTER_AREA), np.uint8)


@dataclass(frozen=True, slots=True)
class DriftCheck:
    """The verdict on one frame: ``ok`` False means re-register; ``None``: no evidence."""

    ok: bool | None
    reason: str
    shift: float = 0.0  # largest shift found, output pixels


@dataclass(frozen=True)
class _Part:
    """One camera's fixed share of the output: remap tables, placement, weights."""

    map1: np.ndarray
    map2: np.ndarray
    src: tuple[slice, slice]  # the part of its warped image that lies on the output
    dst: tuple[slice, slice]  # where that part lies on the output
    weight: np.ndarray  # float32 (h, w, 1) over ``dst``
    valid: np.ndarray  # bool (h, w) over ``dst``


@dataclass(frozen=True)
class _Overlap:
    i: int
    j: int
    dst: tuple[slice, slice]  # bounding rectangle on the output
    mask: np.ndarray  # bool over ``dst``


def _placed(
    corner: tuple[int, int], shape: tuple[int, int], reg: Registration
) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
    """Source and output slices of a warped image at ``corner``, clipped to the output."""
    width, height = reg.output_size
    x0 = corner[0] - reg.origin[0]
    y0 = corner[1] - reg.origin[1]
    h, w = shape
    ox0, oy0 = max(0, x0), max(0, y0)
    ox1, oy1 = min(width, x0 + w), min(height, y0 + h)
    if ox1 <= ox0 or oy1 <= oy0:
        raise RegistrationError("a camera lies entirely outside the output rectangle")
    src = (slice(oy0 - y0, oy1 - y0), slice(ox0 - x0, ox1 - x0))
    return src, (slice(oy0, oy1), slice(ox0, ox1))


def _feather(mask: np.ndarray, width: float) -> np.ndarray:
    """Weights rising from 0 at a mask's edge to 1 at ``width`` pixels inside it."""
    inside = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3)
    return np.asarray(np.minimum(inside / max(width, 1.0), 1.0), np.float32)


class Compositor:
    """Warp and blend frames with a fixed registration; output is always ``output_size``."""

    def __init__(self, reg: Registration) -> None:
        self.reg = reg
        self.parts: list[_Part] = []
        self.overlaps: list[_Overlap] = []
        if reg.mode != "identity":
            self._build()

    @property
    def output_size(self) -> tuple[int, int]:
        return self.reg.output_size

    def _build(self) -> None:
        reg = self.reg
        warper = cv2.PyRotationWarper(reg.warper, reg.scale)
        width, height = reg.output_size
        total = np.zeros((height, width), np.float32)
        raw: list[
            tuple[
                np.ndarray,
                np.ndarray,
                tuple[slice, slice],
                tuple[slice, slice],
                np.ndarray,
                np.ndarray,
            ]
        ] = []
        band = max(1, round(reg.blend_width / 2))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band + 1, 2 * band + 1))
        for cam in reg.cameras:
            roi, xmap, ymap = warper.buildMaps(cam.size, cam.K, cam.R)
            w, h = cam.size
            valid = (xmap >= 0) & (xmap <= w - 1) & (ymap >= 0) & (ymap <= h - 1)
            valid = cv2.erode(valid.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
            if cam.seam is not None and cam.seam.shape == valid.shape:
                seam = cv2.dilate((cam.seam > 0).astype(np.uint8), kernel).astype(bool) & valid
            else:
                seam = valid
            weight = _feather(seam, reg.blend_width / 2) + _EPS * valid
            src, dst = _placed((int(roi[0]), int(roi[1])), valid.shape, reg)
            total[dst] += weight[src]
            map1, map2 = cv2.convertMaps(xmap, ymap, cv2.CV_16SC2)
            raw.append((map1, map2, src, dst, weight[src], valid[src]))
        total[total <= 0] = 1.0
        for map1, map2, src, dst, weight, valid in raw:
            norm = (weight / total[dst])[:, :, None].astype(np.float32)
            self.parts.append(_Part(map1, map2, src, dst, norm, valid))
        for i, a in enumerate(self.parts):
            for j in range(i + 1, len(self.parts)):
                self._add_overlap(i, a, j, self.parts[j])

    def _add_overlap(self, i: int, a: _Part, j: int, b: _Part) -> None:
        y0 = max(a.dst[0].start, b.dst[0].start)
        y1 = min(a.dst[0].stop, b.dst[0].stop)
        x0 = max(a.dst[1].start, b.dst[1].start)
        x1 = min(a.dst[1].stop, b.dst[1].stop)
        if y1 - y0 < 16 or x1 - x0 < 16:
            return
        dst = (slice(y0, y1), slice(x0, x1))
        mask = self.local(a, a.valid, dst) & self.local(b, b.valid, dst)
        if mask.sum() >= 256:
            self.overlaps.append(_Overlap(i, j, dst, mask))

    @staticmethod
    def local(part: _Part, array: np.ndarray, dst: tuple[slice, slice]) -> np.ndarray:
        """``array`` (over ``part.dst``) cut to the output rectangle ``dst``."""
        ys = slice(dst[0].start - part.dst[0].start, dst[0].stop - part.dst[0].start)
        xs = slice(dst[1].start - part.dst[1].start, dst[1].stop - part.dst[1].start)
        return array[ys, xs]

    def _inputs(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        if len(images) != len(self.reg.cameras):
            raise RegistrationError(
                f"{len(images)} photos for a registration of {len(self.reg.cameras)} cameras"
            )
        out = []
        for k, (image, cam) in enumerate(zip(images, self.reg.cameras, strict=True)):
            if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
                raise RegistrationError(f"expected H x W x 3 uint8 RGB, got {image.shape}")
            problem = self.size_problem(k, image)
            if problem is not None:
                raise RegistrationError(f"photo {k + 1}: {problem}")
            if (image.shape[1], image.shape[0]) != cam.size:
                image = cv2.resize(image, cam.size, interpolation=cv2.INTER_AREA)
            out.append(image)
        return out

    def size_problem(self, index: int, image: np.ndarray) -> str | None:
        """Why photo ``index`` cannot be warped with its camera's pose, or None.

        A photo is resized to its camera's registered size (a registration may be at half
        size), which is only right when the two have one shape: another shape means another
        camera (or another rig's registration file), whose pose this is not."""
        width, height = self.reg.cameras[index].size
        w, h = image.shape[1], image.shape[0]
        if abs(h * width / w - height) <= max(2.0, 0.01 * height):
            return None
        return (
            f"{w}x{h} px, but camera {index + 1} of the registration takes {width}x{height} "
            "photos (another shape): is the registration file this rig's? "
            "`smokewatch timelapse register` makes one from these photos"
        )

    def warp(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Each photo warped onto its (clipped) rectangle of the output."""
        inputs = self._inputs(images)
        if self.reg.mode == "identity":
            return inputs
        return [
            cv2.remap(image, p.map1, p.map2, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)[p.src]
            for image, p in zip(inputs, self.parts, strict=True)
        ]

    def gains(self, warped: Sequence[np.ndarray]) -> np.ndarray:
        """Per-photo exposure gains that make overlaps agree (Brown and Lowe's, as OpenCV's
        ``GainCompensator``): least squares, pulled towards 1 so the whole frame keeps its
        brightness."""
        n = len(warped)
        rows: list[np.ndarray] = []
        for ov in self.overlaps:
            mask = ov.mask[::2, ::2]
            count = float(mask.sum())
            a = self.local(self.parts[ov.i], warped[ov.i], ov.dst)[::2, ::2][mask]
            b = self.local(self.parts[ov.j], warped[ov.j], ov.dst)[::2, ::2][mask]
            mean_a, mean_b = float(a.mean()), float(b.mean())
            row = np.zeros(n + 1)
            row[ov.i], row[ov.j] = mean_a, -mean_b
            rows.append(row * math.sqrt(count) / 10.0)  # sigma_N = 10 grey levels
        if not rows:
            return np.ones(n)
        area = sum(float(ov.mask.sum()) for ov in self.overlaps) / n
        for i in range(n):
            row = np.zeros(n + 1)
            row[i], row[n] = 1.0, 1.0
            rows.append(row * math.sqrt(area) / 0.1)  # sigma_g = 0.1
        system = np.array(rows)
        solution, *_ = np.linalg.lstsq(system[:, :n], system[:, n], rcond=None)
        return np.asarray(np.clip(solution, 0.25, 4.0), np.float64)

    def blend(self, warped: Sequence[np.ndarray], *, exposure: bool = True) -> np.ndarray:
        """The weighted sum of warped photos, as an RGB uint8 frame of ``output_size``."""
        if self.reg.mode == "identity":
            return np.ascontiguousarray(warped[0])
        width, height = self.reg.output_size
        out = np.zeros((height, width, 3), np.float32)
        gains = self.gains(warped) if exposure else np.ones(len(warped))
        for image, part, gain in zip(warped, self.parts, gains, strict=True):
            out[part.dst] += image.astype(np.float32) * (part.weight * np.float32(gain))
        return np.asarray(np.clip(out + 0.5, 0, 255), dtype=np.uint8)

    def compose(self, images: Sequence[np.ndarray], *, exposure: bool = True) -> np.ndarray:
        """One panorama frame from one instant's photos (in registration order)."""
        return self.blend(self.warp(images), exposure=exposure)


def _textured(gray: np.ndarray) -> bool:
    """Enough structure to measure a shift (not a night frame, fog or blank sky)."""
    return float(cv2.Laplacian(gray, cv2.CV_32F).std()) > 2.0 and float(gray.std()) > 4.0


def _shift(a: np.ndarray, b: np.ndarray) -> tuple[float, float] | None:
    """Shift of ``b`` against ``a`` (pixels) and the phase correlation's confidence."""
    if min(a.shape) < 8 or not (_textured(a) and _textured(b)):
        return None
    window = cv2.createHanningWindow((a.shape[1], a.shape[0]), cv2.CV_32F)
    (dx, dy), response = cv2.phaseCorrelate(a.astype(np.float32), b.astype(np.float32), window)
    return math.hypot(dx, dy), float(response)


def _gray(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def check_drift(
    compositor: Compositor,
    warped: Sequence[np.ndarray],
    frame: np.ndarray,
    *,
    max_shift: float = 4.0,
    min_response: float = 0.05,
) -> DriftCheck:
    """Does ``frame`` (composed from ``warped``) still fit its registration?

    Fails when two photos' overlap is shifted by more than ``max_shift`` output pixels or no
    longer correlates (``min_response``), or when the whole frame moved against the
    registration's reference thumbnail by more than ``max_shift``.
    """
    worst = 0.0
    evidence = False
    for ov in compositor.overlaps:
        crops = [
            _gray(compositor.local(compositor.parts[k], warped[k], ov.dst)) for k in (ov.i, ov.j)
        ]
        for g in crops:
            g[~ov.mask] = int(g[ov.mask].mean())
        found = _shift(crops[0], crops[1])
        if found is None:
            continue
        evidence = True
        shift, response = found
        if response < min_response:
            return DriftCheck(False, f"photos {ov.i} and {ov.j} no longer match where they overlap")
        if shift > max_shift:
            return DriftCheck(
                False, f"photos {ov.i} and {ov.j} moved {shift:.1f} px against each other", shift
            )
        worst = max(worst, shift)
    reference = compositor.reg.reference
    if reference is not None:
        thumb = thumbnail(frame)
        if thumb.shape == reference.shape:
            found = _shift(reference, thumb)
            if found is not None:
                evidence = True
                shift, response = found
                factor = frame.shape[1] / thumb.shape[1]
                shift *= factor
                if response < min_response:
                    return DriftCheck(False, "the view no longer matches the registered one")
                if shift > max(max_shift, factor):
                    return DriftCheck(False, f"the view moved {shift:.1f} px", shift)
                worst = max(worst, shift)
    if not evidence:
        return DriftCheck(None, "too dark or featureless to check")
    return DriftCheck(True, f"registration holds (largest shift {worst:.1f} px)", worst)
