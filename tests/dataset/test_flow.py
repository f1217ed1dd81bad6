"""dataset.flow: TV-L1 / DIS flow of a known motion, RISE's clipping and scaling, the flow cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from smokewatch.dataset.flow import (
    FLOW_METHODS,
    FlowCacheReport,
    FlowMethod,
    compute_flow,
    compute_flow_cache,
    flow_cache_path,
    flow_to_uint8,
    uint8_to_flow,
)
from smokewatch.errors import VideoError
from smokewatch.video import read_clip
from tests.videos import garbage_file, make_clips, truncate

SIZE = 32
SHIFT = 2  # pixels to the right per frame


def shifted_clip(
    frames: int = 5, size: int = SIZE, shift: int = SHIFT, seed: int = 0
) -> np.ndarray:
    """uint8 RGB frames of a smooth random texture that moves ``shift`` px right per frame.

    The frames are windows into a wider texture; the window moves left by ``shift`` each
    frame, so the content moves right: true flow is (+shift, 0) everywhere but the left edge,
    where new content enters.
    """
    import cv2

    rng = np.random.default_rng(seed)
    width = size + shift * frames + 16
    noise = rng.uniform(0, 255, size=(size, width)).astype(np.float32)
    texture = cv2.GaussianBlur(noise, (0, 0), 1.5)
    texture = (texture - texture.min()) / (texture.max() - texture.min()) * 255
    start = 8 + shift * frames
    grey = np.stack(
        [texture[:, start - shift * t : start - shift * t + size] for t in range(frames)]
    )
    return np.repeat(grey.astype(np.uint8)[..., None], 3, axis=-1)


def interior(flow: np.ndarray) -> np.ndarray:
    """Away from the borders, where the true flow is exactly known."""
    m = 6
    return flow[..., m:-m, m:-m, :]


@pytest.mark.parametrize("method", ["dis", "tvl1", "farneback"])
def test_known_rightward_shift_is_recovered(method: FlowMethod) -> None:
    frames = shifted_clip()
    flow = compute_flow(frames, method)
    assert flow.dtype == np.float32 and flow.shape == (5, SIZE, SIZE, 2)
    np.testing.assert_array_equal(flow[0], 0.0)  # RISE's layout: frame 0 has no predecessor
    inner = interior(flow[1:])
    tolerance = 0.25 if method != "farneback" else 0.6
    for t in range(4):
        assert inner[t, ..., 0].mean() == pytest.approx(SHIFT, abs=tolerance), (method, t)
        assert abs(inner[t, ..., 1].mean()) < tolerance, (method, t)


def test_a_static_clip_has_no_flow() -> None:
    frames = np.repeat(shifted_clip(frames=1), 4, axis=0)
    flow = compute_flow(frames, "dis")
    assert np.abs(flow).max() < 0.05


def test_leftward_and_downward_motion_have_the_right_signs() -> None:
    frames = shifted_clip()[::-1].copy()  # played backwards: content moves left
    flow = compute_flow(frames, "dis")
    assert interior(flow[1:])[..., 0].mean() == pytest.approx(-SHIFT, abs=0.25)
    down = np.ascontiguousarray(shifted_clip().transpose(0, 2, 1, 3))  # rightward -> downward
    flow = compute_flow(down, "dis")
    assert interior(flow[1:])[..., 1].mean() == pytest.approx(SHIFT, abs=0.25)
    assert abs(interior(flow[1:])[..., 0].mean()) < 0.25


def test_without_padding_there_are_t_minus_1_frames() -> None:
    frames = shifted_clip()
    padded = compute_flow(frames, "dis")
    unpadded = compute_flow(frames, "dis", pad_first=False)
    assert unpadded.shape == (4, SIZE, SIZE, 2)
    np.testing.assert_array_equal(unpadded, padded[1:])
    with pytest.raises(ValueError, match="at least 2 frames"):
        compute_flow(frames[:1], "dis", pad_first=False)


def test_reference_first_measures_motion_from_frame_zero_as_rise_did() -> None:
    frames = shifted_clip(frames=4, shift=1)
    first = compute_flow(frames, "tvl1", reference="first")
    means = [interior(first[t : t + 1])[..., 0].mean() for t in range(4)]
    # frame t is t px away from frame 0 (RISE's arrays), not 1 px as consecutive flow is
    assert means == pytest.approx([0.0, 1.0, 2.0, 3.0], abs=0.3)
    previous = compute_flow(frames, "tvl1")
    means = [interior(previous[t : t + 1])[..., 0].mean() for t in range(4)]
    assert means == pytest.approx([0.0, 1.0, 1.0, 1.0], abs=0.3)


def test_flow_is_clipped_to_the_bound() -> None:
    frames = shifted_clip()
    clipped = compute_flow(frames, "dis", bound=1.5)
    assert np.abs(clipped).max() <= 1.5
    # the true 2 px motion saturates at the bound in the interior
    assert interior(clipped[1:])[..., 0].mean() == pytest.approx(1.5, abs=0.05)
    raw = compute_flow(frames, "dis", bound=None)
    assert np.abs(raw).max() > 1.5


def test_flow_to_uint8_matches_rises_mapping() -> None:
    px = np.array([-30.0, -20.0, -10.0, 0.0, 10.0, 20.0, 25.0], dtype=np.float32)
    u8 = flow_to_uint8(px)
    assert u8.dtype == np.uint8
    # (f + 20) * 255 / 40 after clipping to [-20, 20], rounded
    np.testing.assert_array_equal(u8, [0, 0, 64, 128, 191, 255, 255])
    back = uint8_to_flow(u8)
    assert back.dtype == np.float32
    np.testing.assert_allclose(back[[1, 5]], [-20.0, 20.0], atol=1e-5)


def test_uint8_round_trip_within_half_a_level() -> None:
    rng = np.random.default_rng(1)
    flow = rng.uniform(-20, 20, size=(3, 8, 8, 2)).astype(np.float32)
    for bound in (20.0, 5.0):
        f = np.clip(flow, -bound, bound)
        err = np.abs(uint8_to_flow(flow_to_uint8(f, bound), bound) - f).max()
        assert err <= bound / 255 + 1e-5  # half of one level, 2 * bound / 255


def test_the_loaders_scaling_of_cached_flow_is_rises() -> None:
    from smokewatch.dataset.augment import normalize

    u8 = np.arange(256, dtype=np.uint8)
    unit = normalize(torch.from_numpy(u8)).numpy()
    # RISE: Normalize(mean=127.5, std=127.5) on the cached uint8 flow
    np.testing.assert_allclose(unit, (u8.astype(np.float64) - 127.5) / 127.5, atol=1e-6)
    np.testing.assert_allclose(unit, uint8_to_flow(u8) / 20.0, atol=1e-6)
    assert unit.min() == -1.0 and unit.max() == 1.0


def test_bad_input_and_unknown_method_are_clear_errors() -> None:
    frames = shifted_clip()
    with pytest.raises(ValueError, match="unknown flow method 'raft'"):
        compute_flow(frames, "raft")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"\(T, H, W, 3\)"):
        compute_flow(frames[..., 0], "dis")
    with pytest.raises(ValueError, match="uint8"):
        compute_flow(frames.astype(np.float32), "dis")
    with pytest.raises(ValueError, match="reference"):
        compute_flow(frames, "dis", reference="next")  # type: ignore[arg-type]
    assert set(FLOW_METHODS) == {"tvl1", "dis", "farneback"}


# --------------------------------------------------------------------------------------------
# the cache
# --------------------------------------------------------------------------------------------


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_cache_writes_uint8_flow_and_reports_corrupt_videos(tmp_path: Path) -> None:
    videos = tmp_path / "videos"
    good = make_clips(videos, ["a", "b"], frames=6, size=32)
    garbage = garbage_file(videos / "garbage.mp4")
    cut = make_clips(videos, ["cut"], frames=6, size=32)[0]
    truncate(cut, 0.4)
    seen: list[tuple[str, str]] = []

    out = tmp_path / "flow"
    report = compute_flow_cache(
        videos, out, method="dis", progress=lambda v, s: seen.append((v.name, s))
    )

    assert isinstance(report, FlowCacheReport)
    assert (report.written, report.reused, report.total) == (2, 0, 4)
    assert not report.ok
    assert sorted(p.name for p, _ in report.failed) == ["cut.mp4", "garbage.mp4"]
    for path, message in report.failed:
        assert str(path) in message  # names the file
        assert not flow_cache_path(path, out).exists()
    assert sorted(seen) == [
        ("a.mp4", "written"),
        ("b.mp4", "written"),
        ("cut.mp4", "failed"),
        ("garbage.mp4", "failed"),
    ]
    for video in good:
        cached = np.load(flow_cache_path(video, out))
        assert cached.dtype == np.uint8 and cached.shape == (6, 32, 32, 2)
        expected = flow_to_uint8(compute_flow(read_clip(video), "dis"))
        np.testing.assert_array_equal(cached, expected)
        assert (cached[0] == 128).all()  # zero flow in the padded first frame
    assert _leftovers(out) == []
    assert (out / "flow.json").is_file()
    assert garbage.exists()


def test_cache_reuses_fresh_entries_and_strict_raises(tmp_path: Path) -> None:
    videos = tmp_path / "videos"
    make_clips(videos, ["a", "b"], frames=4, size=32)
    out = tmp_path / "flow"
    first = compute_flow_cache(videos, out, method="dis")
    assert (first.written, first.reused) == (2, 0)
    again = compute_flow_cache(videos, out, method="dis")
    assert (again.written, again.reused, again.ok) == (0, 2, True)

    garbage_file(videos / "zz.mp4")
    with pytest.raises(VideoError, match="zz.mp4"):
        compute_flow_cache(videos, out, method="dis", strict=True)


def test_cache_refuses_to_mix_settings(tmp_path: Path) -> None:
    videos = tmp_path / "videos"
    make_clips(videos, ["a"], frames=4, size=32)
    out = tmp_path / "flow"
    compute_flow_cache(videos, out, method="dis")
    with pytest.raises(ValueError, match="method"):
        compute_flow_cache(videos, out, method="farneback")
    with pytest.raises(ValueError, match="bound"):
        compute_flow_cache(videos, out, method="dis", bound=10.0)


def test_cache_with_workers_gives_the_same_arrays(tmp_path: Path) -> None:
    videos = tmp_path / "videos"
    clips = make_clips(videos, ["a", "b", "c"], frames=4, size=32)
    garbage_file(videos / "bad.mp4")
    one = compute_flow_cache(videos, tmp_path / "one", method="dis", workers=1)
    two = compute_flow_cache(videos, tmp_path / "two", method="dis", workers=2)
    assert (one.written, [p.name for p, _ in one.failed]) == (3, ["bad.mp4"])
    assert (two.written, [p.name for p, _ in two.failed]) == (3, ["bad.mp4"])
    for clip in clips:
        np.testing.assert_array_equal(
            np.load(flow_cache_path(clip, tmp_path / "one")),
            np.load(flow_cache_path(clip, tmp_path / "two")),
        )


def test_cache_argument_errors(tmp_path: Path) -> None:
    with pytest.raises(VideoError, match="not a folder"):
        compute_flow_cache(tmp_path / "missing", tmp_path / "out", method="dis")
    with pytest.raises(ValueError, match="workers"):
        compute_flow_cache(tmp_path, tmp_path / "out", method="dis", workers=0)
    with pytest.raises(ValueError, match="unknown flow method"):
        compute_flow_cache(tmp_path, tmp_path / "out", method="raft")  # type: ignore[arg-type]
