"""dataset.torch_data: items from metadata / CSV, decoded clips as tensors, the item cache."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from smokewatch import video
from smokewatch.core.labels import State
from smokewatch.dataset import torch_data
from smokewatch.dataset.torch_data import (
    ClipDataset,
    ClipItem,
    cache_file,
    frame_indices,
    items_from_labels_csv,
    items_from_metadata,
    readable_items,
    worker_init_fn,
)
from smokewatch.errors import MetadataError, SmokewatchError, VideoError
from tests.videos import garbage_file, make_clip, make_clips, truncate

NAME = "0-0-2018-06-11-6304-964-6807-1467-180-180-{frame}-1528712115-1528712290"


def _record(i: int, citizen: int, admin: int, **extra: object) -> dict[str, object]:
    return {
        "camera_id": 0,
        "view_id": 0,
        "id": i,
        "label_state": citizen,
        "label_state_admin": admin,
        "start_time": 1528712115,
        "file_name": NAME.format(frame=1000 + i),
        **extra,
    }


def _count_decodes(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    calls = {"n": 0}
    real = video.read_clip

    def counting(*args: object, **kwargs: object) -> np.ndarray:
        calls["n"] += 1
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(video, "read_clip", counting)
    return calls


# ------------------------------------------------------------------------------ metadata


def test_items_from_metadata_derives_labels_and_drops_undecided_bad_and_gold_clips(
    tmp_path: Path,
) -> None:
    records = [
        _record(1, State.STRONG_POS, State.NO_DATA),  # citizens: smoke, weight 1
        _record(2, State.WEAK_NEG, State.NO_DATA),  # discord settled: no smoke, 0.66
        _record(3, State.STRONG_POS, State.STRONG_NEG),  # researcher overrules: 0, 0.5
        _record(4, State.ONE_YES, State.NO_DATA),  # undecided: left out
        _record(5, State.NO_DATA, State.BAD),  # bad clip: left out
        _record(6, State.NO_DATA, State.GOLD_POS),  # gold standard: checks pages, not data
        _record(7, State.STRONG_POS, State.GOLD_NEG),  # a gold standard citizens answered
    ]
    for r in records:
        (tmp_path / f"{r['file_name']}.mp4").touch()
    items = items_from_metadata(records, tmp_path)
    got = [(it.key, it.label, it.weight) for it in items]
    assert got == [
        (NAME.format(frame=1001), 1, 1.0),
        (NAME.format(frame=1002), 0, 0.66),
        (NAME.format(frame=1003), 0, 0.5),
    ]
    assert items[0].path == tmp_path / f"{NAME.format(frame=1001)}.mp4"


def test_items_from_metadata_uses_a_split_files_label_and_weight(tmp_path: Path) -> None:
    path = tmp_path / "split.json"
    rec = _record(1, State.NO_DATA, State.NO_DATA, label=1, weight=0.75)
    path.write_text(json.dumps([rec]))
    (tmp_path / f"{rec['file_name']}.mp4").touch()
    [item] = items_from_metadata(path, tmp_path)
    assert (item.label, item.weight) == (1, 0.75)


def test_missing_videos_are_counted_and_named_or_skipped(tmp_path: Path) -> None:
    records = [_record(i, State.STRONG_POS, State.NO_DATA) for i in range(1, 9)]
    (tmp_path / f"{records[0]['file_name']}.mp4").touch()
    with pytest.raises(SmokewatchError) as exc:
        items_from_metadata(records, tmp_path)
    message = str(exc.value)
    assert "7 of 8" in message
    assert NAME.format(frame=1002) in message and "and 2 more" in message
    assert NAME.format(frame=1008) not in message
    kept = items_from_metadata(records, tmp_path, missing="skip")
    assert [it.key for it in kept] == [NAME.format(frame=1001)]


def test_bad_metadata_is_a_metadata_error(tmp_path: Path) -> None:
    with pytest.raises(MetadataError, match="label_state"):
        items_from_metadata([_record(1, 7, -1)], tmp_path)


@pytest.mark.rise
def test_labels_match_the_published_split_files(rise_dir: Path, tmp_path: Path) -> None:
    """Labels derived from the two states agree with RISE's own, record by record."""
    dataset = json.loads((rise_dir / "metadata_02242020.json").read_text())
    published: dict[str, tuple[int, float]] = {}
    for name in ("metadata_test_split_0_by_camera.json", "metadata_train_split_by_date.json"):
        for r in json.loads((rise_dir / "split" / name).read_text()):
            published[r["file_name"]] = (r["label"], r["weight"])
    # A spread of states: every distinct (citizen, admin) pair, plus a few hundred records.
    chosen: dict[tuple[int, int], dict[str, object]] = {}
    for r in dataset:
        if r["file_name"] in published:
            chosen.setdefault((r["label_state"], r["label_state_admin"]), r)
    records = list(chosen.values()) + [r for r in dataset[:400] if r["file_name"] in published]
    records = list({r["file_name"]: r for r in records}.values())
    assert len(chosen) >= 8, "expected several kinds of label state in the sample"
    for r in records:
        (tmp_path / f"{r['file_name']}.mp4").touch()
    items = items_from_metadata(records, tmp_path)
    assert len(items) == len(records)  # every record in a split file has a label
    for item in items:
        assert (item.label, item.weight) == pytest.approx(published[item.key]), item.key


