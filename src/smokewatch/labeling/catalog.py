"""Clips in and out of the service: import RISE metadata or a folder of clips; export labels.

Import is idempotent (a clip already present, by id or file name, is skipped) and export
writes the RISE metadata layout through ``core.metadata``, ordered by id as RISE's own files
are, so exporting an imported metadata file gives back the same bytes.
"""

from __future__ import annotations

import os
import random
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from smokewatch.core.clip import Clip, ClipName, url_part_for
from smokewatch.core.labels import State
from smokewatch.errors import ClipNameError, MetadataError
from smokewatch.labeling.tables import Video

__all__ = ["ImportReport", "import_clips", "clips_from_folder", "export_clips"]


@dataclass
class ImportReport:
    added: int = 0
    skipped: int = 0
    conflicts: list[str] = field(default_factory=list)


def _row(clip: Clip, name: ClipName, rng: random.Random) -> dict[str, object]:
    return {
        "id": clip.id,
        "file_name": clip.file_name,
        "camera_id": clip.camera_id,
        "view_id": clip.view_id,
        "start_time": clip.start_time,
        "end_time": name.end_time,
        "left": name.box.left,
        "top": name.box.top,
        "right": name.box.right,
        "bottom": name.box.bottom,
        "width": name.width,
        "height": name.height,
        "start_frame": name.start_frame,
        "url_root": clip.url_root,
        "url_part": clip.url_part,
        "label_state": clip.label_state,
        "label_state_admin": clip.label_state_admin,
        "label_update_time": None,
        "sort_key": rng.random(),
    }


def import_clips(
    session: Session, clips: Sequence[Clip], *, seed: int | None = None, chunk: int = 2000
) -> ImportReport:
    """Add clips that are not in the database yet; a clash of id vs file name is a conflict."""
    rng = random.Random(seed)
    report = ImportReport()
    for start in range(0, len(clips), chunk):
        part = clips[start : start + chunk]
        by_id = {
            vid: name
            for vid, name in session.execute(
                select(Video.id, Video.file_name).where(Video.id.in_([c.id for c in part]))
            )
        }
        by_name = set(
            session.scalars(
                select(Video.file_name).where(Video.file_name.in_([c.file_name for c in part]))
            )
        )
        rows = []
        for clip in part:
            if by_id.get(clip.id) == clip.file_name:
                report.skipped += 1
            elif clip.id in by_id or clip.file_name in by_name:
                report.conflicts.append(
                    f"clip {clip.id} ({clip.file_name}) clashes with another clip in the database"
                )
            else:
                rows.append(_row(clip, clip.name, rng))
                by_name.add(clip.file_name)
        if rows:
            session.execute(insert(Video), rows)
            report.added += len(rows)
    return report


def clips_from_folder(
    session: Session, folder: Path, videos_dir: Path, url_root: str
) -> tuple[list[Clip], list[str]]:
    """Clips for every RISE-named ``.mp4`` under ``folder``, placed under ``videos_dir``.

    Files are hard-linked (copied across file systems) to ``videos_dir/<url_part>``, where the
    service serves them, so ``url_root + url_part`` plays in a browser. Ids continue after the
    largest id in the database. Returns the clips and the files that were skipped (with why).
    """
    files = sorted(p for p in folder.rglob("*.mp4") if p.is_file())
    if not files:
        raise MetadataError(f"{folder}: no .mp4 files found")
    next_id = (session.scalar(select(func.max(Video.id))) or 0) + 1
    known = {
        name: vid
        for vid, name in session.execute(
            select(Video.id, Video.file_name).where(Video.file_name.in_([f.stem for f in files]))
        )
    }
    clips, skipped = [], []
    for path in files:
        try:
            name = ClipName.parse(path.name)
        except ClipNameError as exc:
            skipped.append(f"{path}: {exc}")
            continue
        part = url_part_for(name)
        target = videos_dir / part
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.part")
            try:
                os.link(path, tmp)
            except OSError:
                shutil.copyfile(path, tmp)
            os.replace(tmp, target)
        vid = known.get(name.format())
        if vid is None:
            vid, next_id = next_id, next_id + 1
        clips.append(
            Clip(
                id=vid,
                camera_id=name.camera_id,
                view_id=name.view_id,
                label_state=int(State.NO_DATA),
                label_state_admin=int(State.NO_DATA),
                start_time=name.start_time,
                file_name=name.format(),
                url_root=url_root,
                url_part=part,
            )
        )
    return clips, skipped


def export_clips(session: Session, *, only_labeled: bool = False) -> Iterable[Clip]:
    """Every clip as a RISE metadata record, by id (states as they are now)."""
    rows = session.execute(
        select(
            Video.id,
            Video.camera_id,
            Video.view_id,
            Video.label_state,
            Video.label_state_admin,
            Video.start_time,
            Video.file_name,
            Video.url_root,
            Video.url_part,
        ).order_by(Video.id)
    )
    for row in rows:
        clip = Clip(
            id=row.id,
            camera_id=row.camera_id,
            view_id=row.view_id,
            label_state=row.label_state,
            label_state_admin=row.label_state_admin,
            start_time=row.start_time,
            file_name=row.file_name,
            url_root=row.url_root,
            url_part=row.url_part,
        )
        if only_labeled and clip.derived_label is None:
            continue
        yield clip
