"""``smokewatch train``, ``smokewatch evaluate`` and ``smokewatch experiments ...``.

torch is imported inside the verbs only. Clips come either from RISE metadata and a folder of
``<file_name>.mp4`` videos (``--metadata/--videos``) or from a labels CSV with columns
``file,label`` and a folder of clips (``--labels/--clips``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from smokewatch.cli._common import console, err_console, user_errors
from smokewatch.errors import SmokewatchError

experiments_app = typer.Typer(
    help="The paper's experiments: presets on splits S0-S5 or k-fold CV, as tables.",
    no_args_is_help=True,
)

_METADATA = typer.Option(
    None,
    "--metadata",
    help="RISE metadata JSON of the clips (labels from their label states).",
    dir_okay=False,
)
_VIDEOS = typer.Option(
    None, "--videos", help="Folder of <file_name>.mp4 for --metadata.", file_okay=False
)
_LABELS = typer.Option(
    None, "--labels", help="CSV with columns file,label (extra columns ignored).", dir_okay=False
)
_CLIPS = typer.Option(
    None, "--clips", help="Folder holding the files named in --labels.", file_okay=False
)
_DEVICE = typer.Option(
    None, "--device", help="cpu, cuda, cuda:1 ... (default: cuda if available, else cpu)."
)
_THREADS = typer.Option(0, "--threads", min=0, help="torch CPU threads (0: torch's default).")
_CACHE = typer.Option(
    None,
    "--cache-dir",
    help="Keep decoded clips and SVM features here "
    "(uint8 .npy) so later epochs and runs skip decoding.",
    file_okay=False,
)


def _weights_cache_dir() -> Path:
    """Where pretrained weights are kept: the settings' cache dir (SMOKEWATCH_CACHE_DIR)."""
    from smokewatch.settings import load_settings

    return load_settings().cache_dir


def _threads(n: int) -> None:
    if n:
        import torch

        torch.set_num_threads(n)


def _check_device(device: str | None) -> None:
    """A bad --device stops before any clip is read (not at the first forward pass)."""
    if device is not None:
        from smokewatch.training.device import resolve_device

        resolve_device(device)


def load_items(
    metadata: Path | None,
    videos: Path | None,
    labels: Path | None,
    clips: Path | None,
    *,
    what: str = "clips",
) -> list[Any]:
    """Labeled clips from --metadata/--videos or --labels/--clips (exactly one pair)."""
    from smokewatch.dataset.torch_data import items_from_labels_csv, items_from_metadata

    if (metadata is None) == (labels is None):
        raise SmokewatchError(
            f"give the {what} as --metadata M --videos DIR, or as "
            "--labels CSV --clips DIR (one of the two)"
        )
    if metadata is not None:
        if videos is None:
            raise SmokewatchError("--metadata needs --videos DIR (where <file_name>.mp4 are)")
        items = items_from_metadata(metadata, videos)
    else:
        if clips is None:
            raise SmokewatchError("--labels needs --clips DIR (where the listed files are)")
        items = items_from_labels_csv(labels, clips)  # type: ignore[arg-type]
    if not items:
        raise SmokewatchError(f"no labeled {what} found")
    return items


def _config(preset: str, overrides: list[str]) -> Any:
    from smokewatch.training.config import apply_overrides, load_config

    return apply_overrides(load_config(preset), overrides or [])


def _readable(
    items: list[Any], config: Any, cache_dir: Path | None, *, what: str
) -> tuple[list[Any], list[str]]:
    """``items`` without the clips that cannot be read (probed before any step), and why.

    A batch command leaves a corrupt clip out and lists it rather than stopping at it.
    """
    from smokewatch.dataset.torch_data import readable_items

    good, bad = readable_items(
        items,
        frames=_frames_read(config),
        modality=config.modality,
        flow_method=config.flow_method,
        cache_dir=cache_dir,
    )
    if not good:
        raise SmokewatchError(f"none of the {len(items)} {what} can be read (first: {bad[0]})")
    return good, bad


def _frames_read(config: Any) -> int:
    """How many frames a clip needs for ``config``: heads presets take what there is."""
    return 1 if config.kind == "heads" else int(config.frames)


def _list_skipped(skipped: list[str]) -> None:
    from smokewatch.cli._common import tagged

    for message in skipped:
        err_console.print(tagged("skipped:", "yellow", message), soft_wrap=True)


