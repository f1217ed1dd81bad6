"""core.atomic: what a killed writer leaves is swept by the next run, and nothing else."""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from smokewatch.core.atomic import atomic_path, atomic_write_text, remove_partials


def _partial(folder: Path, target: str) -> Path:
    """A temporary file exactly as :func:`atomic_path` names it, left behind."""
    fd, name = tempfile.mkstemp(
        prefix=f".{target}.", suffix=f".part{Path(target).suffix}", dir=folder
    )
    os.close(fd)
    return Path(name)


def test_the_partials_of_the_named_targets_go_and_nothing_else(tmp_path: Path) -> None:
    video, sidecar, other = (
        _partial(tmp_path, n) for n in ("day.mp4", "day.frames.json", "last.pt")
    )
    keep = [tmp_path / "day.mp4", tmp_path / ".hidden", tmp_path / ".day.mp4.notes"]
    for path in keep:
        path.write_text("x")
    assert remove_partials(tmp_path, {"day.mp4", "day.frames.json"}) == 2
    assert not video.exists() and not sidecar.exists() and other.exists()
    assert remove_partials(tmp_path) == 1 and not other.exists()
    assert all(path.read_text() == "x" for path in keep)
    assert remove_partials(tmp_path / "missing") == 0


def test_a_link_named_like_a_partial_is_not_followed(tmp_path: Path) -> None:
    precious = tmp_path / "precious.mp4"
    precious.write_text("x")
    (tmp_path / ".day.mp4.abcd1234.part.mp4").symlink_to(precious)
    assert remove_partials(tmp_path) == 0
    assert precious.read_text() == "x"


def test_the_sweep_knows_atomic_paths_names(tmp_path: Path) -> None:
    # what atomic_path writes is what the sweep takes: so it is only for a folder whose
    # targets nobody is writing (the writer below loses its file and its rename fails)
    with pytest.raises(FileNotFoundError):
        with atomic_path(tmp_path / "clip.mp4") as tmp:
            tmp.write_text("half")
            assert remove_partials(tmp_path, {"other.mp4"}) == 0
            assert remove_partials(tmp_path, {"clip.mp4"}) == 1
    assert not list(tmp_path.iterdir())


@pytest.fixture
def umask() -> Iterator[Callable[[int], None]]:
    """Set the process umask for a test; the old one comes back after it."""
    old = os.umask(0o022)
    try:
        yield os.umask
    finally:
        os.umask(old)


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_a_written_file_has_the_mode_open_would_give(
    tmp_path: Path, umask: Callable[[int], None], mask: int, mode: int
) -> None:
    # mkstemp's 0600 survived the rename: no one else could read a clip or metadata.json
    umask(mask)
    atomic_write_text(tmp_path / "metadata.json", "[]")
    with atomic_path(tmp_path / "clip.mp4") as tmp:
        tmp.write_bytes(b"x")
    with open(tmp_path / "plain.txt", "w") as f:
        f.write("x")
    for name in ("metadata.json", "clip.mp4", "plain.txt"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode, name
    # and a rewrite still replaces the file whole, leaving nothing beside it
    atomic_write_text(tmp_path / "metadata.json", "[1]")
    assert (tmp_path / "metadata.json").read_text() == "[1]"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "metadata.json", "plain.txt"]


def test_partials_can_be_chosen_by_a_test_on_the_target(tmp_path: Path) -> None:
    # a job that knows its targets by pattern (clips extract) sweeps only those: another
    # job's temporary file in the same folder (a timelapse build's video) is not a leftover
    clip, metadata, other = (
        _partial(tmp_path, n) for n in ("0-1-x.mp4", "metadata.json", "2024-06-11.mp4")
    )
    seen: list[str] = []

    def ours(target: str) -> bool:
        seen.append(target)
        return target.startswith("0-1-") or target == "metadata.json"

    assert remove_partials(tmp_path, ours) == 2
    assert sorted(seen) == ["0-1-x.mp4", "2024-06-11.mp4", "metadata.json"]
    assert not clip.exists() and not metadata.exists() and other.exists()


def test_the_new_file_is_on_disk_before_the_rename(
    tmp_path: Path, disk_calls: list[tuple[str, int, str]]
) -> None:
    # torch.save / np.save write by name: without the sync in atomic_path a power cut after
    # the rename could leave an empty checkpoint or cache entry in place of the old one
    with atomic_path(tmp_path / "last.pt") as tmp:
        tmp.write_bytes(b"weights")
    inode = (tmp_path / "last.pt").stat().st_ino
    assert disk_calls == [("fsync", inode, ""), ("replace", inode, "last.pt")]
    disk_calls.clear()
    atomic_write_text(tmp_path / "metadata.json", "[]")  # synced once, not twice
    inode = (tmp_path / "metadata.json").stat().st_ino
    assert disk_calls == [("fsync", inode, ""), ("replace", inode, "metadata.json")]


def test_a_failed_write_is_neither_synced_nor_renamed(
    tmp_path: Path, disk_calls: list[tuple[str, int, str]]
) -> None:
    with pytest.raises(RuntimeError, match="encoder died"):
        with atomic_path(tmp_path / "clip.mp4") as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("encoder died")
    assert disk_calls == [] and not list(tmp_path.iterdir())
