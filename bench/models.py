"""Inference cost of every registered model, and I3D: RISE's eager structure vs ours prepared.

    python bench/models.py                                    # everything (about 15-30 min)
    python bench/models.py --models i3d --sizes 224 --batches 1 --repeats 3    # quick
    python bench/models.py --no-table --compile               # only the I3D comparison

Threads are pinned (``--threads``, default 2: this machine's cores); every figure is the median
of ``--repeats`` timed forwards after ``--warmup`` untimed ones, in eval mode under
``torch.inference_mode``, on random clips in [-1, 1]. Variants that are compared run
interleaved (A B C A B C ...), so load from other processes falls on all of them alike and the
ratios of one run are fair even when the absolute figures are not.

1. **Peak.** float32 GFLOP/s of a 2048^3 matrix product, measured two ways with the same
   threads: ``torch.matmul`` (MKL's sgemm) and the same product through oneDNN (a 1x1x1
   convolution: 2048 positions x 2048 in x 2048 out channels), which is what the models'
   convolutions run on. On this AMD CPU MKL takes its AVX2 path, so oneDNN's figure is the
   higher one; "of peak" is against the higher of the two.
2. **Table.** For each registered model (``svm`` excluded) at ``--frames`` x size^2 and each
   batch: parameters, forward GFLOPs per clip (``torch.utils.flop_counter.FlopCounterMode`` on
   the eager model), clips/s and achieved GFLOP/s (fraction of the peak), for the eager model
   and for ``prepare_for_inference`` (fp32), with the speed ratio and the largest output
   difference.
3. **I3D comparison** (``--compare-sizes``, ``--batches``): ``bench/rise_i3d_reference.py``
   (RISE's ``pytorch_i3d`` structure, eager: per-forward ``F.pad`` in every unit, separate
   batch norm and ReLU) vs our ``I3D`` eager vs ours prepared: fp32 (the default: folded batch
   norm, channels-last, oneDNN with fused ReLU), fp32 with the 1x1x1 branches merged, bf16 if
   the CPU has it, and ``torch.compile`` on top of fp32 with ``--compile``. All load the same
   weights (``--weights``: DeepMind's Kinetics-400 if cached, else random). "max|d| map" is
   the largest difference of the Mixed_5c feature map from RISE's (the whole trunk); "max|d|
   logits" from our eager model's logits. RISE's head (``AvgPool3d([2, 7, 7])``) needs a 7x7
   Mixed_5c map, i.e. >= 193^2 input: at 180^2 (RISE itself resizes to 224^2) the baseline is
   not run and ratios are against our eager model.

Figures (2 cores of an AMD EPYC with AVX-512; torch 2.13.0+cpu; oneDNN fused convolutions):
see "Measured" at the end of this docstring.

Measured
--------
(filled in from a run; see the end of this file's docstring history in git)
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from smokewatch.models import get_model, list_models
from smokewatch.models.inference import bf16_supported, conv_backend, prepare_for_inference

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rise_i3d_reference import RiseI3D  # noqa: E402

Fn = Callable[[torch.Tensor], torch.Tensor]
CL = torch.channels_last_3d


# --------------------------------------------------------------------------------------------
# measuring


def matmul_peak(n: int = 2048, repeats: int = 5) -> tuple[float, float]:
    """float32 GFLOP/s of an n^3 product: (torch.matmul, oneDNN as a 1x1x1 convolution)."""
    flops = 2 * n**3
    a, b = torch.randn(n, n), torch.randn(n, n)
    x = a.t().reshape(1, n, 1, 32, n // 32).contiguous(memory_format=CL)  # n positions
    w = b.t().reshape(n, n, 1, 1, 1).contiguous(memory_format=CL)

    def best(fn: Callable[[], Any]) -> float:
        fn()
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return flops / min(times) / 1e9

    with torch.inference_mode():
        mkl = best(lambda: a @ b)
        onednn = best(lambda: torch.nn.functional.conv3d(x, w))
    return mkl, onednn


def gflops(model: torch.nn.Module, x: torch.Tensor) -> float:
    """Forward GFLOPs per clip (FlopCounterMode on the eager model, one clip)."""
    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        model(x[:1])
    return counter.get_total_flops() / 1e9


def interleaved(fns: dict[str, Fn], x: torch.Tensor, repeats: int, warmup: int) -> dict[str, float]:
    """Median seconds per call of each function, called round-robin (A B C A B C ...)."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    with torch.inference_mode():
        for _ in range(warmup):
            for fn in fns.values():
                fn(x)
        for _ in range(repeats):
            for name, fn in fns.items():
                t0 = time.perf_counter()
                fn(x)
                times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


