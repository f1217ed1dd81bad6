"""training.progress: the plain-line progress a log file gets."""

from __future__ import annotations

import pytest

from smokewatch.training.progress import Progress


def test_titles_are_text_not_markup(capsys: pytest.CaptureFixture[str]) -> None:
    # A run folder may be named anything; rich would read "[/]" as a closing tag and raise.
    with Progress(True, 1, "evaluate runs/[/]") as bar:
        bar.update(1, "[bold]ok")
    assert "evaluate runs/[/]: 1/1 [bold]ok" in capsys.readouterr().err
