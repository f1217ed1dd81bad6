"""A watched folder's files are taken once they stop changing, whatever their timestamps say."""

from __future__ import annotations

import os
import time
from pathlib import Path

from smokewatch.watch.folder import FolderSettler


def _names(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]


def test_a_file_is_taken_once_unchanged_for_the_settle_time(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(b"x")
    settler = FolderSettler(settle=1.0)
    assert settler.settled(tmp_path, now=100.0) == []  # first seen now
    assert settler.settled(tmp_path, now=100.5) == []
    assert _names(settler.settled(tmp_path, now=101.0)) == ["a.png"]


def test_mtimes_in_the_future_or_the_past_do_not_matter(tmp_path: Path) -> None:
    """An uploader whose clock runs hours ahead must not hold its photos back."""
    ahead, behind = tmp_path / "ahead.png", tmp_path / "behind.png"
    ahead.write_bytes(b"x")
    behind.write_bytes(b"y")
    future = time.time() + 3 * 3600
    os.utime(ahead, (future, future))
    os.utime(behind, (0, 0))
    settler = FolderSettler(settle=1.0)
    assert settler.settled(tmp_path, now=5.0) == []  # an old mtime is no proof it is done
    assert _names(settler.settled(tmp_path, now=6.0)) == ["ahead.png", "behind.png"]


def test_a_file_still_growing_waits_until_it_stops(tmp_path: Path) -> None:
    path = tmp_path / "b.png"
    path.write_bytes(b"12")
    settler = FolderSettler(settle=1.0)
    settler.settled(tmp_path, now=0.0)
    with open(path, "ab") as f:
        f.write(b"34")
    assert settler.settled(tmp_path, now=2.0) == []  # changed: its clock starts again
    assert settler.settled(tmp_path, now=2.5) == []
    assert _names(settler.settled(tmp_path, now=3.0)) == ["b.png"]


def test_a_rewrite_of_the_same_size_restarts_the_wait(tmp_path: Path) -> None:
    path = tmp_path / "c.png"
    path.write_bytes(b"ab")
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    settler = FolderSettler(settle=1.0)
    settler.settled(tmp_path, now=0.0)
    path.write_bytes(b"cd")
    os.utime(path, ns=(2_000_000_000, 2_000_000_000))
    assert settler.settled(tmp_path, now=1.5) == []
    assert _names(settler.settled(tmp_path, now=2.5)) == ["c.png"]


def test_hidden_files_folders_and_a_missing_folder_are_never_taken(tmp_path: Path) -> None:
    (tmp_path / ".rejected-x.png").write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    settler = FolderSettler(settle=0.0)
    assert settler.settled(tmp_path, now=0.0) == []
    assert settler.settled(tmp_path / "missing", now=0.0) == []


def test_a_file_that_leaves_and_comes_back_waits_again(tmp_path: Path) -> None:
    path = tmp_path / "d.png"
    path.write_bytes(b"x")
    settler = FolderSettler(settle=1.0)
    settler.settled(tmp_path, now=0.0)
    path.rename(tmp_path / ".hold")
    assert settler.settled(tmp_path, now=1.0) == []
    (tmp_path / ".hold").rename(path)
    assert settler.settled(tmp_path, now=5.0) == []  # forgotten while away: seen anew
    assert _names(settler.settled(tmp_path, now=6.0)) == ["d.png"]
