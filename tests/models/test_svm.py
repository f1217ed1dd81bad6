"""models.svm: pooled features from a frozen backbone, the RISE SVC baseline, save/load."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pytest
import skops.io as skops_io
import torch
from torch import nn

from smokewatch.errors import SmokewatchError
from smokewatch.models.svm import FeatureSVM, SVMFileError, extract_features

torch.set_num_threads(2)


class TinyBackbone(nn.Module):
    """A 3-D conv stem with global pooling: ``features(x)`` is (N, 8), ``forward`` a logit."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv3d(3, 8, kernel_size=3, padding=1)
        self.bn = nn.BatchNorm3d(8)
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.head = nn.Linear(8, 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        pooled: torch.Tensor = self.pool(torch.relu(self.bn(self.conv(x))))
        return pooled.flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logit: torch.Tensor = self.head(self.features(x))
        return logit


def clips(n: int, seed: int) -> tuple[list[torch.Tensor], np.ndarray]:
    """``n`` (3, 4, 16, 16) clips; class 1 has a brighter red channel (separable, noisy)."""
    g = torch.Generator().manual_seed(seed)
    labels = (torch.arange(n) % 2).numpy()
    out = []
    for label in labels:
        x = torch.randn(3, 4, 16, 16, generator=g) * 0.5
        if label:
            x[0] += 0.6
        out.append(x)
    return out, labels


@pytest.fixture(scope="module")
def backbone() -> TinyBackbone:
    torch.manual_seed(0)
    return TinyBackbone()


@pytest.fixture(scope="module")
def data(backbone: TinyBackbone) -> dict[str, np.ndarray]:
    train_clips, train_y = clips(60, seed=1)
    test_clips, test_y = clips(40, seed=2)
    return {
        "x_train": extract_features(backbone, train_clips, batch_size=16),
        "y_train": train_y,
        "x_test": extract_features(backbone, test_clips, batch_size=16),
        "y_test": test_y,
    }


def test_features_use_the_features_method_and_pool(backbone: TinyBackbone) -> None:
    batch, _ = clips(5, seed=3)
    feats = extract_features(backbone, batch, batch_size=2)
    assert feats.dtype == np.float32 and feats.shape == (5, 8)
    backbone.eval()
    with torch.no_grad():
        expected = backbone.features(torch.stack(batch)).numpy()
    np.testing.assert_allclose(feats, expected, rtol=1e-5, atol=1e-6)


def test_features_leave_the_module_as_they_found_it(backbone: TinyBackbone) -> None:
    backbone.train()
    assert backbone.bn.running_mean is not None
    stats = backbone.bn.running_mean.clone()
    extract_features(backbone, clips(4, seed=4)[0], batch_size=3)
    assert backbone.training, "training flag restored"
    assert torch.equal(backbone.bn.running_mean, stats), "ran in eval mode: BN stats untouched"
    assert all(p.grad is None for p in backbone.parameters())


def test_features_from_a_plain_callable_and_higher_rank_outputs() -> None:
    batch, _ = clips(5, seed=5)
    arrays = [c.numpy() for c in batch]  # numpy clips work too

    def mean_rgb(x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3, 4))

    feats = extract_features(mean_rgb, arrays, batch_size=3)
    np.testing.assert_allclose(feats, torch.stack(batch).mean(dim=(2, 3, 4)).numpy(), atol=1e-6)
    # an (N, C, T, H, W) feature map is average-pooled to (N, C)
    pooled = extract_features(lambda x: x, arrays, batch_size=2)
    np.testing.assert_allclose(pooled, feats, atol=1e-6)
    assert extract_features(mean_rgb, [], batch_size=2).shape == (0, 0)
    with pytest.raises(ValueError, match="batch_size"):
        extract_features(mean_rgb, arrays, batch_size=0)
    with pytest.raises(ValueError, match="shape"):
        extract_features(lambda x: x.flatten(), arrays, batch_size=2)


def test_transform_is_applied_per_clip() -> None:
    batch, _ = clips(3, seed=6)
    feats = extract_features(
        lambda x: x.mean(dim=(2, 3, 4)), batch, batch_size=2, transform=lambda c: c * 0 + 1
    )
    np.testing.assert_array_equal(feats, np.ones((3, 3), dtype=np.float32))


def test_svm_separates_the_classes(data: dict[str, np.ndarray]) -> None:
    svm = FeatureSVM().fit(data["x_train"], data["y_train"])
    assert svm.n_features_in_ == 8
    assert list(svm.classes_) == [0, 1]  # type: ignore[arg-type]
    assert svm.score(data["x_test"], data["y_test"]) >= 0.9
    decision = svm.decision_function(data["x_test"])
    assert decision.shape == (40,)
    np.testing.assert_array_equal(svm.predict(data["x_test"]), (decision > 0).astype(int))
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(data["y_test"], decision) >= 0.95


