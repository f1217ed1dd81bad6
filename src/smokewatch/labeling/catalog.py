"""Clips in and out of the service: import RISE metadata or a folder of clips; export labels.

Import is idempotent (a clip already present, by id or file name, is skipped; an unlabeled
record naming a known clip under another id is that clip, see :func:`import_clips`), a
metadata file listing clip files beside it is a folder's import (:func:`clip_files_beside`),
and export writes the RISE metadata layout through ``core.metadata``, ordered by id as RISE's
own files are, so exporting an imported metadata file gives back the same bytes.
"""

from __future__ import annotations

import os
import random
import shutil
import stat
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import String, func, insert, select, update
from sqlalchemy.orm import Session

from smokewatch.core.clip import Clip, ClipName, url_part_for
from smokewatch.core.clip import clip_address as core_clip_address
from smokewatch.core.labels import State
from smokewatch.errors import ClipNameError, MetadataError, SmokewatchError
from smokewatch.labeling.tables import Video

__all__ = [
    "ImportReport",
    "PlacedClip",
    "import_clips",
    "place_folder",
    "place_files",
    "place_file",
    "clips_from_folder",
    "import_placed",
    "clip_files_beside",
    "export_clips",
    "clip_address",
]


@dataclass
class ImportReport:
    added: int = 0
    skipped: int = 0
    conflicts: list[str] = field(default_factory=list)
    #: clips already there whose address now names the clip store's copy (:func:`import_placed`)
    repointed: int = 0


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


def _max_length(column: str) -> int | None:
    kind = Video.__table__.c[column].type
    return kind.length if isinstance(kind, String) else None


#: The text columns a metadata record fills, and how long a value they keep.
_TEXT_LIMITS = {key: _max_length(key) for key in ("file_name", "url_root", "url_part")}


def _check_fits(clip: Clip) -> None:
    """PostgreSQL refuses (with a traceback) text longer than its column, where SQLite keeps
    it: refuse it on both, by name, before anything is written."""
    for key, limit in _TEXT_LIMITS.items():
        value = getattr(clip, key)
        if limit is not None and value is not None and len(value) > limit:
            raise MetadataError(
                f"clip {clip.id} ({clip.file_name[:80]}): {key} has {len(value):,} characters, "
                f"the database keeps at most {limit}"
            )


def _unlabeled(clip: Clip) -> bool:
    """Whether a record carries no answer at all (both states "no data", no split label):
    then its id is only a number its writer gave it, not a claim about the database."""
    no_data = int(State.NO_DATA)
    return clip.label_state == no_data == clip.label_state_admin and clip.label is None


def import_clips(
    session: Session,
    clips: Sequence[Clip],
    *,
    seed: int | None = None,
    chunk: int = 2000,
    repoint: bool = False,
) -> ImportReport:
    """Add clips that are not in the database yet; a clash of id vs file name is a conflict.

    A clip is known by its file name (a RISE name says camera, view, box, frames and times).
    An unlabeled record whose file name is already in the database is "already there" even
    under another id: ``clips extract`` numbers each output folder from 1, so the same clip
    reached through a folder import and through that folder's metadata.json differs only in
    that number, and nothing in the record could be lost. A labeled record under another id,
    or a known id naming another clip (two RISE exports that disagree), stays a conflict.

    ``repoint``: a clip already there takes the record's ``url_root`` and ``url_part`` (its
    labels and id stay); for records whose files were just placed in the clip store.
    """
    for clip in clips:
        _check_fits(clip)
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
        stored = {
            name: (vid, root, where)
            for vid, name, root, where in session.execute(
                select(Video.id, Video.file_name, Video.url_root, Video.url_part).where(
                    Video.file_name.in_([c.file_name for c in part])
                )
            )
        }
        pending: dict[str, dict[str, object]] = {}  # rows to insert, by file name
        for clip in part:
            if by_id.get(clip.id) == clip.file_name or (
                clip.file_name in stored and _unlabeled(clip)  # under a writer's local number
            ):
                report.skipped += 1
                known = stored[clip.file_name]
                if repoint and clip.file_name in pending:  # added by this import: not stored yet
                    pending[clip.file_name].update(url_root=clip.url_root, url_part=clip.url_part)
                elif repoint and known[1:] != (clip.url_root, clip.url_part):
                    session.execute(
                        update(Video)
                        .where(Video.id == known[0])
                        .values(url_root=clip.url_root, url_part=clip.url_part)
                    )
                    report.repointed += 1
            elif clip.id in by_id or clip.file_name in stored:
                report.conflicts.append(
                    f"clip {clip.id} ({clip.file_name}) clashes with another clip in the database"
                )
            else:
                pending[clip.file_name] = _row(clip, clip.name, rng)
                # a later record of the same clip in this import meets it as the database will
                stored[clip.file_name] = (clip.id, clip.url_root, clip.url_part)
                by_id[clip.id] = clip.file_name
        if pending:
            session.execute(insert(Video), list(pending.values()))
            report.added += len(pending)
    return report


