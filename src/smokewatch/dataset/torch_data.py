"""Labeled clips as a torch ``Dataset``: the bridge from metadata + a video folder to batches.

A dataset item is a whole clip as ``uint8 [C, T, H, W]``, its label and its label weight.
Everything random (augmentation, frame perturbation) happens later, on the model's device, in
:mod:`smokewatch.dataset.augment`: the loader workers only decode, so they stay cheap and the
data order is the only thing the loader's randomness decides.

* **Labels** come from :mod:`smokewatch.core.labels` (``final_label``, ``label_weight``) for RISE
  metadata, the same rules the labeling service uses, so a dataset never disagrees with the
  labels the service shows. Clips without a final label (undecided, bad) are left out.
* **Frames**: a clip has ``T`` frames (RISE: 36); asking for fewer takes ``frames`` evenly spaced
  ones, the middle frame of each of ``frames`` equal segments (deterministic, so validation
  sees the same frames every epoch). Asking for more than a clip has is an error naming it.
* **Flow** (``modality="flow"``) is computed from the decoded clip with
  :func:`smokewatch.dataset.flow.compute_flow` (consecutive-frame flow, RISE's ±20 px clip) and
  kept as RISE kept it: uint8 ``[2, T, H, W]``, 128 = no motion (:func:`flow_to_uint8`), so one
  ``normalize`` (``v / 127.5 - 1``) serves both modalities and the cache stays uint8.
* **Cache** (optional ``cache_dir``): the item's uint8 array, after frame selection, as one
  ``.npy`` per clip, written atomically. Its file name carries the key — clip stem, a hash of
  the video's absolute path, modality (and flow method), frame count, the video's byte size
  and modification time — so an edited or re-downloaded video misses the cache and is decoded
  again (the stale entry is then deleted). Flow is worth caching above all: DIS costs ~0.2 s
  per clip, TV-L1 tens of seconds.

Decoding goes through :mod:`smokewatch.video` (PyAV), whose errors name the file. Loader
workers each get their own PyAV/OpenCV state; :func:`worker_init_fn` pins them to one thread
each in torch (decoding threads would fight over this machine's two cores) and seeds numpy/random.
"""

from __future__ import annotations

import csv
import glob
import hashlib
import os
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from smokewatch.core.files import csv_header_text, read_user_text
from smokewatch.core.labels import final_label, label_weight
from smokewatch.core.metadata import load_records, read_metadata
from smokewatch.dataset.cache import load_clip_array, save_clip_array
from smokewatch.errors import MetadataError, SmokewatchError, VideoError

__all__ = [
    "ClipItem",
    "ClipDataset",
    "Modality",
    "cache_file",
    "clip_input",
    "frame_indices",
    "items_from_labels_csv",
    "items_from_metadata",
    "readable_items",
    "seed_worker",
    "worker_init_fn",
]

Modality = Literal["rgb", "flow"]

#: How many missing file names an error lists before "and N more".
_SHOW_MISSING = 5


@dataclass(frozen=True)
class ClipItem:
    """One labeled clip: where its video is, its label, how much to trust the label, its name."""

    path: Path  #: the mp4
    label: int  #: 1 smoke, 0 no smoke
    weight: float = 1.0  #: RISE label weight (how far labelers agreed); 1.0 when unknown
    key: str = ""  #: file name stem / RISE ``file_name``; names the clip in predictions

    def __post_init__(self) -> None:
        if self.label not in (0, 1):
            raise ValueError(f"{self.path}: label must be 0 or 1, got {self.label!r}")
        if not 0.0 <= float(self.weight) <= 1.0:
            raise ValueError(f"{self.path}: weight must be in [0, 1], got {self.weight!r}")
        if not self.key:
            object.__setattr__(self, "key", Path(self.path).stem)


# --------------------------------------------------------------------------------------------
# Items from RISE metadata or a labels CSV
# --------------------------------------------------------------------------------------------


def _missing_error(missing: list[Path], total: int, where: str) -> SmokewatchError:
    shown = ", ".join(str(p) for p in missing[:_SHOW_MISSING])
    more = f" and {len(missing) - _SHOW_MISSING} more" if len(missing) > _SHOW_MISSING else ""
    return SmokewatchError(
        f"{len(missing)} of {total} labeled clips have no video in {where}: {shown}{more}"
    )


def _clip_path(folder: Path, file_name: str, url_part: str | None) -> Path:
    """``folder/<file_name>.mp4`` (RISE's flat download folder) or, when that is absent, the
    labeling service's clip store layout ``folder/<url_part>``, so ``train --videos`` takes
    the service's ``videos`` folder as it is. A ``url_part`` that is a URL query (RISE's
    thumbnail server) or leaves the folder is not a place."""
    flat = folder / f"{file_name}.mp4"
    if flat.is_file() or not url_part or "?" in url_part or "\\" in url_part:
        return flat
    relative = Path(url_part)
    if relative.is_absolute() or ".." in relative.parts or relative.suffix != ".mp4":
        return flat
    stored = folder / relative
    return stored if stored.is_file() else flat


