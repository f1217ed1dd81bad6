"""The SVM baseline as a torch module, so Grad-CAM can flow through its decision function.

An SVM model directory holds a scikit-learn ``SVC`` fitted on pooled features of a frozen
backbone (:class:`smokewatch.models.svm.FeatureSVM`), with Platt scaling for probabilities.
:class:`SVMOnBackbone` writes what ``predict`` computes in torch, in float64 on top of the
backbone's ``features(x)``:

    z = (f - mean) / scale                     only if the SVM standardizes its features
    d = sum_i dual_coef_i K(sv_i, z) + b        K: linear (sv . z) or RBF exp(-gamma |sv - z|^2)
    logit = -(A d + B)                          Platt: P(smoke) = sigmoid(logit)

taking the fitted parameters of the calibrated copy ``predict_proba`` uses. Other kernels
(polynomial, sigmoid) raise :class:`~smokewatch.explain.gradcam.ExplainError`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from smokewatch.explain.gradcam import ExplainError

__all__ = ["KernelSVC", "SVMOnBackbone", "svm_on_backbone"]


def _double(values: Any) -> torch.Tensor:
    return torch.as_tensor(np.asarray(values, dtype=np.float64))


class KernelSVC(nn.Module):
    """A fitted scikit-learn ``SVC``'s ``decision_function`` in torch (float64), after
    ``z = (f - mean) / scale``: linear and RBF kernels (see the module doc)."""

    mean: torch.Tensor
    scale: torch.Tensor
    support: torch.Tensor
    dual: torch.Tensor

    def __init__(self, estimator: Any, mean: Any = 0.0, scale: Any = 1.0) -> None:
        super().__init__()
        self.kernel: str = str(estimator.kernel)
        if self.kernel not in ("linear", "rbf"):
            raise ExplainError(
                f"Grad-CAM for an SVM with a {self.kernel} kernel is not supported "
                "(linear and rbf are)"
            )
        self.register_buffer("mean", _double(mean))
        self.register_buffer("scale", _double(scale))
        self.register_buffer("support", _double(estimator.support_vectors_))
        self.register_buffer("dual", _double(estimator.dual_coef_).reshape(-1))
        self.intercept = float(np.asarray(estimator.intercept_).reshape(-1)[0])
        self.gamma = float(getattr(estimator, "_gamma", 0.0))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """The decision value (positive: smoke) of ``[B, D]`` features, ``[B]``."""
        z = (features.double() - self.mean) / self.scale
        if self.kernel == "linear":
            kernel = z @ self.support.T
        else:
            sq = (z * z).sum(1, keepdim=True) + (self.support**2).sum(1) - 2 * z @ self.support.T
            kernel = torch.exp(-self.gamma * sq.clamp_min(0.0))
        out: torch.Tensor = kernel @ self.dual + self.intercept
        return out


class SVMOnBackbone(nn.Module):
    """``backbone.features(x)`` -> the SVM's Platt logit ``[B, 1]`` (see the module doc)."""

    def __init__(self, backbone: nn.Module, svm: Any) -> None:
        super().__init__()
        self.backbone = backbone
        estimator, calibrator = _fitted_parts(svm)
        scaler = None
        if hasattr(estimator, "steps"):  # Pipeline(StandardScaler, SVC)
            if len(estimator.steps) != 2:
                raise ExplainError("an SVM pipeline other than (StandardScaler, SVC)")
            scaler, estimator = estimator.steps[0][1], estimator.steps[1][1]
        mean = scaler.mean_ if scaler is not None and scaler.with_mean else None
        scale = scaler.scale_ if scaler is not None and scaler.with_std else None
        self.svc = KernelSVC(
            estimator, 0.0 if mean is None else mean, 1.0 if scale is None else scale
        )
        self.platt_a = float(calibrator.a_)
        self.platt_b = float(calibrator.b_)

    def decision(self, features: torch.Tensor) -> torch.Tensor:
        """The SVC's ``decision_function`` (positive: smoke) of ``[B, D]`` features."""
        out: torch.Tensor = self.svc(features)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features: Any = self.backbone.features
        d = self.decision(features(x))
        return (-(self.platt_a * d + self.platt_b))[:, None]


def _fitted_parts(svm: Any) -> tuple[Any, Any]:
    """The calibrated copy's estimator and its sigmoid calibrator (what predict_proba uses)."""
    calibrated = getattr(svm, "calibrated_", None)
    classes = getattr(svm, "classes_", None)
    if calibrated is None:
        raise ExplainError("this SVM gives no probabilities (fitted without probability=True)")
    if classes is None or list(np.asarray(classes)) != [0, 1]:
        raise ExplainError(f"an SVM with classes {classes!r}; Grad-CAM explains 0/1 smoke SVMs")
    parts = getattr(calibrated, "calibrated_classifiers_", [])
    if len(parts) != 1 or getattr(calibrated, "method", "sigmoid") != "sigmoid":
        raise ExplainError("an SVM calibrated other than by one Platt sigmoid")
    return parts[0].estimator, parts[0].calibrators[0]


def svm_on_backbone(svm: Any, config: Any, weights_cache_dir: Path | None) -> SVMOnBackbone:
    """The SVM of a model directory on the backbone ``predict`` extracts its features with."""
    from smokewatch.models import get_model
    from smokewatch.training.build import pretrained_from

    backbone = get_model(
        config.model,
        weights=config.weights,
        num_classes=1,
        **pretrained_from(config, weights_cache_dir),
    )
    if not callable(getattr(backbone, "features", None)):
        raise ExplainError(f"SVM backbone {config.model} has no features(x) to explain")
    return SVMOnBackbone(backbone, svm)
