"""smokewatch.video: real PyAV encode/decode, and every bad file names itself."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from smokewatch import video
from smokewatch.errors import SmokewatchError, VideoError
from tests.videos import garbage_file, make_clip, synthetic_frames, truncate


def test_round_trip_keeps_shape_and_content(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    frames = make_clip(path, frames=36, size=180, seed=3)
    decoded = video.read_clip(path, expected_frames=36)
    assert decoded.shape == (36, 180, 180, 3)
    assert decoded.dtype == np.uint8
    # H.264 at crf 23 is lossy but close on smooth content.
    err = np.abs(decoded.astype(np.int16) - frames.astype(np.int16))
    assert err.mean() < 3.0
    # The moving square is where it was written, frame by frame (order preserved).
    for t in (0, 17, 35):
        bright = decoded[t].min(axis=2) > 220
        written = frames[t].min(axis=2) == 255
        assert written.sum() > 100
        assert (bright ^ written).mean() < 0.01


def test_written_file_is_h264_yuv420p_with_index_first(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    make_clip(path, frames=12, size=(64, 96))
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert float(stream.average_rate) == 12.0
    head = path.read_bytes()[:4096]
    assert b"moov" in head, "faststart should move the index before the media data"
    info = video.probe(path)
    assert info == video.VideoInfo(frames=12, width=96, height=64, fps=12.0, codec="h264")


def test_write_clip_fps_and_crf(tmp_path: Path) -> None:
    frames = synthetic_frames(8, 32, seed=1)
    video.write_clip(frames, tmp_path / "lo.mp4", fps=24, crf=10)
    video.write_clip(frames, tmp_path / "hi.mp4", fps=24, crf=40)
    assert video.probe(tmp_path / "lo.mp4").fps == 24.0
    assert (tmp_path / "lo.mp4").stat().st_size > (tmp_path / "hi.mp4").stat().st_size


def test_iter_frames_streams_all_frames(tmp_path: Path) -> None:
    path = tmp_path / "long.mp4"
    frames = make_clip(path, frames=50, size=(48, 64))
    out = list(video.iter_frames(path))
    assert len(out) == 50
    assert all(f.shape == (48, 64, 3) and f.dtype == np.uint8 for f in out)
    assert np.abs(out[10].astype(int) - frames[10]).mean() < 4


def test_expected_frames_mismatch(tmp_path: Path) -> None:
    path = tmp_path / "short.mp4"
    make_clip(path, frames=10, size=32)
    with pytest.raises(VideoError, match=r"short\.mp4.*10 frames, expected 36"):
        video.read_clip(path, expected_frames=36)


@pytest.mark.parametrize(
    "reader", [video.read_clip, lambda p: list(video.iter_frames(p)), video.probe]
)
def test_random_bytes_raise_video_error_naming_file(tmp_path: Path, reader) -> None:
    bad = garbage_file(tmp_path / "noise.mp4")
    with pytest.raises(VideoError, match="noise.mp4") as info:
        reader(bad)
    assert isinstance(info.value, SmokewatchError)


@pytest.mark.parametrize("fraction", [0.03, 0.3, 0.6, 0.9, 0.99])
def test_truncated_file_raises_video_error(tmp_path: Path, fraction: float) -> None:
    path = tmp_path / "cut.mp4"
    make_clip(path, frames=36, size=64)
    truncate(path, fraction)
    with pytest.raises(VideoError, match="cut.mp4"):
        video.read_clip(path)
    with pytest.raises(VideoError, match="cut.mp4"):
        list(video.iter_frames(path))


def test_missing_empty_and_folder(tmp_path: Path) -> None:
    with pytest.raises(VideoError, match="gone.mp4: no such file"):
        video.read_clip(tmp_path / "gone.mp4")
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(VideoError, match="empty.mp4: empty file"):
        video.read_clip(tmp_path / "empty.mp4")
    with pytest.raises(VideoError, match="is a folder"):
        video.probe(tmp_path)


def test_write_rejects_bad_frames(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="even"):
        video.write_clip(np.zeros((2, 31, 32, 3), np.uint8), tmp_path / "odd.mp4")
    with pytest.raises(ValueError, match="uint8"):
        video.write_clip(np.zeros((2, 32, 32, 3), np.float32), tmp_path / "f.mp4")
    with pytest.raises(ValueError, match=r"\(T, H, W, 3\)"):
        video.write_clip(np.zeros((32, 32, 3), np.uint8), tmp_path / "f.mp4")
    assert list(tmp_path.iterdir()) == []


class _Boom(RuntimeError):
    pass


def test_failed_write_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exception mid-encode (after some frames hit the disk) leaves nothing behind."""
    calls = {"n": 0}
    real = av.VideoFrame.from_ndarray

    def flaky(array, format="rgb24"):
        calls["n"] += 1
        if calls["n"] == 20:
            raise _Boom("disk on fire")
        return real(array, format=format)

    monkeypatch.setattr(av.VideoFrame, "from_ndarray", staticmethod(flaky))
    target = tmp_path / "clip.mp4"
    with pytest.raises(_Boom):
        video.write_clip(synthetic_frames(36, 64), target)
    assert calls["n"] == 20
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "clip.mp4"
    make_clip(target, frames=6, size=32)
    before = target.read_bytes()

    def broken(*args, **kwargs):
        raise av.FFmpegError(5, "Input/output error")

    monkeypatch.setattr(av.VideoFrame, "from_ndarray", staticmethod(broken))
    with pytest.raises(VideoError, match="clip.mp4: cannot write video"):
        video.write_clip(synthetic_frames(6, 32), target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]


def _items(path: Path) -> list[np.ndarray | video.LostFrames]:
    return list(video.iter_frames_tolerant(path))


