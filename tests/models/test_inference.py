"""Inference preparation keeps the outputs: folded batch norm, channels-last, I3D's fast units."""

from __future__ import annotations

import itertools

import pytest
import torch

from smokewatch.models import get_model
from smokewatch.models.i3d import SameMaxPool3d, Unit3D
from smokewatch.models.inference import (
    FastInception,
    FastMaxPool3d,
    FastUnit3D,
    _pool_args,
    bf16_supported,
    conv_backend,
    fold_batch_norm,
    fuse_i3d_units,
    prepare_for_inference,
)

torch.set_num_threads(1)

TOL = {"atol": 1e-4, "rtol": 1e-4}


def _randomize_batch_norm(model: torch.nn.Module) -> torch.nn.Module:
    """Non-trivial statistics, so folding has something to do."""
    for m in model.modules():
        if isinstance(m, (torch.nn.BatchNorm3d, torch.nn.BatchNorm2d)):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return model.eval()


def _model(name: str = "i3d", **kw: object) -> torch.nn.Module:
    torch.manual_seed(0)
    return _randomize_batch_norm(get_model(name, num_classes=3, **kw))


def test_folding_keeps_outputs_and_removes_every_batch_norm() -> None:
    model = _model()
    x = torch.rand(1, 3, 8, 64, 64) * 2 - 1
    with torch.inference_mode():
        before = model.features(x)
    expected = sum(1 for m in model.modules() if isinstance(m, torch.nn.BatchNorm3d))
    assert fold_batch_norm(model) == expected == 57  # every Unit3D but the logits
    assert not any(isinstance(m, torch.nn.BatchNorm3d) for m in model.modules())
    with torch.inference_mode():
        after = model.features(x)
    assert torch.allclose(before, after, **TOL)
    assert before.abs().mean() > 1e-3  # a real comparison, not of zeros


