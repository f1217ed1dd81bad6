"""A trained model on disk: one directory that ``evaluate`` and detection can use on any clips.

    model.json   what it is: format, kind (torch | svm | heads), the training config, the
                 chosen step and its validation scores (heads: what the inner CV chose)
    model.pt     the chosen weights (kind torch: a state dict, loaded with weights_only)
    svm.skops    the fitted SVM (kind svm; the backbone comes from ``config.weights``)
    heads.skops  the chosen heads, fusion and threshold (kind heads; the frozen backbones come
                 from their released weights, see ``training/heads.py``)

Everything is written atomically, ``model.json`` last, so a directory with a ``model.json`` is
complete.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from smokewatch.core.atomic import atomic_path, atomic_write_text
from smokewatch.errors import SmokewatchError
from smokewatch.training.config import TrainConfig
from smokewatch.training.device import resolve_device

__all__ = [
    "BrokenModelError",
    "ModelDirError",
    "TrainedModel",
    "convert_pickled_model_dir",
    "load_model_dir",
    "write_model_dir",
]

FORMAT = "smokewatch.model"
VERSION = 1
#: The fitted heads / SVM of a ``kind: heads`` / ``kind: svm`` folder (skops files), and the
#: pickles that held them before (read only by :func:`convert_pickled_model_dir`).
HEADS_FILE, SVM_FILE = "heads.skops", "svm.skops"
PICKLED = {HEADS_FILE: "heads.joblib", SVM_FILE: "svm.joblib"}


class ModelDirError(SmokewatchError, ValueError):
    """A model directory that is missing, incomplete or not a smokewatch model."""


class BrokenModelError(ModelDirError):
    """A model whose weights or outputs are NaN: whatever it scores would be meaningless."""


def _clean(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def write_model_dir(
    out: Path,
    config: TrainConfig,
    *,
    state_dict: dict[str, torch.Tensor] | None = None,
    svm: Any = None,
    heads: Any = None,
    info: dict[str, Any] | None = None,
) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    if config.kind == "heads":
        if heads is None:
            raise ValueError("a heads model directory needs the fitted heads")
        heads.save(out / HEADS_FILE)
    elif config.kind == "torch":
        if state_dict is None:
            raise ValueError("a torch model directory needs its state dict")
        with atomic_path(out / "model.pt") as tmp:
            torch.save(state_dict, tmp)
    else:
        if svm is None:
            raise ValueError("an SVM model directory needs the fitted SVM")
        svm.save(out / SVM_FILE)
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "kind": config.kind,
        "config": config.model_dump(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **(info or {}),
    }
    atomic_write_text(out / "model.json", json.dumps(_clean(meta), indent=2) + "\n")
    return out


@dataclass
class TrainedModel:
    """A loaded model directory: :meth:`predict` gives P(smoke) for clips."""

    path: Path
    config: TrainConfig
    meta: dict[str, Any]
    model: Any
    prepared: bool = False
    _features: Callable[[torch.Tensor], np.ndarray] | None = field(default=None, repr=False)

    @property
    def threshold(self) -> float:
        """The probability at or over which a clip is called smoke: the one training chose
        (``choose_threshold``), else the preset's."""
        return float(self.meta.get("probability_threshold", self.config.threshold))

    def predict(
        self,
        items: Sequence[Any],
        *,
        device: str | torch.device = "cpu",
        batch_size: int = 4,
        workers: int = 0,
        cache_dir: Path | None = None,
        weights_cache_dir: Path | None = None,
        on_batch: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """P(smoke) per clip, in input order.

        ``items``: :class:`~smokewatch.dataset.torch_data.ClipItem` (path, label, ...).
        ``weights_cache_dir``: where an SVM's pretrained feature backbone is kept.
        """
        from smokewatch.training.predict import predict_svm, predict_torch

        if self.config.kind == "heads":
            from smokewatch.training.heads import predict_heads

            return self._finite(
                predict_heads(
                    self.model,
                    items,
                    cache_dir=cache_dir,
                    weights_cache_dir=weights_cache_dir,
                    batch_size=batch_size,
                    on_batch=on_batch,
                )
            )
        options: dict[str, Any] = {
            "device": device,
            "batch_size": batch_size,
            "workers": workers,
            "cache_dir": cache_dir,
            "on_batch": on_batch,
        }
        if self.config.kind == "svm":
            return self._finite(
                predict_svm(
                    self.model, self.config, items, weights_cache_dir=weights_cache_dir, **options
                )
            )
        from smokewatch.training.predict import prepare_on_cpu

        dev = resolve_device(device)
        self.model.to(dev)
        if not self.prepared:  # a loaded model only infers: make it fast once, in place
            self.prepared = prepare_on_cpu(self.model, dev)
        return self._finite(
            predict_torch(self.model, self.config, items, prepared=self.prepared, **options)[0]
        )

    def predict_arrays(
        self,
        clips: Sequence[np.ndarray] | np.ndarray,
        *,
        device: str | torch.device = "cpu",
        batch_size: int = 4,
        weights_cache_dir: Path | None = None,
    ) -> np.ndarray:
        """P(smoke) of in-memory uint8 clips ``[B, T, H, W, 3]`` (windows cropped from a
        timelapse), prepared exactly as :meth:`predict` prepares clips read from files."""
        from smokewatch.training.predict import (
            clip_features_arrays,
            feature_backbone,
            predict_torch_arrays,
            prepare_on_cpu,
            svm_probabilities,
        )

        dev = resolve_device(device)
        if self.config.kind == "heads":
            return self._finite(
                np.asarray(
                    self.model.predict_arrays(
                        clips, batch_size=batch_size, weights_cache_dir=weights_cache_dir
                    )
                )
            )
        if self.config.kind == "svm":
            if self._features is None:  # the frozen backbone, built once for every call
                self._features = feature_backbone(self.config, dev, weights_cache_dir)
            features = clip_features_arrays(
                self._features, self.config, clips, batch_size=batch_size
            )
            return self._finite(svm_probabilities(self.model, features))
        self.model.to(dev)
        if not self.prepared:
            self.prepared = prepare_on_cpu(self.model, dev)
        return self._finite(
            predict_torch_arrays(
                self.model,
                self.config,
                clips,
                device=dev,
                batch_size=batch_size,
                prepared=self.prepared,
            )
        )

    def _finite(self, probs: np.ndarray) -> np.ndarray:
        """``probs``, unless the network gave NaN: a broken model, never "no smoke" (a NaN
        compares false with every threshold, and metrics refuse it)."""
        bad = int(np.count_nonzero(~np.isfinite(probs)))
        if bad:
            raise BrokenModelError(
                f"{self.path}: the model gives no probability (NaN) for {bad} of "
                f"{len(probs)} clips: it is broken (diverged in training?); retrain it"
            )
        return probs


def _check_threshold(meta: dict[str, Any], meta_path: Path) -> None:
    """Refuse a ``probability_threshold`` that is not a number strictly inside (0, 1).

    Checked on loading, not when :attr:`TrainedModel.threshold` is read: a null gave a
    traceback mid-evaluation, and 7 was taken silently, calling every clip "no smoke".
    """
    if "probability_threshold" not in meta:
        return
    value = meta["probability_threshold"]
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 < value < 1
    ):
        raise ModelDirError(
            f"{meta_path}: probability_threshold {value!r} is not a number strictly between "
            "0 and 1; fix it or retrain the model"
        )


