"""Peak memory and speed of the timelapse writer: does a longer day cost more memory?

    python bench/timelapse_writer.py [--panorama ../shared/rise/panorama/cam_0_raw.png]
        [--frames 60 240] [--crf 23]

Streams ``N`` panoramas (the real RISE camera-0 panorama, 3210 x 709, shifted and brightened
a little per frame so the encoder has work to do; or a synthetic one of ``--size``) through
``camera.timelapse.build_timelapse`` into an H.264 timelapse with its sidecar, once per ``N``
in ``--frames``, each in a fresh process, and prints frames/s and the process's peak RSS
(``ru_maxrss``) beside the RSS before the first frame. A writer that held frames would grow
with ``N``; this one should not (the encoder's look-ahead is capped at 10 frames). Stitching
is not measured here (that is ``bench/timelapse.py``'s warp+blend vs full stitch).

Measured 2026-12-05 on this project's 2-core machine (shared with three other sessions'
work), the real panorama, crf 23: 60 frames at 10.0 frames/s and 240 frames at 6.2 frames/s
(the machine was busier), peak RSS 306 MB both times (80 MB before the first frame, the
panorama loaded): flat in the day's length, ~225 MB for the encoder and one panorama in
flight. A 10-hour day at RISE's ~10 s per photo is ~3,600 panoramas: about 10 minutes of
encoding here. (The frames are shifted copies of one photo, so the videos are small: 0.6 and
1.9 MB.)
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np


def _frames(base: np.ndarray, n: int, t0: float) -> Iterator[tuple[float, np.ndarray]]:
    for i in range(n):
        shifted = np.roll(base, 2 * i, axis=1)
        frame = np.clip(shifted.astype(np.int16) + (i % 7) - 3, 0, 255).astype(np.uint8)
        yield t0 + 10.0 * i, frame


def _child(args: argparse.Namespace) -> None:
    from smokewatch.camera.timelapse import build_timelapse

    if args.panorama is not None:
        from PIL import Image

        with Image.open(args.panorama) as img:
            base = np.asarray(img.convert("RGB"))
    else:
        w, h = args.size
        yy, xx = np.mgrid[0:h, 0:w]
        base = np.stack([xx % 256, yy % 256, (xx + yy) % 256], axis=-1).astype(np.uint8)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        summary = build_timelapse(
            _frames(base, args.child, 1_718_107_200.0), Path(folder) / "day.mp4", crf=args.crf
        )
        seconds = time.perf_counter() - start
        size = (Path(folder) / "day.mp4").stat().st_size
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "frames": summary.frames_written,
                "size": f"{base.shape[1]}x{base.shape[0]}",
                "fps": summary.frames_written / seconds,
                "rss_before_mb": before / 1024,
                "peak_rss_mb": peak / 1024,
                "video_mb": size / 1e6,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default = Path(__file__).resolve().parents[1].parent / "shared/rise/panorama/cam_0_raw.png"
    parser.add_argument("--panorama", type=Path, default=default if default.exists() else None)
    parser.add_argument("--size", type=int, nargs=2, default=(3210, 709), metavar=("W", "H"))
    parser.add_argument("--frames", type=int, nargs="+", default=[60, 240])
    parser.add_argument("--crf", type=int, default=23)
    parser.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return
    for n in args.frames:
        cmd = [sys.executable, __file__, "--child", str(n), "--crf", str(args.crf)]
        cmd += ["--size", *map(str, args.size)]
        if args.panorama is not None:
            cmd += ["--panorama", str(args.panorama)]
        out = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        print(
            f"{out['frames']:5d} frames of {out['size']}: {out['fps']:.1f} frames/s, peak RSS "
            f"{out['peak_rss_mb']:.0f} MB (before the first frame {out['rss_before_mb']:.0f} "
            f"MB), video {out['video_mb']:.1f} MB"
        )


if __name__ == "__main__":
    main()
