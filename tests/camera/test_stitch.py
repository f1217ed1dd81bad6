"""camera.stitch: registration errors name the photos' files, so a person can find them."""

from __future__ import annotations

import numpy as np
import pytest

from smokewatch.camera.reg_model import RegistrationError
from smokewatch.camera.stitch import register


def _noise(seed: int) -> np.ndarray:
    """A photo full of features that match nothing but itself."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)
    return np.repeat(np.repeat(small, 4, axis=0), 4, axis=1)


def test_photos_that_do_not_overlap_are_named() -> None:
    with pytest.raises(RegistrationError, match=r"^cam/(a|b)\.jpg does not overlap the others"):
        register([_noise(1), _noise(2)], mode="scans", names=["cam/a.jpg", "cam/b.jpg"])
    # without names, their places
    with pytest.raises(RegistrationError, match=r"^photo (0|1) does not overlap"):
        register([_noise(1), _noise(2)], mode="scans")


def test_a_blank_photo_is_named() -> None:
    blank = np.full((160, 160, 3), 90, np.uint8)
    with pytest.raises(RegistrationError, match=r"^cam/b\.jpg: too few features"):
        register([_noise(1), blank], names=["cam/a.jpg", "cam/b.jpg"])
    with pytest.raises(RegistrationError, match=r"^cam/b\.jpg: 8x8 is too small"):
        register([_noise(1), blank[:8, :8]], names=["cam/a.jpg", "cam/b.jpg"])
    with pytest.raises(ValueError, match="1 names for 2 photos"):
        register([_noise(1), blank], names=["cam/a.jpg"])