def train_command(
    preset: str = typer.Option(
        ..., "--preset", "-p", help="A preset name (smokewatch experiments presets) or a YAML file."
    ),
    out: Path = typer.Option(
        ...,
        "--out",
        "-o",
        help="Run folder: checkpoints, TensorBoard logs, and the trained model in OUT/model.",
        file_okay=False,
    ),
    metadata: Path | None = _METADATA,
    videos: Path | None = _VIDEOS,
    labels: Path | None = _LABELS,
    clips: Path | None = _CLIPS,
    val_metadata: Path | None = typer.Option(
        None, "--val-metadata", help="Validation clips (RISE metadata; videos from --videos)."
    ),
    val_labels: Path | None = typer.Option(
        None, "--val-labels", help="Validation clips (CSV; files from --clips)."
    ),
    overrides: list[str] = typer.Option(
        [], "--set", help="Override a preset setting: --set steps=50 --set lr=0.01 (repeatable)."
    ),
    resume: bool = typer.Option(
        False,
        "--resume",
        help="Continue the run in OUT from its last checkpoint (exactly: same batches, same "
        "random draws; the same clips are required). Without a checkpoint yet: a fresh run.",
    ),
    strict: bool = typer.Option(
        False,
        "--strict",
        help="Exit with status 1, before training, if any clip could not be read "
        "(without it such clips are left out and listed).",
    ),
    device: str | None = _DEVICE,
    threads: int = _THREADS,
    cache_dir: Path | None = _CACHE,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    scene_groups_column: str | None = typer.Option(
        None,
        "--scene-groups",
        help="With --labels: keep clips that look alike (first-frame clusters within each "
        "first word of this CSV column, e.g. splits) together, in a heads preset's inner folds "
        "or on one side of a fine-tuned preset's val_fraction hold-out.",
    ),
) -> None:
    """Train a model from a preset; the best validation checkpoint becomes OUT/model.

    Without validation clips, a fine-tuned preset's val_fraction holds out a stratified share
    of the training clips (whole scenes with --scene-groups); with neither, the final weights
    are the model. A heads preset chooses by its own inner cross-validation on every clip.
    Several processes: torchrun --nproc_per_node N -m smokewatch train ... (DDP; NCCL on
    GPUs, gloo on CPUs).
    Every clip is checked before the first step: one that cannot be read is left out and
    listed (with --strict, the command stops there with status 1).
    """
    from smokewatch.training.experiments import holdout

    _threads(threads)
    _check_device(device)
    config = _config(preset, overrides)
    val_given = val_metadata is not None or val_labels is not None
    held_out = config.kind == "torch" and config.val_fraction > 0 and not val_given
    if scene_groups_column is not None and (
        labels is None or (config.kind != "heads" and not held_out)
    ):  # an svm preset never reads a hold-out: grouping it would only drop scenes
        raise SmokewatchError(
            "--scene-groups groups a heads preset's inner folds, or a fine-tuned preset's "
            "val_fraction hold-out (with no validation clips given): give such a preset and "
            "--labels/--clips"
        )
    items = load_items(metadata, videos, labels, clips, what="training clips")
    items, skipped = _readable(items, config, cache_dir, what="training clips")
    val: list[Any] = []
    if val_given:
        val = load_items(val_metadata, videos, val_labels, clips, what="validation clips")
        val, bad_val = _readable(val, config, cache_dir, what="validation clips")
        skipped += bad_val
    elif config.kind != "heads":  # a heads preset's inner cross-validation holds clips out
        groups = None
        if scene_groups_column is not None and labels is not None and clips is not None:
            from smokewatch.training.experiments import scene_groups_of

            groups = scene_groups_of(items, labels, clips, scene_groups_column)
        items, val = holdout(items, config.val_fraction, config.seed, groups)
    _list_skipped(skipped)
    if strict and skipped:
        err_console.print(
            f"{len(skipped)} clips cannot be read; --strict: not training", highlight=False
        )
        raise typer.Exit(1)
    if resume and not (out / "last.pt").is_file():
        err_console.print(
            f"--resume: {out} holds no checkpoint (last.pt) yet; starting a fresh run",
            highlight=False,
        )
        resume = False
    from smokewatch.training.loop import Distributed

    main = Distributed.from_env().main  # under torchrun, process 0 speaks for the run
    if main:
        err_console.print(
            f"{config.summary()}\n{len(items)} training clips, {len(val)} validation clips"
            + (f" ({len(skipped)} unreadable left out)" if skipped else ""),
            highlight=False,
        )
    if config.kind == "heads":
        from smokewatch.training.heads import train_heads

        everything = items + val
        groups = None
        if scene_groups_column is not None:
            assert labels is not None and clips is not None
            from smokewatch.training.experiments import scene_groups_of

            groups = scene_groups_of(everything, labels, clips, scene_groups_column)
        result = train_heads(
            config,
            everything,
            out,
            cache_dir=cache_dir,
            weights_cache_dir=_weights_cache_dir(),
            progress=not quiet,
            groups=groups,
        )
    elif config.kind == "svm":
        from smokewatch.training.fit_svm import train_svm

        result = train_svm(
            config,
            items,
            out,
            device=device,
            cache_dir=cache_dir,
            weights_cache_dir=_weights_cache_dir(),
            progress=not quiet,
        )
    else:
        from smokewatch.training.loop import train

        init = Path(config.init_from) if config.init_from else None
        if init is not None and not (init / "model.json").is_file():
            raise SmokewatchError(
                f"init_from {config.init_from!r}: give a trained model folder "
                "(OUT/model) with --set init_from=PATH"
            )
        result = train(
            config,
            items,
            val,
            out,
            resume=resume,
            device=device,
            init_dir=init,
            cache_dir=cache_dir,
            weights_cache_dir=_weights_cache_dir(),
            progress=not quiet,
        )
    if not main:  # only process 0 validates: the others' choice is not the model's
        return
    chosen = f", step {result.chosen_step}" if result.chosen_step else ""
    val_f1 = f", validation F1 {result.validation['f1']:.3f}" if result.validation else ""
    console.print(
        f"model: {result.model_dir}{chosen}{val_f1} ({result.seconds:.0f} s)", highlight=False
    )


