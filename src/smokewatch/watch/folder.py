"""Which files in a watched folder are finished: unchanged for a while, by the watcher's own clock.

A photo is taken from a watched folder only once nothing is writing it any more. Comparing
its mtime with the wall clock cannot tell: an uploader or a camera whose clock runs ahead
(or a FAT card written in local time, copied with its times kept) leaves mtimes in the
future, and such photos would wait, unexplained, until the real clock caught up. So a file
counts as settled when its size and mtime have stayed the same for ``settle`` seconds of
this process's monotonic clock, whatever its timestamps say.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["SETTLE_SECONDS", "FolderSettler"]

#: How long a file must stay unchanged (size and mtime) before it is taken.
SETTLE_SECONDS = 1.0


@dataclass
class FolderSettler:
    """Remembers what each file looked like and since when, across polls of one folder."""

    settle: float = SETTLE_SECONDS
    _since: dict[str, tuple[int, int, float]] = field(default_factory=dict)

    @property
    def watching(self) -> int:
        """How many files the last look saw, settled or not: a one-shot taker (``watch
        sync``) knows from it whether to wait at all, and how many it leaves behind."""
        return len(self._since)

    def settled(self, folder: Path, now: float) -> list[Path]:
        """The folder's visible files unchanged for ``settle`` seconds as of ``now`` (a
        monotonic reading), sorted by name. Hidden files (a leading dot) are never taken."""
        seen: dict[str, tuple[int, int, float]] = {}
        ready = []
        for path in sorted(folder.iterdir()) if folder.is_dir() else []:
            if path.name.startswith("."):
                continue
            try:
                st = path.stat()
            except OSError:
                continue  # gone between listing and stat
            if not stat.S_ISREG(st.st_mode):
                continue
            state = (st.st_size, st.st_mtime_ns)
            before = self._since.get(path.name)
            since = before[2] if before is not None and before[:2] == state else now
            seen[path.name] = (*state, since)
            if now - since >= self.settle:
                ready.append(path)
        self._since = seen  # files that left the folder are forgotten
        return ready
