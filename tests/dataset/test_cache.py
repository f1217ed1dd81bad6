"""dataset.cache: decode once, reuse while fresh, skip corrupt clips, atomic arrays."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from smokewatch import video
from smokewatch.dataset import cache
from smokewatch.dataset.cache import CacheReport, build_cache, cached_frames, perturb_frames
from smokewatch.errors import VideoError
from tests.videos import garbage_file, make_clip, make_clips, truncate


def _count_decodes(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    calls = {"n": 0}
    real = video.read_clip

    def counting(*args, **kwargs):
        calls["n"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(video, "read_clip", counting)
    return calls


def test_cached_frames_decodes_once_then_reuses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clip = tmp_path / "v" / "a.mp4"
    make_clip(clip, frames=8, size=32)
    calls = _count_decodes(monkeypatch)
    first = cached_frames(clip, tmp_path / "c")
    npy = tmp_path / "c" / "a.npy"
    assert npy.exists()
    assert calls["n"] == 1
    second = cached_frames(clip, tmp_path / "c")
    assert calls["n"] == 1, "a fresh cache entry must not be decoded again"
    assert first.dtype == np.uint8 and first.shape == (8, 32, 32, 3)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(np.load(npy), video.read_clip(clip))


def test_stale_cache_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clip = tmp_path / "a.mp4"
    make_clip(clip, frames=6, size=32, seed=0)
    old = cached_frames(clip, tmp_path / "c")
    make_clip(clip, frames=6, size=32, seed=5)  # the video changed after caching
    npy = tmp_path / "c" / "a.npy"
    t = npy.stat().st_mtime_ns
    os.utime(clip, ns=(t + 10**9, t + 10**9))
    calls = _count_decodes(monkeypatch)
    new = cached_frames(clip, tmp_path / "c")
    assert calls["n"] == 1
    assert not np.array_equal(old, new)


def test_unreadable_cache_entry_is_rebuilt(tmp_path: Path) -> None:
    clip = tmp_path / "a.mp4"
    make_clip(clip, frames=6, size=32)
    npy = tmp_path / "c" / "a.npy"
    npy.parent.mkdir()
    npy.write_bytes(b"not numpy")
    os.utime(npy, ns=(clip.stat().st_mtime_ns + 10**9,) * 2)
    arr = cached_frames(clip, tmp_path / "c")
    assert arr.shape == (6, 32, 32, 3)
    assert np.load(npy).shape == (6, 32, 32, 3)


def test_cached_frames_errors_name_the_file(tmp_path: Path) -> None:
    bad = garbage_file(tmp_path / "bad.mp4")
    with pytest.raises(VideoError, match="bad.mp4"):
        cached_frames(bad, tmp_path / "c")
    assert not (tmp_path / "c" / "bad.npy").exists()
    with pytest.raises(VideoError, match="missing.mp4"):
        cached_frames(tmp_path / "missing.mp4", tmp_path / "c")
    clip = tmp_path / "short.mp4"
    make_clip(clip, frames=5, size=32)
    with pytest.raises(VideoError, match="expected 36"):
        cached_frames(clip, tmp_path / "c", expected_frames=36)


def test_build_cache_skips_and_reports_corrupt(tmp_path: Path) -> None:
    videos = tmp_path / "videos"
    good = make_clips(videos, ["a", "b"], frames=6, size=32)
    make_clip(videos / "day" / "c.mp4", frames=6, size=32)  # nested folders are searched
    garbage_file(videos / "noise.mp4")
    make_clip(videos / "cut.mp4", frames=12, size=32)
    truncate(videos / "cut.mp4", 0.6)
    (videos / ".d.mp4.tmp.part.mp4").write_bytes(b"temp")  # a writer's temp file: ignored
    (videos / "notes.txt").write_text("not a video")

    report = build_cache(videos, tmp_path / "cache", progress=False)
    assert isinstance(report, CacheReport)
    assert (report.written, report.reused) == (3, 0)
    assert sorted(p.name for p, _ in report.failed) == ["cut.mp4", "noise.mp4"]
    for path, message in report.failed:
        assert path.name in message
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["a.npy", "b.npy", "c.npy"]
    assert not report.ok and report.total == 5
    np.testing.assert_array_equal(np.load(tmp_path / "cache" / "a.npy"), video.read_clip(good[0]))

    again = build_cache(videos, tmp_path / "cache", progress=False)
    assert (again.written, again.reused, len(again.failed)) == (0, 3, 2)


def test_build_cache_strict_raises(tmp_path: Path) -> None:
    videos = tmp_path / "videos"
    make_clips(videos, ["a"], frames=4, size=32)
    garbage_file(videos / "z.mp4")
    with pytest.raises(VideoError, match="z.mp4"):
        build_cache(videos, tmp_path / "cache", strict=True, progress=False)


def test_build_cache_duplicate_stems(tmp_path: Path) -> None:
    videos = tmp_path / "videos"
    make_clip(videos / "d1" / "same.mp4", frames=4, size=32)
    make_clip(videos / "d2" / "same.mp4", frames=4, size=32, seed=1)
    report = build_cache(videos, tmp_path / "cache", progress=False)
    assert report.written == 1
    assert len(report.failed) == 1 and "same file name" in report.failed[0][1]


def test_build_cache_progress_callable_and_missing_dir(tmp_path: Path) -> None:
    videos = tmp_path / "videos"
    make_clips(videos, ["a", "b"], frames=4, size=32)
    seen: list[Path] = []

    def wrap(items):
        for item in items:
            seen.append(item)
            yield item

    build_cache(videos, tmp_path / "cache", progress=wrap)
    assert [p.name for p in seen] == ["a.mp4", "b.mp4"]
    with pytest.raises(VideoError, match="not a folder"):
        build_cache(tmp_path / "nope", tmp_path / "cache", progress=False)


def test_interrupted_cache_write_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clip = tmp_path / "a.mp4"
    make_clip(clip, frames=4, size=32)

    def boom(f, arr, allow_pickle=False):
        f.write(b"\x93NUMPY partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(cache.np, "save", boom)
    with pytest.raises(KeyboardInterrupt):
        cached_frames(clip, tmp_path / "c")
    assert list((tmp_path / "c").iterdir()) == []


def test_perturb_frames_is_a_seeded_permutation() -> None:
    frames = np.arange(36, dtype=np.uint8)[:, None, None, None] * np.ones((1, 4, 4, 3), np.uint8)
    out = perturb_frames(frames, np.random.default_rng(0))
    order = out[:, 0, 0, 0]
    assert sorted(order.tolist()) == list(range(36))
    assert order.tolist() != list(range(36))
    np.testing.assert_array_equal(out, frames[order])  # whole frames move, pixels untouched
    again = perturb_frames(frames, np.random.default_rng(0))
    np.testing.assert_array_equal(out, again)
    other = perturb_frames(frames, np.random.default_rng(1))
    assert not np.array_equal(out, other)
    assert frames[:, 0, 0, 0].tolist() == list(range(36)), "input must not be shuffled in place"