def evaluate_command(
    model: Path = typer.Argument(
        ..., help="A trained model folder (train's OUT/model).", file_okay=False
    ),
    out: Path = typer.Option(
        ...,
        "--out",
        "-o",
        help="Where to write predictions.csv, metrics.json, roc.png and confusion/*.mp4.",
        file_okay=False,
    ),
    metadata: Path | None = _METADATA,
    videos: Path | None = _VIDEOS,
    labels: Path | None = _LABELS,
    clips: Path | None = _CLIPS,
    threshold: float | None = typer.Option(
        None,
        "--threshold",
        help="P(smoke) at or above which a clip is smoke, between 0 and 1 "
        "(default: the model's, 0.5).",
    ),
    grids: bool = typer.Option(
        True, "--grids/--no-grids", help="Write a grid video of clips per confusion cell."
    ),
    batch_size: int = typer.Option(4, "--batch-size", min=1),
    device: str | None = _DEVICE,
    threads: int = _THREADS,
    cache_dir: Path | None = _CACHE,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    strict: bool = typer.Option(
        False, "--strict", help="Exit with status 1 if any clip could not be read."
    ),
) -> None:
    """Score a trained model on labeled clips: precision, recall, F1, ROC-AUC, accuracy.

    Clips that cannot be read are left out, listed at the end and in metrics.json ("skipped");
    with --strict the command still scores the others, then exits 1.
    """
    from smokewatch.training.evaluate import check_threshold, evaluate_model

    if threshold is not None:
        check_threshold(threshold)
    _threads(threads)
    _check_device(device)
    items = load_items(metadata, videos, labels, clips)
    skipped: list[str] = []
    m = evaluate_model(
        model,
        items,
        out,
        device=device,
        batch_size=batch_size,
        threshold=threshold,
        cache_dir=cache_dir,
        weights_cache_dir=_weights_cache_dir(),
        grids=grids,
        progress=not quiet,
        on_skip=skipped.append,
    )
    _list_skipped(skipped)
    console.print(
        f"{m.n} clips: precision {m.precision:.3f} recall {m.recall:.3f} F1 {m.f1:.3f} "
        f"ROC-AUC {m.roc_auc:.3f} accuracy {m.accuracy:.3f} (tp {m.tp} fp {m.fp} fn {m.fn} "
        f"tn {m.tn}) -> {out}",
        highlight=False,
    )
    if strict and skipped:
        raise typer.Exit(1)


