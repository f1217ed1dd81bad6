"""The layering of docs/architecture.md holds: import-linter's contracts in pyproject.toml.

Each contract is its own test, so a failure names the rule that broke; the report lists the
offending imports. A broken contract is fixed in the code, never by an ignore in the contract.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SRC = REPO / "src" / "smokewatch"
CONFIG = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]
CONTRACTS = CONFIG["importlinter"]["contracts"]


@pytest.mark.parametrize("contract", [c["id"] for c in CONTRACTS])
def test_contract_is_kept(contract: str) -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    # This checkout's sources, whatever else the environment has installed.
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC.parent), os.environ.get("PYTHONPATH", "")]),
    }
    out = subprocess.run(
        [str(lint_imports), "--no-cache", "--no-logo", "--contract", contract],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_wing_has_a_layer() -> None:
    # A new wing (detect/, analysis/ ...) must take its place in the layers, not slip past them.
    layers = next(c for c in CONTRACTS if c["type"] == "layers")["layers"]
    placed = {name.strip() for layer in layers for name in layer.split("|")}
    wings = {
        f"smokewatch.{p.stem}"
        for p in SRC.iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file()
    }
    assert wings - placed == set()