def load_model_dir(path: Path) -> TrainedModel:
    """Load a model directory, or the ``model/`` inside a training run's folder."""
    if not (path / "model.json").is_file() and (path / "model" / "model.json").is_file():
        path = path / "model"
    meta_path = path / "model.json"
    if not meta_path.is_file():
        raise ModelDirError(f"{path}: not a model directory (no model.json; train one first)")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # ValueError: bad JSON, or bytes that are not UTF-8
        raise ModelDirError(f"{meta_path}: unreadable ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelDirError(f"{meta_path}: not a smokewatch model description")
    if meta.get("version") != VERSION:
        raise ModelDirError(
            f"{meta_path}: model format version {meta.get('version')!r} unsupported"
        )
    try:
        config = TrainConfig(**meta["config"])
    except Exception as exc:
        raise ModelDirError(f"{meta_path}: invalid config ({exc})") from None
    _check_threshold(meta, meta_path)
    if config.kind in ("heads", "svm"):
        fitted = HEADS_FILE if config.kind == "heads" else SVM_FILE
        if not (path / fitted).exists() and (path / PICKLED[fitted]).is_file():
            raise ModelDirError(
                f"{path}: saved by an older smokewatch as {PICKLED[fitted]}, a pickle, which "
                "could run code when loaded, so it is not read; if you made it yourself or "
                f"trust its author, convert it once: smokewatch models convert {path}"
            )
    if config.kind == "heads":
        from smokewatch.training.heads import HeadsFileError, HeadsModel

        try:
            heads = HeadsModel.load(path / HEADS_FILE)
        except HeadsFileError as exc:
            raise ModelDirError(str(exc)) from None
        return TrainedModel(path, config, meta, heads)
    if config.kind == "svm":
        from smokewatch.models.svm import FeatureSVM, SVMFileError

        try:
            svm = FeatureSVM.load(path / SVM_FILE)
        except SVMFileError as exc:
            raise ModelDirError(str(exc)) from None
        return TrainedModel(path, config, meta, svm)
    from smokewatch.models import get_model

    weights = path / "model.pt"
    if not weights.is_file():
        raise ModelDirError(f"{path}: model.pt is missing")
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelDirError(f"{weights}: unreadable weights ({exc})") from None
    if not isinstance(state, dict):
        raise ModelDirError(
            f"{weights}: not a state dict (holds a {type(state).__name__}); retrain the model"
        )
    broken = [
        name
        for name, t in state.items()
        if isinstance(t, torch.Tensor) and t.is_floating_point() and not t.isfinite().all()
    ]
    if broken:
        raise BrokenModelError(
            f"{weights}: {len(broken)} weight tensors hold NaN or infinite values (e.g. "
            f"{broken[0]}): the model is broken (diverged in training?); retrain it"
        )
    try:
        model = get_model(config.model, weights=None, num_classes=1, **config.model_kwargs)
    except SmokewatchError:
        raise  # an unknown model name says so in one line already
    except (TypeError, ValueError) as exc:  # model_kwargs its builder does not take
        raise ModelDirError(
            f"{meta_path}: model_kwargs {config.model_kwargs} do not fit {config.model} ({exc})"
        ) from None
    try:
        model.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError, ValueError) as exc:
        said = " ".join(str(exc).split())  # torch's message spans lines: keep the error one line
        raise ModelDirError(f"{weights}: weights do not fit {config.model} ({said})") from None
    model.eval()
    return TrainedModel(path, config, meta, model)


