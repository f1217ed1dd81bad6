"""The demo job: decode a set of real (or synthetic) clips, print the dataset, draw a contact sheet.

With the RISE data folder (``--rise-dir``; ``../shared/rise`` by default) it decodes the 709
labeled RISE clips and prints the paper's tables for the 12,567-clip dataset; without it, it
generates a few synthetic clips and does the same with them, so the command always works.

Then it sets up the labeling site on SQLite (``setup_site``): the same clips imported with
their labels (some as hidden gold standards, some as if two volunteers had agreed, the rest to
label), the tutorial (made of real RISE clips when they are present, else of generated ones)
and its clips, and a demo researcher account whose password is printed once.
``smokewatch demo`` serves it until Ctrl-C.
"""

from __future__ import annotations

import csv
import random
import time
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from smokewatch.core.atomic import atomic_path
from smokewatch.core.clip import Clip
from smokewatch.core.metadata import read_metadata
from smokewatch.dataset.stats import DatasetStats, compute_stats
from smokewatch.errors import SmokewatchError, VideoError
from smokewatch.settings import Settings

__all__ = [
    "LabeledVideo",
    "DemoResult",
    "SiteSetup",
    "find_videos",
    "decode_all",
    "contact_sheet",
    "run_demo",
    "setup_site",
    "DEMO_ACCOUNT",
    "DEFAULT_RISE_DIR",
    "rise_data_problem",
]

#: Where the demo looks for the RISE data folder unless told (``make demo`` passes it too):
#: beside the clone, as this project's machines have it. A fresh clone elsewhere has none,
#: and the demo then uses synthetic clips.
DEFAULT_RISE_DIR = Path("../shared/rise")


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


def rise_data_problem(rise_dir: Path) -> str | None:
    """Why ``rise_dir`` is not a RISE data folder (None: it is one), as :func:`find_videos`
    decides it: a ``clips.csv`` and a ``clips/`` folder."""
    if not rise_dir.exists():
        return "no such folder"
    if not rise_dir.is_dir():
        return "not a folder"
    missing = [
        name
        for name, present in (
            ("clips.csv", (rise_dir / "clips.csv").is_file()),
            ("clips/", (rise_dir / "clips").is_dir()),
        )
        if not present
    ]
    return f"it has no {' and no '.join(missing)}" if missing else None


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
    keep: AbstractSet[Path] = frozenset(),
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


# --- the labeling site ---------------------------------------------------------------------
DEMO_ACCOUNT = "demo-researcher"


@dataclass(slots=True)
class SiteSetup:
    """What ``setup_site`` made: where, which clips, the gold standards, the demo account."""

    data_dir: Path
    database_url: str
    source: str  #: "rise" or "synthetic"
    clips: int  #: clips in the database
    added: int  #: clips added by this run (0 on a re-run)
    gold_pos: int
    gold_neg: int
    tutorial_clips: int  #: tutorial clips generated or linked by this run
    tutorial: str  #: the lessons: "rise" (real clips), "synthetic" or "own" (the site's file)
    account: str
    password: str  #: shown once; a re-run sets a new one


def site_settings(data_dir: Path) -> Settings:
    """The demo site's settings: SQLite in ``data_dir`` whatever the environment says."""
    from smokewatch.settings import load_settings

    data_dir = data_dir.resolve()
    return load_settings(
        read_env_file=False,
        data_dir=data_dir,
        database_url=f"sqlite:///{data_dir / 'smokewatch.db'}",
    )


def _place(source: Path, target: Path) -> None:
    """Put a clip where the service serves it (hard link, else copy; atomic)."""
    import os
    import shutil

    if target.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.part")
    tmp.unlink(missing_ok=True)
    try:
        os.link(source, tmp)
    except OSError:
        shutil.copyfile(source, tmp)
    os.replace(tmp, target)


def _states(labels: list[int | None], gold: int, labeled: int) -> list[tuple[int, int]]:
    """(citizen, researcher) states: ``gold`` gold standards of each class first, then
    ``labeled`` clips as if two volunteers agreed, the rest unlabeled."""
    from smokewatch.core.labels import State

    out: list[tuple[int, int]] = []
    gold_left = {1: gold, 0: gold}
    for label in labels:
        if label in gold_left and gold_left[label] > 0:
            gold_left[label] -= 1
            out.append((int(State.NO_DATA), int(State.GOLD_POS if label else State.GOLD_NEG)))
        elif label is not None and labeled > 0:
            labeled -= 1
            out.append((int(State.STRONG_POS if label else State.STRONG_NEG), int(State.NO_DATA)))
        else:
            out.append((int(State.NO_DATA), int(State.NO_DATA)))
    return out


