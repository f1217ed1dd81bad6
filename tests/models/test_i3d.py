"""I3D: shapes at 224² and 180², TensorFlow "SAME" padding, gradients, parameter count."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from smokewatch.models import I3D, get_model
from smokewatch.models.i3d import ENDPOINTS, InceptionModule, SameMaxPool3d, Unit3D, tf_same_padding

torch.set_num_threads(min(2, torch.get_num_threads()))

#: DeepMind's checkpoint holds 12,689,984 learned numbers; torch's batch norms add a scale (1 in
#: the checkpoint) to each of their 7,280 channels.
KINETICS_PARAMETERS = 12_697_264


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def test_parameter_count_matches_deepmind() -> None:
    assert n_params(I3D(num_classes=400)) == KINETICS_PARAMETERS
    binary = I3D(num_classes=1)
    assert n_params(binary) == KINETICS_PARAMETERS - 400 * 1024 - 400 + 1024 + 1


def test_endpoint_names_as_public_implementations() -> None:
    model = I3D()
    names = [n for n, _ in model.named_children()]
    for endpoint in ENDPOINTS[:-1]:
        assert endpoint in names
    assert names.index("Mixed_3b") < names.index("MaxPool3d_4a_3x3") < names.index("Mixed_4b")
    keys = model.state_dict().keys()
    assert "Conv3d_1a_7x7.conv3d.weight" in keys and "Conv3d_1a_7x7.bn.running_var" in keys
    assert "Mixed_3b.b1b.conv3d.weight" in keys and "logits.conv3d.bias" in keys
    assert model.Conv3d_1a_7x7.bn.eps == pytest.approx(1e-3)


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "expected"),
    [
        (224, 7, 2, (2, 3)),  # TF puts the extra pixel after
        (225, 7, 2, (3, 3)),
        (180, 3, 2, (0, 1)),
        (45, 3, 2, (1, 1)),
        (8, 2, 2, (0, 0)),
        (3, 2, 2, (0, 1)),
        (10, 3, 1, (1, 1)),
        (1, 7, 2, (3, 3)),
    ],
)
def test_tf_same_padding(size: int, kernel: int, stride: int, expected: tuple[int, int]) -> None:
    assert tf_same_padding(size, kernel, stride) == expected
    before, after = expected
    assert (size + before + after - kernel) // stride + 1 == -(-size // stride)


def test_strided_unit_pads_like_tensorflow() -> None:
    unit = Unit3D(2, 3, 7, 2, norm_layer=None, activation=False).eval()
    x = torch.randn(1, 2, 9, 12, 11)
    # T=9 and W=11 are odd: (3, 3); H=12 is even: (2, 3), the extra pixel after
    expected = F.conv3d(F.pad(x, (3, 3, 2, 3, 3, 3)), unit.conv3d.weight, stride=2)
    torch.testing.assert_close(unit(x), expected)
    assert unit(x).shape[2:] == (5, 6, 6)


def test_same_max_pool_never_picks_padding() -> None:
    pool = SameMaxPool3d((1, 3, 3), (1, 2, 2))
    x = -torch.rand(1, 1, 2, 4, 4) - 1  # all negative: a zero pad would win at the border
    out = pool(x)
    assert out.shape == (1, 1, 2, 2, 2)
    assert (out < 0).all()
    assert out[0, 0, 0, 1, 1] == x[0, 0, 0, 2:, 2:].max()  # the last window: pad after only
    stride1 = SameMaxPool3d(3, 1)
    assert stride1(x).shape == x.shape and (stride1(x) < 0).all()


def test_inception_module_channels() -> None:
    block = InceptionModule(8, (2, 3, 4, 1, 2, 3))
    assert block.out_channels == 2 + 4 + 2 + 3
    assert block(torch.randn(1, 8, 3, 5, 5)).shape == (1, 11, 3, 5, 5)


@torch.no_grad()
def test_forward_small_input() -> None:
    model = get_model("i3d", num_classes=1).eval()
    x = torch.rand(1, 3, 8, 64, 64) * 2 - 1
    out = model(x)
    assert out.shape == (1, 1)
    assert torch.isfinite(out).all()
    assert model.features(x).shape == (1, 1024)


@torch.no_grad()
@pytest.mark.parametrize("size", [180, 224])
def test_native_and_imagenet_sizes(size: int) -> None:
    model = I3D(num_classes=2).eval()
    x = torch.zeros(1, 3, 8, size, size)
    maps = model.endpoints(x, ["Conv3d_1a_7x7", "MaxPool3d_3a_3x3", "Mixed_5c", "Logits"])
    side = {180: (90, 23, 6), 224: (112, 28, 7)}[size]
    assert maps["Conv3d_1a_7x7"].shape == (1, 64, 4, side[0], side[0])
    assert maps["MaxPool3d_3a_3x3"].shape == (1, 192, 4, side[1], side[1])
    assert maps["Mixed_5c"].shape == (1, 1024, 1, side[2], side[2])
    assert maps["Logits"].shape == (1, 2)


@torch.no_grad()
def test_odd_frame_counts_and_batches() -> None:
    model = I3D(num_classes=3).eval()
    x = torch.randn(2, 3, 9, 33, 47)
    assert model(x).shape == (2, 3)
    assert model.extract_endpoint(x, "Mixed_4f").shape == (2, 832, 3, 3, 3)
    # eval mode is deterministic and batch-independent
    torch.testing.assert_close(model(x[:1]), model(x)[:1], atol=1e-5, rtol=1e-4)


def test_gradient_flows_to_every_parameter() -> None:
    model = I3D(num_classes=1).train()
    x = torch.rand(2, 3, 8, 64, 64) * 2 - 1
    loss = F.binary_cross_entropy_with_logits(model(x).squeeze(1), torch.tensor([0.0, 1.0]))
    loss.backward()
    without = [n for n, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert without == []


def test_replace_logits_and_bad_input() -> None:
    model = I3D()
    model.replace_logits(1)
    assert model.logits.conv3d.weight.shape == (1, 1024, 1, 1, 1)
    with pytest.raises(ValueError, match="expected input"):
        model(torch.zeros(1, 8, 64, 64))
    with pytest.raises(ValueError, match="unknown endpoint"):
        model.features(torch.zeros(1, 3, 8, 32, 32), endpoint="Mixed_9z")
    with pytest.raises(ValueError, match="num_classes"):
        I3D(num_classes=0)
