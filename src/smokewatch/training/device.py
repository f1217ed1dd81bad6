"""``--device``: from the user's words to a :class:`torch.device` this machine can run on.

Every place that runs a model resolves its device here, so ``--device banana``, ``--device
cuda`` on a machine (or a torch build) without CUDA and ``--device cuda:7`` on a two-GPU
machine are one line naming the option, not torch's RuntimeError or AssertionError traceback
from deep inside the first forward pass. No ``--device`` (``None``) means the same everywhere:
CUDA when this machine has it, else the CPU -- so ``evaluate`` scores where ``train`` trained.
"""

from __future__ import annotations

import torch

from smokewatch.errors import SmokewatchError

__all__ = ["DeviceError", "resolve_device"]


class DeviceError(SmokewatchError, ValueError):
    """A device that is not one, or one this machine does not have."""


def resolve_device(
    name: str | torch.device | None, *, check_available: bool = True
) -> torch.device:
    """``name`` (``cpu``, ``cuda``, ``cuda:1``, ``mps``) as a device this machine has.

    ``None`` (no ``--device`` given): ``cuda`` if this machine has a CUDA GPU, else ``cpu``.
    ``check_available`` False checks the spelling only: for a device that exists elsewhere
    (a Ray actor on a GPU node, scheduled from a machine without one).
    """
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if isinstance(name, torch.device):
        dev = name
    else:
        try:
            dev = torch.device(name)
        except (RuntimeError, ValueError, TypeError):
            raise DeviceError(
                f"--device {name}: not a device; give cpu, cuda, cuda:N or mps"
            ) from None
    if dev.type not in ("cpu", "cuda", "mps"):
        raise DeviceError(f"--device {name}: smokewatch runs on cpu, cuda or mps, not {dev.type}")
    if not check_available or dev.type == "cpu":
        return dev
    if dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise DeviceError(f"--device {name}: this machine has no Apple GPU (MPS)")
        return dev
    if not torch.cuda.is_available():
        build = "" if torch.version.cuda else " (this torch build has no CUDA)"
        raise DeviceError(f"--device {name}: this machine has no CUDA GPU{build}")
    count = torch.cuda.device_count()
    if dev.index is not None and dev.index >= count:
        raise DeviceError(
            f"--device {name}: this machine has {count} CUDA GPU{'s' if count > 1 else ''} "
            f"(cuda:0 to cuda:{count - 1})"
        )
    return dev
