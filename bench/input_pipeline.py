"""Input pipeline throughput: decode + augment, ours vs the RISE way, vs what I3D consumes.

    python bench/input_pipeline.py --limit 16 --model-steps 2   # about 2 min here
    python bench/input_pipeline.py --limit 8 --no-model         # about 30 s

Clips are the real RISE clips in ``../shared/rise/clips`` (36 frames, 180^2, H.264). Every
figure is training-mode clips/s (36 frames, augmented to 224^2), the median of ``--repeats``
passes over ``--limit`` clips; variants run interleaved (A B C A B C ...) so that load from
other processes on this shared machine falls on all of them alike.

* **ours, decode**: ``ClipDataset`` (PyAV decode of every mp4, every pass; no cache) in a
  ``DataLoader`` with 0, 1 or 2 workers (``worker_init_fn``), batch ``--batch``, and
  ``VideoAugment`` on the whole batch in the main process (the model's device: CPU here).
* **ours, npy cache**: the same with ``cache_dir`` (uint8 ``.npy`` read back), 0 workers —
  the same input the RISE way gets.
* **RISE way**: RISE's loader as it ran: a uint8 ``.npy`` per clip (decoded beforehand, not
  timed), then per-frame PIL transforms in Python, with one parameter draw per clip shared by
  the frames (RISE's ``video_transforms``): colour jitter (brightness/contrast/saturation via
  ``ImageEnhance``, hue via an HSV round trip, in random order — torchvision's PIL
  functional), random resized crop (crop + bilinear resize), a random perspective
  (``Image.transform(PERSPECTIVE)``), horizontal flip, to float, normalise, and two random
  erasings; frames stacked to ``[3, T, 224, 224]``. Run with 0 workers (one core) and with 2.
* **I3D consumes**: forward + backward of ``get_model("i3d", num_classes=1)`` in train mode on
  a ``[--batch, 3, 36, 224, 224]`` batch with BCE loss, a few steps after one warm-up.

``torch.set_num_threads(--threads)`` for the pipeline (default 1, see below) and
``--model-threads`` (default 2) for I3D; loader workers use 1 thread each.

Measured
--------
``python bench/input_pipeline.py --limit 16 --repeats 3 --model-steps 2`` (2026-11-24, 2 cores
of an AMD EPYC VM, torch 2.13.0+cpu, kornia 0.9.0). Not an idle machine: other sessions were
running ``bench/models.py --compile`` and two ``smokewatch experiments cv`` processes; load
average 6.5 before, 6.7 after (~3 runnable processes per core). Medians of 3 passes over 16
clips, clips/s:

=============================================  ========  ==============
variant                                        clips/s   x RISE way
=============================================  ========  ==============
ours: decode mp4 + augment, 0 workers             10.2        1.6
ours: decode mp4 + augment, 1 worker              14.8        2.3
ours: decode mp4 + augment, 2 workers             13.2        2.1
ours: npy cache + augment, 0 workers              19.0        3.0
RISE way: npy + per-frame PIL, 0 workers           6.4        1.0
RISE way: npy + per-frame PIL, 2 workers           5.4        0.84
I3D forward+backward, batch 2, 2 threads           0.09       (0.21 with 1 thread)
=============================================  ========  ==============

* Target met: >= 2x the RISE way while decoding every mp4 every epoch (1-2 workers), 3x from
  the npy cache (the same input the RISE way reads), and ~70-160x what I3D consumes at
  36x224^2 on this CPU (at most 0.21 clips/s), so training here is never input-bound.
* One thread, not two: under this load a 2-thread pipeline was *slower* (``--threads 2``: 6.0
  clips/s with 2 workers, 8.6 from the npy cache; RISE way 5.4): every parallel op waits at a
  barrier for a thread the OS has descheduled. Same for I3D (0.09 vs 0.21 clips/s).
* Decoding (PyAV, ``smokewatch.video.read_clip``) is now about a third of the cost: 20-25 ms
  per clip unloaded (min), 70 ms median under this load; OpenCV's decoder took 8 ms per clip in
  a side measurement. Augmentation alone: ~50 ms per clip (batch 2, 1 thread) vs ~135 ms for
  RISE's per-frame PIL transform.
* The first version of ``augment.py`` (kornia's ``ColorJitter``, ``RandomResizedCrop``,
  ``RandomPerspective``, ``RandomErasing`` modules on ``[B, C*T, H, W]``) ran at 1.3 clips/s
  here, 4x slower than the RISE way: ~40 full passes over every pixel, mostly the HSV round
  trip of the hue jitter. The fused version makes ~5.
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageEnhance
from torch.utils.data import DataLoader, Dataset

from smokewatch.dataset.augment import VideoAugment
from smokewatch.dataset.torch_data import ClipDataset, ClipItem, worker_init_fn

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CLIPS = ROOT.parent / "shared" / "rise" / "clips"


# --------------------------------------------------------------------------------------------
# The RISE way: uint8 .npy per clip + per-frame PIL transforms (torchvision's PIL semantics,
# written out here because torchvision is not a dependency).
# --------------------------------------------------------------------------------------------


def _pil_hue(img: Image.Image, factor: float) -> Image.Image:
    """torchvision ``F.adjust_hue`` for PIL: shift H in HSV by ``factor`` of a turn."""
    h, s, v = img.convert("HSV").split()
    np_h = np.array(h, dtype=np.uint8)
    with np.errstate(over="ignore"):
        np_h += np.uint8(int(factor * 255) % 256)
    return Image.merge("HSV", (Image.fromarray(np_h, "L"), s, v)).convert("RGB")


class RiseTransform:
    """RISE's training transform for one clip, applied frame by frame with PIL."""

    def __init__(self, size: int = 224) -> None:
        self.size = size

    def _resized_crop_box(self, h: int, w: int) -> tuple[int, int, int, int]:
        area = h * w
        for _ in range(10):
            target = random.uniform(0.9, 1.0) * area
            ratio = math.exp(random.uniform(math.log(3 / 4), math.log(4 / 3)))
            cw = int(round(math.sqrt(target * ratio)))
            ch = int(round(math.sqrt(target / ratio)))
            if 0 < cw <= w and 0 < ch <= h:
                i = random.randint(0, h - ch)
                j = random.randint(0, w - cw)
                return i, j, ch, cw
        return 0, 0, h, w

    def _perspective_coeffs(self) -> list[float]:
        """PIL's 8 coefficients mapping output to input pixels for corners jittered by +-5%."""
        s = self.size
        d = 0.05 * s
        src = [(0, 0), (s, 0), (s, s), (0, s)]
        dst = [(x + random.uniform(-d, d), y + random.uniform(-d, d)) for x, y in src]
        a = []
        b = []
        for (x, y), (u, v) in zip(dst, src, strict=True):
            a.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
            a.append([0, 0, 0, x, y, 1, -v * x, -v * y])
            b += [u, v]
        return [float(c) for c in np.linalg.solve(np.array(a), np.array(b))]

    def _erase_box(self, h: int, w: int) -> tuple[int, int, int, int] | None:
        for _ in range(10):
            area = random.uniform(0.003, 0.01) * h * w
            ratio = random.uniform(0.3, 3.3)
            eh = int(round(math.sqrt(area * ratio)))
            ew = int(round(math.sqrt(area / ratio)))
            if eh < h and ew < w:
                return random.randint(0, h - eh), random.randint(0, w - ew), eh, ew
        return None

    def __call__(self, clip: np.ndarray) -> torch.Tensor:
        t, h, w, _ = clip.shape
        # One draw per clip (RISE's video_transforms), then the frames one by one.
        jitter: list[Callable[[Image.Image], Image.Image]] = []
        b, c, s = (random.uniform(0.7, 1.3) for _ in range(3))
        hue = random.uniform(-0.1, 0.1)
        jitter = [
            lambda im: ImageEnhance.Brightness(im).enhance(b),
            lambda im: ImageEnhance.Contrast(im).enhance(c),
            lambda im: ImageEnhance.Color(im).enhance(s),
            lambda im: _pil_hue(im, hue),
        ]
        random.shuffle(jitter)
        i, j, ch, cw = self._resized_crop_box(h, w)
        coeffs = self._perspective_coeffs()
        flip = random.random() < 0.5
        erase = [
            self._erase_box(self.size, self.size) if random.random() < 0.5 else None
            for _ in range(2)
        ]
        out = np.empty((3, t, self.size, self.size), dtype=np.float32)
        for k in range(t):
            im = Image.fromarray(clip[k])
            for step in jitter:
                im = step(im)
            im = im.crop((j, i, j + cw, i + ch)).resize(
                (self.size, self.size), Image.Resampling.BILINEAR
            )
            im = im.transform(
                (self.size, self.size),
                Image.Transform.PERSPECTIVE,
                coeffs,
                Image.Resampling.BILINEAR,
                fillcolor=0,
            )
            if flip:
                im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            frame = np.asarray(im, dtype=np.float32).transpose(2, 0, 1) / 255.0  # ToTensor
            frame = (frame - 0.5) / 0.5  # Normalize(127.5, 127.5) on [0, 255]
            for box in erase:
                if box is not None:
                    y0, x0, eh, ew = box
                    frame[:, y0 : y0 + eh, x0 : x0 + ew] = 0.0
            out[:, k] = frame
        return torch.from_numpy(out)