def items_from_metadata(
    metadata: Path | str | Sequence[Mapping[str, Any]],
    video_dir: Path | str,
    *,
    missing: Literal["error", "skip"] = "error",
) -> list[ClipItem]:
    """The labeled clips of a RISE metadata file (or its parsed records) found in ``video_dir``.

        Records are validated by :mod:`smokewatch.core.metadata`. A record's ``label``/``weight``
        (present in RISE's split files) is used as given; otherwise both are derived from
        ``label_state``/``label_state_admin`` with :func:`core.labels.final_label` and
        :func:`core.labels.label_weight`. Clips with no final label are left out, and so are bad
        clips and gold standards, as :func:`smokewatch.dataset.splits.labeled_clips` leaves
        them out of the splits (gold standards check volunteers' pages: training on them
        would train on the answers that score the crowd). The video of
        record ``file_name`` is ``video_dir / f"{file_name}.mp4"`` or, in the labeling service's
    clip store, ``video_dir / url_part``; missing videos raise one
        :class:`SmokewatchError` counting them and naming the first few (``missing="error"``), or
        are left out (``missing="skip"``).
    """
    if missing not in ("error", "skip"):
        raise ValueError(f"missing must be 'error' or 'skip', got {missing!r}")
    if isinstance(metadata, str | os.PathLike):
        clips = read_metadata(metadata)
    else:
        clips = load_records(list(metadata), source="metadata records")
    folder = Path(video_dir)
    items: list[ClipItem] = []
    absent: list[Path] = []
    for clip in clips:
        if clip.is_gold or clip.is_bad:  # as in `dataset split`: not RISE's dataset
            continue
        label = clip.label
        if label is None:
            label = final_label(clip.label_state, clip.label_state_admin)
        if label is None:
            continue
        weight = clip.weight
        if weight is None:
            weight = label_weight(clip.label_state, clip.label_state_admin)
        path = _clip_path(folder, clip.file_name, clip.url_part)
        if not path.is_file():
            absent.append(path)
            continue
        items.append(
            ClipItem(
                path=path, label=label, weight=1.0 if weight is None else weight, key=clip.file_name
            )
        )
    if absent and missing == "error":
        raise _missing_error(absent, len(items) + len(absent), str(folder))
    return items


def items_from_labels_csv(csv_path: Path | str, clips_dir: Path | str) -> list[ClipItem]:
    """Clips listed in a CSV with (at least) columns ``file,label``; other columns are ignored.

    ``file`` is a path relative to ``clips_dir`` (e.g. ``rise-hard-0001.mp4``), ``label`` is 0
    or 1; weights are 1. This is the format of ``evaluate --labels`` and of the shared
    ``clips.csv``. Errors (:class:`MetadataError`) name the CSV line: a missing column, an empty
    or non-binary label, a duplicate file. A listed file that is not in ``clips_dir`` is kept:
    it is a clip that cannot be read, which :func:`readable_items` leaves out and lists as it
    does a corrupt one (so one missing clip of 709 does not stop ``train`` or ``evaluate``,
    and ``--strict`` still makes it exit 1).
    """
    path = Path(csv_path)
    folder = Path(clips_dir)
    text = read_user_text(path, what="CSV file", error=MetadataError, encoding="utf-8-sig")
    reader = csv.DictReader(text.splitlines())
    fields = [f.strip() for f in (reader.fieldnames or [])]
    if not fields:
        raise MetadataError(f"{path}: empty CSV, expected a header row with file,label")
    reader.fieldnames = fields
    lacking = [c for c in ("file", "label") if c not in fields]
    if lacking:
        raise MetadataError(
            f"{path}: CSV header lacks column {', '.join(lacking)} "
            f"(has {csv_header_text(fields, text)})"
        )
    items: list[ClipItem] = []
    seen: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        name = (row.get("file") or "").strip()
        raw = (row.get("label") or "").strip()
        if not name:
            raise MetadataError(f"{path}, line {line}: empty 'file'")
        if raw not in ("0", "1"):
            raise MetadataError(f"{path}, line {line}: label of {name} must be 0 or 1, got {raw!r}")
        if name in seen:
            raise MetadataError(f"{path}, line {line}: {name} is listed again (line {seen[name]})")
        seen[name] = line
        clip = folder / name
        items.append(ClipItem(path=clip, label=int(raw), weight=1.0, key=Path(name).stem))
    if not items:
        raise MetadataError(f"{path}: no clips listed")
    return items


