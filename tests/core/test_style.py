"""core.style: the house style the detection report inlines and the labeling site serves.

The shared rules live in ``core/static/css/base.css`` only; these tests keep the two
surfaces' own stylesheets from growing their own copies again.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from smokewatch.core.style import BASE_CSS, STATIC, base_css

SRC = Path(__file__).resolve().parents[2] / "src" / "smokewatch"
OWN = {
    "report": SRC / "detect" / "report.css",
    "site": SRC / "labeling" / "web" / "static" / "css" / "site.css",
}


def _tokens(css: str) -> set[str]:
    """The custom properties a stylesheet declares (``--name:``)."""
    return set(re.findall(r"(--[\w-]+)\s*:", css))


def test_base_css_is_the_packaged_file() -> None:
    package, folder = STATIC
    path = resources.files(package).joinpath(folder, BASE_CSS)
    assert base_css() == path.read_text(encoding="utf-8")
    assert {"--ink", "--ink-soft", "--accent", "--smoke", "--radius"} <= _tokens(base_css())
    assert "box-sizing: border-box" in base_css()


def test_neither_surface_declares_a_shared_token_again() -> None:
    shared = _tokens(base_css())
    for name, path in OWN.items():
        again = shared & _tokens(path.read_text(encoding="utf-8"))
        assert not again, f"{name}: {sorted(again)} belong in base.css only"


def _rules(css: str) -> set[str]:
    """Each ``selector { declarations }`` of a stylesheet, whitespace normalised."""
    return {" ".join(rule.split()) for rule in re.findall(r"[^{}]+\{[^{}]*\}", css)}


def test_neither_surface_repeats_a_shared_rule() -> None:
    shared = {rule for rule in _rules(base_css()) if not rule.startswith(":root")}
    for name, path in OWN.items():
        again = shared & _rules(path.read_text(encoding="utf-8"))
        assert not again, f"{name} repeats {sorted(again)}"
