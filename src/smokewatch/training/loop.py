"""The training loop: the paper's schedule, resumable to the bit, one or many processes.

* SGD (momentum, weight decay), learning rate x0.1 at each milestone, gradient accumulation,
  AMP on CUDA; the global batch is per-device batch x processes x ``accumulate``.
* ``torchrun`` starts several processes: DDP over NCCL on GPUs, gloo on CPUs. Each process
  sees its own slice of the same global batch (:mod:`~smokewatch.training.sampling`), each
  clip augmented from its place in the stream, so N processes train on one process's clips,
  augmented alike (tested). What stays per process: batch-norm statistics (each process
  normalises its own slice, as RISE's per-GPU batches did) and dropout masks (seeded by rank).
* Validation every ``val_every`` steps (on process 0). The chosen weights are those of the best
  validation at or after ``select_after`` by ``select_by`` (F1 by default; ties: the lowest
  validation loss) -- chosen by the loop, where the original picked them by hand. With
  ``choose_threshold`` each validation's scores are at the threshold with the best F1 on its
  clips, and the chosen one's threshold goes into the model (``probability_threshold``). With
  ``select_after`` past ``steps`` no validation can choose: the run warns before its first
  step and the final weights are the model (:func:`selection_warning`).
* ``last.pt`` (atomic) holds everything a resume needs: weights, optimizer, scheduler, step, the
  validation history, every process's random state and a fingerprint of the training and
  validation clips (:func:`data_fingerprint`; a resume on other clips is refused). ``--resume``
  after ``kill -9`` ends with the same weights as a run that was never interrupted (tested).
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import math
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from smokewatch.training.build import (
    TrainingError,
    TrainModule,
    apply_frozen_eval,
    build_model,
    loss_fn,
    unwrap,
)
from smokewatch.training.checkpoint import (
    capture_rng,
    load_checkpoint,
    restore_rng,
    save_checkpoint,
)
from smokewatch.training.config import TrainConfig
from smokewatch.training.device import resolve_device
from smokewatch.training.metrics import binary_metrics
from smokewatch.training.progress import Progress
from smokewatch.training.sampling import StreamBatchSampler

__all__ = [
    "Distributed",
    "TrainResult",
    "clips_digest",
    "data_fingerprint",
    "selection_warning",
    "train",
    "validation_threshold",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Distributed:
    """This process's place in a ``torchrun`` job (a single process: rank 0 of 1)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls) -> Distributed:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world == 1:
            return cls()
        return cls(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))


@dataclass
class TrainResult:
    model_dir: Path
    chosen_step: int
    validation: dict[str, Any] | None
    history: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


def _device(requested: str | None, ddp: Distributed) -> torch.device:
    if requested:
        dev = resolve_device(requested)
        if dev.type == "cuda" and ddp.world > 1:
            if dev.index is not None:
                raise TrainingError(
                    f"--device {requested} under torchrun: give --device cuda, each process "
                    "takes the GPU of its LOCAL_RANK"
                )
            return resolve_device(torch.device("cuda", ddp.local_rank))
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda", ddp.local_rank)
    return torch.device("cpu")


def _diverged(loss: float, ddp: Distributed, dev: torch.device) -> bool:
    """Whether this step's loss is NaN or infinite on any process (all of them agree, so all
    stop together instead of waiting for each other at the next gradient sync)."""
    bad = not math.isfinite(loss)
    if ddp.world == 1:
        return bad
    flag = torch.tensor([float(bad)], device=dev)
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return bool(flag.item())


def data_fingerprint(train_items: Sequence[Any], val_items: Sequence[Any]) -> dict[str, Any]:
    """What a checkpoint remembers of its clips: counts and a hash of each ordered list.

    The sampler draws clips by position, so resuming on other clips -- or the same ones in
    another order -- would silently continue a different run; ``--resume`` compares this.
    Each clip counts by its name (``key``), label and weight, not its path, so a run can be
    resumed with its clips moved to another folder.
    """
    return {
        "train": clips_digest(train_items),
        "validation": clips_digest(val_items),
        "train_clips": len(train_items),
        "validation_clips": len(val_items),
    }


def clips_digest(items: Sequence[Any], *, ordered: bool = True) -> str:
    """sha256 of clips by name (``key``), label and weight, one line each: in the given order
    (a sampler's positions matter), or sorted (``ordered=False``: only which clips)."""
    import hashlib

    lines = [f"{it.key}\0{int(it.label)}\0{float(it.weight)!r}" for it in items]
    h = hashlib.sha256()
    for line in lines if ordered else sorted(lines):
        h.update(f"{line}\n".encode())
    return h.hexdigest()


