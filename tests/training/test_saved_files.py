"""Model folders from someone else: the fitted SVM or heads are skops files, read without
running code; the older pickles are refused on load and converted only when asked."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pytest
import skops.io as skops_io

from smokewatch.dataset.torch_data import items_from_labels_csv
from smokewatch.training.config import TrainConfig
from smokewatch.training.fit_svm import train_svm
from smokewatch.training.saved import ModelDirError, convert_pickled_model_dir, load_model_dir

CONFIG = TrainConfig(
    name="tiny-svm", kind="svm", model="tiny3d", weights=None, frames=6, size=24, workers=0
)


class _Planted:
    """A hostile file's payload: building it runs a command."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        import os

        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def svm_dir(tiny_clips: Path, tmp_path: Path) -> Path:
    items = items_from_labels_csv(tiny_clips / "labels.csv", tiny_clips)
    return train_svm(CONFIG, items, tmp_path / "run", progress=False).model_dir


def test_an_svm_folder_holds_a_skops_file_and_an_old_pickle_is_converted_on_request(
    svm_dir: Path, tiny_clips: Path
) -> None:
    items = items_from_labels_csv(tiny_clips / "labels.csv", tiny_clips)
    assert sorted(p.name for p in svm_dir.iterdir()) == ["model.json", "svm.skops"]
    before = load_model_dir(svm_dir).predict(items)
    # the folder as an older smokewatch wrote it: the same SVM, pickled
    svm = load_model_dir(svm_dir).model
    joblib.dump(svm._payload(), svm_dir / "svm.joblib")
    (svm_dir / "svm.skops").unlink()
    with pytest.raises(ModelDirError, match="a pickle.*smokewatch models convert"):
        load_model_dir(svm_dir)
    made = convert_pickled_model_dir(svm_dir)
    assert made.name == "svm.skops" and not (svm_dir / "svm.joblib").exists()
    np.testing.assert_allclose(load_model_dir(svm_dir).predict(items), before)
    with pytest.raises(ModelDirError, match="no svm.joblib to convert"):
        convert_pickled_model_dir(svm_dir)


def test_a_hostile_svm_file_is_refused_unread(svm_dir: Path, tmp_path: Path) -> None:
    marker = tmp_path / "PLANTED"
    skops_io.dump(
        {"format": "smokewatch.models.svm.FeatureSVM", "version": 1, "estimator": _Planted(
            str(marker))},
        svm_dir / "svm.skops",
    )  # fmt: skip
    with pytest.raises(ModelDirError, match="never holds"):
        load_model_dir(svm_dir)
    assert not marker.exists()
    (svm_dir / "svm.skops").unlink()
    joblib.dump({"estimator": _Planted(str(marker))}, svm_dir / "svm.joblib")
    with pytest.raises(ModelDirError, match="pickle"):
        load_model_dir(svm_dir)
    assert not marker.exists()  # only 'models convert', asked for, would unpickle it


def test_models_convert_asks_first_then_rewrites_the_folder(svm_dir: Path) -> None:
    from typer.testing import CliRunner

    from smokewatch.cli import app

    svm = load_model_dir(svm_dir).model
    joblib.dump(svm._payload(), svm_dir / "svm.joblib")
    (svm_dir / "svm.skops").unlink()
    refused = CliRunner().invoke(app, ["models", "convert", str(svm_dir)], input="n\n")
    assert refused.exit_code == 1 and "runs any code" in refused.output
    assert (svm_dir / "svm.joblib").is_file() and not (svm_dir / "svm.skops").exists()
    done = CliRunner().invoke(app, ["models", "convert", str(svm_dir), "--yes"])
    assert done.exit_code == 0, done.output
    assert "svm.skops" in done.output and not (svm_dir / "svm.joblib").exists()
    assert load_model_dir(svm_dir).model.n_features_in_ == svm.n_features_in_
    again = CliRunner().invoke(app, ["models", "convert", str(svm_dir), "--yes"])
    assert again.exit_code == 2 and "no svm.joblib to convert" in again.output