# ------------------------------------------------------------------------------ labels CSV


def test_items_from_labels_csv(tmp_path: Path) -> None:
    make_clips(tmp_path, ["a", "b"], frames=4, size=16)
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text("file,label,rgb_tc_pred,splits\na.mp4,1,0,s0 s4\nb.mp4,0,0,s1\n")
    items = items_from_labels_csv(csv_path, tmp_path)
    assert items == [
        ClipItem(tmp_path / "a.mp4", 1, 1.0, "a"),
        ClipItem(tmp_path / "b.mp4", 0, 1.0, "b"),
    ]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("name,label\na.mp4,1\n", "lacks column file"),
        ("file,smoke\na.mp4,1\n", "lacks column label"),
        ("file,label\na.mp4,1\nb.mp4,yes\n", r"line 3: label of b.mp4 must be 0 or 1, got 'yes'"),
        ("file,label\na.mp4,2\n", r"line 2: label of a.mp4 must be 0 or 1"),
        ("file,label\na.mp4,\n", r"line 2: .*got ''"),
        ("file,label\na.mp4,1\na.mp4,0\n", r"line 3: a.mp4 is listed again \(line 2\)"),
        ("", "empty CSV"),
        ("file,label\n", "no clips listed"),
    ],
)
def test_labels_csv_errors_name_the_line(tmp_path: Path, text: str, match: str) -> None:
    make_clip(tmp_path / "a.mp4", frames=4, size=16)
    (tmp_path / "b.mp4").touch()
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text(text)
    with pytest.raises(MetadataError, match=match):
        items_from_labels_csv(csv_path, tmp_path)


def test_a_listed_clip_that_is_missing_is_left_out_and_listed_like_a_corrupt_one(
    tmp_path: Path,
) -> None:
    """A clip of the CSV not in the folder does not stop the run at the CSV: like a clip
    that cannot be decoded, ``readable_items`` leaves it out and says why."""
    make_clip(tmp_path / "a.mp4", frames=4, size=16)
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text("file,label\na.mp4,1\nmissing.mp4,0\n")
    items = items_from_labels_csv(csv_path, tmp_path)
    assert [it.key for it in items] == ["a", "missing"]
    for cache in (None, tmp_path / "cache"):
        kept, bad = readable_items(items, frames=4, cache_dir=cache)
        assert kept == items[:1] and bad == [f"{tmp_path / 'missing.mp4'}: no such file"]


def test_evaluate_lists_a_missing_clip_and_exits_1_with_strict(tmp_path: Path) -> None:
    """The command line as the README says: left out and listed; ``--strict`` exits 1."""
    from cli_helpers import run_cli
    from model_dirs import tiny3d_model_dir

    make_clips(tmp_path, ["a", "b"], frames=8, size=32)
    labels = tmp_path / "labels.csv"
    labels.write_text("file,label\na.mp4,1\ngone.mp4,0\nb.mp4,0\n")
    model = tiny3d_model_dir(tmp_path / "model")
    args = ["evaluate", str(model), "--labels", str(labels), "--clips", str(tmp_path)]
    args += ["--device", "cpu", "--quiet", "--no-grids", "--out"]
    result = run_cli(*args, str(tmp_path / "eval"))
    assert result.exit_code == 0, result.output
    assert "skipped:" in result.stderr and "gone.mp4: no such file" in result.stderr
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["n"] == 2 and len(metrics["skipped"]) == 1
    strict = run_cli(*args, str(tmp_path / "strict"), "--strict")
    assert strict.exit_code == 1, strict.output


