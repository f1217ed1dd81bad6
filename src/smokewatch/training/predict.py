"""Running a model over clips: probabilities for evaluation, features for the SVM.

Clips are decoded by :class:`~smokewatch.dataset.torch_data.ClipDataset` (DataLoader workers
decode while the model runs) and prepared by the evaluation transform (resize, [-1, 1]) on the
model's device, the same path validation uses during training. Clips already in memory
(windows cropped from a timelapse by detection) take the same path from the frame selection
on: :func:`predict_torch_arrays` and :func:`clip_features_arrays` share each step with their
file-reading twins, so a clip scores the same whichever way it arrived.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from smokewatch.training.build import TrainModule, clip_scores, loss_fn
from smokewatch.training.config import TrainConfig
from smokewatch.training.device import resolve_device

__all__ = [
    "array_batch",
    "clip_features_arrays",
    "clip_loader",
    "extract_clip_features",
    "feature_backbone",
    "predict_svm",
    "predict_torch",
    "predict_torch_arrays",
    "scoring",
    "svm_probabilities",
]


def clip_loader(
    config: TrainConfig,
    items: Sequence[Any],
    *,
    batch_size: int,
    workers: int,
    cache_dir: Path | None = None,
    batch_sampler: Any = None,
) -> DataLoader[Any]:
    from smokewatch.dataset.torch_data import ClipDataset

    dataset = ClipDataset(
        items,
        frames=config.frames,
        modality=config.modality,
        flow_method=config.flow_method,
        cache_dir=cache_dir,
    )
    common: dict[str, Any] = {
        "num_workers": workers,
        "persistent_workers": False,
        "generator": torch.Generator().manual_seed(0),  # never draws from the global RNG
    }
    if workers:
        common["prefetch_factor"] = 2
    if batch_sampler is not None:
        return DataLoader(dataset, batch_sampler=batch_sampler, **common)
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, **common)


def prepare_on_cpu(model: torch.nn.Module, device: torch.device) -> bool:
    """Make an inference-only I3D-family model fast on a CPU, in place; True if it did.

    Batch norm folded into the convolutions, oneDNN units with fused ReLU, channels-last-3d
    (:func:`smokewatch.models.inference.prepare_for_inference`: outputs within 1e-4 of eager,
    2.4x faster at 36x224^2 in ``bench/models.py``). Inputs must then be channels-last-3d.
    Never for a model that will train again: it is changed for good.
    """
    from smokewatch.models.i3d import Unit3D
    from smokewatch.models.inference import prepare_for_inference

    if device.type != "cpu" or not any(isinstance(m, Unit3D) for m in model.modules()):
        return False
    prepare_for_inference(model)
    return True


def _layout(x: torch.Tensor, prepared: bool) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last_3d) if prepared else x


def eval_transform(config: TrainConfig, device: torch.device) -> torch.nn.Module:
    from smokewatch.dataset.augment import VideoAugment

    return VideoAugment(
        config.size,
        train=False,
        perturb_frames=config.perturb_frames,
        modality=config.modality,
        seed=config.seed,
    ).to(device)


def array_batch(config: TrainConfig, clips: Sequence[np.ndarray] | np.ndarray) -> torch.Tensor:
    """In-memory uint8 clips ``[B, T, H, W, 3]`` as the loader's ``uint8 [B, C, T', H, W]``
    batch: the config's frame selection (and flow), exactly as :class:`ClipDataset` does."""
    from smokewatch.dataset.torch_data import clip_input

    arrays = [
        clip_input(
            np.asarray(clip),
            frames=config.frames,
            modality=config.modality,
            flow_method=config.flow_method,
        )
        for clip in clips
    ]
    return torch.from_numpy(np.stack(arrays)).permute(0, 4, 1, 2, 3).contiguous()


