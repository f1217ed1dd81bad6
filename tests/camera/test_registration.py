"""Registration against the real RISE panorama: split it into photos, stitch them back.

The "photos" are overlapping crops of ``cam_0_raw.png`` (downscaled so a test takes about a
second), each slightly rotated and exposed differently, as a pan head's shots would be. The
stitched frame must match the original where the photos overlap (SSIM >= 0.9, computed
here with OpenCV, as Wang et al. define it), and a bumped camera must be caught.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from smokewatch.camera.photos import Photo, PhotoGroup
from smokewatch.camera.registration import (
    Compositor,
    PanoramaMaker,
    RegistrationError,
    check_drift,
    load_registration,
    register,
    save_registration,
)

PANORAMA = Path(__file__).resolve().parents[2].parent / "shared" / "rise" / "panorama"
WIDTH = 1000

pytestmark = pytest.mark.rise


@pytest.fixture(scope="module")
def pano() -> np.ndarray:
    path = PANORAMA / "cam_0_raw.png"
    if not path.is_file():
        pytest.skip("real RISE panorama (../shared/rise/panorama) is not present")
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    height = round(bgr.shape[0] * WIDTH / bgr.shape[1])
    small = cv2.resize(bgr, (WIDTH, height), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(cv2.cvtColor(small, cv2.COLOR_BGR2RGB))


# Each photo: (x0, x1) of the panorama, rotation (degrees), exposure gain.
LAYOUT = [(0, 420, 1.0, 0.9), (340, 700, -1.0, 1.12), (620, 1000, 0.6, 1.0)]
MARGIN = 16


def shoot(
    pano: np.ndarray, x0: int, x1: int, angle: float, gain: float, dx: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """A photo of part of the panorama, and the 2x3 map from panorama to photo pixels."""
    height, width = pano.shape[:2]
    M = cv2.getRotationMatrix2D(((x0 + x1) / 2, height / 2), angle, 1.0)
    M[0, 2] += dx - x0
    M[1, 2] -= MARGIN
    size = (x1 - x0, height - 2 * MARGIN)
    photo = cv2.warpAffine(pano, M, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return np.clip(photo * np.float32(gain) + 0.5, 0, 255).astype(np.uint8), M


def photos_of(pano: np.ndarray, layout: list = LAYOUT, **kw: float) -> list[np.ndarray]:
    return [shoot(pano, *spec, **kw)[0] for spec in layout]


def overlap_mask(pano: np.ndarray, layout: list) -> np.ndarray:
    """Panorama pixels seen by at least two photos (eroded, away from photo edges)."""
    height, width = pano.shape[:2]
    count = np.zeros((height, width), np.uint8)
    for spec in layout:
        _, M = shoot(pano, *spec)
        ones = np.full((height - 2 * MARGIN, spec[1] - spec[0]), 1, np.uint8)
        back = cv2.warpAffine(ones, cv2.invertAffineTransform(M), (width, height))
        count += cv2.erode(back, np.ones((9, 9), np.uint8))
    return count >= 2


def ssim_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Structural similarity per pixel (Gaussian window 11, sigma 1.5), gray 0..255."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(x: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(x, (11, 11), 1.5)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    return ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / (
        (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    )


def to_original(frame: np.ndarray, pano: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The stitched frame mapped onto the original panorama (similarity found by SIFT)."""
    g1 = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    g2 = cv2.cvtColor(pano, cv2.COLOR_RGB2GRAY)
    sift = cv2.SIFT.create()
    k1, d1 = sift.detectAndCompute(g1, None)
    k2, d2 = sift.detectAndCompute(g2, None)
    pairs = cv2.BFMatcher().knnMatch(d1, d2, k=2)
    good = [m for m, n in pairs if m.distance < 0.7 * n.distance]
    src = np.float32([k1[m.queryIdx].pt for m in good])
    dst = np.float32([k2[m.trainIdx].pt for m in good])
    M, _ = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC)
    height, width = pano.shape[:2]
    mapped = cv2.warpAffine(frame, M, (width, height))
    covered = cv2.warpAffine(np.ones(frame.shape[:2], np.uint8), M, (width, height)) > 0
    return mapped, covered