def test_labels_csv_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MetadataError, match="nope.csv: no such CSV file"):
        items_from_labels_csv(tmp_path / "nope.csv", tmp_path)


@pytest.mark.rise
def test_the_shared_clips_csv(rise_dir: Path) -> None:
    items = items_from_labels_csv(rise_dir / "clips.csv", rise_dir / "clips")
    assert len(items) == 709
    assert sum(it.label for it in items) == 358


# ------------------------------------------------------------------------------ dataset


def test_frame_indices() -> None:
    assert frame_indices(36, 36).tolist() == list(range(36))
    assert frame_indices(8, 4).tolist() == [1, 3, 5, 7]
    idx = frame_indices(36, 16)
    assert len(idx) == 16 and idx[0] >= 0 and idx[-1] <= 35
    assert np.all(np.diff(idx) >= 2)  # spread over the clip, not its start
    with pytest.raises(ValueError):
        frame_indices(8, 9)


def test_item_is_the_decoded_clip(tmp_path: Path) -> None:
    path = tmp_path / "a.mp4"
    make_clip(path, frames=8, size=32)
    ds = ClipDataset([ClipItem(path, 1, 0.66)], frames=8)
    item = ds[0]
    assert item["video"].dtype == torch.uint8
    assert item["video"].shape == (3, 8, 32, 32)
    expected = torch.from_numpy(video.read_clip(path)).permute(3, 0, 1, 2)
    assert torch.equal(item["video"], expected)
    assert item["label"].dtype == torch.float32 and item["label"].item() == 1.0
    assert item["weight"].dtype == torch.float32 and item["weight"].item() == pytest.approx(0.66)
    assert item["index"] == 0 and len(ds) == 1 and ds.labels == [1]


def test_fewer_frames_are_evenly_spaced(tmp_path: Path) -> None:
    path = tmp_path / "a.mp4"
    make_clip(path, frames=8, size=32)
    clip = video.read_clip(path)
    item = ClipDataset([ClipItem(path, 0)], frames=4)[0]
    expected = torch.from_numpy(clip[[1, 3, 5, 7]]).permute(3, 0, 1, 2)
    assert torch.equal(item["video"], expected)


def test_short_and_corrupt_videos_name_the_file(tmp_path: Path) -> None:
    short = tmp_path / "short.mp4"
    make_clip(short, frames=4, size=32)
    with pytest.raises(VideoError, match=r"short\.mp4: has 4 frames, fewer than the 8"):
        ClipDataset([ClipItem(short, 0)], frames=8)[0]
    cut = tmp_path / "cut.mp4"
    make_clip(cut, frames=8, size=32)
    truncate(cut, 0.4)
    with pytest.raises(VideoError, match=r"cut\.mp4"):
        ClipDataset([ClipItem(cut, 0)], frames=8)[0]
    junk = garbage_file(tmp_path / "junk.mp4")
    with pytest.raises(VideoError, match=r"junk\.mp4"):
        ClipDataset([ClipItem(junk, 0)], frames=8, cache_dir=tmp_path / "c")[0]
    assert not list((tmp_path / "c").glob("*")) if (tmp_path / "c").exists() else True


def test_readable_items_leaves_out_and_names_what_cannot_be_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_clip(tmp_path / "good.mp4", frames=8, size=32)
    good = ClipItem(tmp_path / "good.mp4", 1)
    short = tmp_path / "short.mp4"
    make_clip(short, frames=4, size=32)
    junk = garbage_file(tmp_path / "junk.mp4")
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    cut = tmp_path / "cut.mp4"  # an interrupted download: its header lists frames it lacks
    make_clip(cut, frames=8, size=32)
    truncate(cut, 0.6)
    items = [ClipItem(short, 0), good, ClipItem(junk, 0), ClipItem(empty, 1), ClipItem(cut, 1)]
    kept, bad = readable_items(items, frames=8)
    assert kept == [good]
    assert len(bad) == 4
    assert "short.mp4: has 4 frames, fewer than the 8" in bad[0]
    assert "junk.mp4" in bad[1] and "empty.mp4" in bad[2]
    assert "cut.mp4: truncated video" in bad[3]
    # a clip with a fresh cache entry was decoded before: it is not opened again
    cache = tmp_path / "cache"
    ClipDataset([good], frames=8, cache_dir=cache)[0]
    opened: list[Path] = []
    real = video.probe
    monkeypatch.setattr(video, "probe", lambda path: opened.append(Path(path)) or real(path))
    assert readable_items([good], frames=8, cache_dir=cache) == ([good], [])
    assert opened == []
    assert readable_items([good], frames=8) == ([good], []) and opened == [good.path]


