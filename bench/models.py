"""Inference cost of every registered model: parameters, GFLOPs, clips/s, share of peak.

    python bench/models.py                       # all models, 36x224^2 and 36x180^2, batch 1 and 4
    python bench/models.py --models i3d --sizes 224 --batches 1 --repeats 5

For each model, input size and batch it prints the parameter count, the forward GFLOPs per
clip (``torch.utils.flop_counter``), clips/s (median of ``--repeats`` timed forwards after one
warm-up, eval mode, ``torch.inference_mode``), and the achieved GFLOP/s as a fraction of a
float32 matmul peak measured first with the same number of threads. Run it alone: two torch
processes on two cores slow each other several times.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from smokewatch.models import get_model, list_models
from smokewatch.models.inference import prepare_for_inference


def matmul_peak(threads: int, n: int = 2048, repeats: int = 5) -> float:
    """float32 GFLOP/s of a large matmul: the ceiling a model's convolutions can approach."""
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t0)
    return 2 * n**3 / statistics.median(times) / 1e9


def gflops(model: torch.nn.Module, x: torch.Tensor) -> float:
    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        model(x)
    return counter.get_total_flops() / 1e9 / x.shape[0]


def measure(model: torch.nn.Module, x: torch.Tensor, repeats: int) -> float:
    """Median seconds per forward of the batch ``x``."""
    with torch.inference_mode():
        model(x)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--models", nargs="*", default=None, help="default: every registered torch model"
    )
    parser.add_argument("--sizes", nargs="*", type=int, default=[224, 180])
    parser.add_argument("--frames", type=int, default=36)
    parser.add_argument("--batches", nargs="*", type=int, default=[1, 4])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--prepared",
        action="store_true",
        help="also time prepare_for_inference (batch norm folded, channels-last) and compare",
    )
    args = parser.parse_args()
    names = args.models or [m for m in list_models() if m != "svm"]
    peak = matmul_peak(args.threads)
    torch.set_num_threads(args.threads)
    print(f"float32 matmul peak, {args.threads} threads: {peak:.1f} GFLOP/s")
    print(f"torch {torch.__version__}; eval mode, inference_mode, median of {args.repeats}")
    header = ("model", "size", "batch", "params", "GFLOPs", "clips/s", "GFLOP/s", "of peak")
    widths = (22, 9, 5, 11, 8, 8, 8, 7)
    print(
        " ".join(
            f"{h:<{w}}" if i == 0 else f"{h:>{w}}"
            for i, (h, w) in enumerate(zip(header, widths, strict=True))
        )
    )
    for name in names:
        model: Any = get_model(name, num_classes=1).eval()
        in_channels = 2 if name.endswith("flow") else 3
        params = sum(p.numel() for p in model.parameters())
        for size in args.sizes:
            for batch in args.batches:
                x = torch.rand(batch, in_channels, args.frames, size, size) * 2 - 1
                flops = gflops(model, x[:1])
                seconds = measure(model, x, args.repeats)
                rate = batch / seconds
                achieved = flops * rate
                print(f"{name:<22} {args.frames}x{size}^2 {batch:>5} {params:>11,} {flops:>8.1f} "
                      f"{rate:>8.2f} {achieved:>8.1f} {achieved / peak:>7.0%}")  # fmt: skip
                if args.prepared:
                    fast = prepare_for_inference(copy.deepcopy(model))
                    with torch.inference_mode():
                        diff = (fast(x) - model(x)).abs().max().item()
                    fast(x)
                    times = []
                    for _ in range(args.repeats):
                        t0 = time.perf_counter()
                        fast(x)
                        times.append(time.perf_counter() - t0)
                    fast_rate = batch / statistics.median(times)
                    print(f"{'  prepared':<22} {'':>9} {'':>5} {'':>11} {'':>8} {fast_rate:>8.2f} "
                          f"{flops * fast_rate:>8.1f} {flops * fast_rate / peak:>7.0%}"
                          f"  x{fast_rate / rate:.2f}, max |diff| {diff:.1e}")  # fmt: skip


if __name__ == "__main__":
    main()