@pytest.mark.parametrize("mode", ["scans", "panorama"])
def test_stitched_frame_matches_the_real_panorama(pano: np.ndarray, mode: str) -> None:
    photos = photos_of(pano)
    reg = register(photos, mode=mode)
    frame = Compositor(reg).compose(photos)
    assert frame.shape == (reg.output_size[1], reg.output_size[0], 3)
    mapped, covered = to_original(frame, pano)
    mask = overlap_mask(pano, LAYOUT) & cv2.erode(covered.astype(np.uint8), np.ones((9, 9))) > 0
    assert mask.sum() > 0.08 * mask.size
    score = ssim_map(
        cv2.cvtColor(mapped, cv2.COLOR_RGB2GRAY), cv2.cvtColor(pano, cv2.COLOR_RGB2GRAY)
    )[mask].mean()
    assert score >= 0.9, f"SSIM {score:.3f} over the overlap"


def test_saved_registration_composes_the_same_frame(pano: np.ndarray, tmp_path: Path) -> None:
    photos = photos_of(pano)
    reg = register(photos, mode="scans", compose_scale=0.5)
    path = tmp_path / "camera.yaml"
    save_registration(reg, path)
    assert not list(tmp_path.glob(".*part*"))  # atomic: no temp file left
    again = load_registration(path)
    assert again.output_size == reg.output_size
    assert again.output_size[0] < 0.6 * WIDTH  # the compose scale is kept
    first = Compositor(reg).compose(photos)
    later = Compositor(again).compose(photos)
    assert np.abs(first.astype(int) - later.astype(int)).max() <= 1
    # Another frame of the same size is warped the same way: no re-estimation, no jitter.
    lighter = photos_of(pano, dx=0.0)
    assert Compositor(again).compose(lighter).shape == first.shape


def test_compositor_refuses_a_wrong_photo_count(pano: np.ndarray) -> None:
    photos = photos_of(pano)
    compositor = Compositor(register(photos, mode="scans"))
    with pytest.raises(RegistrationError, match="2 photos for a registration of 3"):
        compositor.compose(photos[:2])


def test_photos_that_do_not_overlap_are_refused(pano: np.ndarray) -> None:
    apart = [(0, 300, 0.0, 1.0), (650, 1000, 0.0, 1.0)]
    with pytest.raises(RegistrationError, match=r"^photo [01] does not overlap"):
        register(photos_of(pano, apart), mode="scans")


def test_one_photo_is_the_identity(pano: np.ndarray) -> None:
    photo = photos_of(pano, LAYOUT[:1])
    reg = register(photo)
    assert reg.mode == "identity"
    assert np.array_equal(Compositor(reg).compose(photo), photo[0])


def test_malformed_registration_files_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "cam.yaml"
    bad.write_text("schema: 1\nmode: panorama\ncameras: [{size: [1]}]\n")
    with pytest.raises(RegistrationError, match="cam.yaml: malformed registration"):
        load_registration(bad)
    bad.write_text(": : [")
    with pytest.raises(RegistrationError, match="cam.yaml: not a registration file"):
        load_registration(bad)
    with pytest.raises(RegistrationError, match="nope.yaml: no such registration file"):
        load_registration(tmp_path / "nope.yaml")


