"""The analysis report: one self-contained file, every text escaped, and a page that renders in
real Chromium from a file:// URL, fetching nothing."""

from __future__ import annotations

import base64
import hashlib
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from smokewatch.analysis.report import (
    Figure,
    Section,
    build_sections,
    render_report,
    write_report,
)
from smokewatch.analysis.simulate import CrowdSpec, simulate_study, simulate_truth
from smokewatch.analysis.tables import Table
from smokewatch.core.clip import Clip

SCREENSHOTS = Path(__file__).resolve().parents[2] / "out" / "test-artifacts" / "screenshots"
HOSTILE = '<img src=x onerror="alert(1)">&amp;'
FAST = ("majority", "rise", "dawid-skene", "dawid-skene-gold")


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.style = ""
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.style += data


def _parse(text: str) -> _Tags:
    parser = _Tags()
    parser.feed(text)
    parser.close()
    return parser


@pytest.fixture(scope="module")
def sections() -> list[Section]:
    truth = simulate_truth(40, 0.4, np.random.default_rng(0))
    study = simulate_study(
        truth,
        [
            CrowdSpec(workers=4, redundancy=4, sensitivity=(40, 1), specificity=(40, 1),
                      page_size=0, group="researcher"),
            CrowdSpec(workers=8, redundancy=3, page_size=6, gold_per_page=2, group="citizen"),
            CrowdSpec(workers=8, redundancy=3, spammers=0.25, page_size=6, gold_per_page=2,
                      group="crowd"),
        ],
        seed=2,
        gold=0.1,
    )  # fmt: skip
    clips = [Clip(1, 0, 0, 23, -1, 1528712115, "0-0-2018-06-11-6304-964-6807-1467-180-180-3470")]
    return build_sections(
        study.answers, pages=study.pages, metadata=clips, repeats=3, seed=0, methods=FAST
    )


def test_every_analysis_has_its_section(sections: list[Section]) -> None:
    ids = [s.id for s in sections]
    assert ids == ["overview", "contributors", "sources", "quality", "aggregate"]
    quality = sections[3]
    assert [t.title for t in quality.tables] == [
        "Label quality against researchers (paper's Table 6)",
        "Agreement between populations: Cohen's kappa (paper's Table 5)",
    ]
    assert len(quality.figures) == 2
    assert [r[0] for r in sections[4].tables[0].rows] == list(FAST)


def test_one_self_contained_file(sections: list[Section], tmp_path: Path) -> None:
    path = write_report(sections, tmp_path, title="t")
    assert path == tmp_path / "report.html"
    text = path.read_text(encoding="utf-8")
    assert not list(tmp_path.glob(".report.html.*")), "the atomic write left its temporary file"
    assert "http://" not in text and "https://" not in text
    parsed = _parse(text)
    for tag, attrs in parsed.tags:
        for name in ("src", "href"):
            value = attrs.get(name)
            if value is not None:
                assert value.startswith(("data:image/png;base64,", "#")), f"<{tag} {name}>"
    assert not [t for t, _ in parsed.tags if t in ("script", "link", "iframe", "object")]
    images = [a["src"] for t, a in parsed.tags if t == "img"]
    assert len(images) == 4  # contributors, quality, kappa, aggregation; each a PNG
    for src in images:
        assert base64.b64decode(str(src).split(",", 1)[1]).startswith(b"\x89PNG")
    # the policy allows exactly the inline style that is there
    policy = next(a["content"] for t, a in parsed.tags if a.get("http-equiv"))
    digest = base64.b64encode(hashlib.sha256(parsed.style.encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in str(policy) and "default-src 'none'" in str(policy)


def test_text_from_the_data_is_escaped() -> None:
    section = Section(
        id=HOSTILE,
        title=HOSTILE,
        paragraphs=(HOSTILE,),
        tables=(Table(HOSTILE, (HOSTILE, "n"), ((HOSTILE, HOSTILE),), note=HOSTILE),),
        figures=(Figure(b"\x89PNG", HOSTILE, HOSTILE),),
        notes=(HOSTILE,),
    )
    text = render_report([section], title=HOSTILE, subtitle=HOSTILE)
    tags = _parse(text).tags
    assert [a["src"][:15] for t, a in tags if t == "img"] == ["data:image/png;"]  # type: ignore[index]
    assert not [a for _, a in tags if "onerror" in a]
    assert "<img src=x" not in text
    assert text.count("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;amp;") >= 9


def test_a_study_without_researchers_says_why_its_sections_are_empty() -> None:
    truth = simulate_truth(12, 0.5, np.random.default_rng(0))
    study = simulate_study(truth, [CrowdSpec(workers=4, redundancy=2, page_size=0)], seed=0)
    sections = build_sections(study.answers, repeats=2, methods=["majority"])
    quality, aggregate = sections[-2], sections[-1]
    assert quality.notes == ("no researcher answers: researchers' labels are the truth here",)
    assert aggregate.notes and not aggregate.tables


# --------------------------------------------------------------------------------------------
# In Chromium


@pytest.mark.parametrize(
    ("name", "viewport"),
    [("desktop", {"width": 1280, "height": 900}), ("phone", {"width": 390, "height": 844})],
)
def test_in_chromium_it_renders_and_fetches_nothing(
    browser: Any, sections: list[Section], tmp_path: Path, name: str, viewport: dict[str, int]
) -> None:
    url = write_report(sections, tmp_path, title="Who labels").as_uri()
    ctx = browser.new_context(viewport=viewport, device_scale_factor=1)
    ctx.set_default_timeout(15_000)
    page = ctx.new_page()
    errors: list[str] = []
    requests: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type in ("error", "warning") else None)
    page.on("request", lambda r: requests.append(r.url))
    try:
        page.goto(url)
        page.wait_for_function("[...document.images].every(i => i.complete)")
        widths = page.evaluate("[...document.images].map(i => i.naturalWidth)")
        assert len(widths) == 4 and all(w > 100 for w in widths)
        # nothing wider than the screen but the tables, which scroll in their own box
        overflow = page.evaluate("document.documentElement.scrollWidth - innerWidth")
        assert overflow <= 0
        rows = page.locator("#aggregate tbody tr").all_inner_texts()
        assert [re.split(r"\s", r)[0] for r in rows] == list(FAST)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / f"analysis-report-{name}.png", full_page=True)
    finally:
        ctx.close()
    assert errors == []
    assert [u for u in requests if not u.startswith(("data:", "file:"))] == []
