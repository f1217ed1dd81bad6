"""Register a camera once, then only warp and blend: the public face of stitching.

A fixed camera's photos are stitched with OpenCV's stitching pipeline once
(:func:`register`, :mod:`smokewatch.camera.stitch`); the result is saved
(:func:`save_registration`, YAML written atomically) and every later frame is composed with it
(:class:`Compositor`, :mod:`smokewatch.camera.compose`) — fast, and the same geometry every
frame, so the timelapse does not jitter. :class:`PanoramaMaker` checks the registration on a
frame now and then and re-registers when the camera was bumped or re-aimed. The parts live in
their own modules to keep each small; import from here.
"""

from __future__ import annotations

from smokewatch.camera.compose import Compositor, DriftCheck, check_drift
from smokewatch.camera.panorama import PanoramaMaker, Reregistration
from smokewatch.camera.reg_model import (
    CameraPose,
    Registration,
    RegistrationError,
    load_registration,
    save_registration,
)
from smokewatch.camera.stitch import register

__all__ = [
    "CameraPose",
    "Compositor",
    "DriftCheck",
    "PanoramaMaker",
    "Registration",
    "RegistrationError",
    "Reregistration",
    "check_drift",
    "load_registration",
    "register",
    "save_registration",
]