def test_standardize_and_probability_options(data: dict[str, np.ndarray]) -> None:
    svm = FeatureSVM(standardize=True, probability=True).fit(data["x_train"], data["y_train"])
    proba = svm.predict_proba(data["x_test"])
    assert proba.shape == (40, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    assert svm.score(data["x_test"], data["y_test"]) >= 0.9
    with pytest.raises(RuntimeError, match="probability=True"):
        FeatureSVM().fit(data["x_train"], data["y_train"]).predict_proba(data["x_test"])


def test_save_load_round_trip_gives_identical_decisions(
    data: dict[str, np.ndarray], tmp_path: Path
) -> None:
    svm = FeatureSVM(C=2.0).fit(torch.from_numpy(data["x_train"]), data["y_train"])
    path = tmp_path / "models" / "svm.skops"
    svm.save(path)
    assert path.is_file()
    assert [p.name for p in path.parent.iterdir()] == ["svm.skops"]  # no temp files left
    loaded = FeatureSVM.load(path)
    assert loaded.get_params() == svm.get_params()
    np.testing.assert_array_equal(
        loaded.decision_function(data["x_test"]), svm.decision_function(data["x_test"])
    )
    np.testing.assert_array_equal(loaded.predict(data["x_test"]), svm.predict(data["x_test"]))


def test_loading_something_else_is_a_clear_error(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.joblib"
    garbage.write_bytes(np.random.default_rng(0).bytes(2048))
    with pytest.raises(SVMFileError, match="garbage.joblib") as info:
        FeatureSVM.load(garbage)
    assert isinstance(info.value, SmokewatchError) and isinstance(info.value, ValueError)

    text = tmp_path / "notes.joblib"
    text.write_text("not a model\n")
    with pytest.raises(SVMFileError, match="notes.joblib"):
        FeatureSVM.load(text)

    other = tmp_path / "other.skops"
    skops_io.dump({"weights": [1, 2, 3]}, other)
    with pytest.raises(SVMFileError, match="not a smokewatch FeatureSVM"):
        FeatureSVM.load(other)

    pickled = tmp_path / "old.joblib"  # the format before skops: refused, with the way out
    joblib.dump({"weights": [1, 2, 3]}, pickled)
    with pytest.raises(SVMFileError, match="a pickle .*smokewatch models convert"):
        FeatureSVM.load(pickled)

    with pytest.raises(SVMFileError, match="no such file"):
        FeatureSVM.load(tmp_path / "missing.skops")


@pytest.mark.parametrize("schema", ["[1, 2]", '"abc"', '{"__loader__": "ObjectNode"}'])
def test_a_malformed_skops_file_is_one_error(tmp_path: Path, schema: str) -> None:
    import zipfile

    path = tmp_path / "svm.skops"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("schema.json", schema)
    with pytest.raises(SVMFileError, match="not a readable FeatureSVM file"):
        FeatureSVM.load(path)


def test_trusted_parts_that_do_not_fit_are_one_error(
    data: dict[str, np.ndarray], tmp_path: Path
) -> None:
    """A file of trusted types only, but an unfitted SVC, or a calibrated model without its
    calibration: refused when read, not a traceback at the first prediction."""
    from sklearn.svm import SVC

    svm = FeatureSVM(probability=True).fit(data["x_train"], data["y_train"])
    for change in ({"estimator": SVC()}, {"calibrated": None}, {"n_features_in": 3}):
        path = tmp_path / "svm.skops"
        skops_io.dump({**svm._payload(), **change}, path)
        with pytest.raises(SVMFileError, match="not a fitted classifier"):
            FeatureSVM.load(path)


def test_a_compressed_old_pickle_also_gets_the_way_out(tmp_path: Path) -> None:
    path = tmp_path / "svm.joblib"
    joblib.dump({"weights": [1, 2, 3]}, path, compress=3)
    with pytest.raises(SVMFileError, match="smokewatch models convert"):
        FeatureSVM.load(path)


class _Planted:
    """What a hostile model file holds: unpickling (or building) it runs a command."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        import os

        return (os.system, (f"touch {self.marker}",))


def test_a_hostile_model_file_runs_no_code(data: dict[str, np.ndarray], tmp_path: Path) -> None:
    """A model folder from a stranger: its SVM file is read without running anything in it,
    whether it is a pickle (the old format) or a skops file naming an untrusted type."""
    marker = tmp_path / "PLANTED"
    payload = {"format": "smokewatch.models.svm.FeatureSVM", "version": 1, "params": {}}
    pickled = tmp_path / "svm.joblib"
    joblib.dump({**payload, "estimator": _Planted(str(marker))}, pickled)
    with pytest.raises(SVMFileError, match="pickle"):
        FeatureSVM.load(pickled)
    assert not marker.exists()
    hostile = tmp_path / "svm.skops"
    skops_io.dump({**payload, "estimator": _Planted(str(marker))}, hostile)
    with pytest.raises(SVMFileError, match="never holds .*_Planted"):
        FeatureSVM.load(hostile)
    assert not marker.exists()
    # a real one, with its probability calibration, loads: those types are trusted
    svm = FeatureSVM(probability=True).fit(data["x_train"], data["y_train"])
    svm.save(tmp_path / "real.skops")
    again = FeatureSVM.load(tmp_path / "real.skops")
    np.testing.assert_allclose(
        again.predict_proba(data["x_test"]), svm.predict_proba(data["x_test"])
    )


def test_misuse_is_a_clear_error(data: dict[str, np.ndarray], tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="not fitted"):
        FeatureSVM().predict(data["x_test"])
    with pytest.raises(RuntimeError, match="not fitted"):
        FeatureSVM().save(tmp_path / "x.joblib")
    with pytest.raises(ValueError, match="two classes"):
        FeatureSVM().fit(data["x_train"], np.zeros(60))
    with pytest.raises(ValueError, match="60 entries"):
        FeatureSVM().fit(data["x_train"], data["y_train"][:10])
    with pytest.raises(ValueError, match="2-D"):
        FeatureSVM().fit(data["x_train"][:, 0], data["y_train"])
    svm = FeatureSVM().fit(data["x_train"], data["y_train"])
    with pytest.raises(ValueError, match="fitted on 8"):
        svm.predict(data["x_test"][:, :4])
    bad = data["x_test"].copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        svm.decision_function(bad)
