"""Running a model over clips: probabilities for evaluation, features for the SVM.

Clips are decoded by :class:`~smokewatch.dataset.torch_data.ClipDataset` (DataLoader workers
decode while the model runs) and prepared by the evaluation transform (resize, [-1, 1]) on the
model's device, the same path validation uses during training.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from smokewatch.training.build import TrainModule, clip_scores, loss_fn
from smokewatch.training.config import TrainConfig

__all__ = ["clip_loader", "extract_clip_features", "predict_svm", "predict_torch"]


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
        config.size, train=False, perturb_frames=config.perturb_frames, modality=config.modality
    ).to(device)


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
    dev = torch.device(device)
    transform = eval_transform(config, dev)
    head = TrainModule(model, config.loss)
    was_training = model.training
    model.eval()
    # -FP shuffles frames in evaluation too: with a fixed seed, in a forked random state, so
    # predictions repeat and a training run's random stream is untouched by validation
    rng = torch.random.fork_rng(devices=[]) if config.perturb_frames else contextlib.nullcontext()
    probs: list[torch.Tensor] = []
    total, count = 0.0, 0
    try:
        with rng:
            if config.perturb_frames:
                torch.manual_seed(config.seed)
            loader = clip_loader(
                config, items, batch_size=batch_size, workers=workers, cache_dir=cache_dir
            )
            for batch in loader:
                x = _layout(transform(batch["video"].to(dev)), prepared)
                y = batch["label"].to(dev)
                out = head(x).float()
                total += float(loss_fn(out, y)) * len(y)
                count += len(y)
                probs.append(torch.sigmoid(clip_scores(out)).cpu())
                if on_batch is not None:
                    on_batch(len(y))
    finally:
        model.train(was_training)
    if not probs:
        return np.zeros(0, dtype=np.float64), float("nan")
    return torch.cat(probs).double().numpy(), total / max(count, 1)


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
    from smokewatch.models import get_model
    from smokewatch.training.build import pretrained_from

    dev = torch.device(device)
    feats: list[np.ndarray | None] = [None] * len(items)
    store = cache_dir / "features" if cache_dir is not None else None
    # each clip's cache file, keyed once (the key stats the video)
    files = [store / f"{_feature_key(config, Path(it.path))}.npy" for it in items] if store else []
    todo = []
    for i in range(len(items)):
        if files and files[i].is_file():
            feats[i] = np.load(files[i])
            if on_batch is not None:
                on_batch(1)
            continue
        todo.append(i)
    if todo:
        backbone = get_model(
            config.model,
            weights=config.weights,
            num_classes=1,
            **pretrained_from(config, weights_cache_dir),
        )
        backbone = backbone.to(dev).eval()
        prepared = prepare_on_cpu(backbone, dev)
        transform = eval_transform(config, dev)
        loader = clip_loader(
            config, [items[i] for i in todo], batch_size=batch_size, workers=workers
        )
        slots = iter(todo)
        # one batch at a time, each clip's vector stored as soon as it exists: an interrupted
        # extraction keeps everything it finished
        for batch in loader:
            x = _layout(transform(batch["video"].to(dev)), prepared)
            with torch.inference_mode():
                new = backbone.features(x).float().cpu().numpy()
            for row in new:
                i = next(slots)
                feats[i] = row
                if files:
                    with atomic_path(files[i]) as tmp:
                        np.save(tmp, row)
            if on_batch is not None:
                on_batch(len(x))
    return (
        np.stack([f for f in feats if f is not None]) if items else np.zeros((0, 1024), np.float32)
    )


def predict_svm(svm: Any, config: TrainConfig, items: Sequence[Any], **kwargs: Any) -> np.ndarray:
    """P(smoke) from the SVM's Platt-scaled decision values."""
    features = extract_clip_features(config, items, **kwargs)
    proba = svm.predict_proba(features)
    positive = list(svm.classes_).index(1)
    return np.asarray(proba[:, positive], dtype=np.float64)
