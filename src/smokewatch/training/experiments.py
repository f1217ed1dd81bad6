"""The paper's experiments: train and test each preset on each split (or fold), then tables.

Layout of an experiments folder (re-running it skips finished runs and resumes unfinished ones,
so a crash or Ctrl-C loses at most the steps since the last checkpoint)::

    OUT/<preset>/<S0|fold-1|...>/   last.pt, best.pt, tb/, model/   (the training run)
    OUT/<preset>/<S0|...>/clips.json the run's train/validation/test clips (:func:`run_clips`):
                                    a re-run on other folds (--seed, --folds, groups) is refused
    OUT/<preset>/<S0|...>/test/     predictions.csv, metrics.json, roc.png, confusion/
    OUT/results.json                every finished run's test metrics
    OUT/table_<metric>.md / .csv    rows = presets, columns = splits (or folds) + average
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from smokewatch.core.atomic import atomic_write_text
from smokewatch.training.config import TrainConfig

if TYPE_CHECKING:
    from smokewatch.dataset.splits import Split

__all__ = [
    "TABLE_METRICS",
    "cross_validate",
    "first_frame_thumbnails",
    "fold_items",
    "nested_cross_validate",
    "run_clips",
    "run_one",
    "run_splits",
    "split_items",
    "write_tables",
]

TABLE_METRICS = ("f1", "precision", "recall", "roc_auc", "accuracy")


def split_items(made: Split, video_dir: Path) -> dict[str, list[Any]]:
    """Train/validation/test clips of a RISE split (``make_splits``), videos in ``video_dir``."""
    from smokewatch.core.metadata import SPLIT_FIELDS, clip_to_record
    from smokewatch.dataset.splits import PARTS
    from smokewatch.dataset.torch_data import items_from_metadata

    return {
        part: items_from_metadata(
            [clip_to_record(c, SPLIT_FIELDS) for c in made.part(part)], video_dir
        )
        for part in PARTS
    }


def holdout(
    items: Sequence[Any], fraction: float, seed: int, groups: np.ndarray | None = None
) -> tuple[list[Any], list[Any]]:
    """A stratified, seeded validation slice of ``items``: (train, validation).

    Each class present gives ``max(1, round(n * fraction))`` of its ``n`` clips. With
    ``groups`` (one per item: scene clusters, :func:`scene_groups_of`), the slice is instead
    one fold of a stratified *grouped* split into ``max(2, round(1 / fraction))`` folds (so
    about that share of the clips), the first of the seeded folds that leaves both classes on
    both sides, and no scene is on both sides: a checkpoint chosen on clips of the scenes it
    trained on favours memorising them, the failure a grouped outer test fold then exposes.
    A fraction that would leave a class with no training clip (a large ``val_fraction``, or a
    class of one clip), or scenes that cannot be split so, is a
    :class:`~smokewatch.training.build.TrainingError` naming the counts: a model that never
    saw one class is not worth the hours, and an empty training set would otherwise fail deep
    in the sampler.
    """
    from smokewatch.training.build import TrainingError

    if fraction <= 0:
        return list(items), []
    if groups is not None:
        return _grouped_holdout(items, fraction, seed, np.asarray(groups))
    rng = np.random.default_rng(seed)
    train, val = [], []
    for label in (0, 1):
        members = [it for it in items if it.label == label]
        order = rng.permutation(len(members))
        k = max(1, round(len(members) * fraction)) if members else 0
        if members and k >= len(members):
            name = "smoke" if label else "no-smoke"
            raise TrainingError(
                f"val_fraction {fraction:g} holds out {k} of the {len(members)} {name} clips, "
                f"leaving none to train on ({len(items)} clips in all): lower val_fraction "
                "or give validation clips (--val-labels / --val-metadata)"
            )
        val += [members[i] for i in order[:k]]
        train += [members[i] for i in order[k:]]
    return train, val


def _grouped_holdout(
    items: Sequence[Any], fraction: float, seed: int, groups: np.ndarray
) -> tuple[list[Any], list[Any]]:
    from sklearn.model_selection import StratifiedGroupKFold

    from smokewatch.training.build import TrainingError

    if len(groups) != len(items):
        raise ValueError(f"{len(groups)} groups for {len(items)} clips")
    parts = max(2, round(1 / fraction))
    scenes = len(set(groups.tolist()))
    if scenes < parts:
        raise TrainingError(
            f"val_fraction {fraction:g} by scene needs at least {parts} scene groups, the "
            f"{len(items)} clips have {scenes}: raise val_fraction to at least 1/{scenes} or "
            "leave out --scene-groups"
        )
    labels = np.array([it.label for it in items])
    present = set(labels.tolist())
    splitter = StratifiedGroupKFold(n_splits=parts, shuffle=True, random_state=seed)
    for _, held in splitter.split(np.zeros(len(items)), labels, groups):
        chosen = np.zeros(len(items), dtype=bool)
        chosen[held] = True
        # both classes to train on, and both to choose a checkpoint by ROC-AUC and a threshold
        if set(labels[chosen].tolist()) == present == set(labels[~chosen].tolist()):
            return (
                [it for it, c in zip(items, chosen, strict=True) if not c],
                [it for it, c in zip(items, chosen, strict=True) if c],
            )
    raise TrainingError(
        f"val_fraction {fraction:g} by scene: no fold of the {scenes} scene groups holds out "
        f"clips of both classes and leaves both to train on ({len(items)} clips in all): the "
        "smoke or the no-smoke clips are in too few scenes; leave out --scene-groups"
    )


def fold_items(items: Sequence[Any], folds: int, seed: int) -> list[tuple[list[Any], list[Any]]]:
    """Stratified k-fold (scikit-learn's, shuffled with ``seed``): [(train, test), ...]."""
    from sklearn.model_selection import StratifiedKFold

    from smokewatch.training.build import TrainingError

    labels = np.array([it.label for it in items])
    if folds < 2:
        raise TrainingError("cross-validation needs at least 2 folds")
    if min(np.bincount(labels, minlength=2)) < folds:
        raise TrainingError(f"each class needs at least {folds} clips for {folds} folds")
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return [
        ([items[i] for i in tr], [items[i] for i in te])
        for tr, te in splitter.split(np.zeros(len(items)), labels)
    ]


#: The file in a run's folder naming the clips it was trained, validated and tested on.
RUN_CLIPS = "clips.json"


def _same_config(model_json: Path, config: TrainConfig) -> bool:
    """Whether the run described by ``model_json`` was trained with ``config``.

    Compared as JSON on both sides, after validating the stored one: ``model.json`` gives
    lists where the live config holds tuples (a heads preset's candidates and grids), so a
    plain dict comparison called every re-run of such a preset "other settings". Unreadable
    or invalid stored settings count as other settings.
    """
    try:
        earlier = json.loads(model_json.read_text(encoding="utf-8")).get("config")
        stored = TrainConfig.model_validate(earlier)
    except Exception:  # unreadable, not a dict, or settings this version no longer takes
        return False
    return bool(stored.model_dump(mode="json") == config.model_dump(mode="json"))


def run_clips(
    train_items: Sequence[Any], val_items: Sequence[Any], test_items: Sequence[Any]
) -> dict[str, Any]:
    """What a run folder remembers of its clips (``clips.json``): counts and a hash of each
    part's sorted clips.

    A run folder is named by preset and split/fold only, so the fold seed, fold count,
    scene groups and labels CSV are not in its name: without this, re-running into the same
    output folder with another ``--seed`` reused the other folds' results, or scored the
    old model on a test fold holding clips it had trained on. Sorted, because only which
    clips are in each part decides whether the results still hold; each clip counts by
    name, label and weight (as :func:`~smokewatch.training.loop.data_fingerprint`), so a
    clips folder can move.
    """
    from smokewatch.training.loop import clips_digest

    return {
        "train": clips_digest(train_items, ordered=False),
        "validation": clips_digest(val_items, ordered=False),
        "test": clips_digest(test_items, ordered=False),
        "train_clips": len(train_items),
        "validation_clips": len(val_items),
        "test_clips": len(test_items),
    }


def _check_run_clips(
    run_dir: Path,
    config: TrainConfig,
    train_items: Sequence[Any],
    val_items: Sequence[Any],
    test_items: Sequence[Any],
) -> None:
    """Refuse a run folder that holds a run on other clips; record the clips of a new one.

    Refused (as a run with other settings is) rather than redone: the folder may hold hours
    of training that the user meant to keep under another name. A folder written before
    ``clips.json`` was kept is not checked (as a checkpoint without its data fingerprint).
    """
    from smokewatch.training.build import TrainingError

    now = run_clips(train_items, val_items, test_items)
    path = run_dir / RUN_CLIPS
    if path.is_file():
        try:
            then = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise TrainingError(
                f"{path}: unreadable ({exc}); remove that run to train it again"
            ) from None
        if then != now:
            parts = ("train_clips", "validation_clips", "test_clips")
            said = then if isinstance(then, dict) else {}
            old = "/".join(str(said.get(p, "?")) for p in parts)
            new = "/".join(str(now[p]) for p in parts)
            which = f"as many, {new}, but not the same" if old == new else f"{old}; now {new}"
            raise TrainingError(
                f"{run_dir} holds a run of {config.name} on other clips (train/validation/test "
                f"{which}): the folds changed (--seed, --folds, --scene-groups or the labels); "
                "use another output folder (or remove that run) to run these"
            )
        return
    begun = [
        run_dir / "last.pt",
        run_dir / "best.pt",
        run_dir / "model" / "model.json",
        run_dir / "test" / "metrics.json",
    ]
    if not any(p.exists() for p in begun):  # a new run: its clips, before any of its files
        atomic_write_text(path, json.dumps(now, indent=2, sort_keys=True) + "\n")


def run_one(
    config: TrainConfig,
    train_items: Sequence[Any],
    val_items: Sequence[Any],
    test_items: Sequence[Any],
    run_dir: Path,
    *,
    init_dir: Path | None = None,
    device: str | None = None,
    cache_dir: Path | None = None,
    weights_cache_dir: Path | None = None,
    progress: bool = True,
    grids: bool = True,
) -> dict[str, Any]:
    """Train (or resume, or reuse) one run and test it; returns the test metrics."""
    from smokewatch.training.evaluate import evaluate_model

    done = run_dir / "test" / "metrics.json"
    made = run_dir / "model" / "model.json"
    if made.is_file() and not _same_config(made, config):
        from smokewatch.training.build import TrainingError

        raise TrainingError(
            f"{run_dir} holds a run of {config.name} with other settings; use another "
            "output folder (or remove that run) to train with these"
        )
    _check_run_clips(run_dir, config, train_items, val_items, test_items)
    if done.is_file():
        return dict(json.loads(done.read_text(encoding="utf-8")))
    if not (run_dir / "model" / "model.json").is_file():
        if config.kind == "heads":
            from smokewatch.training.heads import train_heads

            train_heads(
                config,
                [*train_items, *val_items],
                run_dir,
                cache_dir=cache_dir,
                weights_cache_dir=weights_cache_dir,
                progress=progress,
            )
        elif config.kind == "svm":
            from smokewatch.training.fit_svm import train_svm

            train_svm(
                config,
                train_items,
                run_dir,
                device=device,
                cache_dir=cache_dir,
                weights_cache_dir=weights_cache_dir,
                progress=progress,
            )
        else:
            from smokewatch.training.loop import train

            train(
                config,
                train_items,
                val_items,
                run_dir,
                resume=(run_dir / "last.pt").exists(),
                device=device,
                init_dir=init_dir,
                cache_dir=cache_dir,
                weights_cache_dir=weights_cache_dir,
                progress=progress,
            )
    evaluate_model(
        run_dir / "model",
        test_items,
        run_dir / "test",
        device=device,
        cache_dir=cache_dir,
        weights_cache_dir=weights_cache_dir,
        grids=grids,
        progress=progress,
        workers=config.workers,
    )
    return dict(json.loads(done.read_text(encoding="utf-8")))


def _init_dir(config: TrainConfig, out: Path, column: str) -> Path | None:
    if config.init_from is None:
        return None
    as_path = Path(config.init_from)
    if (as_path / "model.json").is_file():
        return as_path
    candidate = out / config.init_from / column / "model"
    if not (candidate / "model.json").is_file():
        from smokewatch.training.build import TrainingError

        raise TrainingError(
            f"{config.name} starts from {config.init_from}'s model for {column}, which is not "
            f"in {out} yet: run {config.init_from} first (or list it before {config.name})"
        )
    return candidate


def readable_for(
    configs: Sequence[TrainConfig],
    items: Sequence[Any],
    cache_dir: Path | None,
    on_skipped: Callable[[str], None] | None,
) -> list[Any]:
    """``items`` less the clips that cannot be read (each said to ``on_skipped``), checked
    once before hours of training rather than met at the first batch that draws them."""
    from smokewatch.dataset.torch_data import readable_items

    frames = max((1 if c.kind == "heads" else int(c.frames) for c in configs), default=1)
    first = configs[0] if configs else None
    good, bad = readable_items(
        items,
        frames=frames,
        modality=first.modality if first is not None else "rgb",
        flow_method=first.flow_method if first is not None else "dis",
        cache_dir=cache_dir,
    )
    for message in bad:
        if on_skipped is not None:
            on_skipped(message)
    return good


def _record(out: Path, preset: str, column: str, metrics: dict[str, Any]) -> dict[str, Any]:
    path = out / "results.json"
    results: dict[str, Any] = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    results.setdefault(preset, {})[column] = metrics
    atomic_write_text(path, json.dumps(results, indent=2, sort_keys=True) + "\n")
    return results


def run_splits(
    configs: Sequence[TrainConfig],
    metadata: Path,
    video_dir: Path,
    splits: Sequence[str],
    out: Path,
    *,
    device: str | None = None,
    cache_dir: Path | None = None,
    weights_cache_dir: Path | None = None,
    progress: bool = True,
    on_result: Callable[[str, str, dict[str, Any]], None] | None = None,
    on_skipped: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Each preset on each RISE split; the tables of Tables 7-11 from the test sets.

    Training and validation clips that cannot be read are left out (``on_skipped`` hears of
    each); the test sets' are skipped and listed by the evaluation."""
    from smokewatch.dataset.splits import RISE_SPLITS
    from smokewatch.training.build import TrainingError

    unknown = [s for s in splits if s not in RISE_SPLITS]
    if unknown:  # before hours of training on the good ones
        raise TrainingError(
            f"unknown split {', '.join(unknown)}; RISE's are {', '.join(RISE_SPLITS)}"
        )
    from smokewatch.core.metadata import read_metadata
    from smokewatch.dataset.splits import make_splits

    made = make_splits(read_metadata(metadata), splits)  # the metadata read once for all splits
    results: dict[str, Any] = {}
    for split in splits:
        parts = split_items(made[split], video_dir)
        fit = readable_for(configs, parts["train"], cache_dir, on_skipped)
        val = readable_for(configs, parts["validation"], cache_dir, on_skipped)
        for config in configs:
            metrics = run_one(
                config,
                fit,
                val,
                parts["test"],
                out / config.name / split,
                init_dir=_init_dir(config, out, split),
                device=device,
                cache_dir=cache_dir,
                weights_cache_dir=weights_cache_dir,
                progress=progress,
            )
            results = _record(out, config.name, split, metrics)
            if on_result is not None:
                on_result(config.name, split, metrics)
    write_tables(results, out, columns=list(splits))
    return results


def cross_validate(
    configs: Sequence[TrainConfig],
    items: Sequence[Any],
    folds: int,
    out: Path,
    *,
    seed: int = 0,
    device: str | None = None,
    cache_dir: Path | None = None,
    weights_cache_dir: Path | None = None,
    progress: bool = True,
    on_result: Callable[[str, str, dict[str, Any]], None] | None = None,
    given: dict[str, dict[str, float]] | None = None,
) -> dict[str, Any]:
    """Stratified ``folds``-fold cross-validation of each preset on labeled clips.

    A preset with ``val_fraction`` picks its checkpoint on that share of each training fold;
    the test fold is only ever scored. ``given``: other models' scores per clip file name
    (e.g. RISE's RGB-TC predictions in ``clips.csv``), scored on the same test folds so that
    they sit in the same tables.
    """
    from smokewatch.training.metrics import binary_metrics

    results: dict[str, Any] = {}
    columns = [f"fold-{k + 1}" for k in range(folds)]
    for k, (train_part, test_part) in enumerate(fold_items(items, folds, seed)):
        for name, scores in (given or {}).items():
            labels = [it.label for it in test_part]
            scored = binary_metrics(labels, [scores[str(it.path)] for it in test_part])
            results = _record(out, name, columns[k], {**scored.as_dict(), "n": scored.n})
        for config in configs:
            fit, val = holdout(train_part, config.val_fraction, config.seed + k)
            metrics = run_one(
                config,
                fit,
                val,
                test_part,
                out / config.name / columns[k],
                init_dir=_init_dir(config, out, columns[k]),
                device=device,
                cache_dir=cache_dir,
                weights_cache_dir=weights_cache_dir,
                progress=progress,
            )
            results = _record(out, config.name, columns[k], metrics)
            if on_result is not None:
                on_result(config.name, columns[k], metrics)
    write_tables(results, out, columns=columns)
    return results


def _fmt(value: Any) -> str:
    return (
        "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"
    )


def write_tables(results: dict[str, Any], out: Path, *, columns: Sequence[str]) -> list[Path]:
    """One Markdown and one CSV table per metric: rows = presets, columns + their average.

    ``results.json`` (written as runs finish) holds everything, per run, for other layouts.
    """
    written = []
    for metric in TABLE_METRICS:
        header = ["model", *columns, "average"]
        rows = []
        for preset, runs in results.items():
            values = [runs.get(c, {}).get(metric) for c in columns]
            present = [v for v in values if v is not None]
            avg = float(np.mean(present)) if len(present) == len(columns) and present else None
            rows.append([preset, *values, avg])
        md = io.StringIO()
        md.write(f"{metric}\n\n| " + " | ".join(header) + " |\n")
        md.write("|" + "---|" * len(header) + "\n")
        for row in rows:
            md.write("| " + " | ".join([row[0], *(_fmt(v) for v in row[1:])]) + " |\n")
        csv_buf = io.StringIO()
        writer = csv.writer(csv_buf, lineterminator="\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow([row[0], *(_fmt(v) for v in row[1:])])
        for path, text in (
            (out / f"table_{metric}.md", md.getvalue()),
            (out / f"table_{metric}.csv", csv_buf.getvalue()),
        ):
            atomic_write_text(path, text)
            written.append(path)
    return written


def first_frame_thumbnails(items: Sequence[Any], side: int = 32) -> np.ndarray:
    """Each clip's first frame as a ``side`` x ``side`` grey thumbnail, flattened: what
    :func:`smokewatch.training.nested.scene_groups` clusters."""
    import cv2

    from smokewatch.video import read_clip

    rows = []
    for it in items:
        frame = read_clip(it.path)[0]
        small = cv2.resize(frame, (side, side), interpolation=cv2.INTER_AREA)
        rows.append(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32).ravel())
    return np.stack(rows)


def scene_groups_of(
    items: Sequence[Any], labels: Path, clips: Path, column: str, per_family: int = 8
) -> np.ndarray:
    """Groups of look-alike clips for grouped folds: first-frame clusters (``per_family``) within
    each first word of ``column`` of the labels CSV (for RISE's clips, the test split a clip came
    from, which fixes its set of views)."""
    from smokewatch.training.build import TrainingError
    from smokewatch.training.nested import scene_groups

    with open(labels, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        reader.fieldnames = [n.strip() for n in (reader.fieldnames or [])]
        if column not in reader.fieldnames:
            raise TrainingError(f"{labels}: no column {column!r} to group by")
        family = {str(clips / r["file"].strip()): (r[column].split() or [""])[0] for r in reader}
    fams = [family[str(it.path)] for it in items]
    return scene_groups(first_frame_thumbnails(items), per_family, fams).astype(np.int64)


def nested_cross_validate(
    configs: Sequence[TrainConfig],
    items: Sequence[Any],
    folds: int,
    out: Path,
    *,
    seed: int = 0,
    groups: np.ndarray | None = None,
    cache_dir: Path | None = None,
    weights_cache_dir: Path | None = None,
    given: dict[str, dict[str, float]] | None = None,
    on_result: Callable[[str, str, dict[str, Any]], None] | None = None,
    device: str | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Nested CV: per outer fold, every choice made inside its training clips.

    ``kind: heads`` presets run their whole selection in each outer training fold
    (:func:`smokewatch.training.nested.nested_cv`); ``kind: svm`` presets on RGB I3D (RISE's
    RGB-SVM: nothing to choose) are fitted as they are on the same folds; ``kind: torch``
    presets are fine-tuned once per outer fold, choosing their checkpoint (and, with
    ``choose_threshold``, their threshold) on a ``val_fraction`` hold-out of its training
    clips, grouped by ``groups`` as the outer folds are (a GPU's work: one fine-tuning per
    fold, not per inner fold); ``given`` scores
    (RGB-TC's predictions) are scored on the same test folds. Writes ``results.json``, the
    tables and ``choices.json`` (what each fold chose).
    """
    from smokewatch.training.build import TrainingError
    from smokewatch.training.config import FeatureSpec
    from smokewatch.training.heads import candidates_of, feature_matrices
    from smokewatch.training.metrics import binary_metrics
    from smokewatch.training.nested import nested_cv, stratified_folds

    unchosen = [c.name for c in configs if c.kind == "torch" and not c.val_fraction]
    if unchosen:
        raise TrainingError(
            f"--nested: {', '.join(unchosen)} would choose nothing inside the training folds; "
            "give it a validation hold-out (--set val_fraction=0.2)"
        )
    out.mkdir(parents=True, exist_ok=True)
    y = np.array([it.label for it in items])
    paths = [Path(it.path) for it in items]
    columns = [f"fold-{k + 1}" for k in range(folds)]
    splits = stratified_folds(y, folds, seed, groups)
    results: dict[str, Any] = {}
    choices: dict[str, Any] = {}

    def record(name: str, k: int, metrics: dict[str, Any]) -> None:
        nonlocal results
        results = _record(out, name, columns[k], metrics)
        if on_result is not None:
            on_result(name, columns[k], metrics)

    for name, scores in (given or {}).items():
        for k, (_, test) in enumerate(splits):
            m = binary_metrics(y[test], [scores[str(paths[i])] for i in test])
            record(name, k, {**m.as_dict(), "n": m.n})
    for config in configs:
        if config.kind == "torch":
            for k, (train, test) in enumerate(splits):
                fit, val = holdout(
                    [items[i] for i in train],
                    config.val_fraction,
                    config.seed + k,
                    None if groups is None else np.asarray(groups)[train],
                )
                run_dir = out / config.name / columns[k]
                metrics = run_one(
                    config,
                    fit,
                    val,
                    [items[i] for i in test],
                    run_dir,
                    device=device,
                    cache_dir=cache_dir,
                    weights_cache_dir=weights_cache_dir,
                    progress=progress,
                    grids=False,
                )
                record(config.name, k, metrics)
                made = json.loads((run_dir / "model" / "model.json").read_text(encoding="utf-8"))
                choices.setdefault(config.name, {})[columns[k]] = {
                    "step": made.get("chosen_step"),
                    "threshold": made.get("probability_threshold", config.threshold),
                    "validation": made.get("validation"),
                }
            continue
        if config.kind == "svm":
            from smokewatch.models.svm import FeatureSVM

            if config.model != "i3d" or config.modality != "rgb":
                raise TrainingError(f"{config.name}: only RGB I3D SVMs are cached for --nested")
            spec = FeatureSpec(frames=config.frames, size=config.size)
            x = feature_matrices(
                {"x": spec}, paths, cache_dir=cache_dir, weights_cache_dir=weights_cache_dir
            )["x"]
            for k, (train, test) in enumerate(splits):
                params = {"random_state": config.seed, **config.svm, "probability": True}
                svm = FeatureSVM(**params).fit(x[train], y[train])
                positive = [int(c) for c in np.asarray(svm.classes_)].index(1)
                prob = np.asarray(svm.predict_proba(x[test]))[:, positive]
                m = binary_metrics(y[test], prob, threshold=config.threshold)
                record(config.name, k, {**m.as_dict(), "n": m.n})
            continue
        assert config.heads is not None
        feats = feature_matrices(
            dict(config.heads.candidates),
            paths,
            cache_dir=cache_dir,
            weights_cache_dir=weights_cache_dir,
        )
        runs = nested_cv(
            feats,
            y,
            candidates_of(config),
            outer_folds=folds,
            inner_folds=config.heads.inner_folds,
            seed=seed,
            groups=groups,
            fuse=config.heads.fuse,
            c_grid=config.heads.c_grid,
        )
        for r in runs:
            record(config.name, r.fold, r.metrics)
            choices.setdefault(config.name, {})[columns[r.fold]] = {
                "members": [m.name for m in r.choice.members],
                "C": r.choice.cs,
                "weights": r.choice.weights,
                "threshold": r.choice.threshold,
                "inner_roc_auc": r.choice.inner_auc,
            }
    atomic_write_text(out / "choices.json", json.dumps(choices, indent=2) + "\n")
    write_tables(results, out, columns=columns)
    return results
