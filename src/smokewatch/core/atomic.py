"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Every writer in the project (metadata, clips, caches, checkpoints, exports) goes through
:func:`atomic_path`, so a crash or Ctrl-C mid-write leaves no partial file behind, and a
power cut none either: the new file's data reaches the disk before the rename makes it the
target (without that, ext4 and others can commit the rename first and leave an empty file).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_text", "remove_partials"]


def _new_file(folder: Path, prefix: str, suffix: str) -> Path:
    """Create a new, empty file ``<prefix><random><suffix>`` in ``folder``, as ``open()``
    would: mode 0666 less the umask (and the folder's default ACL).

    Not :func:`tempfile.mkstemp`: its files are 0600, the rename keeps that, and every
    output was unreadable to the rest of a team. The kernel applies the umask here, so it
    is never read (``os.umask`` can only be read by setting it, which races other threads).
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        path = folder / f"{prefix}{secrets.token_hex(4)}{suffix}"
        try:
            os.close(os.open(path, flags, 0o666))
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"{folder}: no free temporary name for {prefix}*{suffix}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds.

    The temporary file keeps ``path``'s suffix (or ``suffix``) so that tools choosing a format
    by extension (FFmpeg, numpy) still do; it is removed if the block raises. It is created
    with the mode a plain ``open()`` gives, so the file renamed into place has it too. Its
    data is flushed to disk (fsync) before the rename, here once for every writer (torch,
    numpy and FFmpeg write it by name, with no file object to sync), so the block must have
    closed the file by the time it ends.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_file(target.parent, f".{target.name}.", f".part{suffix or target.suffix}")
    try:
        yield tmp
        _sync(tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _sync(path: Path) -> None:
    """Flush the data of the file at ``path`` to disk (a regular file, closed by its writer)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (flushed to disk before the rename, by
    :func:`atomic_path`)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def remove_partials(
    folder: str | os.PathLike[str],
    names: Iterable[str] | Callable[[str], bool] | None = None,
) -> int:
    """Delete the temporary files of :func:`atomic_path` that a killed writer left in
    ``folder`` (``.<name>.XXXX.part<suffix>``): of the targets ``names`` (a set of names, or
    a test on a target's name, for a job whose targets are known by pattern, not one by one,
    so it leaves alone those of another job writing into the same folder), or of any target.

    :func:`atomic_path` removes its temporary file on any exception, Ctrl-C included, but not
    on SIGKILL or power loss; a resumable job calls this when it starts, so leftovers (a
    half-encoded video, a partial checkpoint) do not pile up run after run. Only for a
    folder whose targets no other process is writing right now. Returns how many went.
    """
    wanted: Callable[[str], bool] | None
    if names is None or callable(names):
        wanted = names
    else:
        wanted = set(names).__contains__
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return 0
    for entry in entries:
        name = entry.name
        if (
            not name.startswith(".")
            or ".part" not in name
            or not entry.is_file(follow_symlinks=False)
        ):
            continue
        target, _, _ = name[1:].rpartition(".part")
        target = target.rsplit(".", 1)[0]  # drop the random part
        if wanted is None or wanted(target):
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
                removed += 1
    return removed
