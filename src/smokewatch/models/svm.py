"""The paper's SVM baseline: features from a frozen backbone, pooled, then a scikit-learn SVC.

RISE's ``svm_learner.py`` fitted ``SVC(C=4, gamma="scale")`` (RBF kernel, no feature scaling)
on I3D features extracted once per clip, and stored the fitted model with ``joblib``
(a pickle). Here:

* :func:`extract_features` runs any frozen backbone over clips under ``torch.inference_mode``
  and returns one pooled vector per clip: a module with a ``features(x)`` method (the I3D
  of :mod:`smokewatch.models`: pooled ``Mixed_5c``, 1024-d) or any callable returning
  ``(N, D)`` tensors; larger outputs ``(N, C, ...)`` are average-pooled to ``(N, C)``.
* :class:`FeatureSVM` wraps the SVC with RISE's defaults, exposes ``decision_function`` (for
  ROC-AUC without Platt scaling), and saves/loads itself atomically as a skops file
  (:mod:`smokewatch.models.safe_store`): loading one never runs code from it, so a model
  folder from someone else is safe to open.

A file that is not a smokewatch SVM raises :class:`SVMFileError` naming the path.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Self

import numpy as np
import torch

from smokewatch.errors import SmokewatchError
from smokewatch.models.registry import register_model

__all__ = ["FeatureSVM", "SVMFileError", "extract_features"]

#: Marker stored in every saved file, checked on load.
_FORMAT = "smokewatch.models.svm.FeatureSVM"
_VERSION = 1
#: The types a saved FeatureSVM holds beyond skops's default trusted set (the probability
#: calibration); a file naming any other is refused unread.
TRUSTED = (
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
)

ClipLike = torch.Tensor | np.ndarray


class SVMFileError(SmokewatchError, ValueError):
    """A saved SVM file is missing, unreadable, or not a smokewatch :class:`FeatureSVM`."""


# --------------------------------------------------------------------------------------------
# Features
# --------------------------------------------------------------------------------------------


def _as_tensor(clip: ClipLike) -> torch.Tensor:
    if isinstance(clip, torch.Tensor):
        return clip
    return torch.from_numpy(np.ascontiguousarray(clip))


def _pooled(out: object, expected: int) -> torch.Tensor:
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"the feature extractor returned {type(out).__name__}, expected a tensor")
    if out.ndim < 2 or out.shape[0] != expected:
        raise ValueError(
            f"the feature extractor returned shape {tuple(out.shape)} for a batch of "
            f"{expected}; expected (N, D) or (N, C, ...)"
        )
    if out.ndim > 2:
        out = out.flatten(2).mean(dim=2)  # global average pool over time and space
    return out.float().cpu()


def extract_features(
    model_or_callable: torch.nn.Module | Callable[[torch.Tensor], torch.Tensor],
    clips_iterable: Iterable[ClipLike],
    batch_size: int = 8,
    device: str | torch.device = "cpu",
    *,
    transform: Callable[[ClipLike], ClipLike] | None = None,
) -> np.ndarray:
    """One pooled float32 feature vector per clip: an ``(N, D)`` array, in input order.

    ``clips_iterable`` yields single clips in the backbone's input layout (for I3D a float
    ``(C, T, H, W)`` tensor or array), optionally passed through ``transform`` first; they are
    stacked into batches of ``batch_size`` and moved to ``device``. A module's ``features(x)``
    method is used when it has one, else the module (or callable) itself. A module is put in
    eval mode (and moved to ``device``) for the extraction and its training flag restored
    after; no gradients are recorded.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    dev = torch.device(device)
    module = model_or_callable if isinstance(model_or_callable, torch.nn.Module) else None
    extractor = getattr(model_or_callable, "features", None)
    if not callable(extractor):
        extractor = model_or_callable
    if not callable(extractor):
        raise TypeError("expected a torch module with features(x) or a callable")
    was_training = module.training if module is not None else False
    if module is not None:
        module.to(dev)
        module.eval()
    chunks: list[torch.Tensor] = []
    batch: list[torch.Tensor] = []

    def flush() -> None:
        x = torch.stack(batch).to(dev)
        chunks.append(_pooled(extractor(x), len(batch)))
        batch.clear()

    try:
        with torch.inference_mode():
            for clip in clips_iterable:
                batch.append(_as_tensor(transform(clip) if transform is not None else clip))
                if len(batch) == batch_size:
                    flush()
            if batch:
                flush()
    finally:
        if module is not None:
            module.train(was_training)
    if not chunks:
        return np.zeros((0, 0), dtype=np.float32)
    return torch.cat(chunks).numpy().astype(np.float32, copy=False)


