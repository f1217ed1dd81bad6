"""The demo job: decode a set of real (or synthetic) clips, print the dataset, draw a contact sheet.

With the real RISE data beside the project (``../shared/rise``) it decodes the 709 labeled
RISE clips and prints the paper's tables for the 12,567-clip dataset; on a user's fresh clone
it generates a few synthetic clips and does the same with them, so the command always works.
Later wings grow this into the labeling site.
"""

from __future__ import annotations

import csv
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from smokewatch.core.atomic import atomic_path
from smokewatch.core.metadata import read_metadata
from smokewatch.dataset.stats import DatasetStats, compute_stats
from smokewatch.errors import SmokewatchError, VideoError

__all__ = ["LabeledVideo", "DemoResult", "find_videos", "decode_all", "contact_sheet", "run_demo"]


@dataclass(frozen=True, slots=True)
class LabeledVideo:
    path: Path
    label: int | None  #: 1 smoke, 0 no smoke, None unknown


@dataclass(slots=True)
class DemoResult:
    source: str  #: "rise" or "synthetic"
    videos: int
    decoded: int
    frames: int
    seconds: float
    failed: list[tuple[Path, str]] = field(default_factory=list)
    sheet: Path | None = None
    stats: DatasetStats | None = None


def _rise_videos(rise_dir: Path) -> list[LabeledVideo]:
    """RISE's recovered clips and their labels (``clips.csv``: file, label, ...)."""
    table = rise_dir / "clips.csv"
    with table.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows or "file" not in rows[0] or "label" not in rows[0]:
        raise SmokewatchError(f"{table}: expected columns file,label")
    return [LabeledVideo(rise_dir / "clips" / r["file"], int(r["label"])) for r in rows]


def find_videos(
    rise_dir: Path | None, work_dir: Path, *, synthetic: int = 8
) -> tuple[str, list[LabeledVideo], DatasetStats]:
    """The clips the demo shows, and the dataset whose tables it prints.

    Real RISE data when ``rise_dir`` holds it; otherwise ``synthetic`` generated clips.
    """
    if (
        rise_dir is not None
        and (rise_dir / "clips.csv").is_file()
        and (rise_dir / "clips").is_dir()
    ):
        stats = compute_stats(read_metadata(rise_dir / "metadata_02242020.json"))
        return "rise", _rise_videos(rise_dir), stats
    from smokewatch.clips.synthetic import make_synthetic_clips

    folder = work_dir / "synthetic-clips"
    clips = make_synthetic_clips(folder, synthetic)
    videos = [LabeledVideo(folder / f"{c.file_name}.mp4", c.derived_label) for c in clips]
    return "synthetic", videos, compute_stats(clips)


def decode_all(
    videos: list[LabeledVideo],
    *,
    keep: set[Path] = frozenset(),  # type: ignore[assignment]
    on_progress: Callable[[int], None] | None = None,
) -> tuple[dict[Path, np.ndarray], list[tuple[Path, str]], int, float]:
    """Decode every clip; corrupt ones are collected with their error, never abort the run.

    Returns (the decoded clips named in ``keep``, failures, total frames, seconds): only the
    clips the contact sheet may show stay in memory (all 709 RISE clips would take 2.5 GB).
    """
    from smokewatch.video import read_clip

    kept: dict[Path, np.ndarray] = {}
    failed: list[tuple[Path, str]] = []
    frames = 0
    start = time.perf_counter()
    for i, video in enumerate(videos):
        try:
            clip = read_clip(video.path)
        except VideoError as exc:
            failed.append((video.path, str(exc)))
        else:
            frames += len(clip)
            if video.path in keep:
                kept[video.path] = clip
        if on_progress:
            on_progress(i + 1)
    return kept, failed, frames, time.perf_counter() - start


def contact_sheet(
    rows: list[tuple[np.ndarray, str]], *, columns: int = 6, tile: int = 120
) -> Image.Image:
    """One row per clip: ``columns`` frames evenly spaced in time, captioned on the left."""
    caption_w, pad = 170, 4
    width = caption_w + columns * (tile + pad) + pad
    height = len(rows) * (tile + pad) + pad
    sheet = Image.new("RGB", (width, height), (24, 26, 30))
    draw = ImageDraw.Draw(sheet)
    for r, (clip, caption) in enumerate(rows):
        y = pad + r * (tile + pad)
        for line, text in enumerate(caption.split("\n")):
            draw.text((8, y + 8 + 16 * line), text, fill=(230, 230, 230))
        picks = np.linspace(0, len(clip) - 1, columns).round().astype(int)
        for c, t in enumerate(picks):
            frame = Image.fromarray(clip[t]).resize((tile, tile), Image.Resampling.BILINEAR)
            sheet.paste(frame, (caption_w + pad + c * (tile + pad), y))
    return sheet


def sample_videos(videos: list[LabeledVideo], n: int, seed: int = 0) -> list[LabeledVideo]:
    """Up to ``n`` clips, half with smoke and half without, picked reproducibly."""
    rng = random.Random(seed)
    smoke = [v for v in videos if v.label == 1]
    clean = [v for v in videos if v.label != 1]
    rng.shuffle(smoke)
    rng.shuffle(clean)
    half = min(n // 2, len(smoke))
    return smoke[:half] + clean[: n - half]


def write_sheet(chosen: list[tuple[LabeledVideo, np.ndarray]], path: Path) -> Path:
    """Write the contact sheet PNG of ``chosen`` clips atomically."""
    names = {1: "smoke", 0: "no smoke", None: "unlabeled"}
    rows = [(frames, f"{names[v.label]}\n{v.path.name[:22]}") for v, frames in chosen]
    with atomic_path(path) as tmp:
        contact_sheet(rows).save(tmp, format="PNG")
    return path


def run_demo(rise_dir: Path | None, out: Path, *, samples: int = 8, seed: int = 0) -> DemoResult:
    """Decode all demo clips with a progress bar, then write ``out/contact_sheet.png``."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    source, videos, stats = find_videos(rise_dir, out)
    candidates = sample_videos(videos, 2 * samples, seed)  # spares in case some fail to decode
    with Progress(
        TextColumn("decoding {task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeRemainingColumn(), transient=True,
    ) as progress:  # fmt: skip
        task = progress.add_task(f"{source} clips", total=len(videos))
        decoded, failed, frames, seconds = decode_all(
            videos, keep={v.path for v in candidates},
            on_progress=lambda done: progress.update(task, completed=done),
        )  # fmt: skip
    ok = [v for v in candidates if v.path in decoded]
    chosen = sample_videos(ok, samples, seed)
    sheet = (
        write_sheet([(v, decoded[v.path]) for v in chosen], out / "contact_sheet.png")
        if chosen
        else None
    )
    return DemoResult(
        source, len(videos), len(videos) - len(failed), frames, seconds, failed, sheet, stats
    )
