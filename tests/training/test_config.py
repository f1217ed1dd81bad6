"""Presets load and validate; overrides and bad files give clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from smokewatch.training.config import (
    ConfigError,
    apply_overrides,
    list_presets,
    load_config,
)

TABLE_10 = {
    "rgb-i3d",
    "rgb-i3d-nd",
    "rgb-i3d-fp",
    "flow-i3d",
    "rgb-i3d-tsm",
    "rgb-i3d-lstm",
    "rgb-i3d-nl",
    "rgb-i3d-tc",
    "rgb-svm",
    "flow-svm",
    "cpu-small",
}


def test_every_preset_of_the_paper_loads() -> None:
    assert TABLE_10 <= set(list_presets())
    for name in list_presets():
        config = load_config(name)
        assert config.name == name
        if config.kind == "torch":
            assert config.per_device_batch(1) * config.accumulate == config.batch_size


def test_table_10_values() -> None:
    i3d = load_config("rgb-i3d")
    assert (i3d.lr, i3d.weight_decay, i3d.accumulate, i3d.batch_size) == (0.1, 1e-6, 2, 40)
    assert (i3d.milestones, i3d.steps, i3d.select_after) == ([500, 1500], 2000, 500)
    tsm = load_config("rgb-i3d-tsm")
    assert (tsm.weight_decay, tsm.accumulate, tsm.milestones) == (1e-10, 1, [1000, 2000])
    lstm = load_config("rgb-i3d-lstm")
    assert (lstm.weight_decay, lstm.batch_size, lstm.init_from) == (1e-4, 32, "rgb-i3d")
    tc = load_config("rgb-i3d-tc")
    assert (tc.batch_size, tc.milestones, tc.init_from) == (32, [1000, 2000], "rgb-i3d")
    assert load_config("rgb-i3d-nd").augment is False
    assert load_config("rgb-i3d-fp").perturb_frames is True
    assert load_config("flow-i3d").modality == "flow"
    assert load_config("rgb-svm").kind == "svm"


def test_paper_presets_follow_rises_train_py() -> None:
    """RISE's loss wherever the model has per-time-step logits for it; RISE's schedule."""
    from smokewatch.models import get_model
    from smokewatch.models.i3d import I3D

    for name in ("rgb-i3d", "rgb-i3d-nd", "rgb-i3d-fp", "rgb-i3d-nl", "rgb-i3d-tsm", "flow-i3d"):
        config = load_config(name)
        assert config.loss == "rise", name
        model = get_model(config.model, weights=None, num_classes=1, **config.model_kwargs)
        assert isinstance(model, I3D), name  # build.frame_logits serves the I3D family
    for name in ("rgb-i3d-tc", "rgb-i3d-lstm"):  # one clip logit: the YAML says why bce
        assert load_config(name).loss == "bce"
    lstm = load_config("rgb-i3d-lstm")
    assert (lstm.milestones, lstm.steps) == ([1000, 2000], 2000)


def test_overrides_parse_yaml_values() -> None:
    config = apply_overrides(
        load_config("rgb-i3d"), ["steps=50", "milestones=[10, 20]", "weights=null", "augment=false"]
    )
    assert (config.steps, config.milestones, config.weights, config.augment) == (
        50,
        [10, 20],
        None,
        False,
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["stepz=5"], "unknown setting 'stepz'"),
        (["steps"], "not key=value"),
        (["steps=-1"], "steps"),
        (["batch_size=41"], "not divisible by accumulate"),
        (["milestones=[20, 10]"], "increasing"),
        (["loss=focal"], "loss"),
        (["lr=inf"], "lr: Input should be a finite number"),
        (["lr=.nan"], "lr: Input should be a finite number"),
        (["momentum=.inf"], "momentum: Input should be a finite number"),
        (["weight_decay=.inf"], "weight_decay: Input should be a finite number"),
        (["val_fraction=.nan"], "val_fraction: Input should be a finite number"),
        (["size=99999"], "size: Input should be less than or equal to 1024"),
    ],
)
def test_bad_overrides(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        apply_overrides(load_config("rgb-i3d"), overrides)


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown preset 'nope'"):
        load_config("nope")
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    typo = tmp_path / "typo.yaml"
    typo.write_text("lr: 0.1\nlearning_rate: 0.2\n")
    with pytest.raises(ConfigError, match="learning_rate"):
        load_config(typo)
    assert load_config(_ok(tmp_path)).name == "ok"


def test_a_preset_file_that_is_not_utf8_is_a_clear_error(tmp_path: Path) -> None:
    binary = tmp_path / "f.yaml"
    binary.write_bytes(b"\xff\xfesteps: 3\n")
    with pytest.raises(ConfigError, match=r"f\.yaml: not UTF-8 text"):
        load_config(binary)
    folder = tmp_path / "dir.yaml"
    folder.mkdir()
    with pytest.raises(ConfigError, match="is a folder"):
        load_config(folder)


def test_heads_and_feature_sizes_are_finite_and_bounded() -> None:
    from pydantic import ValidationError

    from smokewatch.training.config import FeatureSpec, HeadsConfig

    with pytest.raises(ValidationError, match="less than or equal to 1024"):
        FeatureSpec(size=4096)
    with pytest.raises(ValidationError, match="finite number"):
        HeadsConfig(candidates={"a": FeatureSpec()}, c_grid=(1.0, float("inf")))


def _ok(tmp_path: Path) -> Path:
    p = tmp_path / "ok.yaml"
    p.write_text("model: tiny3d\nweights: null\n")
    return p


def test_global_batch_must_divide_over_processes() -> None:
    config = apply_overrides(load_config("rgb-i3d"), ["batch_size=6", "accumulate=2"])
    assert config.per_device_batch(3) == 1
    with pytest.raises(ConfigError, match="does not divide over 2 processes"):
        config.per_device_batch(2)


def test_split_names_accept_lists_and_ranges() -> None:
    from smokewatch.cli.training import _split_names
    from smokewatch.errors import SmokewatchError

    assert _split_names("S0..S5") == ["S0", "S1", "S2", "S3", "S4", "S5"]
    assert _split_names("s0, S3") == ["S0", "S3"]
    assert _split_names("S0..S1,S5") == ["S0", "S1", "S5"]
    with pytest.raises(SmokewatchError, match="not a range"):
        _split_names("S0..Sx")
    with pytest.raises(SmokewatchError, match="backwards"):  # was an empty table, exit 0
        _split_names("S3..S1")


def test_presets_lists_every_name_whole_on_a_narrow_terminal() -> None:
    """The names are what ``--preset`` takes: never cut to 'rgb-i3d…' at 60 columns."""
    from typer.testing import CliRunner

    from smokewatch.cli import app

    result = CliRunner().invoke(app, ["experiments", "presets"], env={"COLUMNS": "60"})
    assert result.exit_code == 0, result.output
    named = {line.split()[0] for line in result.output.splitlines() if not line.startswith(" ")}
    assert named == set(list_presets())
    assert "…" not in result.output
    svm = next(line for line in result.output.splitlines() if line.startswith("rgb-svm "))
    assert "no fine-tuning" in svm and "steps" not in svm
    assert all(len(line) <= 60 for line in result.output.splitlines() if line.startswith("    "))