# --------------------------------------------------------------------------------------------
# The SVM
# --------------------------------------------------------------------------------------------


def _as_features(features: Any, name: str = "features") -> np.ndarray:
    if isinstance(features, torch.Tensor):
        features = features.detach().cpu().numpy()
    arr = np.asarray(features, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (N, D) array, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contain NaN or infinite values")
    return arr


class FeatureSVM:
    """A support vector classifier on pooled backbone features (RISE: ``SVC(C=4, gamma="scale")``).

    Parameters are scikit-learn's ``SVC`` ones; ``standardize`` puts a ``StandardScaler``
    before the SVC (RISE had none); ``probability`` enables :meth:`predict_proba` by also
    fitting a Platt-scaled copy (``CalibratedClassifierCV(..., ensemble=False)``, what
    scikit-learn 1.9 recommends instead of ``SVC(probability=True)``): a slower fit, and not
    needed for ROC-AUC, which :meth:`decision_function` serves.

    Attributes after :meth:`fit`: ``estimator_`` (the fitted scikit-learn estimator),
    ``calibrated_`` (the probability model, or None), ``classes_`` and ``n_features_in_``.
    """

    def __init__(
        self,
        *,
        C: float = 4.0,
        kernel: str = "rbf",
        gamma: str | float = "scale",
        class_weight: dict[int, float] | str | None = None,
        standardize: bool = False,
        probability: bool = False,
        random_state: int | None = 0,
    ) -> None:
        self.C = C
        self.kernel = kernel
        self.gamma = gamma
        self.class_weight = class_weight
        self.standardize = standardize
        self.probability = probability
        self.random_state = random_state
        self.estimator_: Any = None
        self.calibrated_: Any = None
        self.classes_: np.ndarray | None = None
        self.n_features_in_: int | None = None

    def get_params(self) -> dict[str, Any]:
        return {
            "C": self.C,
            "kernel": self.kernel,
            "gamma": self.gamma,
            "class_weight": self.class_weight,
            "standardize": self.standardize,
            "probability": self.probability,
            "random_state": self.random_state,
        }

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"FeatureSVM({args})"

    def _build(self) -> Any:
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import SVC

        svc = SVC(
            C=self.C,
            kernel=self.kernel,
            gamma=self.gamma,
            class_weight=self.class_weight,
            random_state=self.random_state,
        )
        return make_pipeline(StandardScaler(), svc) if self.standardize else svc

    def fit(self, features: Any, labels: Any) -> Self:
        """Fit on ``(N, D)`` features (array or tensor) and ``N`` labels (at least 2 classes)."""
        x = _as_features(features)
        y = np.asarray(labels.detach().cpu() if isinstance(labels, torch.Tensor) else labels)
        if y.ndim != 1 or y.shape[0] != x.shape[0]:
            raise ValueError(f"labels must be 1-D with {x.shape[0]} entries, got shape {y.shape}")
        if np.unique(y).size < 2:
            raise ValueError("labels must contain at least two classes")
        estimator = self._build()
        estimator.fit(x, y)
        calibrated = None
        if self.probability:
            from sklearn.calibration import CalibratedClassifierCV

            # Platt scaling is fitted on cross-validated decision values: 5 folds, or as many as
            # the rarer class allows (a small training set would otherwise fail)
            folds = min(5, int(np.unique(y, return_counts=True)[1].min()))
            if folds < 2:
                raise ValueError("probability=True needs at least 2 training clips of each class")
            calibrated = CalibratedClassifierCV(
                self._build(), method="sigmoid", ensemble=False, cv=folds
            )
            calibrated.fit(x, y)
        self.estimator_ = estimator
        self.calibrated_ = calibrated
        self.classes_ = np.asarray(estimator.classes_)
        self.n_features_in_ = int(x.shape[1])
        return self

    def _checked(self, features: Any) -> np.ndarray:
        if self.estimator_ is None:
            raise RuntimeError("FeatureSVM is not fitted yet; call fit() or load() first")
        x = _as_features(features)
        if x.shape[1] != self.n_features_in_:
            raise ValueError(
                f"features have {x.shape[1]} dimensions, the SVM was fitted on "
                f"{self.n_features_in_}"
            )
        return x

    def predict(self, features: Any) -> np.ndarray:
        """Predicted labels, shape ``(N,)``."""
        x = self._checked(features)
        return np.asarray(self.estimator_.predict(x))

    def decision_function(self, features: Any) -> np.ndarray:
        """Signed distances to the margin: ``(N,)`` for two classes (positive = ``classes_[1]``),
        ``(N, n_classes)`` otherwise. Use it as the score for ROC-AUC."""
        x = self._checked(features)
        return np.asarray(self.estimator_.decision_function(x))

    def predict_proba(self, features: Any) -> np.ndarray:
        """Class probabilities ``(N, n_classes)``; needs ``probability=True`` at construction."""
        if not self.probability:
            raise RuntimeError("predict_proba needs FeatureSVM(probability=True)")
        x = self._checked(features)
        return np.asarray(self.calibrated_.predict_proba(x))

    def score(self, features: Any, labels: Any) -> float:
        """Accuracy on ``features`` against ``labels``."""
        y = np.asarray(labels.detach().cpu() if isinstance(labels, torch.Tensor) else labels)
        return float(np.mean(self.predict(features) == y))

    # ----------------------------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the fitted SVM to ``path`` as a skops file, atomically (temp file + rename)."""
        if self.estimator_ is None:
            raise RuntimeError("FeatureSVM is not fitted yet; nothing to save")
        from smokewatch.models import safe_store

        safe_store.dump(self._payload(), path)

    def _payload(self) -> dict[str, Any]:
        return {
            "format": _FORMAT,
            "version": _VERSION,
            "params": self.get_params(),
            "estimator": self.estimator_,
            "calibrated": self.calibrated_,
            "classes": self.classes_,
            "n_features_in": self.n_features_in_,
        }

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> FeatureSVM:
        """Read an SVM written by :meth:`save`; no code from the file runs.

        Raises :class:`SVMFileError` naming ``path`` when it is missing, unreadable, a pickle
        of the older format, or holds something other than a smokewatch FeatureSVM.
        """
        from smokewatch.models import safe_store

        payload = safe_store.load(
            path, TRUSTED, error=SVMFileError, what="FeatureSVM", marker=(_FORMAT, _VERSION)
        )
        return cls._from_payload(Path(path), payload)

    @classmethod
    def load_pickle(cls, path: str | os.PathLike[str]) -> FeatureSVM:
        """Read the older pickled (``joblib``) form, trusting it: for ``models convert`` only."""
        from smokewatch.models import safe_store

        payload = safe_store.load_pickle(
            path, error=SVMFileError, what="FeatureSVM", marker=(_FORMAT, _VERSION)
        )
        return cls._from_payload(Path(path), payload)

    @classmethod
    def _from_payload(cls, p: Path, payload: dict[str, Any]) -> FeatureSVM:
        """A FeatureSVM of a payload whose format and version ``safe_store`` checked."""
        try:
            model = cls(**payload["params"])
            model.estimator_ = payload["estimator"]
            model.calibrated_ = payload["calibrated"]
            model.classes_ = np.asarray(payload["classes"])
            model.n_features_in_ = int(payload["n_features_in"])
        except (KeyError, TypeError, ValueError) as exc:
            raise SVMFileError(f"{p}: incomplete FeatureSVM file ({exc})") from None
        try:  # a trial on zeros: a fitted classifier (and calibration) of the stated size
            zeros = np.zeros((1, model.n_features_in_))
            model.decision_function(zeros)
            if model.probability:
                model.predict_proba(zeros)
        except Exception:  # trusted types with the wrong contents raise almost anything
            raise SVMFileError(f"{p}: the stored estimator is not a fitted classifier") from None
        return model


@register_model("svm")
def svm(*, weights: str | os.PathLike[str] | None = None, **kwargs: Any) -> FeatureSVM:
    """RISE's SVM baseline: SVC(C=4, gamma='scale') on pooled frozen-backbone features.

    ``weights`` is a saved ``.skops`` file (see :meth:`FeatureSVM.save`); without it, a new,
    unfitted SVM with ``kwargs`` as its parameters.
    """
    return FeatureSVM.load(weights) if weights is not None else FeatureSVM(**kwargs)