@dataclass(frozen=True, slots=True)
class PlacedClip:
    """A clip file from an import folder, now in the clip store at ``videos_dir/<url_part>``."""

    source: Path
    name: ClipName


def _refused(path: Path, listed: os.stat_result) -> str | None:
    """Why a file named like a clip is not imported (``listed``: its ``lstat``), or None.

    Only regular files are: a link named like a clip could point at the data folder's
    ``secret.key``, which would then be served as a video.
    """
    if stat.S_ISLNK(listed.st_mode):
        return f"{path}: a symbolic link (only regular files are imported)"
    if not stat.S_ISREG(listed.st_mode):
        return f"{path}: not a regular file"
    return None


def _folder_files(folder: Path, skipped: list[str]) -> list[tuple[Path, os.stat_result]]:
    """The ``.mp4`` regular files under ``folder``, with their ``lstat``, sorted by path.

    Links are never followed, neither to files nor to folders (see :func:`_refused`). Links and
    other non-regular entries named like clips, and links to folders, are reported in
    ``skipped``. Hidden files and folders are passed over: a writer killed mid-clip leaves
    its partial file hidden (``.NAME.mp4.XXXX.part.mp4``, ``core.atomic``), and that is no clip.
    """
    found: list[tuple[Path, os.stat_result]] = []
    pending = [folder]
    while pending:
        here = pending.pop()
        try:
            with os.scandir(here) as entries:
                listed = list(entries)
        except OSError as exc:
            skipped.append(f"{here}: cannot read folder ({exc.strerror or exc})")
            continue
        for entry in listed:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError as exc:  # gone since the folder was listed
                skipped.append(f"{path}: {exc.strerror or exc}")
                continue
            if stat.S_ISDIR(info.st_mode):
                pending.append(path)
            elif entry.name.endswith(".mp4") or (stat.S_ISLNK(info.st_mode) and entry.is_dir()):
                why = _refused(path, info)
                if why is None:
                    found.append((path, info))
                else:
                    skipped.append(why)
    return sorted(found, key=lambda item: item[0])


