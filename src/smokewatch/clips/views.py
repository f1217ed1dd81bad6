"""Camera views: which rectangle of a camera's panorama each view crops.

A views file is YAML or JSON (chosen by extension; ``.yaml``/``.yml`` or ``.json``)::

    cameras:
      0:                      # camera id
        views:
          0: [6304, 964, 6807, 1467]   # view id: [left, top, right, bottom] in panorama pixels
          1: [5776, 952, 6279, 1455]

The flat shape ``{"0-0": [6304, 964, 6807, 1467], ...}`` (keys ``"camera-view"``) is accepted
too, because that is how a view is written everywhere else (clip names, metadata, splits).
Boxes are right/bottom exclusive, like :class:`~smokewatch.core.clip.Box`.

RISE published no views file; its boxes live only in clip file names, so
:func:`views_from_metadata` recovers them from a metadata file.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from smokewatch.core.atomic import atomic_write_text
from smokewatch.core.clip import Box, Clip
from smokewatch.core.files import read_user_text
from smokewatch.errors import SmokewatchWarning, ViewsError

__all__ = [
    "load_views",
    "parse_views",
    "views_from_metadata",
    "dump_views",
    "dumps_views",
    "view_key",
    "split_view_key",
    "select_camera",
]

_KEY_RE = re.compile(r"^(\d+)-(\d+)$")
_ONE_LINE_LIST = re.compile(r"\[\s+([\d,\s]+?)\s+\]")


def _join_list(match: re.Match[str]) -> str:
    return "[" + ", ".join(x.strip() for x in match[1].split(",")) + "]"


def view_key(camera_id: int, view_id: int) -> str:
    """The view as RISE writes it: ``"camera-view"``."""
    return f"{camera_id}-{view_id}"


def split_view_key(key: str) -> tuple[int, int]:
    """``"0-14"`` -> ``(0, 14)``; anything else is a :class:`ViewsError`."""
    match = _KEY_RE.match(str(key))
    if match is None:
        raise ViewsError(f"{key!r} is not a camera view (expected 'camera-view', e.g. '0-14')")
    return int(match.group(1)), int(match.group(2))


def _sort_key(key: str) -> tuple[int, int]:
    return split_view_key(key)


def _as_id(value: Any, what: str, where: str) -> int:
    if isinstance(value, bool):
        raise ViewsError(f"{where}: {what} {value!r} is not a non-negative integer")
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, str) and value.isascii() and value.isdecimal():  # not '²' or '١٢'
        return int(value)
    raise ViewsError(f"{where}: {what} {value!r} is not a non-negative integer")


#: How far a view's box may be from square, as a share of its longer side: RISE's boxes are
#: square to a pixel, and a clip is square, so anything more would be stretched.
SQUARE_TOLERANCE = 0.02


def square_problem(box: Box) -> str | None:
    """Why ``box`` cannot be cut into square clips unstretched (None: it is square within a
    pixel or :data:`SQUARE_TOLERANCE`)."""
    width, height = box.width, box.height
    if abs(width - height) > max(1.0, SQUARE_TOLERANCE * max(width, height)):
        return (
            f"box {list(box.ltrb)} is {width}x{height} px, not square; clips are square, so it "
            "would be stretched (make its width and height equal)"
        )
    return None


def _as_box(value: Any, where: str) -> Box:
    if value is None:
        raise ViewsError(f"{where}: no box (expected [left, top, right, bottom])")
    if isinstance(value, Mapping):
        try:
            value = [value[k] for k in ("left", "top", "right", "bottom")]
        except KeyError as exc:
            raise ViewsError(f"{where}: box lacks {exc.args[0]!r}") from None
    if not isinstance(value, list | tuple) or len(value) != 4:
        raise ViewsError(f"{where}: box {value!r} is not [left, top, right, bottom]")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise ViewsError(f"{where}: box {list(value)!r} must hold 4 integers (pixels)")
    try:
        box = Box(*value)
    except ValueError as exc:
        raise ViewsError(f"{where}: {exc}") from None
    if (problem := square_problem(box)) is not None:
        raise ViewsError(f"{where}: {problem}")
    return box


def parse_views(data: Any, *, source: str = "views") -> dict[str, Box]:
    """Validate parsed YAML/JSON (either documented shape) into ``{"cam-view": Box}``."""
    if not isinstance(data, Mapping) or not data:
        raise ViewsError(f"{source}: expected a mapping with 'cameras' (or 'camera-view' keys)")
    views: dict[str, Box] = {}
    if "cameras" in data:
        extra = sorted(str(k) for k in data if k != "cameras")
        if extra:
            raise ViewsError(f"{source}: unknown top-level keys {extra} (expected only 'cameras')")
        cameras = data["cameras"]
        if not isinstance(cameras, Mapping) or not cameras:
            raise ViewsError(f"{source}: 'cameras' must map camera ids to their views")
        for cam_raw, camera in cameras.items():
            cam = _as_id(cam_raw, "camera id", source)
            where = f"{source}: camera {cam}"
            if not isinstance(camera, Mapping) or not isinstance(camera.get("views"), Mapping):
                raise ViewsError(f"{where}: expected 'views' mapping view ids to boxes")
            if not camera["views"]:
                raise ViewsError(f"{where}: has no views")
            for view_raw, box in camera["views"].items():
                view = _as_id(view_raw, "view id", where)
                key = view_key(cam, view)
                if key in views:
                    raise ViewsError(f"{source}: view {key} is listed twice")
                views[key] = _as_box(box, f"{source}: view {key}")
    else:
        for key_raw, box in data.items():
            try:
                cam, view = split_view_key(str(key_raw))
            except ViewsError as exc:
                raise ViewsError(f"{source}: {exc}") from None
            key = view_key(cam, view)
            if key in views:
                raise ViewsError(f"{source}: view {key} is listed twice")
            views[key] = _as_box(box, f"{source}: view {key}")
    return dict(sorted(views.items(), key=lambda kv: _sort_key(kv[0])))


def load_views(path: str | os.PathLike[str]) -> dict[str, Box]:
    """Read a views file (YAML or JSON) into ``{"cam-view": Box}``, in camera/view order.

    Every problem is a :class:`ViewsError` that names the file and, where it can, the view.
    """
    p = Path(path)
    text = read_user_text(p, what="views file", error=ViewsError)
    try:
        if p.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            data = yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ViewsError(f"{p}: cannot parse: {exc}".splitlines()[0]) from None
    return parse_views(data, source=str(p))


def views_from_metadata(clips: Iterable[Clip]) -> dict[str, Box]:
    """Each view's box, recovered from RISE clip file names.

    A view has one box in RISE; if clips of a view disagree (a camera was re-aimed), the most
    common box wins and one :class:`UserWarning` lists those views and how many clips agree.
    """
    boxes: dict[str, Counter[Box]] = defaultdict(Counter)
    for clip in clips:
        boxes[clip.view][clip.name.box] += 1
    views: dict[str, Box] = {}
    disagreeing: list[str] = []
    for key in sorted(boxes, key=_sort_key):
        counts = boxes[key]
        box, n = counts.most_common(1)[0]
        if len(counts) > 1:
            disagreeing.append(
                f"{key} {list(box.ltrb)} ({n} of {sum(counts.values())} clips, {len(counts)} boxes)"
            )
        views[key] = box
    if disagreeing:
        warnings.warn(
            f"{len(disagreeing)} view(s) have several boxes in their clip names (camera "
            "re-aimed?); using each one's most common box: " + "; ".join(disagreeing),
            SmokewatchWarning,
            stacklevel=2,
        )
    return views


def _nested(views: Mapping[str, Box]) -> dict[str, Any]:
    cameras: dict[int, dict[str, dict[int, list[int]]]] = {}
    for key in sorted(views, key=_sort_key):
        cam, view = split_view_key(key)
        cameras.setdefault(cam, {"views": {}})["views"][view] = list(views[key].ltrb)
    return {"cameras": cameras}


def dumps_views(views: Mapping[str, Box], *, fmt: str = "yaml") -> str:
    """The views in the nested documented shape, as ``"yaml"`` or ``"json"`` text."""
    data = _nested(views)
    if fmt == "json":
        # JSON keys are strings (load_views accepts digit strings as ids); one box per line.
        text = json.dumps(data, indent=2)
        return _ONE_LINE_LIST.sub(_join_list, text) + "\n"
    if fmt != "yaml":
        raise ValueError(f"unknown views format {fmt!r} (yaml or json)")
    return str(yaml.safe_dump(data, default_flow_style=None, sort_keys=False))


def dump_views(views: Mapping[str, Box], path: str | os.PathLike[str]) -> None:
    """Write a views file atomically; ``.json`` gives JSON, anything else YAML."""
    p = Path(path)
    fmt = "json" if p.suffix.lower() == ".json" else "yaml"
    atomic_write_text(p, dumps_views(views, fmt=fmt))


def select_camera(
    views: Mapping[str, Box], camera_id: int | None, *, source: str = "views"
) -> dict[str, Box]:
    """The views of one camera (all when ``camera_id`` is None); none found is an error."""
    if camera_id is None:
        return dict(views)
    chosen = {k: b for k, b in views.items() if split_view_key(k)[0] == camera_id}
    if not chosen:
        cams = sorted({split_view_key(k)[0] for k in views})
        raise ViewsError(f"{source}: no views for camera {camera_id} (cameras: {cams})")
    return chosen
