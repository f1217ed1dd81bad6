"""Read and write RISE metadata: the JSON list of clip records (and the same as CSV).

Two record layouts exist in RISE's releases and both round-trip byte for byte:

* the dataset file (``metadata_02242020.json``): ``camera_id, view_id, id, label_state,
  label_state_admin, start_time, url_root, url_part, file_name``;
* the split files (``metadata_train_split_0_by_camera.json`` ...): ``camera_id, file_name, id,
  label_state, label_state_admin, start_time, view_id, label, weight`` (no URLs).

Validation is strict and its errors name the record index and the field, because a metadata
file is hand-edited more often than one would hope: every number must fit the 32-bit integers
RISE's database keeps (ids from 0), and ``file_name`` must be a RISE clip name exactly.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from smokewatch.core.atomic import atomic_write_text
from smokewatch.core.clip import (
    MAX_INT,
    Clip,
    ClipName,
    url_problem,
)
from smokewatch.core.files import read_user_json, read_user_text
from smokewatch.core.labels import ADMIN_STATES, CITIZEN_STATES, is_valid_state
from smokewatch.errors import ClipNameError, MetadataError

__all__ = [
    "METADATA_FIELDS",
    "SPLIT_FIELDS",
    "clip_from_record",
    "clip_to_record",
    "load_records",
    "read_metadata",
    "write_metadata",
    "dumps_json",
    "dumps_csv",
]

#: Field order of RISE's dataset metadata file.
METADATA_FIELDS: tuple[str, ...] = (
    "camera_id",
    "view_id",
    "id",
    "label_state",
    "label_state_admin",
    "start_time",
    "url_root",
    "url_part",
    "file_name",
)

#: Field order of RISE's published split files.
SPLIT_FIELDS: tuple[str, ...] = (
    "camera_id",
    "file_name",
    "id",
    "label_state",
    "label_state_admin",
    "start_time",
    "view_id",
    "label",
    "weight",
)

_REQUIRED = (
    "camera_id",
    "view_id",
    "id",
    "label_state",
    "label_state_admin",
    "start_time",
    "file_name",
)
_INT_FIELDS = ("camera_id", "view_id", "id", "label_state", "label_state_admin", "start_time")
_KNOWN = frozenset(METADATA_FIELDS) | frozenset(SPLIT_FIELDS)
_WHAT = "metadata file"


def _fail(index: int, field: str | None, message: str, source: str) -> MetadataError:
    where = f"record {index}" + (f", field '{field}'" if field else "")
    prefix = f"{source}: " if source else ""
    return MetadataError(f"{prefix}{where}: {message}")


#: An integer as a CSV cell may hold it: ASCII digits only (``str.isdigit`` also takes ``²``
#: and full-width digits, which ``int`` then refuses or reads as another number).
_INTEGER_TEXT = re.compile(r"-?[0-9]+", re.ASCII)


def _as_int(value: Any, *, from_text: bool) -> int:
    if isinstance(value, bool):
        raise TypeError
    if isinstance(value, int):
        return value
    if from_text and isinstance(value, str) and _INTEGER_TEXT.fullmatch(value.strip()):
        return int(value)
    raise TypeError


def clip_from_record(
    record: Mapping[str, Any], index: int = 0, *, source: str = "", from_text: bool = False
) -> Clip:
    """Validate one metadata record and build its :class:`Clip`.

    ``from_text`` accepts numbers written as strings (CSV cells); JSON must use real numbers.
    """
    if not isinstance(record, Mapping):
        raise _fail(index, None, f"expected an object, got {type(record).__name__}", source)
    for key in _REQUIRED:
        if key not in record or record[key] is None or record[key] == "":
            raise _fail(index, key, "missing", source)
    values: dict[str, Any] = {}
    for key in _INT_FIELDS:
        try:
            values[key] = _as_int(record[key], from_text=from_text)
        except TypeError:
            raise _fail(index, key, f"expected an integer, got {record[key]!r}", source) from None
    for key, value in values.items():
        low = 0 if key == "id" else -MAX_INT - 1
        if not low <= value <= MAX_INT:
            raise _fail(index, key, f"{value} is outside {low}..{MAX_INT}", source)
    for key, allowed in (("label_state", CITIZEN_STATES), ("label_state_admin", ADMIN_STATES)):
        if not is_valid_state(values[key]):
            raise _fail(index, key, f"{values[key]} is not a RISE label state", source)
        if values[key] not in allowed:
            whose = "citizens'" if key == "label_state" else "researchers'"
            states = ", ".join(map(str, sorted(allowed)))
            raise _fail(
                index,
                key,
                f"{values[key]} is not a state of the {whose} column (one of {states})",
                source,
            )
    file_name = record["file_name"]
    if not isinstance(file_name, str):
        raise _fail(index, "file_name", f"expected a string, got {file_name!r}", source)
    try:
        name = ClipName.from_file_name(file_name)
    except ClipNameError as exc:
        raise _fail(index, "file_name", str(exc), source) from None
    if (name.camera_id, name.view_id) != (values["camera_id"], values["view_id"]):
        raise _fail(
            index,
            "file_name",
            f"names view {name.view} but the record says {values['camera_id']}-{values['view_id']}",
            source,
        )
    clip = Clip(file_name=file_name, **values)
    for key in ("url_root", "url_part"):
        value = record.get(key)
        if value in (None, ""):
            setattr(clip, key, None)
        elif not isinstance(value, str):
            raise _fail(index, key, f"expected a string, got {value!r}", source)
        elif (problem := url_problem(key, value)) is not None:
            raise _fail(index, key, f"{problem}, got {value[:80]!r}", source)
        else:
            setattr(clip, key, value)
    if record.get("label") not in (None, ""):
        try:
            label = _as_int(record["label"], from_text=from_text)
        except TypeError:
            raise _fail(
                index, "label", f"expected 0 or 1, got {record['label']!r}", source
            ) from None
        if label not in (0, 1):
            raise _fail(index, "label", f"expected 0 or 1, got {label!r}", source)
        clip.label = label
    if record.get("weight") not in (None, ""):
        raw = record["weight"]
        try:
            if isinstance(raw, bool):
                raise ValueError
            weight = float(raw) if (from_text or isinstance(raw, int | float)) else float("nan")
        except ValueError:
            weight = float("nan")
        if not 0.0 <= weight <= 1.0:
            raise _fail(index, "weight", f"expected a number in [0, 1], got {raw!r}", source)
        clip.weight = weight
    clip._name = name
    return clip


def _json_number(value: float) -> int | float:
    """RISE writes whole weights as ints (``1``, not ``1.0``): keep the bytes identical."""
    return int(value) if float(value).is_integer() else value


def clip_to_record(clip: Clip, fields: Sequence[str] = METADATA_FIELDS) -> dict[str, Any]:
    """The clip as a metadata record with exactly ``fields``, in that order."""
    record: dict[str, Any] = {}
    for key in fields:
        if key not in _KNOWN:
            raise ValueError(f"unknown metadata field {key!r}")
        # a record read without them (split files have none) gets RISE's derived ones
        if key == "url_root":
            value: Any = clip.address[0]
        elif key == "url_part":
            value = clip.address[1]
        else:
            value = getattr(clip, key)
        if key == "weight" and value is not None:
            value = _json_number(value)
        record[key] = value
    return record


def load_records(data: Any, *, source: str = "") -> list[Clip]:
    """Validate parsed JSON (a list of records) into clips; ids must be unique."""
    if not isinstance(data, list):
        prefix = f"{source}: " if source else ""
        raise MetadataError(
            f"{prefix}expected a JSON list of clip records, got {type(data).__name__}"
        )
    clips = [clip_from_record(r, i, source=source) for i, r in enumerate(data)]
    _check_unique(clips, source)
    return clips


def _check_unique(clips: Sequence[Clip], source: str) -> None:
    seen: dict[int, int] = {}
    for i, clip in enumerate(clips):
        if clip.id in seen:
            raise _fail(i, "id", f"duplicate id {clip.id} (also record {seen[clip.id]})", source)
        seen[clip.id] = i


def read_metadata(path: str | os.PathLike[str]) -> list[Clip]:
    """Read a RISE metadata file (``.json``, or ``.csv`` with a header row) into clips."""
    p = Path(path)
    if p.suffix.lower() == ".csv":
        text = read_user_text(p, what=_WHAT, error=MetadataError, encoding="utf-8-sig")
        return _loads_csv(text, source=str(p))
    return load_records(read_user_json(p, what=_WHAT, error=MetadataError), source=str(p))


def _loads_csv(text: str, *, source: str) -> list[Clip]:
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise MetadataError(f"{source}: empty CSV, expected a header row")
    missing = [f for f in _REQUIRED if f not in reader.fieldnames]
    if missing:
        raise MetadataError(f"{source}: CSV header lacks {', '.join(missing)}")
    clips = [
        clip_from_record(row, i, source=source, from_text=True) for i, row in enumerate(reader)
    ]
    _check_unique(clips, source)
    return clips


def dumps_json(clips: Iterable[Clip], fields: Sequence[str] = METADATA_FIELDS) -> str:
    """RISE's JSON layout: one line, ``json.dumps`` default separators, no trailing newline."""
    return json.dumps([clip_to_record(c, fields) for c in clips])


def dumps_csv(clips: Iterable[Clip], fields: Sequence[str] = METADATA_FIELDS) -> str:
    """The same records as CSV with a header row (empty cells for missing values)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(fields), lineterminator="\n")
    writer.writeheader()
    for clip in clips:
        writer.writerow({k: _cell(v) for k, v in clip_to_record(clip, fields).items()})
    return out.getvalue()


def _cell(value: Any) -> Any:
    """A CSV cell; text a spreadsheet would run as a formula is quoted with ``'``. Addresses
    read here never start so (:func:`url_problem`); a database filled before that check may
    still hold one."""
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def write_metadata(
    clips: Iterable[Clip],
    path: str | os.PathLike[str],
    fields: Sequence[str] = METADATA_FIELDS,
) -> None:
    """Write clips atomically as JSON or CSV (chosen by the file's extension)."""
    p = Path(path)
    text = dumps_csv(clips, fields) if p.suffix.lower() == ".csv" else dumps_json(clips, fields)
    atomic_write_text(p, text)
