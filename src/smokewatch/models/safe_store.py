"""Fitted scikit-learn models on disk without pickle: skops files, read against an allowlist.

Model folders are shared (a community passes its trained model to another), and a pickle --
what ``joblib`` writes -- runs whatever code its author put in it the moment it is loaded.
skops stores the same objects as a zip of JSON and arrays and rebuilds only the types it is
told to trust: scikit-learn's and numpy's safe types by default, plus each caller's own list
(its dataclasses, the calibration classes). A file naming any other type is refused before
anything in it is built, so loading a folder from a stranger cannot run their code.

Files written before skops (``svm.joblib``, ``heads.joblib``) are pickles: :func:`load` refuses
them with the way out, and :func:`load_pickle` reads one only when its owner asks for it
(``smokewatch models convert``), trusting it explicitly.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from smokewatch.core.atomic import atomic_path
from smokewatch.errors import SmokewatchError

__all__ = ["checked", "dump", "is_pickle", "load", "load_pickle"]


def dump(payload: Any, path: str | os.PathLike[str]) -> None:
    """Write ``payload`` as a skops file at ``path``, atomically."""
    import skops.io as sio

    with atomic_path(path) as tmp:
        sio.dump(payload, tmp)


#: How joblib's files begin: a pickle (protocol 2+), or one compressed with zlib, gzip, bz2,
#: xz or lz4 (joblib's ``compress=``).
_PICKLE_HEADS = (b"\x80", b"\x78", b"\x1f\x8b", b"BZh", b"\xfd7zXZ", b"\x04\x22\x4d\x18")


def is_pickle(path: Path) -> bool:
    """Whether ``path`` looks like joblib's output (a pickle, maybe compressed) rather than a
    skops zip: those get the way out, other garbage only 'not readable'."""
    try:
        with open(path, "rb") as f:
            head = f.read(6)
    except OSError:
        return False
    return head.startswith(_PICKLE_HEADS) or (path.suffix == ".joblib" and head[:2] != b"PK")


def load(
    path: str | os.PathLike[str],
    trusted: Sequence[str],
    *,
    error: type[SmokewatchError],
    what: str,
    marker: tuple[str, int],
) -> dict[str, Any]:
    """The payload in skops file ``path``, built only if every type in it is skops's default
    trusted set or in ``trusted``; else ``error`` naming the file and the untrusted types.

    Nothing of the file is built before that check, and a file of another format (a pickle,
    garbage, a truncated zip) is one ``error``, never a traceback. ``marker``: the
    ``(format, version)`` the payload must carry (:func:`checked`).
    """
    import skops.io as sio

    p = Path(path)
    if not p.is_file():
        raise error(f"{p}: no such file")
    if is_pickle(p):
        raise error(
            f"{p}: a pickle ({what} files were pickles before smokewatch used skops), which "
            "could run code when loaded, so it is not read; if you made it yourself or trust "
            f"its author, convert its folder once: smokewatch models convert {p.parent}"
        )
    try:
        found = set(sio.get_untrusted_types(file=p))
    except Exception as exc:  # a zip whose schema is not skops's raises almost anything
        raise error(f"{p}: not a readable {what} file ({exc or type(exc).__name__})") from None
    unknown = sorted(found - set(trusted))
    if unknown:
        raise error(f"{p}: holds types a {what} never holds ({', '.join(unknown)}); refused unread")
    try:
        payload = sio.load(p, trusted=sorted(found))
    except Exception as exc:  # a file that passed the check can still be malformed inside
        raise error(f"{p}: not a readable {what} file ({exc or type(exc).__name__})") from None
    return checked(payload, p, error=error, what=what, marker=marker)


def checked(
    payload: Any, p: Path, *, error: type[SmokewatchError], what: str, marker: tuple[str, int]
) -> dict[str, Any]:
    """``payload`` if it is a dict carrying ``marker``'s format and version, else ``error``."""
    form, version = marker
    if not isinstance(payload, dict) or payload.get("format") != form:
        raise error(f"{p}: not a smokewatch {what} file")
    if payload.get("version") != version:
        raise error(
            f"{p}: {what} file version {payload.get('version')!r}, "
            f"this smokewatch reads version {version}"
        )
    return payload


def load_pickle(
    path: str | os.PathLike[str],
    *,
    error: type[SmokewatchError],
    what: str,
    marker: tuple[str, int],
) -> dict[str, Any]:
    """Unpickle a ``.joblib`` file its owner trusts (``smokewatch models convert``): this runs
    any code the file holds, so it is never called on a folder's load."""
    import joblib

    p = Path(path)
    if not p.is_file():
        raise error(f"{p}: no such file")
    try:
        payload = joblib.load(p)
    except Exception as exc:  # unpickling garbage raises almost anything
        raise error(f"{p}: not a readable {what} pickle ({exc or type(exc).__name__})") from None
    return checked(payload, p, error=error, what=what, marker=marker)