class RiseNpyDataset(Dataset[dict[str, Any]]):
    """RISE's ``SmokeVideoDataset``: ``np.load`` of a uint8 (T, H, W, 3) clip, then transform."""

    def __init__(self, npys: Sequence[Path], size: int) -> None:
        self.npys = list(npys)
        self.transform = RiseTransform(size)

    def __len__(self) -> int:
        return len(self.npys)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"video": self.transform(np.load(self.npys[i])), "label": torch.tensor(0.0)}


# --------------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------------


def _loader(ds: Dataset[dict[str, Any]], batch: int, workers: int) -> DataLoader[Any]:
    return DataLoader(
        ds,
        batch_size=batch,
        shuffle=False,
        num_workers=workers,
        worker_init_fn=worker_init_fn if workers else None,
        persistent_workers=False,
    )


def _pass_ours(ds: ClipDataset, batch: int, workers: int, aug: VideoAugment) -> float:
    start = time.perf_counter()
    n = 0
    for b in _loader(ds, batch, workers):
        out = aug(b["video"])
        n += out.shape[0]
    return n / (time.perf_counter() - start)


def _pass_rise(ds: RiseNpyDataset, batch: int, workers: int) -> float:
    start = time.perf_counter()
    n = 0
    for b in _loader(ds, batch, workers):
        n += b["video"].shape[0]
    return n / (time.perf_counter() - start)