@experiments_app.command("presets")
@user_errors
def presets_command() -> None:
    """List the built-in presets: the paper's Table 10, cpu-small, and the nested-CV winners
    rise-best and rise-fast. One line of names and settings each (whole, at any terminal
    width: they are what ``--preset`` takes), then the description, wrapped."""
    import shutil
    import textwrap

    from smokewatch.training.config import list_presets, load_config

    rows = []
    for name in list_presets():
        c = load_config(name)
        settings = (
            f"batch {c.batch_size} (acc. {c.accumulate}), lr {c.lr:g}, wd {c.weight_decay:g}, "
            f"{c.steps} steps"
            if c.kind == "torch"
            else "no fine-tuning"
        )
        rows.append((name, c.kind, c.model, f"{c.frames}x{c.size}", settings, c.description))
    widths = [max(len(row[k]) for row in rows) for k in range(4)]
    width = max(40, shutil.get_terminal_size((100, 24)).columns)
    for *names, settings, description in rows:
        head = "  ".join(text.ljust(w) for text, w in zip(names, widths, strict=True))
        typer.echo(f"{head}  {settings}")
        for line in textwrap.wrap(description, width - 4):
            typer.echo(f"    {line}")


def _report(preset: str, column: str, metrics: dict[str, Any]) -> None:
    auc = metrics.get("roc_auc")
    err_console.print(
        f"{preset} {column}: F1 {metrics['f1']:.3f}, ROC-AUC "
        f"{auc if auc is None else f'{auc:.3f}'}",
        highlight=False,
    )


def _print_table(out: Path) -> None:
    console.print((out / "table_f1.md").read_text(encoding="utf-8"), highlight=False)
    console.print((out / "table_roc_auc.md").read_text(encoding="utf-8"), highlight=False)


def _split_names(spec: str) -> list[str]:
    """``S0,S3`` or a range ``S0..S5`` (or a mix)."""
    names: list[str] = []
    for part in (p.strip().upper() for p in spec.split(",") if p.strip()):
        first, sep, last = part.partition("..")
        if sep:
            try:
                lo, hi = int(first.lstrip("S")), int(last.lstrip("S"))
            except ValueError:
                raise SmokewatchError(f"--splits: {part!r} is not a range like S0..S5") from None
            if lo > hi:
                raise SmokewatchError(f"--splits: {part!r} is backwards (S{hi}..S{lo}?)")
            names += [f"S{i}" for i in range(lo, hi + 1)]
        else:
            names.append(part)
    return names


