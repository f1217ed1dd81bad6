"""Register a camera's photos once: OpenCV's stitching pipeline, stopped before compositing.

The steps of OpenCV's ``stitching_detailed`` sample (``cv2.detail``): SIFT features at a
small working scale, pairwise matching, the biggest confidently connected set of photos,
camera estimation, bundle adjustment, wave correction, warping and seam finding. What comes
out is a :class:`~smokewatch.camera.reg_model.Registration`, not a picture: every later
frame is only warped and blended with it (:mod:`smokewatch.camera.compose`), which is both
far faster than stitching each frame and free of the frame-to-frame jitter that
re-estimating cameras on every frame brings.

Two models: ``panorama`` (photos from one point, turned: a pan/tilt head, RISE's cameras)
with a spherical surface, and ``scans`` (flat, shifted views: an affine model, OpenCV's
SCANS mode). One photo is the identity.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import cv2
import numpy as np

from smokewatch.camera.reg_model import MODES, CameraPose, Registration, RegistrationError

__all__ = ["register"]

#: Ratio-test strictness of OpenCV's matcher (its default for SIFT-like features).
_MATCH_CONF = 0.3
#: Pairs matched with less confidence than this are not trusted to connect photos.
_CONF_THRESH = 1.0


def _scale(image: np.ndarray, megapix: float) -> float:
    height, width = image.shape[:2]
    return min(1.0, math.sqrt(megapix * 1e6 / (height * width)))


def _resize(image: np.ndarray, scale: float) -> np.ndarray:
    if abs(scale - 1.0) < 1e-9:
        return image
    return cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)


def _labels(images: Sequence[np.ndarray], names: Sequence[str] | None) -> list[str]:
    """What an error calls each photo: its name (a file) when given, else ``photo i``."""
    if names is None:
        return [f"photo {i}" for i in range(len(images))]
    if len(names) != len(images):
        raise ValueError(f"{len(names)} names for {len(images)} photos")
    return list(names)


def _check_images(images: Sequence[np.ndarray], labels: list[str]) -> None:
    if not images:
        raise RegistrationError("no photos to register")
    for label, image in zip(labels, images, strict=True):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise RegistrationError(
                f"{label}: expected H x W x 3 uint8 RGB, got {image.dtype} {image.shape}"
            )
        if min(image.shape[:2]) < 16:
            raise RegistrationError(f"{label}: {image.shape[1]}x{image.shape[0]} is too small")


def _identity(image: np.ndarray, compose_scale: float) -> Registration:
    height, width = image.shape[:2]
    size = (max(1, round(width * compose_scale)), max(1, round(height * compose_scale)))
    eye = np.eye(3, dtype=np.float32)
    pose = CameraPose(size=size, K=eye, R=eye, corner=(0, 0))
    return Registration(
        mode="identity",
        warper="none",
        scale=1.0,
        cameras=(pose,),
        origin=(0, 0),
        output_size=size,
    )


def _cameras(mode: str, work: list[np.ndarray], labels: list[str]) -> list[Any]:
    """Estimate and bundle-adjust the cameras of the working-scale photos."""
    finder = cv2.SIFT.create(nfeatures=4000)
    features = [cv2.detail.computeImageFeatures2(finder, image) for image in work]
    for label, feature in zip(labels, features, strict=True):
        if len(feature.getKeypoints()) < 20:
            raise RegistrationError(f"{label}: too few features to register (blank or dark?)")
    matcher: cv2.detail.FeaturesMatcher
    estimator: cv2.detail.Estimator
    adjuster: cv2.detail.BundleAdjusterBase
    if mode == "scans":
        matcher = cv2.detail.AffineBestOf2NearestMatcher(False, False, _MATCH_CONF)
        estimator = cv2.detail.AffineBasedEstimator()
        adjuster = cv2.detail.BundleAdjusterAffinePartial()
    else:
        matcher = cv2.detail.BestOf2NearestMatcher(False, _MATCH_CONF)
        estimator = cv2.detail.HomographyBasedEstimator()
        adjuster = cv2.detail.BundleAdjusterRay()
    matches = matcher.apply2(features)
    matcher.collectGarbage()
    kept = cv2.detail.leaveBiggestComponent(features, matches, _CONF_THRESH)
    kept = [int(i) for i in np.asarray(kept).ravel()]
    if len(kept) < len(work):
        lost = [label for i, label in enumerate(labels) if i not in kept]
        raise RegistrationError(
            f"{', '.join(lost)} {'does' if len(lost) == 1 else 'do'} not overlap the others "
            "enough to register (every photo must share a textured part of the scene with a "
            "neighbour)"
        )
    ok, cameras = estimator.apply(features, matches, [])
    if not ok:
        raise RegistrationError("camera estimation failed (too few consistent matches)")
    for cam in cameras:
        cam.R = cam.R.astype(np.float32)
    adjuster.setConfThresh(_CONF_THRESH)
    adjuster.setRefinementMask(np.ones((3, 3), np.uint8))
    ok, cameras = adjuster.apply(features, matches, cameras)
    if not ok:
        raise RegistrationError("bundle adjustment failed (photos inconsistent with one camera)")
    if mode == "panorama":
        rotations = cv2.detail.waveCorrect(
            [np.copy(c.R) for c in cameras], cv2.detail.WAVE_CORRECT_HORIZ
        )
        for cam, rotation in zip(cameras, rotations, strict=True):
            cam.R = rotation
    return list(cameras)


def _seams(
    warper_type: str,
    scale: float,
    poses: list[CameraPose],
    images: list[np.ndarray],
    seam_aspect: float,
) -> list[np.ndarray]:
    """Seam masks (graph cut on colour) found at a small scale, returned at compose size."""
    warper = cv2.PyRotationWarper(warper_type, scale * seam_aspect)
    corners, warped, masks = [], [], []
    for pose, image in zip(poses, images, strict=True):
        small = cv2.resize(
            image, None, fx=seam_aspect, fy=seam_aspect, interpolation=cv2.INTER_AREA
        )
        K = pose.K.copy()
        K[0, 0] *= seam_aspect
        K[0, 2] *= seam_aspect
        K[1, 1] *= seam_aspect
        K[1, 2] *= seam_aspect
        corner, image_wp = warper.warp(small, K, pose.R, cv2.INTER_LINEAR, cv2.BORDER_REFLECT)
        ones = np.full(small.shape[:2], 255, np.uint8)
        _, mask_wp = warper.warp(ones, K, pose.R, cv2.INTER_NEAREST, cv2.BORDER_CONSTANT)
        corners.append(corner)
        warped.append(cv2.UMat(image_wp.astype(np.float32)))
        masks.append(cv2.UMat(mask_wp))
    finder = cv2.detail.GraphCutSeamFinder("COST_COLOR")
    found = finder.find(warped, corners, masks)
    return [np.asarray(seam.get(), np.uint8) for seam in found]


def register(
    images: Sequence[np.ndarray],
    *,
    mode: str = "panorama",
    work_megapix: float = 0.6,
    seam_megapix: float = 0.1,
    compose_scale: float = 1.0,
    names: Sequence[str] | None = None,
) -> Registration:
    """Register one instant's photos (RGB uint8, in the order later frames will come).

    ``compose_scale`` scales every later frame (0.5: half-size panoramas); features are found
    at about ``work_megapix`` megapixels whatever the photo size. Photos that do not overlap
    a neighbour are an error naming them: a registration must cover every position.
    ``names`` (the photos' files, one per image) are what errors call them, since a person
    has to find the photo; without them, ``photo 0``, ``photo 1``...
    """
    from smokewatch.camera.compose import Compositor, thumbnail

    labels = _labels(images, names)
    _check_images(images, labels)
    if mode not in MODES or mode == "identity":
        raise RegistrationError(f"unknown mode {mode!r}: panorama or scans")
    if not 0 < compose_scale <= 4:
        raise RegistrationError(f"compose_scale {compose_scale}: expected 0 < scale <= 4")
    if len(images) == 1:
        reg = _identity(images[0], compose_scale)
        return replace(reg, reference=thumbnail(Compositor(reg).compose(images)))
    # One scale for all photos (the largest one's), so focal lengths stay comparable.
    largest = max(images, key=lambda image: image.shape[0] * image.shape[1])
    work_scale = _scale(largest, work_megapix)
    seam_scale = _scale(largest, seam_megapix)
    work = [_resize(image, work_scale) for image in images]
    cameras = _cameras(mode, work, labels)

    focals = sorted(c.focal for c in cameras)
    warper_type = "affine" if mode == "scans" else "spherical"
    aspect = compose_scale / work_scale
    scale = float(np.median(focals)) * aspect if mode == "panorama" else aspect
    warper = cv2.PyRotationWarper(warper_type, scale)
    poses: list[CameraPose] = []
    for cam, image in zip(cameras, images, strict=True):
        height, width = image.shape[:2]
        size = (max(1, round(width * compose_scale)), max(1, round(height * compose_scale)))
        cam.focal *= aspect
        cam.ppx *= aspect
        cam.ppy *= aspect
        K = cam.K().astype(np.float32)
        x, y, _, _ = warper.warpRoi(size, K, cam.R)
        poses.append(CameraPose(size=size, K=K, R=cam.R.astype(np.float32), corner=(x, y)))
    composed = [_resize(image, compose_scale) for image in images]
    seams = _seams(warper_type, scale, poses, composed, seam_scale / compose_scale)
    rois = [warper.warpRoi(p.size, p.K, p.R) for p in poses]
    x, y, w, h = cv2.detail.resultRoi(corners=[r[:2] for r in rois], sizes=[r[2:] for r in rois])
    poses = [
        replace(p, seam=cv2.resize(s, (r[2], r[3]), interpolation=cv2.INTER_NEAREST))
        for p, s, r in zip(poses, seams, rois, strict=True)
    ]
    reg = Registration(
        mode=mode,
        warper=warper_type,
        scale=scale,
        cameras=tuple(poses),
        origin=(int(x), int(y)),
        output_size=(int(w), int(h)),
        blend_width=max(1.0, math.sqrt(w * h) * 0.05),
    )
    return replace(reg, reference=thumbnail(Compositor(reg).compose(images)))
