"""Which clips (and which augmentation keys) each process takes at each micro-step."""

from __future__ import annotations

import pytest

from smokewatch.training.sampling import StreamBatchSampler, draw_key


def _one_and_two(n: int, batch: int, steps: int) -> tuple[list[list[int]], list[list[int]]]:
    """Per micro-step: the clips of one process with ``batch``, and of two with half each."""
    one = StreamBatchSampler(n, batch, seed=7, stop=steps)
    halves = [
        StreamBatchSampler(n, batch // 2, seed=7, stop=steps, rank=r, world=2) for r in (0, 1)
    ]
    return [one.batch_at(k) for k in range(steps)], [
        halves[0].batch_at(k) + halves[1].batch_at(k) for k in range(steps)
    ]


def test_two_processes_take_one_processs_batches_and_keys() -> None:
    one, two = _one_and_two(n=10, batch=4, steps=6)  # 24 places: the stream crosses 2 epochs
    assert one == two
    single = StreamBatchSampler(10, 4, seed=7, stop=6)
    pair = [StreamBatchSampler(10, 2, seed=7, stop=6, rank=r, world=2) for r in (0, 1)]
    for k in range(6):
        assert single.keys_at(k) == pair[0].keys_at(k) + pair[1].keys_at(k)


def test_every_clip_once_per_epoch_and_a_new_key_each_time() -> None:
    sampler = StreamBatchSampler(6, 3, seed=1, stop=4)  # two epochs of 6 clips
    drawn = [i for k in range(4) for i in sampler.batch_at(k)]
    assert sorted(drawn[:6]) == sorted(drawn[6:]) == list(range(6))
    keys = [key for k in range(4) for key in sampler.keys_at(k)]
    assert len(set(keys)) == 12  # a clip seen again is augmented anew
    assert draw_key(1, 0) != draw_key(2, 0)  # another seed, other draws


def test_resume_replays_the_same_batches() -> None:
    whole = list(StreamBatchSampler(9, 2, seed=3, stop=8))
    assert list(StreamBatchSampler(9, 2, seed=3, start=5, stop=8)) == whole[5:]


def test_bad_samplers_are_refused() -> None:
    with pytest.raises(ValueError, match="no training clips"):
        StreamBatchSampler(0, 2, seed=0, stop=1)
    with pytest.raises(ValueError, match="rank 2 outside a world of 2"):
        StreamBatchSampler(4, 2, seed=0, stop=1, rank=2, world=2)