@contextlib.contextmanager
def scoring(
    model: torch.nn.Module,
    config: TrainConfig,
    device: torch.device,
    *,
    prepared: bool = False,
) -> Iterator[Callable[[torch.Tensor], torch.Tensor]]:
    """Inside: ``outputs(video)`` maps a uint8 ``[B, C, T, H, W]`` batch to the model's
    outputs as the loss sees them (clip logits, or per-frame logits for the RISE loss).

    The model is in eval mode (its training flag restored after). -FP's evaluation-time frame
    shuffle gives each clip the order drawn from ``config.seed`` and the clip itself
    (:func:`smokewatch.dataset.augment.clip_seeds`), never from the global random state: a
    clip scores the same in any batch, position or listing order, and a training run's random
    stream is untouched by validation.
    """
    transform = eval_transform(config, device)
    head = TrainModule(model, config.loss)
    was_training = model.training
    model.eval()

    def outputs(video: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            out: torch.Tensor = head(_layout(transform(video.to(device)), prepared))
        return out.float()

    try:
        yield outputs
    finally:
        model.train(was_training)


@torch.no_grad()
def predict_torch(
    model: torch.nn.Module,
    config: TrainConfig,
    items: Sequence[Any],
    *,
    device: str | torch.device = "cpu",
    batch_size: int = 4,
    workers: int = 0,
    cache_dir: Path | None = None,
    on_batch: Callable[[int], None] | None = None,
    prepared: bool = False,
) -> tuple[np.ndarray, float]:
    """(P(smoke) per clip, mean BCE loss) in eval mode; the training flag is restored after."""
    dev = resolve_device(device)
    probs: list[torch.Tensor] = []
    total, count = 0.0, 0
    with scoring(model, config, dev, prepared=prepared) as outputs:
        loader = clip_loader(
            config, items, batch_size=batch_size, workers=workers, cache_dir=cache_dir
        )
        for batch in loader:
            out = outputs(batch["video"])
            y = batch["label"].to(dev)
            total += float(loss_fn(out, y)) * len(y)
            count += len(y)
            probs.append(torch.sigmoid(clip_scores(out)).cpu())
            if on_batch is not None:
                on_batch(len(y))
    if not probs:
        return np.zeros(0, dtype=np.float64), float("nan")
    return torch.cat(probs).double().numpy(), total / max(count, 1)


@torch.no_grad()
def predict_torch_arrays(
    model: torch.nn.Module,
    config: TrainConfig,
    clips: Sequence[np.ndarray] | np.ndarray,
    *,
    device: str | torch.device = "cpu",
    batch_size: int = 4,
    prepared: bool = False,
) -> np.ndarray:
    """P(smoke) of in-memory uint8 clips ``[B, T, H, W, 3]``, as :func:`predict_torch` scores
    the same clips read from files."""
    dev = resolve_device(device)
    probs: list[torch.Tensor] = []
    with scoring(model, config, dev, prepared=prepared) as outputs:
        for start in range(0, len(clips), batch_size):
            out = outputs(array_batch(config, clips[start : start + batch_size]))
            probs.append(torch.sigmoid(clip_scores(out)).cpu())
    if not probs:
        return np.zeros(0, dtype=np.float64)
    return torch.cat(probs).double().numpy()


def _feature_key(config: TrainConfig, path: Path) -> str:
    st = path.stat()
    parts = [
        str(path.resolve()),
        str(st.st_size),
        str(st.st_mtime_ns),
        str(config.perturb_frames),
        repr(sorted(config.model_kwargs.items())),
        config.model,
        str(config.weights),
        str(config.frames),
        str(config.size),
        config.modality,
        config.flow_method,
    ]
    return hashlib.sha1("\0".join(parts).encode()).hexdigest()


def feature_backbone(
    config: TrainConfig, device: torch.device, weights_cache_dir: Path | None
) -> Callable[[torch.Tensor], np.ndarray]:
    """``features(video)``: pooled float32 features ``(B, D)`` of a uint8 ``[B, C, T, H, W]``
    batch, from the frozen backbone ``config.model`` (``config.weights``), built once.

    Without weights the backbone is random, and its draw must be the same when the SVM is
    fitted and each time its folder is loaded, or the SVM scores features of another
    network: it is drawn from ``config.seed`` (in a forked generator, the global one left
    alone).
    """
    from smokewatch.models import get_model
    from smokewatch.training.build import pretrained_from

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        backbone = get_model(
            config.model,
            weights=config.weights,
            num_classes=1,
            **pretrained_from(config, weights_cache_dir),
        )
    backbone = backbone.to(device).eval()
    prepared = prepare_on_cpu(backbone, device)
    transform = eval_transform(config, device)

    def features(video: torch.Tensor) -> np.ndarray:
        x = _layout(transform(video.to(device)), prepared)
        with torch.inference_mode():
            return np.asarray(backbone.features(x).float().cpu().numpy())

    return features


def clip_features_arrays(
    features: Callable[[torch.Tensor], np.ndarray],
    config: TrainConfig,
    clips: Sequence[np.ndarray] | np.ndarray,
    *,
    batch_size: int = 4,
) -> np.ndarray:
    """:func:`extract_clip_features` of in-memory uint8 clips ``[B, T, H, W, 3]`` (no cache),
    with a :func:`feature_backbone`."""
    rows = [
        features(array_batch(config, clips[start : start + batch_size]))
        for start in range(0, len(clips), batch_size)
    ]
    return np.concatenate(rows) if rows else np.zeros((0, 1024), np.float32)


def extract_clip_features(
    config: TrainConfig,
    items: Sequence[Any],
    *,
    device: str | torch.device = "cpu",
    batch_size: int = 4,
    workers: int = 0,
    cache_dir: Path | None = None,
    weights_cache_dir: Path | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Pooled Mixed_5c features of the frozen backbone ``config.model`` (``config.weights``).

    With ``cache_dir``, each clip's vector is kept in ``cache_dir/features`` (keyed by file,
    size, mtime and everything in the config that changes features), so cross-validation folds
    and repeated runs extract each clip once. ``weights_cache_dir``: where the pretrained
    ``config.weights`` are kept.
    """
    from smokewatch.core.atomic import atomic_path
    from smokewatch.training.features import DAMAGED_ENTRY

    dev = resolve_device(device)
    feats: list[np.ndarray | None] = [None] * len(items)
    store = cache_dir / "features" if cache_dir is not None else None
    # each clip's cache file, keyed once (the key stats the video)
    files = [store / f"{_feature_key(config, Path(it.path))}.npy" for it in items] if store else []
    todo = []
    for i in range(len(items)):
        if files and files[i].is_file():
            try:
                feats[i] = np.load(files[i])
            except DAMAGED_ENTRY:  # a damaged entry is a cache miss: extracted again
                feats[i] = None
            else:
                if on_batch is not None:
                    on_batch(1)
                continue
        todo.append(i)
    if todo:
        features = feature_backbone(config, dev, weights_cache_dir)
        loader = clip_loader(
            config, [items[i] for i in todo], batch_size=batch_size, workers=workers
        )
        slots = iter(todo)
        # one batch at a time, each clip's vector stored as soon as it exists: an interrupted
        # extraction keeps everything it finished
        for batch in loader:
            new = features(batch["video"])
            for row in new:
                i = next(slots)
                feats[i] = row
                if files:
                    with atomic_path(files[i]) as tmp:
                        np.save(tmp, row)
            if on_batch is not None:
                on_batch(len(new))
    return (
        np.stack([f for f in feats if f is not None]) if items else np.zeros((0, 1024), np.float32)
    )


def predict_svm(svm: Any, config: TrainConfig, items: Sequence[Any], **kwargs: Any) -> np.ndarray:
    """P(smoke) from the SVM's Platt-scaled decision values."""
    return svm_probabilities(svm, extract_clip_features(config, items, **kwargs))


def svm_probabilities(svm: Any, features: np.ndarray) -> np.ndarray:
    """P(smoke) per feature row: the SVM's Platt-scaled probability of class 1."""
    proba = svm.predict_proba(features)
    positive = list(svm.classes_).index(1)
    return np.asarray(proba[:, positive], dtype=np.float64)