@experiments_app.command("run")
@user_errors
def run_command(
    presets: list[str] = typer.Argument(
        ..., help="Presets, in order (one that starts from another, e.g. rgb-i3d-tc, after it)."
    ),
    metadata: Path = typer.Option(
        ...,
        "--metadata",
        help="RISE metadata JSON (all labeled "
        "clips; the splits are made from it as RISE made them).",
        dir_okay=False,
    ),
    videos: Path = typer.Option(
        ..., "--videos", help="Folder of <file_name>.mp4.", file_okay=False
    ),
    splits: str = typer.Option(
        "S0,S1,S2,S3,S4,S5", "--splits", help="Comma-separated or a range: S0,S3 or S0..S5."
    ),
    out: Path = typer.Option(
        ..., "--out", "-o", file_okay=False, help="Experiments folder (re-run to resume)."
    ),
    overrides: list[str] = typer.Option(
        [], "--set", help="Override a setting in every preset: --set steps=100."
    ),
    device: str | None = _DEVICE,
    threads: int = _THREADS,
    cache_dir: Path | None = _CACHE,
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Train and test presets on RISE splits; write the paper's tables (Markdown, CSV, JSON)."""
    from smokewatch.training.experiments import run_splits

    _threads(threads)
    _check_device(device)
    configs = [_config(p, overrides) for p in presets]
    names = _split_names(splits)
    run_splits(
        configs,
        metadata,
        videos,
        names,
        out,
        device=device,
        cache_dir=cache_dir,
        weights_cache_dir=_weights_cache_dir(),
        progress=not quiet,
        on_result=_report,
        on_skipped=lambda message: _list_skipped([message]),
    )
    _print_table(out)


@experiments_app.command("cv")
@user_errors
def cv_command(
    presets: list[str] = typer.Argument(..., help="Presets to cross-validate."),
    labels: Path = typer.Option(
        ..., "--labels", help="CSV with columns file,label.", dir_okay=False
    ),
    clips: Path = typer.Option(..., "--clips", help="Folder of the listed clips.", file_okay=False),
    folds: int = typer.Option(5, "--folds", min=2),
    seed: int = typer.Option(0, "--seed", help="Seed of the stratified fold assignment."),
    out: Path = typer.Option(
        ..., "--out", "-o", file_okay=False, help="Experiments folder (re-run to resume)."
    ),
    overrides: list[str] = typer.Option([], "--set", help="Override a setting in every preset."),
    device: str | None = _DEVICE,
    threads: int = _THREADS,
    cache_dir: Path | None = _CACHE,
    quiet: bool = typer.Option(False, "--quiet", "-q"),
    score_columns: list[str] = typer.Option(
        [],
        "--score-column",
        help="A column of the labels CSV holding another model's predictions (e.g. "
        "rgb_tc_pred), scored on the same test folds and shown in the tables (repeatable).",
    ),
    nested: bool = typer.Option(
        False,
        "--nested",
        help="Nested CV: every choice made inside each outer training fold. Heads presets: "
        "features, head, C, fusion and threshold by inner CV on cached frozen features; "
        "fine-tuned presets (need val_fraction): checkpoint and threshold on a hold-out of "
        "the training fold (one fine-tuning per fold: a GPU's work).",
    ),
    scene_groups_column: str | None = typer.Option(
        None,
        "--scene-groups",
        help="With --nested: keep clips that look alike (first-frame clusters within each "
        "first word of this CSV column, e.g. splits) in one fold.",
    ),
) -> None:
    """Stratified k-fold cross-validation of presets on labeled clips; per-fold tables."""
    from smokewatch.dataset.torch_data import items_from_labels_csv
    from smokewatch.training.experiments import cross_validate, readable_for

    _threads(threads)
    _check_device(device)
    configs = [_config(p, overrides) for p in presets]
    # a clip that cannot be read is left out of every fold (listed), not met hours in
    skipped: list[str] = []
    items = readable_for(configs, items_from_labels_csv(labels, clips), cache_dir, skipped.append)
    _list_skipped(skipped)
    given = {name: _score_column(labels, clips, name) for name in score_columns}
    if nested:
        from smokewatch.training.experiments import nested_cross_validate

        groups = None
        if scene_groups_column is not None:
            from smokewatch.training.experiments import scene_groups_of

            groups = scene_groups_of(items, labels, clips, scene_groups_column)
        nested_cross_validate(
            configs,
            items,
            folds,
            out,
            seed=seed,
            groups=groups,
            cache_dir=cache_dir,
            weights_cache_dir=_weights_cache_dir(),
            given=given,
            on_result=_report,
            device=device,
            progress=not quiet,
        )
        _print_table(out)
        return
    cross_validate(
        configs,
        items,
        folds,
        out,
        seed=seed,
        device=device,
        cache_dir=cache_dir,
        weights_cache_dir=_weights_cache_dir(),
        progress=not quiet,
        on_result=_report,
        given=given,
    )
    _print_table(out)


def _score_column(labels: Path, clips: Path, name: str) -> dict[str, float]:
    """Another model's scores (0/1 or probabilities) from column ``name`` of the labels CSV."""
    import csv

    with open(labels, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        reader.fieldnames = [n.strip() for n in (reader.fieldnames or [])]
        if name not in reader.fieldnames:
            raise SmokewatchError(f"{labels}: no column {name!r} to score")
        scores = {}
        for row in reader:
            try:  # keyed as items_from_labels_csv builds paths: clips dir / file
                scores[str(clips / row["file"].strip())] = float(row[name])
            except ValueError:
                raise SmokewatchError(
                    f"{labels}, line {reader.line_num}: {name} {row[name]!r} is not a number"
                ) from None
    return scores


train_command = user_errors(train_command)
evaluate_command = user_errors(evaluate_command)