def _i3d_clips_per_s(batch: int, frames: int, size: int, steps: int) -> list[float]:
    from smokewatch.models import get_model

    model = get_model("i3d", num_classes=1)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.rand(batch, 3, frames, size, size) * 2 - 1
    y = torch.ones(batch)
    rates = []
    for step in range(steps + 1):
        start = time.perf_counter()
        logits = model(x)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            logits.reshape(batch, -1).mean(1), y
        )
        opt.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()
        if step:  # the first step is a warm-up
            rates.append(batch / (time.perf_counter() - start))
    return rates


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--clips", type=Path, default=DEFAULT_CLIPS)
    p.add_argument("--limit", type=int, default=16, help="clips per pass")
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--frames", type=int, default=36)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1, help="torch threads for the pipeline")
    p.add_argument("--model-threads", type=int, default=2, help="torch threads for I3D")
    p.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--model-steps", type=int, default=3)
    p.add_argument("--no-model", action="store_true")
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    clips = sorted(args.clips.glob("*.mp4"))[: args.limit]
    if not clips:
        sys.exit(f"no clips in {args.clips}")
    items = [ClipItem(c, 0) for c in clips]
    print(
        f"{len(clips)} clips from {args.clips}, batch {args.batch}, {args.frames} frames -> "
        f"{args.size}^2, torch {torch.__version__}, {args.threads} threads, "
        f"{os.cpu_count()} cores; load average before: {os.getloadavg()[0]:.1f}"
    )

    with tempfile.TemporaryDirectory(prefix="bench-input-") as tmp:
        cache = Path(tmp) / "cache"
        rise_dir = Path(tmp) / "rise"
        rise_dir.mkdir()
        cached = ClipDataset(items, frames=args.frames, cache_dir=cache)
        npys = []
        for i in range(len(cached)):  # RISE decoded its clips to .npy beforehand: not timed
            arr = cached.load(i)
            npys.append(rise_dir / f"{i}.npy")
            np.save(npys[-1], arr)
        aug = VideoAugment(args.size)
        decode = ClipDataset(items, frames=args.frames)
        rise = RiseNpyDataset(npys, args.size)

        variants: dict[str, Callable[[], float]] = {}
        for w in args.workers:
            variants[f"ours: decode mp4 + augment, {w} workers"] = functools.partial(
                _pass_ours, decode, args.batch, w, aug
            )
        variants["ours: npy cache + augment, 0 workers"] = lambda: _pass_ours(
            cached, args.batch, 0, aug
        )
        variants["RISE way: npy + per-frame PIL, 0 workers"] = lambda: _pass_rise(
            rise, args.batch, 0
        )
        variants["RISE way: npy + per-frame PIL, 2 workers"] = lambda: _pass_rise(
            rise, args.batch, 2
        )
        rates: dict[str, list[float]] = {k: [] for k in variants}
        for _ in range(args.repeats):
            for name, run in variants.items():
                rates[name].append(run())
        print(f"load average after: {os.getloadavg()[0]:.1f}")

    width = max(len(k) for k in rates)
    rise0 = statistics.median(rates["RISE way: npy + per-frame PIL, 0 workers"])
    print(f"\n{'variant':<{width}}  clips/s (median)  x RISE way (0 workers)   all passes")
    for name, r in rates.items():
        med = statistics.median(r)
        print(
            f"{name:<{width}}  {med:>16.2f}  {med / rise0:>22.2f}   "
            + " ".join(f"{v:.2f}" for v in r)
        )
    if not args.no_model:
        torch.set_num_threads(args.model_threads)
        steps = _i3d_clips_per_s(args.batch, args.frames, args.size, args.model_steps)
        print(
            f"{f'I3D fwd+bwd, batch {args.batch}, {args.model_threads} threads':<{width}}  "
            f"{statistics.median(steps):>16.2f}  {'':>22}   " + " ".join(f"{v:.2f}" for v in steps)
        )


if __name__ == "__main__":
    main()