def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return stat.S_ISREG(b.st_mode) and (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _stage(source: Path, listed: os.stat_result, tmp: Path) -> None:
    """Hard-link (or copy) ``source`` to ``tmp``, never through a link, and only if it is
    still the regular file that was listed (else :class:`MetadataError`)."""
    tmp.unlink(missing_ok=True)
    try:
        os.link(source, tmp, follow_symlinks=False)
    except OSError:  # another file system, or hard links not allowed: copy, via a no-follow fd
        fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with open(fd, "rb") as src:
            if not _same_file(listed, os.fstat(src.fileno())):
                raise MetadataError(f"{source}: changed while it was imported") from None
            out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            with open(out, "wb") as dst:
                shutil.copyfileobj(src, dst)
        return
    if not _same_file(listed, tmp.lstat()):
        tmp.unlink()
        raise MetadataError(f"{source}: changed while it was imported")


def place_folder(
    folder: Path, videos_dir: Path, verify: Callable[[Path], object]
) -> tuple[list[PlacedClip], list[str]]:
    """Put every RISE-named ``.mp4`` regular file under ``folder`` into the clip store.

    Files are hard-linked (copied across file systems) to ``videos_dir/<url_part>``, where the
    service serves them, so ``url_root + url_part`` plays in a browser. ``verify`` raises a
    :class:`SmokewatchError` for a file that is not a playable clip; it is given the file as
    placed (labeling reads no video: the caller decodes), so what was checked is what is
    served. Clips already in the store are checked there and kept. Returns the placed clips and
    the files skipped (with why). Runs outside any database transaction: decoding is slow.
    """
    skipped: list[str] = []
    files = _folder_files(folder, skipped)
    if not files and not skipped:
        raise MetadataError(f"{folder}: no .mp4 files found")
    placed = []
    for path, listed in files:
        try:
            name = ClipName.parse(path.name)
        except ClipNameError as exc:
            skipped.append(f"{path}: {exc}")
            continue
        clip = place_file(path, listed, name, videos_dir, verify, skipped)
        if clip is not None:
            placed.append(clip)
    return placed, skipped


def place_files(
    files: Iterable[tuple[Path, ClipName]], videos_dir: Path, verify: Callable[[Path], object]
) -> tuple[list[PlacedClip], list[str]]:
    """Put clip files the caller has named (``(file, clip name)``) into the clip store, as
    :func:`place_folder` does a folder's: regular files only, never through a link, each
    checked by ``verify``. Returns the placed clips and the files skipped (with why), in the
    order given. Runs outside any database transaction: decoding is slow.
    """
    skipped: list[str] = []
    placed = []
    for path, name in files:
        try:
            listed = path.lstat()
        except OSError as exc:
            skipped.append(f"{path}: {exc.strerror or exc}")
            continue
        why = _refused(path, listed)
        if why is not None:
            skipped.append(why)
            continue
        clip = place_file(path, listed, name, videos_dir, verify, skipped)
        if clip is not None:
            placed.append(clip)
    return placed, skipped


def place_file(
    path: Path,
    listed: os.stat_result,
    name: ClipName,
    videos_dir: Path,
    verify: Callable[[Path], object],
    skipped: list[str],
) -> PlacedClip | None:
    """Put one regular file (``listed``: its ``lstat``) into the clip store as clip ``name``
    (see :func:`place_folder`); None, with a line in ``skipped``, when it cannot be."""
    target = videos_dir / url_part_for(name)
    checked = target
    try:
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            checked = target.with_name(f".{target.name}.part")
            _stage(path, listed, checked)
        verify(checked)
    except (SmokewatchError, OSError) as exc:
        if checked != target:
            checked.unlink(missing_ok=True)
        if isinstance(exc, SmokewatchError):  # its message names the file it was given
            skipped.append(str(exc).replace(str(checked), str(path)))
        else:
            skipped.append(f"{path}: cannot import ({exc.strerror or exc})")
        return None
    if checked != target:
        os.replace(checked, target)
    return PlacedClip(path, name)


def clip_files_beside(metadata: Path, clips: Sequence[Clip]) -> list[tuple[Path, ClipName]] | None:
    """The clip files a metadata file lists beside itself (``<its folder>/<file_name>.mp4``),
    to be placed as a folder import places its files; None for a metadata-only import.

    ``clips extract`` writes its clips flat beside its metadata.json, unlabeled and numbered
    from 1 in each folder: imported as records, its ids clash with another day's and its
    address names no file the service has. So when every record is unlabeled and at least one
    listed file sits beside the metadata, the caller imports it as that folder's import (files
    copied into the clip store, ids given by the service). Every record is returned, present
    or not: :func:`place_files` lists a missing one as skipped. Labeled records (RISE's
    metadata, a project's export) and clips hosted elsewhere are imported as records.
    """
    if not clips or not all(_unlabeled(c) for c in clips):
        return None
    files = [(metadata.parent / f"{c.file_name}.mp4", c.name) for c in clips]
    if not any(os.path.lexists(path) for path, _ in files):
        return None
    return files


def clips_from_folder(session: Session, placed: Sequence[PlacedClip], url_root: str) -> list[Clip]:
    """Clip records for clips :func:`place_folder` put in the store; ids continue after the
    largest id in the database (a clip already there keeps its own)."""
    next_id = (session.scalar(select(func.max(Video.id))) or 0) + 1
    names = [p.name.format() for p in placed]
    known = {
        name: vid
        for vid, name in session.execute(
            select(Video.id, Video.file_name).where(Video.file_name.in_(names))
        )
    }
    clips = []
    for item in placed:
        name = item.name
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
                url_part=url_part_for(name),
            )
        )
    return clips


def import_placed(session: Session, placed: Sequence[PlacedClip], url_root: str) -> ImportReport:
    """Records for clips :func:`place_folder` or :func:`place_files` put in the store, added.

    A clip already there is now served from the store: its address becomes ``url_root`` and
    its store path (``report.repointed`` counts them). A database that got the clip's record
    first (RISE's metadata, whose host is offline, or an older extract's metadata.json)
    would otherwise keep an address that plays nothing, beside the copy just placed.
    """
    return import_clips(session, clips_from_folder(session, placed, url_root), repoint=True)


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


def clip_address(file_name: str, url_root: str | None, url_part: str | None) -> tuple[str, str]:
    """Where a stored clip plays: :func:`smokewatch.core.clip.clip_address` of its name (the
    export's derivation), so every answer that gives a clip's address gives this one."""
    if url_root is not None and url_part is not None:  # stored: no name to read
        return url_root, url_part
    try:
        return core_clip_address(ClipName.parse(file_name), url_root, url_part)
    except ValueError:  # imports check names; a row written otherwise must not break a page
        return url_root or "", url_part or ""