def test_flow_items(tmp_path: Path) -> None:
    from smokewatch.dataset.flow import compute_flow, flow_to_uint8

    path = tmp_path / "a.mp4"
    make_clip(path, frames=8, size=32)
    item = ClipDataset([ClipItem(path, 1)], frames=4, modality="flow")[0]
    assert item["video"].dtype == torch.uint8 and item["video"].shape == (2, 4, 32, 32)
    full = flow_to_uint8(compute_flow(video.read_clip(path), "dis"))
    expected = torch.from_numpy(full[[1, 3, 5, 7]]).permute(3, 0, 1, 2)
    assert torch.equal(item["video"], expected)
    assert item["video"].float().std() > 0  # the square moves: not all "no motion"


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="modality"):
        ClipDataset([], modality="depth")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="flow method"):
        ClipDataset([], modality="flow", flow_method="magic")
    with pytest.raises(ValueError, match="label"):
        ClipItem(tmp_path / "a.mp4", 2)
    assert ClipItem(tmp_path / "x" / "clip-1.mp4", 0).key == "clip-1"


# ------------------------------------------------------------------------------ cache


def test_cache_hit_skips_decoding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = make_clips(tmp_path / "v", ["a", "b"], frames=8, size=32)
    items = [ClipItem(p, 0) for p in paths]
    cache = tmp_path / "cache"
    calls = _count_decodes(monkeypatch)
    first = [ClipDataset(items, frames=4, cache_dir=cache)[i]["video"] for i in range(2)]
    assert calls["n"] == 2 and len(list(cache.glob("*.npy"))) == 2
    ds = ClipDataset(items, frames=4, cache_dir=cache)  # a new epoch / process
    second = [ds[i]["video"] for i in range(2)]
    assert calls["n"] == 2 and ds.decoded == 0, "a cached clip must not be decoded again"
    for a, b in zip(first, second, strict=True):
        assert torch.equal(a, b)
    # Other frame counts and modalities are other keys, not the same entry.
    ClipDataset(items[:1], frames=8, cache_dir=cache)[0]
    ClipDataset(items[:1], frames=4, modality="flow", cache_dir=cache)[0]
    assert calls["n"] == 4 and len(list(cache.glob("*.npy"))) == 4


def test_stale_cache_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.mp4"
    make_clip(path, frames=8, size=32, seed=0)
    cache = tmp_path / "cache"
    old = ClipDataset([ClipItem(path, 0)], frames=8, cache_dir=cache)[0]["video"]
    old_entry = cache_file(path, cache, frames=8, modality="rgb", flow_method="dis")
    assert old_entry.exists()
    make_clip(path, frames=8, size=32, seed=3)  # re-encoded: new bytes, new mtime
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    calls = _count_decodes(monkeypatch)
    new = ClipDataset([ClipItem(path, 0)], frames=8, cache_dir=cache)[0]["video"]
    assert calls["n"] == 1
    assert not torch.equal(old, new)
    assert torch.equal(new, torch.from_numpy(video.read_clip(path)).permute(3, 0, 1, 2))
    assert not old_entry.exists(), "the stale entry is dropped"
    assert len(list(cache.glob("*.npy"))) == 1


def test_unreadable_cache_entry_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.mp4"
    make_clip(path, frames=8, size=32)
    cache = tmp_path / "cache"
    entry = cache_file(path, cache, frames=8, modality="rgb", flow_method="dis")
    entry.parent.mkdir()
    entry.write_bytes(b"\x93NUMPY garbage")
    calls = _count_decodes(monkeypatch)
    item = ClipDataset([ClipItem(path, 0)], frames=8, cache_dir=cache)[0]
    assert calls["n"] == 1 and item["video"].shape == (3, 8, 32, 32)
    assert np.load(entry).shape == (8, 32, 32, 3)


