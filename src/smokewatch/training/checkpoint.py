"""Resumable training state, written atomically: a ``kill -9`` at any moment leaves either the
previous checkpoint or the new one, never half of one.

Loaded with ``torch.load(weights_only=True)``: a checkpoint holds tensors, numbers, strings and
containers only (random states included), so reading one never runs code from the file.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import torch

from smokewatch.core.atomic import atomic_path, remove_partials
from smokewatch.errors import SmokewatchError

__all__ = ["CheckpointError", "capture_rng", "load_checkpoint", "restore_rng", "save_checkpoint"]

FORMAT = "smokewatch.training.checkpoint"
VERSION = 1


class CheckpointError(SmokewatchError, ValueError):
    """A checkpoint that is missing, unreadable, or from another run."""


def capture_rng() -> dict[str, Any]:
    """This process's random states (torch CPU and CUDA, Python's ``random``)."""
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write a checkpoint atomically (a killed run's partial copy is removed first)."""
    remove_partials(path.parent, {path.name})
    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT, "version": VERSION, **payload}, tmp)


def load_checkpoint(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise CheckpointError(f"{path}: no checkpoint to resume from")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated or foreign file raises almost anything
        raise CheckpointError(f"{path}: not a readable checkpoint ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a smokewatch training checkpoint")
    if data.get("version") != VERSION:
        raise CheckpointError(f"{path}: checkpoint version {data.get('version')!r} unsupported")
    return data
