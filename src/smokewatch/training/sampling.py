"""Which clips each process sees at each step: a pure function of (seed, step), so resuming a
killed run replays exactly the batches the uninterrupted run would have seen.

The training stream is an endless sequence of epochs, each a seeded permutation of the clips.
Micro-step ``k`` (one forward pass of every process) takes the next ``batch x world`` positions
of the stream; process ``rank`` takes its ``batch``-sized slice. One process with batch ``B``
and two with ``B/2`` each therefore see the same clips in every optimizer step.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

import torch
from torch.utils.data import Sampler

__all__ = ["StreamBatchSampler", "epoch_permutation"]


@lru_cache(maxsize=4)
def epoch_permutation(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The clip order of ``epoch``: independent of any global random state."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=g)


class StreamBatchSampler(Sampler[list[int]]):
    """Batches of indices for micro-steps ``start, start + 1, ..., stop - 1`` of one process."""

    def __init__(
        self,
        n: int,
        batch: int,
        *,
        seed: int,
        start: int = 0,
        stop: int,
        rank: int = 0,
        world: int = 1,
    ) -> None:
        if n < 1:
            raise ValueError("no training clips")
        if not 0 <= rank < world:
            raise ValueError(f"rank {rank} outside a world of {world}")
        self.n, self.batch, self.seed = n, batch, seed
        self.start, self.stop = start, stop
        self.rank, self.world = rank, world

    def batch_at(self, k: int) -> list[int]:
        first = (k * self.world + self.rank) * self.batch
        out = []
        for p in range(first, first + self.batch):
            epoch, pos = divmod(p, self.n)
            out.append(int(epoch_permutation(self.n, self.seed, epoch)[pos]))
        return out

    def __iter__(self) -> Iterator[list[int]]:
        for k in range(self.start, self.stop):
            yield self.batch_at(k)

    def __len__(self) -> int:
        return max(0, self.stop - self.start)