def test_drift_check_passes_still_frames_and_fails_bumped_ones(pano: np.ndarray) -> None:
    photos = photos_of(pano)
    compositor = Compositor(register(photos, mode="scans"))

    def verdict(images: list[np.ndarray]) -> bool | None:
        warped = compositor.warp(images)
        return check_drift(compositor, warped, compositor.blend(warped)).ok

    assert verdict(photos) is True
    relit = [np.clip(p * 0.8, 0, 255).astype(np.uint8) for p in photos]
    assert verdict(relit) is True  # exposure is not drift
    bumped = [photos[0], shoot(pano, *LAYOUT[1], dx=10)[0], photos[2]]
    assert verdict(bumped) is False
    turned = [photos[0], shoot(pano, 340, 700, 2.0, 1.12)[0], photos[2]]
    assert verdict(turned) is False
    rig = photos_of(pano, dx=20)  # every position moved together: the view moved
    assert verdict(rig) is False
    night = [(p // 40).astype(np.uint8) for p in photos]
    assert verdict(night) is None  # no evidence either way


def save_group(folder: Path, images: list[np.ndarray], t: float) -> PhotoGroup:
    folder.mkdir(parents=True, exist_ok=True)
    photos = []
    for i, image in enumerate(images):
        path = folder / f"{int(t)}-{i}.png"
        cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        photos.append(Photo(path, t + i))
    return PhotoGroup(t, tuple(photos))


def test_maker_re_registers_a_bumped_camera(
    pano: np.ndarray, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    layout = LAYOUT[:2]
    reg_path = tmp_path / "camera.yaml"
    save_registration(register(photos_of(pano, layout), mode="scans"), reg_path)
    before = reg_path.read_text()
    maker = PanoramaMaker(reg_path, check_every=2)
    still = save_group(tmp_path / "a", photos_of(pano, layout), 0.0)
    bumped_photos = [photos_of(pano, layout)[0], shoot(pano, *layout[1], dx=12)[0]]
    bumped = [save_group(tmp_path / f"b{k}", bumped_photos, 10.0 * (k + 1)) for k in range(3)]

    with caplog.at_level(logging.WARNING, logger="smokewatch.camera.panorama"):
        frames = [maker.make(g) for g in [still, *bumped]]

    # Frame 1 is bumped but not checked (check_every=2); frame 2 is checked and fails.
    assert [c.ok for c in maker.checks] == [True, False]
    assert [(r.time, r.registered) for r in maker.reregistrations] == [(20.0, True)]
    assert "registration drift" in caplog.text and "moved" in caplog.text
    assert reg_path.read_text() != before  # the new registration was saved
    assert {f.shape for f in frames} == {frames[0].shape}  # one frame size for the timelapse
    # The new registration fits the bumped camera: the next check passes.
    again = PanoramaMaker(reg_path, check_every=1)
    again.make(bumped[2])
    assert [c.ok for c in again.checks] == [True]


def test_maker_re_registers_a_moved_single_camera(pano: np.ndarray, tmp_path: Path) -> None:
    layout = LAYOUT[:1]
    reg_path = tmp_path / "camera.yaml"
    save_registration(register(photos_of(pano, layout)), reg_path)
    maker = PanoramaMaker(reg_path, check_every=1)
    maker.make(save_group(tmp_path / "a", photos_of(pano, layout), 0.0))
    maker.make(save_group(tmp_path / "b", photos_of(pano, layout, dx=15), 10.0))
    assert [c.ok for c in maker.checks] == [True, False]
    assert len(maker.reregistrations) == 1
    with pytest.raises(RegistrationError, match="2 photos at this instant"):
        maker.make(save_group(tmp_path / "c", photos_of(pano, LAYOUT[:2]), 20.0))


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [
        ("warper", "cylinder", "unknown warper 'cylinder'"),
        ("output_size", [-10, 265], "output_size -10x265"),
        ("output_size", [99999, 99999], "output_size 99999x99999"),
        ("output_size", [0, 0], "output_size 0x0"),
        ("scale", 0, "scale 0"),
        ("scale", float("inf"), "scale inf"),
        ("blend_width", float("nan"), "blend_width nan"),
        ("mode", "identity", "identity is one camera"),
        ("camera size", [-400, 265], "cameras[1].size -400x265"),
    ],
)
def test_hand_edited_values_are_refused_by_name(
    tmp_path: Path, key: str, value: object, named: str
) -> None:
    import yaml

    from smokewatch.camera.reg_model import CameraPose, Registration

    eye = np.eye(3, dtype=np.float32)
    pose = CameraPose(size=(120, 80), K=eye, R=eye, corner=(0, 0))
    reg = Registration("scans", "affine", 1.0, (pose, pose), (0, 0), (200, 80))
    path = tmp_path / "cam.yaml"
    save_registration(reg, path)
    assert load_registration(path).output_size == (200, 80)
    doc = yaml.safe_load(path.read_text())
    if key == "camera size":
        doc["cameras"][1]["size"] = value
    else:
        doc[key] = value
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(RegistrationError, match="cam.yaml: ") as caught:
        load_registration(path)
    assert named in str(caught.value)