def selection_warning(config: TrainConfig, validation_clips: int) -> str | None:
    """Why no validation of this run can choose its weights, or None when one can.

    Validations at or after ``select_after`` choose; the last one is at ``steps``. With
    ``select_after`` past it, the validation clips are scored but never used and the final
    weights become the model: a warning (not an error, so a short trial run such as
    ``--set steps=5`` of a preset still runs), said before the first step.
    """
    if validation_clips and config.val_every and config.select_after > config.steps:
        return (
            f"select_after {config.select_after} is past the last step ({config.steps}): no "
            f"validation can choose the weights, so the final weights (step {config.steps}) "
            f"become the model; set select_after <= steps to choose by validation F1"
        )
    return None


def _score(record: dict[str, Any], by: str) -> float:
    """``record``'s ``by`` score, or -inf where it does not exist: a validation record keeps
    a missing ROC-AUC (one class) as None (``BinaryMetrics.as_dict``), older ones as NaN."""
    value = record.get(by)
    if value is None:
        return -math.inf
    score = float(value)
    return -math.inf if math.isnan(score) else score


def _better(candidate: dict[str, Any], best: dict[str, Any] | None, by: str = "f1") -> bool:
    """Whether validation ``candidate`` beats ``best`` by ``by`` (``select_by``); ties, and an
    ROC-AUC that does not exist (one class), go to the lower loss."""
    if best is None:
        return True
    if by != "loss":
        a, b = _score(candidate, by), _score(best, by)
        if a != b:
            return a > b
    return bool(candidate["loss"] < best["loss"])


def validation_threshold(labels: Sequence[int], probs: np.ndarray, fixed: float) -> float:
    """The threshold with the best F1 on validation clips (``choose_threshold``), kept
    strictly inside (0, 1); ``fixed`` when the clips hold one class only (no F1 to trade)."""
    from smokewatch.training.nested import choose_threshold

    y = np.asarray(labels)
    if len(np.unique(y)) < 2:
        return fixed
    cut = choose_threshold(y, probs)
    if cut <= 0:  # every clip smoke is best: the lowest probability still is (p >= cut)
        cut = float(np.min(probs))
    # inside (0, 1) as a preset's threshold must be, moving no probability across it
    return float(min(max(cut, 1e-12), 1.0 - 1e-12))


