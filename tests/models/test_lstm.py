"""models.lstm: I3D + LSTM (128 hidden) over time on spatially pooled Mixed_5c."""

from __future__ import annotations

import pytest
import torch

from smokewatch.models.lstm import I3DLSTM, i3d_lstm

torch.set_num_threads(1)


def clip(frames: int = 16, batch: int = 2) -> torch.Tensor:
    return torch.randn(batch, 3, frames, 64, 64, generator=torch.Generator().manual_seed(0))


def test_lstm_reads_mixed_5c_over_time() -> None:
    """16 frames -> 2 Mixed_5c steps; the head is the mean (or last) hidden state, by hand."""
    torch.manual_seed(0)
    model = i3d_lstm(dropout=0.0).eval()
    assert model.lstm.hidden_size == 128 and model.lstm.input_size == 1024
    x = clip()
    with torch.no_grad():
        steps = model.backbone.extract_endpoint(x, "Mixed_5c").mean(dim=(3, 4)).transpose(1, 2)
        assert steps.shape == (2, 2, 1024)
        hidden, _ = model.lstm(steps)
        assert torch.allclose(model.sequence(x), hidden)
        assert torch.allclose(model(x), model.fc(hidden.mean(dim=1)), atol=1e-6)
        model.readout = "last"
        assert torch.allclose(model(x), model.fc(hidden[:, -1]), atol=1e-6)


def test_frozen_backbone_stays_in_eval_mode() -> None:
    torch.manual_seed(0)
    model = i3d_lstm()
    model.train()
    assert model.training and model.lstm.training and not model.backbone.training
    stats = model.backbone.state_dict()["Mixed_5c.b0.bn.running_mean"]
    before = stats.clone()
    model(clip()).sum().backward()
    assert torch.equal(stats, before)
    assert all(p.grad is None for p in model.backbone.parameters())


def test_unfrozen_backbone_trains() -> None:
    torch.manual_seed(0)
    model = i3d_lstm(freeze_backbone=False).train()
    assert model.backbone.training
    model(clip(frames=8)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_no_backbone_logits_and_replace_logits() -> None:
    model = i3d_lstm(num_classes=2)
    assert not hasattr(model.backbone, "logits")
    assert not any(k.startswith("backbone.logits") for k in model.state_dict())
    model.replace_logits(5)
    with torch.no_grad():
        assert model.eval()(clip(frames=8, batch=1)).shape == (1, 5)


def test_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="readout"):
        i3d_lstm(readout="max")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="expected input"):
        i3d_lstm()(torch.randn(1, 2, 8, 64, 64))
    assert isinstance(i3d_lstm(), I3DLSTM)