# --------------------------------------------------------------------------------------------
# Frames and cache
# --------------------------------------------------------------------------------------------


def frame_indices(length: int, frames: int) -> np.ndarray:
    """``frames`` evenly spaced indices into ``length`` frames: the middle of equal segments.

    ``frames == length`` gives every frame in order; fewer spreads them over the whole clip
    (36 -> 16 keeps 1, 3, 5, 7, 10, ...). Deterministic, so evaluation is repeatable.
    """
    if frames < 1:
        raise ValueError(f"frames must be at least 1, got {frames}")
    if frames > length:
        raise ValueError(f"cannot take {frames} frames from {length}")
    return ((np.arange(frames) + 0.5) * length / frames).astype(np.int64)


def clip_input(
    clip: np.ndarray, *, frames: int, modality: Modality = "rgb", flow_method: str = "dis"
) -> np.ndarray:
    """What a model reads of a decoded uint8 ``(T, H, W, 3)`` clip: ``(frames, H, W, C)``.

    :func:`frame_indices` of the clip, of its RGB or of its flow (computed over the whole
    clip first, as RISE did). The one definition, for clips decoded from files
    (:class:`ClipDataset`) and clips cropped in memory (detection), so both score alike.
    """
    idx = frame_indices(clip.shape[0], frames)
    if modality == "rgb":
        return np.ascontiguousarray(clip[idx])
    from smokewatch.dataset.flow import compute_flow, flow_to_uint8

    flow = compute_flow(clip, flow_method)  # type: ignore[arg-type]
    return np.ascontiguousarray(flow_to_uint8(flow)[idx])


def _modality_tag(modality: str, flow_method: str) -> str:
    return "rgb" if modality == "rgb" else f"flow-{flow_method}"


def _cache_prefix(video: Path, frames: int, tag: str) -> str:
    where = hashlib.sha1(str(video.resolve()).encode("utf-8")).hexdigest()[:10]
    return f"{video.stem}.{where}.{tag}.{frames}f"


def cache_file(
    video: Path | str, cache_dir: Path | str, *, frames: int, modality: str, flow_method: str
) -> Path:
    """The cache entry for one clip: ``<stem>.<path hash>.<modality>.<frames>f.<size>-<mtime>.npy``.

    Every part of the key is in the name, so a lookup is one ``stat``; the video's size and
    modification time (ns) make an edited video miss. Raises :class:`VideoError` if the video
    is gone.
    """
    p = Path(video)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise VideoError(f"{p}: no such file") from None
    prefix = _cache_prefix(p, frames, _modality_tag(modality, flow_method))
    return Path(cache_dir) / f"{prefix}.{st.st_size}-{st.st_mtime_ns}.npy"


def _store(arr: np.ndarray, target: Path) -> None:
    """Write ``arr`` atomically, then drop older entries of the same clip (stale keys)."""
    save_clip_array(arr, target)
    stem_prefix = target.name.rsplit(".", 2)[0]  # drop "<size>-<mtime>.npy"
    for old in glob.glob(
        os.path.join(glob.escape(str(target.parent)), glob.escape(stem_prefix) + ".*.npy")
    ):
        if Path(old) != target and not Path(old).name.startswith("."):
            Path(old).unlink(missing_ok=True)


def _packets(path: Path) -> int:
    """How many non-empty video packets ``path`` holds: reads the file, decodes nothing."""
    import av

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            return sum(1 for packet in container.demux(stream) if packet.size)
    except (av.FFmpegError, OSError, EOFError, IndexError) as exc:
        raise VideoError(f"{path}: corrupt video ({exc})") from None


def readable_items(
    items: Sequence[ClipItem],
    *,
    frames: int,
    modality: Modality = "rgb",
    flow_method: str = "dis",
    cache_dir: Path | str | None = None,
) -> tuple[list[ClipItem], list[str]]:
    """(the items whose video can be read, one message per item that cannot), in input order.

    Batch commands check every clip before their first step so that one corrupt file is left
    out and listed instead of stopping a run hours in (or, for ``evaluate``, writing nothing).
    The check reads each file without decoding it (about 2 ms a clip): the container opens
    and has a video stream (:func:`smokewatch.video.probe`), every frame it lists has its
    packet (an interrupted download has not), and there are at least ``frames`` of them. A
    clip with a fresh cache entry was decoded before and is not opened at all. Packets whose
    bytes are damaged still fail when decoded, with a :class:`VideoError` naming the file.
    """
    from smokewatch.video import probe

    good: list[ClipItem] = []
    bad: list[str] = []
    for item in items:
        path = Path(item.path)
        try:
            if cache_dir is not None:
                entry = cache_file(
                    path, cache_dir, frames=frames, modality=modality, flow_method=flow_method
                )
                if entry.is_file():
                    good.append(item)
                    continue
            listed = probe(path).frames
            present = _packets(path)
        except VideoError as exc:
            bad.append(str(exc))
            continue
        if present < listed:
            bad.append(
                f"{path}: truncated video, {present} of the {listed} frames its container "
                "lists are in the file"
            )
        elif present < frames:
            bad.append(f"{path}: has {present} frames, fewer than the {frames} asked for")
        else:
            good.append(item)
    return good, bad


