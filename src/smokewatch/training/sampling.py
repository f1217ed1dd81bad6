"""Which clips each process sees at each step: a pure function of (seed, step), so resuming a
killed run replays exactly the batches the uninterrupted run would have seen.

The training stream is an endless sequence of epochs, each a seeded permutation of the clips.
Micro-step ``k`` (one forward pass of every process) takes the next ``batch x world`` positions
of the stream; process ``rank`` takes its ``batch``-sized slice. One process with batch ``B``
and two with ``B/2`` each therefore see the same clips in every optimizer step.

Each place in the stream also has a draw key (:func:`draw_key`): the clip taken there is
augmented from it, so that same clip is augmented alike however the batch is divided.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

import torch
from torch.utils.data import Sampler

__all__ = ["StreamBatchSampler", "draw_key", "epoch_permutation"]


@lru_cache(maxsize=4)
def epoch_permutation(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The clip order of ``epoch``: independent of any global random state."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=g)


def draw_key(seed: int, position: int) -> int:
    """The augmentation key of stream place ``position`` in a run seeded ``seed`` (module doc).

    Distinct for every place, so a clip drawn again in a later epoch is augmented anew.
    """
    return seed * 1_000_000_007 + position


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

    def positions_at(self, k: int) -> range:
        """This process's places in the stream at micro-step ``k``."""
        first = (k * self.world + self.rank) * self.batch
        return range(first, first + self.batch)

    def keys_at(self, k: int) -> list[int]:
        """The draw keys (:func:`draw_key`) of :meth:`batch_at`'s clips, in the same order."""
        return [draw_key(self.seed, p) for p in self.positions_at(k)]

    def batch_at(self, k: int) -> list[int]:
        out = []
        for p in self.positions_at(k):
            epoch, pos = divmod(p, self.n)
            out.append(int(epoch_permutation(self.n, self.seed, epoch)[pos]))
        return out

    def __iter__(self) -> Iterator[list[int]]:
        for k in range(self.start, self.stop):
            yield self.batch_at(k)

    def __len__(self) -> int:
        return max(0, self.stop - self.start)
