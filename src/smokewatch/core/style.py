"""The house style both HTML surfaces share: ``static/css/base.css`` beside this module.

The detection report must be one self-contained file, so it inlines the CSS; the labeling site
serves it (before its own ``site.css``) from this package's ``static`` folder. Neither may
import the other, so the shared rules (colours, type, the reset) live here, once.
"""

from __future__ import annotations

from importlib import resources

__all__ = ["BASE_CSS", "STATIC", "base_css"]

#: The package and its folder of web assets, as ``StaticFiles(packages=[STATIC])`` takes them;
#: the site serves the folder under ``/static``.
STATIC = ("smokewatch.core", "static")
#: The shared stylesheet, relative to that folder (so also its URL path under ``/static``).
BASE_CSS = "css/base.css"


def base_css() -> str:
    """The text of the shared stylesheet."""
    package, folder = STATIC
    return resources.files(package).joinpath(folder, BASE_CSS).read_text(encoding="utf-8")
