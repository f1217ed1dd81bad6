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

Measured
--------
2026-11-24, 2 cores (AMD EPYC, AVX-512 + AVX512-BF16), torch 2.13.0+cpu, oneDNN "fused"
backend. The machine was shared: two other engineers' ``smokewatch experiments cv`` jobs and
test runs kept the load average at 4-8 during the whole run, so absolute figures are 2-4x
slower than on an idle machine and jump between rows; the ratios inside one block are from
interleaved rounds and are the figures to quote. (Idle, earlier the same day, an interleaved
36x224^2 batch-1 check gave: RISE eager 0.759 s, ours eager 0.729 s, prepared fp32 0.312 s:
2.43x; a oneDNN 3x3x3 convolution then ran at ~490 GFLOP/s.)

    python bench/models.py --no-table --compile --compare-repeats 5
    python bench/models.py --no-compare --repeats 3

    torch 2.13.0+cpu, 2 threads; float32 2048^3 product: torch.matmul 102 GFLOP/s, oneDNN 191 GFLOP/s; peak = 191 GFLOP/s
    ## I3D: RISE-structure eager vs ours (weights: kinetics400; conv backend: fused; bf16: True), median of 5, interleaved
    36x224^2, batch 1: 125.3 GFLOPs/clip; ratios vs RISE eager
      variant                       s/batch clips/s GFLOP/s of peak  ratio max|d| map max|d| logits
      RISE eager                      3.245    0.31    38.6     20%  1.00x          -             -
      ours eager                      3.076    0.33    40.7     21%  1.05x    2.0e-05             -
      ours prepared fp32              1.341    0.75    93.4     49%  2.42x    8.2e-05       1.5e-05
      ours prepared fp32 merged       1.559    0.64    80.4     42%  2.08x    8.2e-05       1.5e-05
      ours prepared bf16              0.980    1.02   127.8     67%  3.31x    3.2e-01       9.1e-02
      ours prepared fp32 compile      1.660    0.60    75.5     39%  1.95x    8.2e-05       1.5e-05
    36x224^2, batch 4: 125.3 GFLOPs/clip; ratios vs RISE eager
      variant                       s/batch clips/s GFLOP/s of peak  ratio max|d| map max|d| logits
      RISE eager                     11.174    0.36    44.8     23%  1.00x          -             -
      ours eager                      9.256    0.43    54.1     28%  1.21x    0.0e+00             -
      ours prepared fp32              3.824    1.05   131.0     69%  2.92x    7.9e-05       1.6e-05
      ours prepared fp32 merged       3.736    1.07   134.1     70%  2.99x    7.9e-05       1.6e-05
      ours prepared bf16              3.617    1.11   138.5     72%  3.09x    2.7e-01       1.1e-01
      ours prepared fp32 compile      2.875    1.39   174.3     91%  3.89x    7.9e-05       1.5e-05
    36x180^2, batch 1: 84.0 GFLOPs/clip; ratios vs ours eager (RISE's 7x7 head cannot run below 193^2)
      variant                       s/batch clips/s GFLOP/s of peak  ratio max|d| map max|d| logits
      ours eager                      2.502    0.40    33.6     18%  1.00x          -             -
      ours prepared fp32              0.830    1.20   101.1     53%  3.01x    6.8e-05       1.8e-05
      ours prepared fp32 merged       1.247    0.80    67.3     35%  2.01x    6.8e-05       1.8e-05
      ours prepared bf16              2.272    0.44    37.0     19%  1.10x    2.3e-01       1.2e-01
      ours prepared fp32 compile      1.456    0.69    57.7     30%  1.72x    6.8e-05       1.8e-05
    36x180^2, batch 4: 84.0 GFLOPs/clip; ratios vs ours eager (RISE's 7x7 head cannot run below 193^2)
      variant                       s/batch clips/s GFLOP/s of peak  ratio max|d| map max|d| logits
      ours eager                      7.971    0.50    42.1     22%  1.00x          -             -
      ours prepared fp32              4.376    0.91    76.7     40%  1.82x    7.4e-05       2.0e-05
      ours prepared fp32 merged       3.784    1.06    88.7     46%  2.11x    7.4e-05       2.0e-05
      ours prepared bf16              2.758    1.45   121.8     64%  2.89x    3.0e-01       1.3e-01
      ours prepared fp32 compile      5.066    0.79    66.3     35%  1.57x    7.4e-05       2.0e-05
      (ours prepared fp32 compile: first call, compiling included, took 6 s)

    torch 2.13.0+cpu, 2 threads; float32 2048^3 product: torch.matmul 97 GFLOP/s, oneDNN 195 GFLOP/s; peak = 195 GFLOP/s
    ## Models: eager vs prepare_for_inference (fp32), median of 3, interleaved
                                                               |          eager          |                 prepared
    model                      input batch      params  GFLOPs | clips/s GFLOP/s of peak | clips/s GFLOP/s of peak  ratio   max|d|
    efficientnet-lite0-tsm 36x224^2     1   3,372,289     6.1 |    0.57     3.5      2% |    0.74     4.5      2%  1.29x  0.0e+00
    efficientnet-lite0-tsm 36x224^2     4   3,372,289     6.1 |    1.96    12.1      6% |    2.26    13.9      7%  1.15x  0.0e+00
    efficientnet-lite0-tsm 36x180^2     1   3,372,289     4.4 |   16.30    71.0     36% |    9.83    42.8     22%  0.60x  0.0e+00
    efficientnet-lite0-tsm 36x180^2     4   3,372,289     4.4 |    1.84     8.0      4% |    1.86     8.1      4%  1.01x  0.0e+00
    i3d                    36x224^2     1  12,288,289   125.3 |    0.23    29.1     15% |    0.57    71.0     36%  2.44x  0.0e+00
    i3d                    36x224^2     4  12,288,289   125.3 |    0.46    57.8     30% |    0.96   120.8     62%  2.09x  3.5e-10
    i3d                    36x180^2     1  12,288,289    84.0 |    0.27    22.9     12% |    0.65    54.7     28%  2.39x  0.0e+00
    i3d                    36x180^2     4  12,288,289    84.0 |    0.60    50.2     26% |    1.41   118.5     61%  2.36x  5.8e-10
    i3d-flow               36x224^2     1  12,266,337   115.4 |    0.24    27.7     14% |    0.59    68.0     35%  2.45x  0.0e+00
    i3d-flow               36x224^2     4  12,266,337   115.4 |    0.47    54.0     28% |    1.07   124.0     63%  2.30x  5.6e-09
    i3d-flow               36x180^2     1  12,266,337    77.6 |    0.71    55.4     28% |    1.58   122.2     63%  2.21x  0.0e+00
    i3d-flow               36x180^2     4  12,266,337    77.6 |    0.62    48.2     25% |    1.43   111.1     57%  2.31x  1.3e-08
    i3d-lstm               36x224^2     1  12,878,241   125.3 |    0.24    29.9     15% |    0.55    69.1     35%  2.31x  0.0e+00
    i3d-lstm               36x224^2     4  12,878,241   125.3 |    0.47    58.3     30% |    0.98   123.0     63%  2.11x  0.0e+00
    i3d-lstm               36x180^2     1  12,878,241    84.0 |    0.28    23.6     12% |    0.69    58.2     30%  2.46x  0.0e+00
    i3d-lstm               36x180^2     4  12,878,241    84.0 |    0.60    50.8     26% |    1.23   103.6     53%  2.04x  0.0e+00
    i3d-nl                 36x224^2     1  15,778,241   127.1 |    0.25    31.3     16% |    0.49    62.5     32%  2.00x  0.0e+00
    i3d-nl                 36x224^2     4  15,778,241   127.1 |    0.44    55.6     28% |    0.97   122.9     63%  2.21x  8.1e-10
    i3d-nl                 36x180^2     1  15,778,241    85.2 |    0.80    67.8     35% |    1.34   114.1     58%  1.68x  0.0e+00
    i3d-nl                 36x180^2     4  15,778,241    85.2 |    0.56    48.0     25% |    1.27   108.3     55%  2.26x  4.7e-10
    i3d-tc                 36x224^2     1  12,458,785   125.4 |    0.23    28.9     15% |    0.79    99.1     51%  3.43x  0.0e+00
    i3d-tc                 36x224^2     4  12,458,785   125.4 |    0.45    55.9     29% |    0.91   114.2     58%  2.04x  0.0e+00
    i3d-tc                 36x180^2     1  12,458,785    84.0 |    0.67    56.6     29% |    1.25   104.8     54%  1.85x  0.0e+00
    i3d-tc                 36x180^2     4  12,458,785    84.0 |    0.57    47.5     24% |    1.30   109.0     56%  2.29x  0.0e+00
    i3d-tsm                36x224^2     1  12,288,289   125.3 |    0.31    38.4     20% |    1.10   137.7     71%  3.58x  0.0e+00
    i3d-tsm                36x224^2     4  12,288,289   125.3 |    0.44    54.5     28% |    0.89   111.9     57%  2.05x  4.7e-10
    i3d-tsm                36x180^2     1  12,288,289    84.0 |    0.25    21.1     11% |    0.52    43.4     22%  2.06x  0.0e+00
    i3d-tsm                36x180^2     4  12,288,289    84.0 |    0.55    46.5     24% |    1.14    95.6     49%  2.06x  3.5e-10
    tiny3d                 36x224^2     1       4,145     1.4 |   13.87    18.9     10% |   13.91    19.0     10%  1.00x  0.0e+00
    tiny3d                 36x224^2     4       4,145     1.4 |   17.95    24.5     13% |   18.42    25.2     13%  1.03x  1.5e-08
    tiny3d                 36x180^2     1       4,145     0.9 |    6.25     5.5      3% |    5.95     5.2      3%  0.95x  0.0e+00
    tiny3d                 36x180^2     4       4,145     0.9 |   23.10    20.4     10% |   22.88    20.2     10%  0.99x  1.5e-08

Reading it:

* Target (I3D >= 1.5x the RISE-structure eager implementation, outputs within 1e-4): met in
  fp32. Prepared fp32 vs RISE eager: 2.42x (batch 1) and 2.92x (batch 4) at 36x224^2; logits
  within 2e-5 of our eager model, the whole Mixed_5c map within 8.2e-5 of RISE's (Kinetics-400
  weights). Where the gain comes from: PyTorch sends batch-1 3x3x3 convolutions with few
  channels to its im2col path (``slow_conv3d``), whose contiguous output pulls everything after
  it out of channels-last (max pooling then runs ~15x slower); calling oneDNN directly with
  the ReLU fused keeps the whole network in channels-last. Folding and padding-free "SAME"
  add the rest. Our eager I3D is about as fast as RISE's structure (0.86-1.2x): the
  per-forward ``F.pad`` copies are not what costs.
* Merging each block's three 1x1x1 convolutions: no reliable gain (0.67-0.86x of unmerged
  prepared at batch 1, 1.02-1.16x at batch 4); off by default.
