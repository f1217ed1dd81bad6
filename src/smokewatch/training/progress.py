"""Progress for long work: a rich bar with ETA on a terminal, a plain line every 30 s in a log.

(Rich draws nothing live when stderr is a file, so a run in ``nohup ... > log`` would show no
progress at all until the end.)
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console

__all__ = ["Progress"]


class Progress:
    """``with Progress(enabled, total, title, done=0) as p: p.update(n, status)``."""

    def __init__(
        self,
        enabled: bool,
        total: int,
        title: str,
        *,
        done: int = 0,
        every: float = 30.0,
        console: Console | None = None,
    ) -> None:
        self.enabled, self.total, self.title, self.done = enabled, total, title, done
        # stderr, like the CLI's messages, so a command's results on stdout stay clean.
        self.console = console if console is not None else Console(stderr=True, soft_wrap=True)
        self.every = every
        self.bar: Any = None
        self.started = time.monotonic()
        self.first = done
        self.last_line = self.started

    def __enter__(self) -> Progress:
        if self.enabled and self.console.is_terminal:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as RichProgress

            self.bar = RichProgress(
                TextColumn("{task.description}", markup=False),  # titles hold user paths
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[status]}", markup=False),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=self.console,
            )
            self.task = self.bar.add_task(
                self.title, total=self.total, completed=self.done, status=""
            )
            self.bar.start()
        return self

    def update(self, done: int, status: str = "") -> None:
        self.done = done
        if self.bar is not None:
            self.bar.update(self.task, completed=done, status=status)
            return
        now = time.monotonic()
        if self.enabled and (now - self.last_line >= self.every or done >= self.total):
            self.last_line = now
            rate = (done - self.first) / max(now - self.started, 1e-9)
            eta = (self.total - done) / rate if rate > 0 else float("nan")
            self.console.print(
                f"{self.title}: {done}/{self.total} {status} "
                f"({now - self.started:.0f} s, ETA {eta:.0f} s)",
                highlight=False,
                markup=False,
            )

    def advance(self, n: int, status: str = "") -> None:
        self.update(self.done + n, status)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()
