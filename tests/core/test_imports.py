"""core/ is the spine: importing it must not pull in torch, web frameworks, databases or PyAV."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "fastapi", "sqlalchemy", "av", "cv2", "kornia", "sklearn", "starlette", "httpx")


def test_core_imports_nothing_heavy() -> None:
    code = (
        "import sys\n"
        "import smokewatch.core.labels, smokewatch.core.clip\n"
        "import smokewatch.core.metadata, smokewatch.core.atomic\n"
        "import smokewatch.dataset.splits, smokewatch.dataset.stats\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_cli_help_imports_nothing_heavy() -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from smokewatch.cli import app\n"
        "r = CliRunner().invoke(app, ['--help'])\n"
        "assert r.exit_code == 0, r.output\n"
        "heavy = ('torch', 'fastapi', 'sqlalchemy', 'cv2', 'kornia', 'sklearn')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
