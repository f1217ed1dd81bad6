"""What detection asks of a model: a probability per window, and Grad-CAM where it matters.

Detection never calls a network directly: it calls a :class:`Detector`, three plain callables
and a description. :func:`load_detector` builds one from a model directory (the scoring path
of ``evaluate``, Grad-CAM from :mod:`smokewatch.explain`); tests, benchmarks and a Ray actor
can build their own, so the pipeline is tested with models whose output is known.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from smokewatch.errors import SmokewatchError

__all__ = [
    "Cam",
    "DetectError",
    "Detector",
    "GifWriter",
    "Scorer",
    "load_detector",
    "model_fingerprint",
]

#: uint8 windows ``[B, T, H, W, 3]`` -> P(smoke) ``[B]``.
Scorer = Callable[[np.ndarray], np.ndarray]
#: uint8 windows ``[B, T, H, W, 3]`` -> raw Grad-CAM volumes ``[B, T, H, W]`` (before ReLU
#: and scaling: what RISE's activation ratio measures, ``explain.gradcam.activation_ratio``).
Cam = Callable[[np.ndarray], np.ndarray]
#: (uint8 frames ``[T, H, W, 3]``, raw volume ``[T, H, W]``, path, fps) -> an overlay GIF.
GifWriter = Callable[[np.ndarray, np.ndarray, Path, int], None]


class DetectError(SmokewatchError, ValueError):
    """Detection cannot run as asked (a count that does not match, Grad-CAM unavailable, ...)."""


@dataclass
class Detector:
    """A model as detection uses it.

    ``model`` describes it in ``detections.json``; ``fingerprint`` changes whenever its
    weights do (a view scored by another model is not "already done").
    """

    scorer: Scorer
    cam: Cam | None = None
    write_gif: GifWriter | None = None
    model: dict[str, Any] = field(default_factory=dict)
    fingerprint: str = ""


def model_fingerprint(model_dir: Path) -> str:
    """A digest of a model directory's description and the size and time of its weights."""
    h = hashlib.sha256()
    for name in ("model.json", "model.pt", "svm.skops", "heads.skops"):
        path = model_dir / name
        if not path.is_file():
            continue
        st = path.stat()
        h.update(name.encode())
        h.update(path.read_bytes() if name == "model.json" else f"{st.st_size}".encode())
        h.update(str(st.st_mtime_ns).encode())
    return h.hexdigest()[:16]


def _explain_modules() -> tuple[Any, Any]:
    """``smokewatch.explain``'s Grad-CAM and renderer, or a clear error if this install lacks
    them (looked up by name: detection without Grad-CAM needs neither)."""
    try:
        gradcam = importlib.import_module("smokewatch.explain.gradcam")
        render = importlib.import_module("smokewatch.explain.render")
    except ModuleNotFoundError as exc:
        raise DetectError(
            f"Grad-CAM is not available ({exc.name} is missing); run with --no-cam to detect "
            "on the probability alone"
        ) from None
    return gradcam, render


def load_detector(
    model_dir: Path,
    *,
    device: str = "cpu",
    cam: bool = True,
    batch_size: int = 4,
    weights_cache_dir: Path | None = None,
) -> Detector:
    """A :class:`Detector` for a trained model directory (or a training run's folder).

    Windows are scored by :meth:`TrainedModel.predict_arrays`, the path ``evaluate`` takes
    from the frame selection on; Grad-CAM comes from
    :class:`smokewatch.explain.gradcam.Explainer` when ``cam``.
    """
    from smokewatch.training.device import resolve_device
    from smokewatch.training.saved import load_model_dir

    resolve_device(device)  # a bad --device fails now, not at the first full batch of windows
    trained = load_model_dir(model_dir)

    def scorer(clips: np.ndarray) -> np.ndarray:
        return trained.predict_arrays(
            clips, device=device, batch_size=batch_size, weights_cache_dir=weights_cache_dir
        )

    config = trained.config
    detector = Detector(
        scorer=scorer,
        model={
            "path": str(model_dir),
            "preset": config.name,
            "kind": config.kind,
            "model": config.model,
            "frames": config.frames,
            "size": config.size,
            "threshold": trained.threshold,
        },
        fingerprint=model_fingerprint(trained.path),
    )
    if cam:
        gradcam, render = _explain_modules()
        explainer = gradcam.Explainer(
            trained, device=device, weights_cache_dir=weights_cache_dir, batch_size=batch_size
        )

        def volumes(clips: np.ndarray) -> np.ndarray:
            return np.asarray(explainer.explain(clips, raw=True)[1], dtype=np.float32)

        def write_gif(frames: np.ndarray, volume: np.ndarray, path: Path, fps: int) -> None:
            picture = gradcam.normalise_cam(volume[None])[0]
            render.write_overlay_gif(frames, picture, path, fps=fps)

        detector.cam = volumes
        detector.write_gif = write_gif
    return detector