def eager(model: torch.nn.Module) -> Fn:
    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            out: torch.Tensor = model(x)
        return out

    return run


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).abs().max())


# --------------------------------------------------------------------------------------------
# 2. the table


def in_channels(name: str, model: Any) -> int:
    return int(getattr(model, "in_channels", 2 if name.endswith("flow") else 3))


def table(args: argparse.Namespace, peak: float) -> None:
    names = args.models or [m for m in list_models() if m != "svm"]
    print(f"\n## Models: eager vs prepare_for_inference (fp32), median of {args.repeats}, "
          f"interleaved")  # fmt: skip
    head = (f"{'model':<22} {'input':>9} {'batch':>5} {'params':>11} {'GFLOPs':>7} | "
            f"{'clips/s':>7} {'GFLOP/s':>7} {'of peak':>7} | {'clips/s':>7} {'GFLOP/s':>7} "
            f"{'of peak':>7} {'ratio':>6} {'max|d|':>8}")  # fmt: skip
    print(f"{'':<59}| {'eager':^23} | {'prepared':^41}")
    print(head)
    for name in names:
        torch.manual_seed(0)
        model: Any = get_model(name, num_classes=1).eval()
        params = sum(p.numel() for p in model.parameters())
        fast = prepare_for_inference(copy.deepcopy(model))
        for size in args.sizes:
            for batch in args.batches:
                x = torch.rand(batch, in_channels(name, model), args.frames, size, size) * 2 - 1
                flops = gflops(model, x)
                with torch.inference_mode():
                    diff = max_diff(fast(x), model(x))
                t = interleaved({"eager": eager(model), "fast": fast}, x, args.repeats, args.warmup)
                rate, fast_rate = batch / t["eager"], batch / t["fast"]
                print(f"{name:<22} {args.frames}x{size}^2 {batch:>5} {params:>11,} {flops:>7.1f} | "
                      f"{rate:>7.2f} {flops * rate:>7.1f} {flops * rate / peak:>7.0%} | "
                      f"{fast_rate:>7.2f} {flops * fast_rate:>7.1f} "
                      f"{flops * fast_rate / peak:>7.0%} {fast_rate / rate:>5.2f}x {diff:>8.1e}",
                      flush=True)  # fmt: skip


# --------------------------------------------------------------------------------------------
# 3. I3D: RISE's structure vs ours


def i3d_weights(choice: str) -> tuple[str, dict[str, torch.Tensor]]:
    from smokewatch.models.i3d_weights import cached_kinetics400

    if choice == "kinetics400" or (choice == "auto" and cached_kinetics400() is not None):
        return "kinetics400", get_model("i3d", weights="kinetics400").state_dict()
    torch.manual_seed(0)
    return "random", get_model("i3d").state_dict()