# --------------------------------------------------------------------------------------------
# Dataset
# --------------------------------------------------------------------------------------------


class ClipDataset(Dataset[dict[str, Any]]):
    """Clips as ``dict(video=uint8 [C, T, H, W], label=f32 scalar, weight=f32 scalar, index)``.

    ``C`` is 3 for ``modality="rgb"`` (RGB) and 2 for ``"flow"`` (x, y; RISE's uint8 scaling,
    128 = still). Apply :class:`smokewatch.dataset.augment.VideoAugment` to the batch on the
    model's device. ``decoded`` counts this process's decodes (cache misses), for tests and
    benchmarks.
    """

    def __init__(
        self,
        items: Sequence[ClipItem],
        *,
        frames: int = 36,
        modality: Modality = "rgb",
        flow_method: str = "dis",
        cache_dir: Path | str | None = None,
    ) -> None:
        if modality not in ("rgb", "flow"):
            raise ValueError(f"modality must be 'rgb' or 'flow', got {modality!r}")
        if frames < 1:
            raise ValueError(f"frames must be at least 1, got {frames}")
        if modality == "flow":
            from smokewatch.dataset.flow import FLOW_METHODS

            if flow_method not in FLOW_METHODS:
                raise ValueError(
                    f"unknown flow method {flow_method!r}; choose one of {', '.join(FLOW_METHODS)}"
                )
        self.items = list(items)
        self.frames = frames
        self.modality: Modality = modality
        self.flow_method = flow_method
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.decoded = 0

    @property
    def channels(self) -> int:
        return 3 if self.modality == "rgb" else 2

    def __len__(self) -> int:
        return len(self.items)

    @property
    def labels(self) -> list[int]:
        """Every item's label, without decoding (for samplers and class weights)."""
        return [item.label for item in self.items]

    def _decode(self, path: Path) -> np.ndarray:
        """uint8 ``(T, H, W, C)`` for this dataset's frames and modality, from the video."""
        from smokewatch.video import read_clip  # PyAV only where something is decoded

        clip = read_clip(path)
        self.decoded += 1
        if clip.shape[0] < self.frames:
            raise VideoError(
                f"{path}: has {clip.shape[0]} frames, fewer than the {self.frames} asked for"
            )
        return clip_input(
            clip, frames=self.frames, modality=self.modality, flow_method=self.flow_method
        )

    def load(self, index: int) -> np.ndarray:
        """The uint8 ``(T, H, W, C)`` array of item ``index`` (from the cache when fresh)."""
        path = Path(self.items[index].path)
        if self.cache_dir is None:
            return self._decode(path)
        target = cache_file(
            path,
            self.cache_dir,
            frames=self.frames,
            modality=self.modality,
            flow_method=self.flow_method,
        )
        arr = load_clip_array(target, channels=self.channels, frames=self.frames)
        if arr is None:
            arr = self._decode(path)
            _store(arr, target)
        return arr

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < len(self.items):
            raise IndexError(f"index {index} out of range for {len(self.items)} clips")
        item = self.items[index]
        arr = self.load(index)
        video = torch.from_numpy(arr).permute(3, 0, 1, 2).contiguous()
        return {
            "video": video,
            "label": torch.tensor(float(item.label), dtype=torch.float32),
            "weight": torch.tensor(float(item.weight), dtype=torch.float32),
            "index": index,
        }


# --------------------------------------------------------------------------------------------
# DataLoader workers
# --------------------------------------------------------------------------------------------


def seed_worker(worker_id: int) -> None:
    """Seed numpy and ``random`` in a loader worker from torch's per-worker seed.

    torch seeds each worker as ``base_seed + worker_id`` (``base_seed`` drawn from the main
    process's RNG, or the loader's ``generator``), but not numpy or ``random``; this derives
    theirs from it, so a seeded run is repeatable with any number of workers.
    """
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def worker_init_fn(worker_id: int) -> None:
    """``DataLoader(worker_init_fn=...)``: one intra-op thread per worker, seeded numpy/random.

    Each worker decodes whole clips; letting torch in every worker start a thread per core
    oversubscribes the CPU and is slower, not faster.
    """
    torch.set_num_threads(1)
    # Not cv2.setNumThreads(1): in a forked worker it can wait forever on the parent's
    # OpenCV thread pool (seen here: a hang in pthread_cond_destroy).
    seed_worker(worker_id)
