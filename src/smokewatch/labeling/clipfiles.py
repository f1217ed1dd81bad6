"""The local clip store under ``/videos/``: regular files inside the folder, and nothing else.

RISE's front end always asks for the 320-pixel rendition of a clip: it rewrites ``/180/`` to
``/320/`` and the first ``-180-180-`` to ``-320-320-`` in every clip address (sharper on some
phones). A project usually has only the 180-pixel files, so a 320 address that names no file
is answered from its 180 file; a real 320 rendition, when the project has one, wins. The
lookup is Starlette's: the real path must stay inside the folder (a link pointing outside is
refused) and be a regular file.
"""

from __future__ import annotations

import os
import re
import stat

from starlette.staticfiles import StaticFiles

__all__ = ["ClipFiles", "EvidenceFiles", "rendition_fallback"]


def rendition_fallback(path: str) -> str | None:
    """The 180-pixel address the original front end rewrote to ``path``; None when it did not.

    Undoes exactly its two rewrites (the first ``/320/`` and the first ``-320-320-``).
    """
    if path.startswith("320/"):
        fallback = "180/" + path[4:]
    else:
        fallback = path.replace("/320/", "/180/", 1)
    fallback = fallback.replace("-320-320-", "-180-180-", 1)
    return None if fallback == path else fallback


class ClipFiles(StaticFiles):
    """Static clip files, with the 320-to-180 fallback of :func:`rendition_fallback`."""

    def lookup_path(self, path: str) -> tuple[str, os.stat_result | None]:
        full_path, stat = super().lookup_path(path)
        if stat is None:
            fallback = rendition_fallback(path)
            if fallback is not None:
                return super().lookup_path(fallback)
        return full_path, stat


#: The evidence store's names: a SHA-256 and the kind's extension (``detection_import``).
_EVIDENCE_NAME = re.compile(r"[0-9a-f]{64}\.(?:mp4|gif)", re.ASCII)


class EvidenceFiles(StaticFiles):
    """The evidence store under ``/evidence/``: only names the store gives its files, and
    only regular files (a link, even one pointing inside the folder, is not served)."""

    def lookup_path(self, path: str) -> tuple[str, os.stat_result | None]:
        if not _EVIDENCE_NAME.fullmatch(path):
            return "", None
        full_path, found = super().lookup_path(path)
        if found is None:
            return "", None
        try:
            own = os.lstat(os.path.join(str(self.directory), path))
        except OSError:
            return "", None
        if not stat.S_ISREG(own.st_mode):
            return "", None
        return full_path, found