class _Board:
    """TensorBoard scalars (losses, lr, P/R/F) when ``tensorboard`` is installed."""

    def __init__(self, enabled: bool, logdir: Path) -> None:
        self.writer: Any = None
        if enabled:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # optional: training works without it
                log.warning("tensorboard is not installed; no TensorBoard logs")
                return
            self.writer = SummaryWriter(str(logdir))

    def scalars(self, step: int, **values: float) -> None:
        if self.writer is not None:
            for key, value in values.items():
                if value is not None and not (isinstance(value, float) and math.isnan(value)):
                    self.writer.add_scalar(key, value, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def train(
    config: TrainConfig,
    train_items: Sequence[Any],
    val_items: Sequence[Any],
    out_dir: Path,
    *,
    resume: bool = False,
    device: str | None = None,
    init_dir: Path | None = None,
    cache_dir: Path | None = None,
    weights_cache_dir: Path | None = None,
    progress: bool = True,
    stop_after: int | None = None,
    on_step: Callable[[int], None] | None = None,
) -> TrainResult:
    """Train ``config`` on ``train_items``, choosing weights on ``val_items``; write ``out_dir``.

    ``out_dir`` gets ``last.pt`` (resumable state), ``best.pt`` (weights of the best validation
    so far), ``tb/`` (TensorBoard) and, at the end, ``model/`` (:mod:`~smokewatch.training.saved`).
    ``stop_after``: stop (resumably) after that many steps in this call -- for tests and for
    splitting a long run over sessions. ``cache_dir`` keeps decoded clips;
    ``weights_cache_dir`` is where the preset's pretrained weights are kept.
    """
    from smokewatch.dataset.augment import VideoAugment
    from smokewatch.training.predict import clip_loader, predict_torch
    from smokewatch.training.saved import write_model_dir

    if config.kind != "torch":
        raise ValueError(f"{config.name} is an SVM preset; use train_svm")
    ddp = Distributed.from_env()
    dev = _device(device, ddp)
    if ddp.world > 1 and not dist.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        # a generous timeout: the other processes wait at a barrier while process 0 validates
        dist.init_process_group(backend, timeout=datetime.timedelta(hours=2))
    per_device = config.per_device_batch(ddp.world)
    warning = selection_warning(config, len(val_items))
    if warning is not None and ddp.main:
        log.warning("warning: %s", warning)
    out_dir.mkdir(parents=True, exist_ok=True)
    last_path, best_path = out_dir / "last.pt", out_dir / "best.pt"

    torch.manual_seed(config.seed + ddp.rank)
    random.seed(config.seed + ddp.rank)
    model, frozen = build_model(config, init_dir=init_dir, weights_cache_dir=weights_cache_dir)
    model.to(dev)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(
        params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, config.milestones, gamma=0.1)
    use_amp = config.amp and dev.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)

    step, history, best = 0, [], None
    data = data_fingerprint(train_items, val_items)
    if resume:
        state = load_checkpoint(last_path)
        from smokewatch.training.checkpoint import CheckpointError

        if state["config"] != config.model_dump():
            raise CheckpointError(f"{last_path}: written by a run with another configuration")
        then = state.get("data")  # absent in checkpoints written before it was kept
        if then is not None and then != data:
            raise CheckpointError(
                f"{last_path}: written by a run on other clips ({then['train_clips']} training, "
                f"{then['validation_clips']} validation; now {data['train_clips']} and "
                f"{data['validation_clips']}, or the same counts of other or reordered clips); "
                "resume with the clips it began with, or use another output folder"
            )
        if len(state["rng"]) != ddp.world:
            raise CheckpointError(
                f"{last_path}: written by a run of {len(state['rng'])} process(es); resume it "
                f"with as many (this is {ddp.world}) to continue it exactly"
            )
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if state["scaler"]:  # empty when the run began without AMP (e.g. on a CPU)
            scaler.load_state_dict(state["scaler"])
        step, history, best = state["step"], list(state["history"]), state["best"]
        restore_rng(state["rng"][ddp.rank])
    elif last_path.exists():
        from smokewatch.training.checkpoint import CheckpointError

        raise CheckpointError(
            f"{out_dir} already holds a run (last.pt); use --resume to continue it, "
            "or another output folder"
        )

    net: nn.Module = TrainModule(model, config.loss)
    wrapped: DistributedDataParallel | None = None
    if ddp.world > 1:
        wrapped = DistributedDataParallel(
            net, device_ids=[dev.index] if dev.type == "cuda" else None
        )
        net = wrapped
    augment = VideoAugment(
        config.size,
        train=True,
        augment=config.augment,
        perturb_frames=config.perturb_frames,
        modality=config.modality,
    ).to(dev)
    stop = config.steps if stop_after is None else min(config.steps, step + stop_after)
    sampler = StreamBatchSampler(
        len(train_items),
        per_device,
        seed=config.seed,
        start=step * config.accumulate,
        stop=stop * config.accumulate,
        rank=ddp.rank,
        world=ddp.world,
    )
    loader = clip_loader(
        config,
        train_items,
        batch_size=per_device,
        workers=config.workers,
        cache_dir=cache_dir,
        batch_sampler=sampler,
    )
    batches = iter(loader)
    bar = Progress(progress and ddp.main, config.steps, config.name, done=step).__enter__()
    board = _Board(ddp.main, out_dir / "tb")
    started = time.perf_counter()

    def checkpoint() -> None:
        rngs = [capture_rng()]
        if ddp.world > 1:
            gathered: list[Any] = [None] * ddp.world
            dist.all_gather_object(gathered, rngs[0])
            rngs = gathered
        if ddp.main:
            save_checkpoint(
                last_path,
                {
                    "config": config.model_dump(),
                    "data": data,
                    "step": step,
                    "model": unwrap(model).state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "scaler": scaler.state_dict(),
                    "history": history,
                    "best": best,
                    "rng": rngs,
                },
            )
        if ddp.world > 1:
            dist.barrier()

    def validate() -> None:
        failure: BaseException | None = None
        if ddp.main:
            try:
                _validate_main()
            except BaseException as exc:  # the other processes must hear of it, not wait forever
                failure = exc
        if ddp.world > 1:
            said = [repr(failure) if failure is not None else ""]
            dist.broadcast_object_list(said, src=0)
            if said[0] and not ddp.main:
                raise TrainingError(f"process 0 failed during validation: {said[0]}")
        if failure is not None:
            raise failure

    def _validate_main() -> None:
        nonlocal best
        probs, loss = predict_torch(
            model,
            config,
            val_items,
            device=dev,
            batch_size=per_device,
            workers=config.workers,
            cache_dir=cache_dir,
        )
        if not np.isfinite(probs).all():
            raise TrainingError(
                f"training diverged by step {step}: the model gives NaN for validation "
                f"clips; no model was saved (lower lr, now {config.lr:g})"
            )
        labels = [item.label for item in val_items]
        cut = config.threshold
        if config.choose_threshold:
            cut = validation_threshold(labels, probs, config.threshold)
        scores = binary_metrics(labels, probs, threshold=cut).as_dict()
        record = {"step": step, "loss": loss, "threshold": cut, **scores}
        history.append(record)
        board.scalars(
            step,
            **{f"val/{k}": record[k] for k in ("loss", "precision", "recall", "f1", "roc_auc")},
        )
        if step >= config.select_after and _better(record, best, config.select_by):
            best = record
            from smokewatch.core.atomic import atomic_path

            with atomic_path(best_path) as tmp:
                torch.save(unwrap(model).state_dict(), tmp)

    try:
        model.train()
        apply_frozen_eval(frozen)
        while step < stop:
            running = 0.0
            for micro in range(config.accumulate):
                batch = next(batches)
                x = batch["video"].to(dev, non_blocking=True)
                y = batch["label"].to(dev, non_blocking=True)
                with torch.no_grad():  # each clip augmented from its place in the stream
                    x = augment(x, keys=sampler.keys_at(step * config.accumulate + micro))
                sync = ddp.world == 1 or micro == config.accumulate - 1
                # gradients sync on the last micro-batch only
                ctx = (
                    wrapped.no_sync()
                    if wrapped is not None and not sync
                    else contextlib.nullcontext()
                )
                with ctx, torch.autocast(dev.type, enabled=use_amp):
                    loss = loss_fn(net(x).float(), y) / config.accumulate
                # torch.autograd.backward is Tensor.backward, with type hints
                torch.autograd.backward(scaler.scale(loss))
                running += float(loss.detach())
            if _diverged(running, ddp, dev):  # before the update: a NaN step is never taken
                raise TrainingError(
                    f"training diverged at step {step + 1} (epoch "
                    f"{step * config.batch_size // len(train_items) + 1}): the loss is not "
                    f"finite ({running}); no model was saved (lower lr, now "
                    f"{optimizer.param_groups[0]['lr']:g})"
                )
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            scheduler.step()
            step += 1
            lr = optimizer.param_groups[0]["lr"]
            board.scalars(step, **{"train/loss": running, "train/lr": lr})
            validated = (
                bool(val_items)
                and config.val_every
                and (step % config.val_every == 0 or step == config.steps)
            )
            if validated:
                validate()
                model.train()
                apply_frozen_eval(frozen)
            if (
                validated
                or (config.checkpoint_every and step % config.checkpoint_every == 0)
                or step == stop
            ):
                checkpoint()
            last = history[-1] if history else None
            status = f"loss {running:.3f} lr {lr:.2g}"
            if last is not None:
                status += f" | val F1 {last['f1']:.3f} @ {last['step']}"
            bar.update(step, status)
            if on_step is not None:
                on_step(step)
    finally:
        bar.__exit__()
        board.close()

    result_dir = out_dir / "model"
    if step < config.steps:  # stopped early on request: resumable, no model yet
        return TrainResult(result_dir, step, best, history, time.perf_counter() - started)
    if best is not None:
        chosen = torch.load(best_path, map_location="cpu", weights_only=True)
        chosen_step = int(best["step"])
    else:
        chosen, chosen_step = unwrap(model).state_dict(), step
    if not all(t.isfinite().all() for t in chosen.values() if t.is_floating_point()):
        # the last update can overflow with a loss that was still finite
        raise TrainingError(
            f"training diverged at step {chosen_step}: the weights are not finite (NaN); "
            f"no model was saved (lower lr, now {config.lr:g})"
        )
    if ddp.main:
        write_model_dir(
            result_dir,
            config,
            state_dict=chosen,
            info={
                "chosen_step": chosen_step,
                "validation": best,
                # the threshold predictions are cut at (evaluate, explain): the preset's, or
                # with choose_threshold the chosen validation's
                "probability_threshold": (
                    float(best["threshold"]) if best is not None else config.threshold
                ),
                "history": history,
                "train_clips": len(train_items),
                "validation_clips": len(val_items),
                "processes": ddp.world,
                "device": dev.type,
            },
        )
    if ddp.world > 1:
        dist.barrier()
    return TrainResult(result_dir, chosen_step, best, history, time.perf_counter() - started)