def test_cache_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.mp4"
    make_clip(path, frames=8, size=32)
    cache = tmp_path / "cache"

    def dying_save(f: object, arr: np.ndarray, **kw: object) -> None:
        f.write(b"\x93NUMPY half an array")  # type: ignore[attr-defined]
        raise KeyboardInterrupt

    monkeypatch.setattr(torch_data.np, "save", dying_save)
    with pytest.raises(KeyboardInterrupt):
        ClipDataset([ClipItem(path, 0)], frames=8, cache_dir=cache)[0]
    assert list(cache.iterdir()) == [], "no entry and no temporary file may be left behind"
    monkeypatch.undo()
    assert ClipDataset([ClipItem(path, 0)], frames=8, cache_dir=cache)[0]["video"].shape[1] == 8


# ------------------------------------------------------------------------------ loader


def test_dataloader_with_workers_is_deterministic(tmp_path: Path) -> None:
    paths = make_clips(tmp_path, [f"c{i}" for i in range(6)], frames=4, size=16)
    ds = ClipDataset([ClipItem(p, i % 2) for i, p in enumerate(paths)], frames=4)

    def order(seed: int) -> list[int]:
        loader = DataLoader(
            ds,
            batch_size=2,
            shuffle=True,
            num_workers=2,
            worker_init_fn=worker_init_fn,
            generator=torch.Generator().manual_seed(seed),
        )
        out = []
        for batch in loader:
            assert batch["video"].shape == (2, 3, 4, 16, 16)
            assert batch["video"].dtype == torch.uint8
            assert batch["label"].dtype == torch.float32 and batch["label"].shape == (2,)
            out += batch["index"].tolist()
        return out

    first = order(7)
    assert sorted(first) == list(range(6))
    assert order(7) == first


@pytest.mark.timeout(120)
def test_flow_in_workers_after_flow_in_the_parent(tmp_path: Path) -> None:
    """OpenCV state inherited through fork must not hang the workers (it did with
    cv2.setNumThreads in worker_init_fn)."""
    paths = make_clips(tmp_path, [f"c{i}" for i in range(4)], frames=4, size=16)
    ds = ClipDataset([ClipItem(p, 1) for p in paths], frames=4, modality="flow")
    parent = ds[0]["video"]
    loader = DataLoader(ds, batch_size=2, num_workers=2, worker_init_fn=worker_init_fn)
    batches = list(loader)
    assert torch.equal(batches[0]["video"][0], parent)
    assert batches[1]["video"].shape == (2, 2, 4, 16, 16)


def test_items_from_metadata_finds_clips_in_the_services_store(tmp_path: Path) -> None:
    """``labels export`` then ``train --videos DATA/videos``: clips at ``<url_part>``."""
    stored = _record(1, State.STRONG_POS, State.NO_DATA, url_part="2018-06-11/0-0/a.mp4")
    flat = _record(2, State.STRONG_NEG, State.NO_DATA, url_part="2018-06-11/0-0/b.mp4")
    hostile = _record(3, State.STRONG_POS, State.NO_DATA, url_part="../outside.mp4")
    query = _record(4, State.STRONG_POS, State.NO_DATA, url_part="?root=http://x&nframes=36")
    videos = tmp_path / "videos"
    (videos / "2018-06-11/0-0").mkdir(parents=True)
    (videos / "2018-06-11/0-0/a.mp4").touch()
    (videos / "2018-06-11/0-0/b.mp4").touch()
    (videos / f"{flat['file_name']}.mp4").touch()  # the flat file wins
    (tmp_path / "outside.mp4").touch()
    items = items_from_metadata([stored, flat, query], videos, missing="skip")
    assert [it.path for it in items] == [
        videos / "2018-06-11/0-0/a.mp4",
        videos / f"{flat['file_name']}.mp4",
    ]
    # a part leading out of the store is refused with the records, by name
    with pytest.raises(MetadataError, match="record 3, field 'url_part'"):
        items_from_metadata([stored, flat, query, hostile], videos, missing="skip")