* bf16: 1.06-1.6x over prepared fp32 where the load let it show (one 0.37x row is noise),
  logits off by ~0.1: fails the 1e-4 bar, so opt-in only.
* ``torch.compile`` on the prepared model: no reliable gain (0.57-1.33x of prepared eager
  across the four blocks; about equal, 0.29 vs 0.31 s, on the idle machine), 20-40 s to
  compile cold (4-6 s with inductor's disk cache); not worth it on this CPU.
* "of peak" is against oneDNN's 2048^3 product measured at the start under the same load
  (195 GFLOP/s here; idle it is ~2x that). MKL's ``torch.matmul`` reaches half of oneDNN's
  figure on this AMD CPU.
* Table ``max|d|``: the registered models with random weights have tiny logits, so it says
  little; the I3D block above (real weights, whole Mixed_5c map) is the real check. The 2D
  frame model (efficientnet-lite0-tsm) and tiny3d gain nothing from preparing (no I3D units);
  their rows here are noise-dominated (efficientnet-lite0-tsm measures ~17 clips/s at 180^2
  batch 1 when the machine is quiet).
"""

# ruff: noqa: E501  (the measured output pasted in the docstring is wider than 100)
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
from smokewatch.settings import load_settings

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


def gflops(model: Callable[[torch.Tensor], Any], x: torch.Tensor) -> float:
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

    cache = load_settings().cache_dir  # a script, like the CLI: it reads the settings
    if choice == "kinetics400" or (choice == "auto" and cached_kinetics400(cache) is not None):
        return "kinetics400", get_model("i3d", weights="kinetics400", cache_dir=cache).state_dict()
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


# --------------------------------------------------------------------------------------------
# 4. the fast model beside I3D


def fast(args: argparse.Namespace, peak: float) -> None:
    """rise-fast's feature path vs the I3D trunk rise-best runs, interleaved, per clip.

    I3D: prepared (``prepare_for_inference``) Mixed_5c trunk on 36x180^2 (what rise-best and
    rise-hard-svm run). Fast: frozen EfficientNet-Lite0 (``training.features.lite0_backbone``:
    batch norm folded, channels-last; ``unfolded`` is the plain eval model for comparison) on
    ``--fast-frames`` of the 36 frames at ``--fast-size``^2, plus the frame-difference
    statistics of the uint8 clip (``training.features.diff_summary``), i.e. everything but
    decoding and the SVMs. ``head`` reads Lite0 to its head (rise-fast's first candidate);
    ``mid`` stops at the end of the 112-channel stage (``lite_layer: mbconv-112``, the one
    rise-fast's inner CV chose).
    """
    from smokewatch.models import get_model
    from smokewatch.models.efficientnet_tsm import sample_frames
    from smokewatch.models.inference import prepare_for_inference
    from smokewatch.training.features import diff_summary, lite0_backbone, lite0_frame_features

    size, frames = 180, 36
    eager_i3d = get_model("i3d", weights=None, num_classes=1).eval()  # FLOPs: counted eager
    i3d = get_model("i3d", weights=None, num_classes=1).eval()
    prepare_for_inference(i3d)
    folded = lite0_backbone(None)
    lites = {
        "mid": (folded, "mbconv-112"),
        "head": (folded, "head"),
        "unfolded": (lite0_backbone(None, fold=False), "head"),
    }
    idx = sample_frames(frames, args.fast_frames)
    for batch in args.fast_batches:
        x = torch.rand(batch, 3, frames, size, size) * 2 - 1
        clips = (torch.rand(batch, frames, size, size, 3) * 255).to(torch.uint8).numpy()

        def run_i3d(v: torch.Tensor) -> Any:
            return i3d.features(v.contiguous(memory_format=CL))

        def lite_path(lite: Any, layer: str, clips: Any) -> Fn:
            def run(v: torch.Tensor) -> Any:
                f = v.index_select(2, idx).transpose(1, 2).reshape(-1, 3, size, size)
                if args.fast_size != size:
                    f = torch.nn.functional.interpolate(f, size=args.fast_size, mode="bilinear")
                out = lite0_frame_features(lite, f, layer=layer)
                for clip in clips:
                    diff_summary(clip)
                return out

            return run

        runs = {"i3d": run_i3d, **{n: lite_path(m, ly, clips) for n, (m, ly) in lites.items()}}
        secs = interleaved(runs, x, args.repeats, args.warmup)
        flops = {name: gflops(fn, x[:1]) for name, fn in runs.items() if name != "i3d"}
        flops["i3d"] = gflops(eager_i3d.features, x[:1])
        print(f"## fast model vs I3D, batch {batch}, median of {args.repeats}, interleaved")
        print(f"  {'model':<44} {'GFLOPs':>7} {'s/batch':>8} {'clips/s':>8} {'of peak':>7} ratio")
        for name, label in (
            ("i3d", f"i3d prepared, {frames}x{size}^2 to Mixed_5c"),
            ("unfolded", f"lite0 {args.fast_frames}x{args.fast_size}^2 + diff, bn unfolded"),
            ("head", f"lite0 {args.fast_frames}x{args.fast_size}^2 to its head + diff stats"),
            ("mid", f"lite0 {args.fast_frames}x{args.fast_size}^2 to mbconv-112 + diff (fast)"),
        ):
            cps = batch / secs[name]
            share = flops[name] * cps / peak
            ratio = secs["i3d"] / secs[name]
            print(f"  {label:<44} {flops[name]:7.1f} {secs[name]:8.3f} {cps:8.2f} "
                  f"{share:7.0%} {ratio:.1f}x")  # fmt: skip


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
    parser.add_argument("--fast", action="store_true", help="rise-fast vs I3D rows only")
    parser.add_argument("--fast-frames", type=int, default=4)
    parser.add_argument("--fast-size", type=int, default=180)
    parser.add_argument("--fast-batches", nargs="*", type=int, default=[1, 8])
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    mkl, onednn = matmul_peak()
    peak = max(mkl, onednn)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; float32 2048^3 "
          f"product: torch.matmul {mkl:.0f} GFLOP/s, oneDNN {onednn:.0f} GFLOP/s; "
          f"peak = {peak:.0f} GFLOP/s")  # fmt: skip
    if args.fast:
        fast(args, peak)
        return
    if not args.no_table:
        table(args, peak)
    if not args.no_compare:
        compare(args, peak)


if __name__ == "__main__":
    main()
