"""Panorama throughput and memory: warp+blend with a saved registration vs stitching each frame.

    python bench/timelapse.py --width 1600 --frames 300

The real RISE panorama (``../shared/rise/panorama/cam_0_raw.png``, downscaled to ``--width``)
is cut into three overlapping, slightly rotated, differently exposed photos per instant (as
in ``tests/camera/test_registration.py``), each instant with its own exposure and sensor
noise. Printed:

1. frames/s of ``Compositor.compose`` (a saved registration: remap + exposure gains + feather
   blend) against a full stitch per frame (``register`` + compose: features, matching, bundle
   adjustment, seams), and how much the full stitch's geometry jitters from frame to frame
   (distinct output sizes, and the shift between consecutive frames by phase correlation);
2. a day streamed: ``--frames`` instants written as JPEGs with EXIF times, then read, grouped,
   composed by ``PanoramaMaker`` (drift check every 100 frames) and encoded by
   ``build_timelapse`` into an H.264 timelapse; the peak RSS growth over the build
   (``resource.getrusage``) and the peak of Python/numpy allocations (``tracemalloc``) beside
   what the day's frames would take if held in memory.

Threads are pinned (``--threads``, default 1). Figures in docs/camera.md.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from smokewatch.camera.photos import group_photos, scan_photos
from smokewatch.camera.registration import (
    Compositor,
    PanoramaMaker,
    register,
    save_registration,
)
from smokewatch.camera.timelapse import build_timelapse

PANORAMA = Path(__file__).resolve().parents[1].parent / "shared/rise/panorama/cam_0_raw.png"
LAYOUT = [(0.0, 0.42, 1.0), (0.34, 0.70, -1.0), (0.62, 1.0, 0.6)]  # x0, x1 (share), degrees


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _photos(pano: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    height, width = pano.shape[:2]
    out = []
    for a, b, angle in LAYOUT:
        x0, x1 = round(a * width), round(b * width)
        M = cv2.getRotationMatrix2D(((x0 + x1) / 2, height / 2), angle, 1.0)
        M[0, 2] -= x0
        M[1, 2] -= 16
        photo = cv2.warpAffine(pano, M, (x1 - x0, height - 32), borderMode=cv2.BORDER_REFLECT)
        gain = rng.uniform(0.85, 1.15)
        noise = rng.normal(0, 2.0, photo.shape).astype(np.float32)
        out.append(np.clip(photo * np.float32(gain) + noise, 0, 255).astype(np.uint8))
    return out


def _throughput(pano: np.ndarray, frames: int, full: int, rng: np.random.Generator) -> None:
    instants = [_photos(pano, rng) for _ in range(max(frames, full))]
    reg = register(instants[0], mode="scans")
    compositor = Compositor(reg)
    start = time.perf_counter()
    for photos in instants[:frames]:
        compositor.compose(photos)
    saved = frames / (time.perf_counter() - start)

    sizes, shifts, previous = set(), [], None
    start = time.perf_counter()
    for photos in instants[:full]:
        fresh = register(photos, mode="scans")
        frame = Compositor(fresh).compose(photos)
        sizes.add(fresh.output_size)
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32)
        if previous is not None and previous.shape == gray.shape:
            (dx, dy), _ = cv2.phaseCorrelate(previous, gray)
            shifts.append(float(np.hypot(dx, dy)))
        previous = gray
    stitched = full / (time.perf_counter() - start)
    width, height = reg.output_size
    print(
        f"panorama {width}x{height} from 3 photos of {instants[0][0].shape[1]}x"
        f"{instants[0][0].shape[0]}"
    )
    print(f"  warp+blend, saved registration: {saved:7.1f} frames/s  ({frames} frames)")
    print(
        f"  full stitch per frame:          {stitched:7.2f} frames/s  ({full} frames)  "
        f"-> {saved / stitched:.0f}x"
    )
    jitter = f"{max(shifts):.2f}" if shifts else "-"
    print(
        f"  full stitch jitter: {len(sizes)} distinct output sizes, largest frame-to-frame "
        f"shift {jitter} px (a saved registration: 1 size, 0 px)"
    )


def _day(pano: np.ndarray, frames: int, rng: np.random.Generator) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "photos"
        folder.mkdir()
        start = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
        for i in range(frames):
            for k, photo in enumerate(_photos(pano, rng)):
                exif = Image.Exif()
                when = start + timedelta(seconds=10 * i + k)
                exif.get_ifd(0x8769)[36867] = when.strftime("%Y:%m:%d %H:%M:%S")
                Image.fromarray(photo).save(folder / f"{i:05d}-{k}.jpg", exif=exif, quality=90)
        first = sorted(folder.glob("00000-*.jpg"))
        reg_path = Path(tmp) / "camera.yaml"
        save_registration(
            register([np.asarray(Image.open(p)) for p in first], mode="scans"), reg_path
        )
        baseline = _rss_mib()
        tracemalloc.start()
        began = time.perf_counter()
        scan = scan_photos([folder])
        maker = PanoramaMaker(reg_path, check_every=100)
        groups = group_photos(scan.photos)
        summary = build_timelapse(
            ((g.time, maker.make(g)) for g in groups), Path(tmp) / "out" / "2026-06-01.mp4"
        )
        elapsed = time.perf_counter() - began
        _, traced = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        peak = _rss_mib()
        width, height = maker.output_size
        held = summary.frames_written * width * height * 3 / 2**20
        size = summary.video_path.stat().st_size / 2**20
        print(
            f"a day streamed: {summary.frames_written} panoramas {width}x{height} "
            f"({len(scan.photos)} photos) in {elapsed:.1f} s "
            f"({summary.frames_written / elapsed:.1f} frames/s incl. JPEG decode, H.264 "
            f"encode; {len(maker.checks)} drift checks); video {size:.1f} MiB"
        )
        print(
            f"  peak RSS growth over the build: {max(0.0, peak - baseline):.1f} MiB "
            f"(process peak {peak:.0f} MiB); tracemalloc peak {traced / 2**20:.1f} MiB; "
            f"the day's frames held in memory would be {held:.0f} MiB"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=int, default=1600, help="panorama width to work at")
    parser.add_argument("--frames", type=int, default=300, help="instants in the day")
    parser.add_argument("--compose-frames", type=int, default=100)
    parser.add_argument("--stitch-frames", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    cv2.setNumThreads(args.threads)
    rng = np.random.default_rng(args.seed)
    bgr = cv2.imread(str(PANORAMA), cv2.IMREAD_COLOR)
    if bgr is None:
        raise SystemExit(f"{PANORAMA}: not found (the real RISE data in ../shared/rise)")
    height = round(bgr.shape[0] * args.width / bgr.shape[1])
    small = cv2.resize(bgr, (args.width, height), interpolation=cv2.INTER_AREA)
    pano = np.ascontiguousarray(cv2.cvtColor(small, cv2.COLOR_BGR2RGB))
    # The day first: ru_maxrss is a high-water mark, and the throughput part holds instants.
    _day(pano, args.frames, rng)
    _throughput(pano, args.compose_frames, args.stitch_frames, rng)


if __name__ == "__main__":
    main()