def _noisy_clip(path: Path, frames: int = 60) -> np.ndarray:
    """A clip whose every frame is a sizeable packet (noise does not compress)."""
    data = synthetic_frames(frames, (48, 64), seed=3).astype(np.int16)
    data += np.random.default_rng(3).integers(-25, 25, data.shape, dtype=np.int16)
    out = np.clip(data, 0, 255).astype(np.uint8)
    video.write_clip(out, path)
    return out


def test_tolerant_frames_of_a_good_file_are_its_frames(tmp_path: Path) -> None:
    path = tmp_path / "good.mp4"
    make_clip(path, frames=40, size=(48, 64))
    items = _items(path)
    assert not any(isinstance(i, video.LostFrames) for i in items)
    assert all(np.array_equal(a, b) for a, b in zip(items, video.iter_frames(path), strict=True))


def test_tolerant_frames_skip_a_corrupt_segment_and_go_on(tmp_path: Path) -> None:
    path = tmp_path / "damaged.mp4"
    frames = _noisy_clip(path)
    with av.open(str(path)) as container:
        packets = sorted((p.pts, p.pos, p.size) for p in container.demux() if p.size)
    start, end = packets[30][1], packets[35][1] + packets[35][2]
    data = bytearray(path.read_bytes())
    data[start:end] = np.random.default_rng(0).bytes(end - start)
    path.write_bytes(bytes(data))
    with pytest.raises(VideoError, match="damaged.mp4: corrupt video"):
        list(video.iter_frames(path))
    items = _items(path)
    position, lost = 0, []
    for item in items:
        if isinstance(item, video.LostFrames):
            lost.append((position, position + item.count - 1, item.reason))
            position += item.count
        else:
            if position < 25:  # before the damage, frames are what was encoded
                assert np.abs(item.astype(int) - frames[position]).mean() < 12
            position += 1
    assert position == 60  # every frame accounted for, decoded or lost
    missing = {f for a, b, _ in lost for f in range(a, b + 1)}
    # FFmpeg fails the damaged packets, and drops frames that needed them (a damaged packet
    # may also decode to a garbled frame: FFmpeg cannot always tell)
    assert len(missing & set(range(30, 36))) >= 3
    assert any("Invalid data" in reason for _, _, reason in lost)
    assert lost[-1][1] < 59  # frames after the damage were decoded


def test_tolerant_frames_of_a_truncated_file_end_with_the_lost_rest(tmp_path: Path) -> None:
    path = tmp_path / "cut.mp4"
    _noisy_clip(path, frames=40)
    truncate(path, 0.5)
    items = _items(path)
    assert isinstance(items[-1], video.LostFrames)
    decoded = sum(isinstance(i, np.ndarray) for i in items)
    assert 0 < decoded < 40
    assert decoded + sum(i.count for i in items if isinstance(i, video.LostFrames)) == 40


def test_tolerant_frames_still_refuse_files_that_are_not_video(tmp_path: Path) -> None:
    with pytest.raises(VideoError, match="noise.mp4"):
        _items(garbage_file(tmp_path / "noise.mp4"))
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(VideoError, match="empty file"):
        _items(tmp_path / "empty.mp4")


def test_video_writer_streams_frames_and_writes_nothing_on_error(tmp_path: Path) -> None:
    from smokewatch.video import VideoWriter

    frames = synthetic_frames(6, (32, 48), seed=3)
    path = tmp_path / "stream.mp4"
    with VideoWriter(path, fps=12) as out:
        for frame in frames:
            out.write(frame)
        assert not path.exists()  # only once it is finished
    assert video.read_clip(path).shape == (6, 32, 48, 3)
    with pytest.raises(VideoError, match="even width and height"):
        with VideoWriter(tmp_path / "odd.mp4") as out:
            out.write(frames[0][:31])
    with pytest.raises(VideoError, match="no frames to write"):
        with VideoWriter(tmp_path / "empty.mp4"):
            pass
    with pytest.raises(KeyError):
        with VideoWriter(tmp_path / "broken.mp4") as out:
            out.write(frames[0])
            raise KeyError("stop")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stream.mp4"]


@pytest.mark.parametrize("writer", ["write_clip", "VideoWriter"])
def test_a_video_reaches_the_disk_before_its_rename(
    tmp_path: Path, disk_calls: list[tuple[str, int, str]], writer: str
) -> None:
    # renamed into place unsynced, a power cut could leave an empty or cut-off video under
    # the final name, which a resumed run takes as done (atomic_write_bytes always synced)
    target = tmp_path / "clip.mp4"
    frames = synthetic_frames(3, 32)
    if writer == "write_clip":
        video.write_clip(frames, target)
    else:
        with video.VideoWriter(target) as out:
            for frame in frames:
                out.write(frame)
    inode = target.stat().st_ino
    assert [e for e in disk_calls if e[1] == inode] == [
        ("fsync", inode, ""),
        ("replace", inode, "clip.mp4"),
    ]


def _decode_in_child(path: str) -> None:
    video.read_clip(path)
    list(video.iter_frames_tolerant(path))


def test_a_process_forked_after_decoding_decodes_too(tmp_path: Path) -> None:
    """A DataLoader worker is forked after the parent decoded clips; with PyAV's per-thread
    colour converter (18.1.1 on) run on worker threads, the child hung on its first frame."""
    import multiprocessing

    path = tmp_path / "clip.mp4"
    video.write_clip(synthetic_frames(8, 48, 64), path)
    video.read_clip(path)  # the parent's converter exists before the fork
    child = multiprocessing.get_context("fork").Process(target=_decode_in_child, args=(path,))
    child.start()
    child.join(timeout=60)
    if child.is_alive():
        child.kill()
        child.join()
        pytest.fail("the forked process hung decoding a clip")
    assert child.exitcode == 0
