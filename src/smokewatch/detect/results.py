"""Per-view result files, and the merged ``detections.json`` made from them.

Each view's result is written, atomically, as soon as that view is finished:
``<out>/views/<camera>-<view>.json``, a detections file with that one view. Its ``source``
carries two fingerprints: the *run*'s (model, settings and what was scored) and the *view*'s
(the run's plus the view and its box). A re-run skips a view whose file has the view
fingerprint it would compute; ``detections.json`` is then rewritten from every view file of
the same run, so views scored by separate processes (or Ray tasks) end up in one file.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from smokewatch.clips.views import split_view_key
from smokewatch.core.atomic import remove_partials
from smokewatch.core.detections import (
    Detections,
    DetectionsError,
    ViewDetections,
    read_detections,
    write_detections,
)
from smokewatch.core.window_clips import CLIPS_FOLDER
from smokewatch.detect.evidence import EVIDENCE_DIR
from smokewatch.errors import ViewsError

__all__ = [
    "DETECTIONS_FILE",
    "VIEWS_DIR",
    "done_view",
    "fingerprint",
    "merge_views",
    "remove_partial_files",
    "view_file",
    "write_view",
]

DETECTIONS_FILE = "detections.json"
VIEWS_DIR = "views"
#: The report helper, when it is installed: ``write_report(detections, out_dir)``.
REPORT_MODULE = "smokewatch.detect.report"


def fingerprint(*parts: Any) -> str:
    """A short digest of JSON-able parts (dict keys sorted)."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def view_file(out_dir: Path, key: str) -> Path:
    return out_dir / VIEWS_DIR / f"{key}.json"


def _read(path: Path) -> Detections | None:
    """A view file, or ``None`` if it is missing or damaged (then the view is scored again)."""
    if not path.is_file():
        return None
    try:
        return read_detections(path)
    except DetectionsError:
        return None


def done_view(out_dir: Path, key: str, view_fingerprint: str) -> ViewDetections | None:
    """The view's finished result, if a run with the same fingerprint wrote one."""
    found = _read(view_file(out_dir, key))
    if found is None or found.source.get("fingerprint") != view_fingerprint:
        return None
    if len(found.views) != 1 or found.views[0].key != key:
        return None
    return found.views[0]


def write_view(
    out_dir: Path,
    view: ViewDetections,
    *,
    model: Mapping[str, Any],
    settings: Mapping[str, Any],
    source: Mapping[str, Any],
    run: str,
    view_fingerprint: str,
) -> None:
    one = Detections(
        model=dict(model),
        views=(view,),
        settings=dict(settings),
        source={**source, "run": run, "fingerprint": view_fingerprint},
    )
    write_detections(one, view_file(out_dir, view.key))


def remove_partial_files(out_dir: Path, keys: Iterable[str]) -> int:
    """Delete what a killed run left half-written for views ``keys``: the temporary files of
    :func:`~smokewatch.core.atomic.atomic_path` (``.<name>.XXXX.part<suffix>``) of their
    result files (``views/``), evidence (``evidence/``) and window clips (``clips/``).

    A writer removes its temporary file on any exception, but not when its process is killed
    (SIGKILL, the OOM killer, a Ray actor's node lost). Called when a run starts on these
    views, so leftovers do not pile up run after run. Only the given views' files, by name
    (``<key>.json``; evidence and clips start with ``<camera>-<view>-``): a Ray task sweeps its
    own views while another task writes the day's other views into the same folders.
    Returns how many went.
    """
    names: set[str] = set()
    prefixes: list[str] = []
    for key in keys:
        names.add(f"{key}.json")
        try:
            camera_id, view_id = split_view_key(key)
        except ViewsError:
            continue  # no file of this run is named after it
        prefixes.append(f"{camera_id}-{view_id}-")
    if not names:
        return 0
    starts = tuple(prefixes)
    removed = remove_partials(out_dir / VIEWS_DIR, names)
    for folder in (EVIDENCE_DIR, CLIPS_FOLDER):
        if starts:
            removed += remove_partials(out_dir / folder, lambda name: name.startswith(starts))
    return removed


def _sort_key(view: ViewDetections) -> tuple[int, int]:
    return (view.camera_id, view.view_id)


def merge_views(
    out_dir: Path,
    *,
    model: Mapping[str, Any],
    settings: Mapping[str, Any],
    source: Mapping[str, Any],
    run: str,
    report: bool = True,
) -> Detections:
    """Write ``<out>/detections.json`` from every view file of run ``run`` (atomically), then
    the report, when the report module is installed.

    Only ``<key>.json`` files holding view ``<key>``: hidden files are skipped (``*.json``
    also matches an atomic write's temporary ``.0-1.json.XXXX.part.json``, which a killed
    writer leaves behind, and the view would be merged twice), and so is a file named after
    another view than it holds (a copy, or a file renamed by hand).
    """
    views = []
    folder = out_dir / VIEWS_DIR
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        if path.name.startswith("."):
            continue
        found = _read(path)
        if (
            found is not None
            and found.source.get("run") == run
            and len(found.views) == 1
            and found.views[0].key == path.stem
        ):
            views.append(found.views[0])
    detections = Detections(
        model=dict(model),
        views=tuple(sorted(views, key=_sort_key)),
        settings=dict(settings),
        source=dict(source),
    )
    write_detections(detections, out_dir / DETECTIONS_FILE)
    if report:
        write_report(detections, out_dir)
    return detections


def write_report(detections: Detections, out_dir: Path) -> bool:
    """``<out>/report.html`` by :mod:`smokewatch.detect.report`, if this install has it (it is
    looked up by name, so detection works without it); True if a report was written."""
    try:
        report = importlib.import_module(REPORT_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != REPORT_MODULE:
            raise  # the report module is there but something it needs is not
        return False
    zone = detections.time_zone
    if zone:  # the report shows local times in the run's zone
        report.write_report(detections, out_dir, time_zone=zone)
    else:
        report.write_report(detections, out_dir)
    return True