def compare(args: argparse.Namespace, peak: float) -> None:
    weights, state = i3d_weights(args.weights)
    bf16 = {"auto": bf16_supported(), "yes": True, "no": False}[args.bf16]
    print(f"\n## I3D: RISE-structure eager vs ours (weights: {weights}; conv backend: "
          f"{conv_backend()}; bf16: {bf16}), median of {args.compare_repeats}, "
          "interleaved")  # fmt: skip

    def ours() -> torch.nn.Module:
        model = get_model("i3d")
        model.load_state_dict(state)
        return model.eval()

    rise = RiseI3D()
    rise.load_state_dict(state)
    rise.eval()
    base = ours()
    variants: dict[str, tuple[Fn, Callable[[torch.Tensor], torch.Tensor] | None]] = {}
    variants["RISE eager"] = (eager(rise), rise.extract_conv_output)
    variants["ours eager"] = (eager(base), base.extract_endpoint)

    def prepared(label: str, **kw: Any) -> None:
        model = ours()
        fn = prepare_for_inference(model, **kw)

        def trunk(x: torch.Tensor) -> torch.Tensor:
            ctx = torch.autocast("cpu", dtype=torch.bfloat16) if kw.get("bf16") else nullcontext()
            with ctx:
                return model.extract_endpoint(x.contiguous(memory_format=CL))

        variants[label] = (fn, trunk)

    prepared("ours prepared fp32", merge_branches=False)
    prepared("ours prepared fp32 merged", merge_branches=True)
    if bf16:
        prepared("ours prepared bf16", merge_branches=False, bf16=True)
    compile_s: dict[str, float] = {}
    if args.compile:
        prepared("ours prepared fp32 compile", merge_branches=False, compile=True)

    for size in args.compare_sizes:
        for batch in args.batches:
            x = torch.rand(batch, 3, args.frames, size, size) * 2 - 1
            flops = gflops(base, x)
            fns = dict(variants)
            rise_ok = -(-size // 32) >= 7  # Mixed_5c is ceil(size / 32) wide
            if not rise_ok:
                fns.pop("RISE eager")
            with torch.inference_mode():
                reference = rise.extract_conv_output(x) if rise_ok else base.extract_endpoint(x)
                logits = base(x)
                maps = {k: trunk(x) for k, (_, trunk) in fns.items() if trunk is not None}
                outs = {}
                for k, (fn, _) in fns.items():
                    t0 = time.perf_counter()
                    outs[k] = fn(x)  # first call: compiles where asked
                    if "compile" in k and k not in compile_s:
                        compile_s[k] = time.perf_counter() - t0
            timed = interleaved(
                {k: fn for k, (fn, _) in fns.items()}, x, args.compare_repeats, args.warmup
            )
            against = "RISE eager" if rise_ok else "ours eager"
            note = "" if rise_ok else " (RISE's 7x7 head cannot run below 193^2)"
            print(f"\n{args.frames}x{size}^2, batch {batch}: {flops:.1f} GFLOPs/clip; ratios vs "
                  f"{against}{note}")  # fmt: skip
            print(f"  {'variant':<28} {'s/batch':>8} {'clips/s':>7} {'GFLOP/s':>7} {'of peak':>7} "
                  f"{'ratio':>6} {'max|d| map':>10} {'max|d| logits':>13}")  # fmt: skip
            for k, seconds in timed.items():
                rate = batch / seconds
                base_row = k == against
                dmap_s = "-" if base_row else f"{max_diff(maps[k], reference):.1e}"
                dlog_s = (
                    "-" if k in ("RISE eager", "ours eager") else f"{max_diff(outs[k], logits):.1e}"
                )
                print(f"  {k:<28} {seconds:>8.3f} {rate:>7.2f} {flops * rate:>7.1f} "
                      f"{flops * rate / peak:>7.0%} {timed[against] / seconds:>5.2f}x "
                      f"{dmap_s:>10} {dlog_s:>13}", flush=True)  # fmt: skip
    for k, s in compile_s.items():
        print(f"  ({k}: first call, compiling included, took {s:.0f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", nargs="*", default=None, help="default: all but svm")
    parser.add_argument("--sizes", nargs="*", type=int, default=[224, 180])
    parser.add_argument("--compare-sizes", nargs="*", type=int, default=[224, 180])
    parser.add_argument("--frames", type=int, default=36)
    parser.add_argument("--batches", nargs="*", type=int, default=[1, 4])
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds in the table")
    parser.add_argument("--compare-repeats", type=int, default=7, help="timed rounds, I3D")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--weights", choices=["auto", "kinetics400", "random"], default="auto")
    parser.add_argument("--bf16", choices=["auto", "yes", "no"], default="auto")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile")
    parser.add_argument("--no-table", action="store_true")
    parser.add_argument("--no-compare", action="store_true")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    mkl, onednn = matmul_peak()
    peak = max(mkl, onednn)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; float32 2048^3 "
          f"product: torch.matmul {mkl:.0f} GFLOP/s, oneDNN {onednn:.0f} GFLOP/s; "
          f"peak = {peak:.0f} GFLOP/s")  # fmt: skip
    if not args.no_table:
        table(args, peak)
    if not args.no_compare:
        compare(args, peak)


if __name__ == "__main__":
    main()
