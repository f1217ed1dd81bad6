"""``smokewatch explain``: Grad-CAM pictures, GIFs and volumes for clips; torch inside the verb."""

from __future__ import annotations

from pathlib import Path

import typer

from smokewatch.cli._common import console, err_console, tagged, user_errors
from smokewatch.errors import SmokewatchError


@user_errors
def explain_command(
    model: Path = typer.Argument(
        ..., metavar="MODEL", help="A trained model folder (train's OUT/model)."
    ),
    clips: list[Path] = typer.Argument(
        ...,
        metavar="CLIP_OR_DIR",
        help="Clip files (.mp4) and folders (searched recursively, links not followed); "
        "with --labels, the one folder holding the files the CSV lists.",
    ),
    out: Path = typer.Option(
        ..., "--out", "-o", help="Where to write <name>.png, .gif, .npy and index.json."
    ),
    labels: Path | None = typer.Option(
        None,
        "--labels",
        help="CSV with columns file,label: score every listed clip, then explain a sample of "
        "each confusion cell into OUT/tp, fp, fn and tn.",
    ),
    per_cell: int = typer.Option(
        4, "--per-cell", min=1, help="With --labels: clips explained per confusion cell."
    ),
    target_layer: str | None = typer.Option(
        None,
        "--target-layer",
        help="Dotted module name of the layer to explain (default: the last block, e.g. "
        "Mixed_5c for I3D).",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the per-cell sample (--labels)."),
    strict: bool = typer.Option(
        False, "--strict", help="Exit with status 1 if any clip was skipped."
    ),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda, cuda:1 ..."),
    threads: int = typer.Option(0, "--threads", min=0, help="torch CPU threads (0: default)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Show where a model sees smoke: Grad-CAM over each clip (Selvaraju et al. 2017).

    Per clip, OUT/<name>.png stacks every 9th frame over the same frames with the heat map
    blended in (red: what raised the smoke score most), OUT/<name>.gif animates the overlay,
    and OUT/<name>.npy holds the map itself (float32, frames x height x width, in [0, 1]).
    OUT/index.json lists each clip's probability, activation ratio (share of the map above
    0.85, RISE's production rule) and files. With --labels CSV the listed clips are scored
    first (as evaluate scores them) and up to --per-cell clips of each confusion cell are
    explained into OUT/tp, OUT/fp, OUT/fn and OUT/tn. Clips that cannot be decoded are skipped
    and listed at the end (exit 1 for them only with --strict).
    """
    from smokewatch.explain.files import explain_files, explain_labeled, find_clips
    from smokewatch.explain.gradcam import Explainer
    from smokewatch.training.saved import load_model_dir

    if threads:
        import torch

        torch.set_num_threads(threads)
    trained = load_model_dir(model)
    cache = _weights_cache_dir()
    explainer = Explainer(
        trained, target_layer=target_layer, device=device, weights_cache_dir=cache
    )
    if labels is not None:
        from smokewatch.dataset.torch_data import items_from_labels_csv

        if len(clips) != 1 or not clips[0].is_dir():
            raise SmokewatchError(
                "with --labels, give one folder: the one holding the files the CSV lists"
            )
        items = items_from_labels_csv(labels, clips[0])
        report = explain_labeled(
            trained,
            explainer,
            items,
            out,
            model=model,
            per_cell=per_cell,
            seed=seed,
            progress=not quiet,
            device=device,
            weights_cache_dir=cache,
        )
    else:
        found, passed_over = find_clips(clips)
        if not found:
            raise SmokewatchError(_no_clips(clips, passed_over))
        report = explain_files(
            explainer, found, out, model=model, skipped=passed_over, progress=not quiet
        )
    for message in report.skipped:
        err_console.print(tagged("skipped:", "yellow", message), soft_wrap=True)
    console.print(
        f"{len(report.explained)} clips explained, {len(report.skipped)} skipped -> {report.index}",
        highlight=False,
    )
    if strict and report.skipped:
        raise typer.Exit(1)


def _no_clips(paths: list[Path], passed_over: list[str]) -> str:
    """Why nothing was found, with what was passed over: a folder of links is not empty."""
    message = "no .mp4 clips in " + ", ".join(str(p) for p in paths)
    links = sum("symbolic link" in line for line in passed_over)
    others = [line for line in passed_over if "symbolic link" not in line]
    notes = []
    if links:
        notes.append(
            f"{links} symbolic link{'s' if links != 1 else ''} skipped (a folder is walked "
            "without following links, so only regular files in it count: name the clips "
            "themselves, or copy them in)"
        )
    if others:
        entries = "entry" if len(others) == 1 else "entries"
        notes.append(f"{len(others)} other {entries} skipped (first: {others[0]})")
    return "; ".join([message, *notes])


def _weights_cache_dir() -> Path:
    """Where pretrained weights are kept (an SVM's backbone): SMOKEWATCH_CACHE_DIR."""
    from smokewatch.settings import load_settings

    return load_settings().cache_dir