def test_folding_a_frame_model_keeps_its_features() -> None:
    """EfficientNet-Lite0's conv + batch norm pairs fold too (the fast model's backbone)."""
    model = _model("efficientnet-lite0-tsm", num_segments=4, shift_fraction=0.0)
    x = torch.rand(2, 3, 4, 64, 64) * 2 - 1
    with torch.inference_mode():
        before = model.features(x)
    expected = sum(1 for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert expected > 40 and fold_batch_norm(model) == expected
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    with torch.inference_mode():
        after = model.features(x)
    assert torch.allclose(before, after, **TOL)
    assert before.abs().mean() > 1e-3


@pytest.mark.parametrize(
    ("fuse", "merge"),
    [(False, False), (True, False), (True, True)],
    ids=["unfused", "fused", "merged"],
)
def test_prepared_model_matches_eager(fuse: bool, merge: bool) -> None:
    model = _model()
    x = torch.rand(2, 3, 8, 64, 64) * 2 - 1
    with torch.inference_mode():
        expected = model(x)
        expected_map = model.extract_endpoint(x, "Mixed_5c")
    infer = prepare_for_inference(model, fuse=fuse, merge_branches=merge, bf16=False)
    got = infer(x)
    assert torch.allclose(got, expected, **TOL)
    with torch.inference_mode():  # the whole Mixed_5c map, not only the pooled logits
        got_map = model.extract_endpoint(x.contiguous(memory_format=torch.channels_last_3d))
    assert torch.allclose(got_map, expected_map, **TOL)
    assert expected_map.abs().mean() > 1e-3
    fast = [m for m in model.modules() if isinstance(m, FastUnit3D | FastInception)]
    assert bool(fast) == fuse
    if fuse:  # every unit replaced: none of the training-time modules is left
        assert not any(isinstance(m, Unit3D | SameMaxPool3d) for m in model.modules())
        assert sum(isinstance(m, FastInception) for m in model.modules()) == 9


def test_prepared_model_at_rise_size_odd_frames() -> None:
    """180^2 and an odd frame count exercise the asymmetric ("SAME") pools and the stem pad."""
    model = _model()
    x = torch.rand(1, 3, 11, 90, 90) * 2 - 1
    with torch.inference_mode():
        expected = model.extract_endpoint(x)
    prepare_for_inference(model)
    with torch.inference_mode():
        got = model.extract_endpoint(x.contiguous(memory_format=torch.channels_last_3d))
    assert got.shape == expected.shape
    assert torch.allclose(got, expected, **TOL)


@pytest.mark.parametrize("backend", ["fused", "mkldnn", "native"])
def test_every_convolution_backend_matches(backend: str) -> None:
    if backend != "native" and conv_backend() == "native":
        pytest.skip("this torch build has no oneDNN convolution")
    if backend == "fused" and conv_backend() != "fused":
        pytest.skip("this torch build has no fused oneDNN convolution")
    model = _model()
    x = torch.rand(1, 3, 8, 64, 64) * 2 - 1
    with torch.inference_mode():
        expected = model.extract_endpoint(x)
    fold_batch_norm(model)
    assert fuse_i3d_units(model, backend=backend) > 0
    with torch.inference_mode():
        got = model.extract_endpoint(x)
    assert torch.allclose(got, expected, **TOL)


def test_conv_backend_is_known() -> None:
    assert conv_backend() in {"fused", "mkldnn", "native"}


def test_merged_units_equal_the_concatenated_branches() -> None:
    torch.manual_seed(1)
    units = [Unit3D(16, c, 1, norm_layer=None, bias=True).eval() for c in (8, 5, 3)]
    x = torch.randn(2, 16, 4, 6, 6)
    merged = FastUnit3D.from_units(units, conv_backend())
    with torch.inference_mode():
        expected = torch.cat([u(x) for u in units], dim=1)
        assert torch.allclose(merged(x), expected, **TOL)
    with pytest.raises(ValueError, match="fold batch norm"):
        FastUnit3D.from_units([Unit3D(16, 4, 1)], conv_backend())
    with pytest.raises(ValueError, match="same shape"):
        mixed = [Unit3D(16, 4, 1, norm_layer=None), Unit3D(16, 4, 3, norm_layer=None)]
        FastUnit3D.from_units(mixed, conv_backend())


@pytest.mark.parametrize(
    ("kernel", "stride"),
    [((1, 3, 3), (1, 2, 2)), ((3, 3, 3), (2, 2, 2)), ((2, 2, 2), (2, 2, 2)), ((3, 3, 3), (1, 1, 1)),
     ((4, 4, 4), (1, 1, 1)), ((5, 3, 3), (3, 2, 1))],
)  # fmt: skip
def test_fast_pool_equals_same_pool_on_every_size(
    kernel: tuple[int, ...], stride: tuple[int, ...]
) -> None:
    same, fast = SameMaxPool3d(kernel, stride), FastMaxPool3d(kernel, stride)  # type: ignore[arg-type]
    for t, h, w in itertools.product((4, 5), (6, 7, 9), (8, 11)):
        x = torch.randn(1, 2, t, h, w)  # negative values too: padding must never win
        assert torch.equal(fast(x), same(x)), (kernel, stride, (t, h, w))


def test_pool_arguments_fall_back_where_pytorch_has_no_equivalent() -> None:
    assert _pool_args((8, 8, 8), (3, 3, 3), (2, 2, 2)) == ([0, 0, 0], True)  # SAME pads (0, 1)
    assert _pool_args((9, 9, 9), (3, 3, 3), (2, 2, 2)) == ([1, 1, 1], False)  # SAME pads (1, 1)
    assert _pool_args((8, 8, 8), (4, 4, 4), (1, 1, 1)) is None  # pads (1, 2): no such window


def test_bf16_prepared_model_runs_close() -> None:
    if not bf16_supported():
        pytest.skip("no native bf16 on this CPU")
    model = _model()
    x = torch.rand(1, 3, 8, 64, 64) * 2 - 1
    with torch.inference_mode():
        expected = model(x)
    got = prepare_for_inference(model, bf16=True)(x)
    assert got.dtype == torch.float32 and got.shape == expected.shape
    assert (got - expected).abs().max() < 0.1 * expected.abs().max() + 0.1  # bf16: ~3 digits


@pytest.mark.parametrize("name", ["i3d-tsm", "i3d-nl", "i3d-flow"])
def test_prepared_i3d_variants_match_eager(name: str) -> None:
    model = _model(name)
    channels = 2 if name == "i3d-flow" else 3
    x = torch.rand(1, channels, 8, 64, 64) * 2 - 1
    with torch.inference_mode():
        expected = model(x)
    got = prepare_for_inference(model)(x)
    assert any(isinstance(m, FastInception) for m in model.modules())
    assert torch.allclose(got, expected, **TOL)


def test_folding_refuses_training_mode() -> None:
    with pytest.raises(ValueError, match="eval mode"):
        fold_batch_norm(get_model("i3d", num_classes=1).train())


def test_prepared_2d_frame_model_matches_eager() -> None:
    torch.manual_seed(0)
    model = get_model("efficientnet-lite0-tsm").eval()
    x = torch.rand(1, 3, 8, 64, 64) * 2 - 1
    with torch.inference_mode():
        expected = model(x)
    infer = prepare_for_inference(model)
    assert torch.allclose(infer(x), expected, **TOL)
