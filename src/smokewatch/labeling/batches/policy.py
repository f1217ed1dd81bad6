"""What a batch holds: RISE's 16 clips, 4 of them hidden gold standards, and how many of the
others come from partly labeled clips. Set from the ``SMOKEWATCH_PAGE_*`` settings."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BatchPolicy"]


@dataclass(frozen=True, slots=True)
class BatchPolicy:
    """How batches are made (RISE: 16 clips, 4 gold, 80% of the rest from partly labeled)."""

    size: int = 16
    gold: int = 4
    partial_ratio: float = 0.8

    @property
    def to_label(self) -> int:
        return self.size - self.gold