def _rise_site_clips(
    videos: list[LabeledVideo], videos_dir: Path, *, gold: int, labeled: int, timezone: str
) -> list[Clip]:
    """RISE's recovered clips as site clips. They carry no camera, view or time (see
    ../shared/rise/README.md), so the demo files them under camera 0, views 0-2, at made-up
    five-minute steps from 2019-01-07 08:00; their labels are RISE's."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from smokewatch.core.clip import Box, Clip, ClipName, url_part_for

    rng = random.Random(0)
    order = list(range(len(videos)))
    rng.shuffle(order)  # gold and pre-labeled clips from both splits and classes
    states = _states([videos[i].label for i in order], gold, labeled)
    tz = ZoneInfo(timezone)
    clips = []
    for i, (citizen, admin) in zip(order, states, strict=True):
        video = videos[i]
        view = i % 3
        start = datetime(2019, 1, 7 + (i // 3) // 96, 8, 0, tzinfo=tz) + timedelta(
            minutes=5 * ((i // 3) % 96)
        )
        t0 = int(start.timestamp())
        name = ClipName(
            camera_id=0, view_id=view, day=start.date(),
            box=Box(200 * view, 0, 200 * view + 180, 180), height=180, width=180,
            start_frame=36 * (i // 3), start_time=t0, end_time=t0 + 175,
        )  # fmt: skip
        part = url_part_for(name)
        _place(video.path, videos_dir / part)
        clips.append(
            Clip(
                id=i + 1,
                camera_id=0,
                view_id=view,
                label_state=citizen,
                label_state_admin=admin,
                start_time=t0,
                file_name=name.format(),
                url_root="/videos/",
                url_part=part,
            )  # fmt: skip
        )
    return sorted(clips, key=lambda c: c.id)


def _synthetic_site_clips(
    work_dir: Path, videos_dir: Path, n: int, *, gold: int, labeled: int, size: int, frames: int
) -> list[Clip]:
    from dataclasses import replace

    from smokewatch.clips.synthetic import make_synthetic_clips

    folder = work_dir / "site-clips"
    made = make_synthetic_clips(folder, n, seed=1, size=size, frames=frames)
    states = _states([c.derived_label for c in made], gold, labeled)
    clips = []
    for clip, (citizen, admin) in zip(made, states, strict=True):
        assert clip.url_part is not None
        _place(folder / f"{clip.file_name}.mp4", videos_dir / clip.url_part)
        clips.append(replace(clip, label_state=citizen, label_state_admin=admin))
    return clips


def make_tutorial_clips(
    settings: Settings, *, size: int = 180, frames: int = 36, rise_dir: Path | None = None
) -> int:
    """Put every missing lesson clip in place; returns how many.

    A clip with a ``rise`` file name is linked from ``rise_dir/clips`` (when it is there); one
    with a ``synthetic`` recipe is generated.
    """
    from smokewatch.clips.synthetic import render_clip
    from smokewatch.labeling.tutorial import load_lessons
    from smokewatch.video import write_clip

    made = 0
    for lesson in load_lessons(settings).lessons:
        for clip in lesson.clips:
            if clip.file.startswith(("http://", "https://", "/")):
                continue
            path = settings.videos_dir / clip.file
            if path.exists():
                continue
            if clip.rise is not None and rise_dir is not None:
                source = rise_dir / "clips" / clip.rise
                if source.is_file():
                    _place(source, path)
                    made += 1
                    continue
            if clip.synthetic is None:
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            frames_ = render_clip(clip.smoke, seed=clip.synthetic.seed, frames=frames, size=size)
            write_clip(frames_, path, fps=settings.clip_fps)
            made += 1
    return made


#: Beside a site's ``tutorial.json`` when the demo put it there (so it may replace or remove it).
DEMO_TUTORIAL_MARK = ".tutorial-from-demo"


def choose_tutorial(settings: Settings, rise_dir: Path | None) -> str:
    """Which lessons the demo site teaches: ``"rise"``, ``"synthetic"`` or ``"own"``.

    The real-clip lessons (``web/tutorial-rise.json``) when ``rise_dir`` holds every clip they
    name: the demo copies them to the site's ``tutorial.json``, where a project keeps its own.
    Without the clips it removes a copy it made earlier, so the packaged synthetic lessons
    apply. A ``tutorial.json`` the demo did not write is the project's own and is left alone.
    """
    from smokewatch.labeling.tutorial import PACKAGED_RISE, read_lessons

    own = settings.data_dir / "tutorial.json"
    mark = settings.data_dir / DEMO_TUTORIAL_MARK
    if own.exists() and not mark.exists():
        return "own"
    clips = [c for lesson in read_lessons(PACKAGED_RISE).lessons for c in lesson.clips]
    present = rise_dir is not None and all(
        c.rise is not None and (rise_dir / "clips" / c.rise).is_file() for c in clips
    )
    if not present:
        own.unlink(missing_ok=True)
        mark.unlink(missing_ok=True)
        return "synthetic"
    text = PACKAGED_RISE.read_text(encoding="utf-8")
    if not own.exists() or own.read_text(encoding="utf-8") != text:
        own.parent.mkdir(parents=True, exist_ok=True)
        mark.touch()
        with atomic_path(own) as tmp:
            tmp.write_text(text, encoding="utf-8")
    return "rise"


def setup_site(
    rise_dir: Path | None,
    out: Path,
    *,
    skip: AbstractSet[Path] = frozenset(),
    gold: int = 40,
    labeled: int = 120,
    synthetic: int = 96,
    size: int = 180,
    frames: int = 36,
    password: str | None = None,
) -> SiteSetup:
    """Set up (or bring up to date) the demo labeling site under ``out/site``.

    Real RISE clips when ``rise_dir`` has them (``skip``: files known not to decode), else
    ``synthetic`` generated ones (``size``/``frames``: their shape). Idempotent: clips already
    imported keep their labels; the demo account gets a new password each run.
    """
    import secrets
    from collections import Counter

    from smokewatch.core.labels import State
    from smokewatch.labeling.catalog import export_clips, import_clips
    from smokewatch.labeling.db import open_database
    from smokewatch.labeling.users import AccountError, add_account, set_password

    settings = site_settings(out / "site")
    videos_dir = settings.videos_dir
    videos_dir.mkdir(parents=True, exist_ok=True)
    rise = rise_dir if rise_dir is not None and (rise_dir / "clips.csv").is_file() else None
    if rise is not None and (rise / "clips").is_dir():
        videos = [v for v in _rise_videos(rise) if v.path not in skip and v.path.is_file()]
        clips = _rise_site_clips(
            videos, videos_dir, gold=gold, labeled=labeled, timezone=settings.timezone
        )
        source = "rise"
    else:
        clips = _synthetic_site_clips(
            out, videos_dir, synthetic, gold=min(gold, max(3, synthetic // 16)),
            labeled=min(labeled, synthetic // 4), size=size, frames=frames,
        )  # fmt: skip
        source = "synthetic"
    tutorial = choose_tutorial(settings, rise)
    tutorial_made = make_tutorial_clips(settings, size=size, frames=frames, rise_dir=rise)
    secret = password or secrets.token_urlsafe(12)
    db = open_database(settings)
    try:
        with db.write() as session:
            report = import_clips(session, clips, seed=0)
            if report.conflicts:
                raise SmokewatchError(
                    f"{settings.data_dir}: the demo database holds other clips "
                    f"({report.conflicts[0]}); delete it to start over"
                )
            try:
                add_account(session, DEMO_ACCOUNT, secret)  # a researcher
            except AccountError:
                set_password(session, DEMO_ACCOUNT, secret)
        with db.read() as session:
            # The service's own export, as `smokewatch labels export` reads it.
            admin = Counter(clip.label_state_admin for clip in export_clips(session))
    finally:
        db.dispose()
    return SiteSetup(
        data_dir=settings.data_dir,
        database_url=settings.resolved_database_url,
        source=source,
        clips=admin.total(),
        added=report.added,
        gold_pos=int(admin.get(int(State.GOLD_POS), 0)),
        gold_neg=int(admin.get(int(State.GOLD_NEG), 0)),
        tutorial_clips=tutorial_made,
        tutorial=tutorial,
        account=DEMO_ACCOUNT,
        password=secret,
    )
