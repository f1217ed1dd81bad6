"""One panorama per photo group, with the saved registration; drift checked now and then.

:class:`PanoramaMaker` is what a day's build (and the continuous mode) holds per camera: it
loads the registration file once, composes every group with it, and every ``check_every``
frames (the first included: the file may be from another day) checks the frame for drift.
A failed check re-registers on that group's photos, logs why, and saves the new
registration atomically, so the next run starts from it. The output size never changes
within a maker: a re-registered panorama is placed on the first one's rectangle, because a
timelapse has one frame size.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from smokewatch.camera.compose import Compositor, DriftCheck, check_drift, thumbnail
from smokewatch.camera.photos import PhotoGroup, load_photo, show_path
from smokewatch.camera.reg_model import (
    Registration,
    RegistrationError,
    load_registration,
    save_registration,
)
from smokewatch.camera.stitch import register

__all__ = ["PanoramaMaker", "Reregistration"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Reregistration:
    """A drift check that failed, on the frame taken at ``time``, and what was done."""

    time: float
    reason: str
    registered: bool  # False: re-registering failed too; the old registration is kept


class PanoramaMaker:
    """Compose photo groups into fixed-size panoramas, re-registering when the camera moved."""

    def __init__(
        self,
        reg_path: Path,
        *,
        check_every: int = 100,
        max_shift: float = 4.0,
        exposure: bool = True,
    ) -> None:
        if check_every < 1:
            raise ValueError(f"check_every must be >= 1, got {check_every}")
        self.reg_path = Path(reg_path)
        self.check_every = check_every
        self.max_shift = max_shift
        self.exposure = exposure
        self.compositor = Compositor(load_registration(self.reg_path))
        self.output_size = self.compositor.output_size
        self.frames = 0
        self.checks: list[DriftCheck] = []
        self.reregistrations: list[Reregistration] = []

    @property
    def registration(self) -> Registration:
        return self.compositor.reg

    def make(self, group: PhotoGroup) -> np.ndarray:
        """The panorama of one group (RGB uint8, ``output_size``); photo errors propagate."""
        images = [load_photo(photo.path) for photo in group.photos]
        if len(images) != len(self.registration.cameras):
            names = ", ".join(show_path(p.path) for p in group.photos)
            raise RegistrationError(
                f"{len(images)} photos at this instant ({names}) for a registration of "
                f"{len(self.registration.cameras)}"
            )
        for index, (photo, image) in enumerate(zip(group.photos, images, strict=True)):
            problem = self.compositor.size_problem(index, image)
            if problem is not None:
                raise RegistrationError(f"{show_path(photo.path)}: {problem}")
        warped = self.compositor.warp(images)
        frame = self.compositor.blend(warped, exposure=self.exposure)
        if self.frames % self.check_every == 0:
            frame = self._check(group, images, warped, frame)
        self.frames += 1
        return frame

    def _check(
        self,
        group: PhotoGroup,
        images: list[np.ndarray],
        warped: list[np.ndarray],
        frame: np.ndarray,
    ) -> np.ndarray:
        verdict = check_drift(self.compositor, warped, frame, max_shift=self.max_shift)
        self.checks.append(verdict)
        if verdict.ok is not False:
            return frame
        where = show_path(group.photos[0].path)
        log.warning("registration drift at %s: %s; re-registering", where, verdict.reason)
        old = self.registration
        try:
            # The same output scale as before: the old camera size over this photo's size.
            scale = old.cameras[0].size[0] / images[0].shape[1]
            mode = old.mode if len(images) > 1 else "panorama"
            names = [show_path(photo.path) for photo in group.photos]  # errors name files
            fresh = register(images, mode=mode, compose_scale=scale, names=names)
        except RegistrationError as exc:
            log.error("re-registration at %s failed (%s); keeping the old one", where, exc)
            self.reregistrations.append(Reregistration(group.time, verdict.reason, False))
            return frame
        fresh = _fit(fresh, self.output_size)
        fresh = replace(fresh, reference=thumbnail(Compositor(fresh).compose(images)))
        save_registration(fresh, self.reg_path)
        self.compositor = Compositor(fresh)
        self.reregistrations.append(Reregistration(group.time, verdict.reason, True))
        log.warning("re-registered %s from the photos at %s", self.reg_path, where)
        return self.compositor.compose(images, exposure=self.exposure)


def _fit(reg: Registration, size: tuple[int, int]) -> Registration:
    """``reg`` on an output rectangle of ``size``, centred on its own: a timelapse keeps one
    frame size (an identity registration is resized instead)."""
    if reg.output_size == size:
        return reg
    if reg.mode == "identity":
        return replace(reg, cameras=(replace(reg.cameras[0], size=size),), output_size=size)
    dx = (reg.output_size[0] - size[0]) // 2
    dy = (reg.output_size[1] - size[1]) // 2
    return replace(reg, origin=(reg.origin[0] + dx, reg.origin[1] + dy), output_size=size)