def convert_pickled_model_dir(path: Path) -> Path:
    """Rewrite a folder's pickled heads or SVM (``*.joblib``, before skops) as a skops file.

    Unpickling runs whatever code the file holds: this is for folders their owner made or
    trusts, on request (``smokewatch models convert``), never part of a load. The skops file
    is written first and the pickle removed after, so a crash leaves a loadable folder.
    Returns the new file.
    """
    from smokewatch.training.heads import HeadsFileError, HeadsModel

    meta_path = path / "model.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        kind = meta["kind"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelDirError(f"{meta_path}: not a readable model description ({exc})") from None
    if kind not in ("heads", "svm"):
        raise ModelDirError(f"{path}: a {kind!r} model holds no pickle; nothing to convert")
    fitted = HEADS_FILE if kind == "heads" else SVM_FILE
    old = path / PICKLED[fitted]
    if not old.is_file():
        raise ModelDirError(f"{path}: no {old.name} to convert")
    from smokewatch.models.svm import FeatureSVM, SVMFileError

    try:
        model: Any = HeadsModel.load_pickle(old) if kind == "heads" else FeatureSVM.load_pickle(old)
    except (HeadsFileError, SVMFileError) as exc:
        raise ModelDirError(str(exc)) from None
    model.save(path / fitted)
    old.unlink()
    return path / fitted
