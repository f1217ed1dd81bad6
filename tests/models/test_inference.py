"""Inference preparation keeps the outputs: folded batch norm and channels-last."""

from __future__ import annotations

import pytest
import torch

from smokewatch.models import get_model
from smokewatch.models.inference import fold_batch_norm, prepare_for_inference

torch.set_num_threads(1)


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    model = get_model("i3d", num_classes=3)
    for m in model.modules():  # non-trivial statistics, so folding has something to do
        if isinstance(m, torch.nn.BatchNorm3d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return model.eval()


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
    assert torch.allclose(before, after, atol=1e-4, rtol=1e-4)
    assert before.abs().mean() > 1e-3  # a real comparison, not of zeros


def test_prepared_model_matches_eager() -> None:
    model = _model()
    x = torch.rand(2, 3, 8, 64, 64) * 2 - 1
    with torch.inference_mode():
        expected = model(x)
    infer = prepare_for_inference(model, fold_bn=True, channels_last=True, bf16=False)
    assert torch.allclose(infer(x), expected, atol=1e-4, rtol=1e-4)


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
    assert torch.allclose(infer(x), expected, atol=1e-4, rtol=1e-4)
