"""More of I3D than rise-best reads: other layers, finer grids, a learned pooling, fine-tuned top.

rise-best reads frozen Kinetics I3D at Mixed_4f and Mixed_5c, each as a global mean plus a 2x2
grid. This script measures what else a CPU can get out of the same network on the 709 shared
RISE clips, on the folds of ``make rise-cv`` (5 outer folds, stratified and grouped by scene):

``extract``  one I3D pass per clip to Mixed_5c; per endpoint (Mixed_3c ... Mixed_5c) the
             time-averaged 1x1, 2x2, 3x3 and 4x4 grids, plus the whole Mixed_4f map (float16,
             2 MB a clip: 1.5 GB for the 709; ``--no-full`` skips it). Cached in
             ``out/i3d-levers/<size>[x<frames>]/``, one file per clip, atomic and resumable.
             ``--frames 72`` reads each frame twice (a slowed-down clip).
             ``--input diff`` / ``residual``: I3D reads frame differences or each frame minus
             the clip's temporal median instead of the frames (``<size>-diff/``).
             ``--crop tl|tr|bl|br|c``: I3D reads a corner's or the centre's 80% square,
             resized to ``--size`` like the whole frame (``<size>-crop-tl/``).
             ``--flip``: I3D reads the mirrored clip (``<size>-flip/``).
``layers``   nested CV (``smokewatch.training.nested``: kernel, C and threshold chosen inside,
             exactly as rise-best) of each layer and grid mix.
``fuse``     nested CV of rise-best's features from this cache and ``--with`` others, each a
             family, scores fused with weights chosen inside (as rise-best fuses streams).
``tta``      nested CV of rise-best's features averaged over this cache and ``--with``
             others (test-time augmentation: the whole frame and its crops; the training
             clips are averaged the same way), kernel, C and threshold chosen inside.
``augment``  the same readings as *training* augmentation: each reading of a training clip
             is a row of its own (and their mean), the test clips scored as ``tta`` scores
             them; beside it, ``tta``'s row (trained on the mean only) from the same code.
``mil``      an attention-MIL head (Ilse et al. 2018) on the 144 Mixed_4f cells: it learns
             *where* to look instead of a fixed grid. Fixed settings, AUC per epoch.
``top``      Mixed_5b, Mixed_5c and a new head fine-tuned from Kinetics on the cached Mixed_4f
             maps (batch norm frozen, random flips and 10x10 crops of the map, label smoothing
             0.1, optional mixup). Fixed settings, AUC per epoch. ``--ensemble``: also a fixed
             50/50 of its and rise-best's nested SVM's z-scored test scores, per fold.

``mil`` and ``top`` are *screens*: their settings are fixed and the epoch is read off the outer
folds, which flatters them. A lever that does not beat rise-best even so is not worth nesting.

    python bench/i3d_levers.py extract [--size 180]     # ~6 min on 2 idle cores
    python bench/i3d_levers.py layers                   # ~4 min
    python bench/i3d_levers.py mil                      # ~4 min
    python bench/i3d_levers.py top --lr 1e-4            # ~18 min (12 epochs x 5 folds)

Measured on 2026-12-06, 2 threads (``top`` shared the machine with tests, so its minutes
are high); rise-best (the first row of
``layers``) reproduced the nested table of ``docs/models-cpu.md`` exactly, 0.735 / 0.737:

    layers: + 3x3 grid 0.719 / 0.738; + 4x4 0.727 / 0.724; + Mixed_4e 0.742 / 0.742;
            + Mixed_3c 0.729 / 0.746; Mixed_4b..4f + 5c 0.722 / 0.749; Mixed_4f alone
            0.714 / 0.760; Mixed_5b + 5c 0.721 / 0.732                       (F1 / ROC-AUC)
    mil:    ROC-AUC 0.759 / 0.747 / 0.720 / 0.691 after 5 / 10 / 20 / 40 epochs
    top:    lr 1e-4: ROC-AUC 0.709 / 0.750 / 0.751 / 0.763 / 0.754 after 2 / 4 / 6 / 8 / 12
            epochs (3.5-4 min a fold); lr 1e-3 with mixup 0.4 was worse in the two folds
            it finished (0.69 and 0.72 at best)

    --size 224 (extract 9 min): every layers row gains 0.02-0.04 ROC-AUC; rise-best's
            features 0.720 / 0.772, Mixed_4f alone 0.725 / 0.778
            mil 0.765 / 0.746 / 0.711 / 0.712; top 0.757 / 0.754 / 0.766 / 0.766 after
            4 / 6 / 8 / 12 epochs (4 min a fold)
            top --ensemble (a fixed 50/50 of the top's and rise-best's nested SVM's
            z-scored test scores): 0.783 / 0.780 / 0.783 / 0.782; scores correlate 0.79-0.80

    --size 288 --no-full (extract 1033 s, layers 215 s): most rows within 0.01 of 224²;
            rise-best's features 0.721 / 0.775, Mixed_4f alone 0.731 / 0.785
    --size 224 --frames 72 --no-full (extract 1239 s): every row's ROC-AUC 0.009-0.035
            below 224² at 36 frames; rise-best's features 0.723 / 0.757

    --size 224 --input diff (extract 578 s): rise-best's features alone 0.659 / 0.666,
            fused with RGB (``fuse --size 224 --with 224-diff``) 0.723 / 0.769
    --size 224 --input residual (extract 1010 s beside a layers run): alone 0.671 / 0.699,
            fused with RGB 0.728 / 0.773

Measured on 2026-12-07 (AMD EPYC, 2 threads; review helpers and tests shared the machine, so
the extraction minutes are high): ``extract --size 224 --no-full`` then ``--crop tl``, ``br``,
``tr``, ``bl`` (61 min for the five passes), then ``tta --size 224`` with ``--with`` crops:

    the whole frame alone (rise-best's 224² row, reproduced)   0.720 / 0.772
    the whole frame + its four corner crops, features averaged  0.731 / 0.795
            (ROC-AUC per fold .738 .766 .776 .866 .831: above the whole frame in all five)
    the four corner crops alone                                 0.737 / 0.782
    the whole frame + two corners (tl, br), a cheaper variant   0.747 / 0.794
    the whole frame at 224² + the four corners read at 180²     0.741 / 0.788
            (``extract --size 180 --no-full --crop tl`` etc.: 302-315 s a crop, nothing else
            running; ROC-AUC per fold .737 .753 .795 .849 .807, above the whole frame in all
            five; ``tta --size 224 --with 180-crop-tl ... --with 180-crop-br``)

Measured on 2026-12-08 (AMD EPYC, 2 threads, nothing else running): ``augment --size 224
--with 180-crop-tl ... --with 180-crop-br`` (10 min 19 s):

    trained on the mean of the readings (tta's row, reproduced)  0.741 / 0.788
    trained on every reading and their mean as rows             0.722 / 0.761
            (ROC-AUC per fold .722 .746 .773 .815 .752: below the mean in all five)
    the same, a test clip scored by its readings' mean score    0.728 / 0.762

At 180² every variant lands between 0.72 and 0.77 ROC-AUC, the range of rise-best's fold
spread; 224² input is the one lever that gains in every row (rise-best now uses it). 288²
gains under 0.01 at 1.65x the extraction time, slowing clips down to 72 frames loses,
motion images through RGB I3D add under 0.01 fused: all dropped.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from smokewatch.core.atomic import atomic_path
from smokewatch.dataset.torch_data import frame_indices, items_from_labels_csv
from smokewatch.models import get_model
from smokewatch.models.inference import prepare_for_inference
from smokewatch.settings import load_settings
from smokewatch.training.experiments import scene_groups_of
from smokewatch.training.features import CROPS, _to_input, crop
from smokewatch.training.nested import Candidate, nested_cv, stratified_folds
from smokewatch.video import read_clip

REPO = Path(__file__).resolve().parent.parent
RISE = REPO.parent / "shared" / "rise"
ENDPOINTS = ("Mixed_3c", "Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_4f")
ENDPOINTS += ("Mixed_5b", "Mixed_5c")
GRIDS = (1, 2, 3, 4)
FULL = "Mixed_4f"
#: name -> (endpoints, grids); the first is rise-best's features
LAYER_MIXES: dict[str, tuple[tuple[str, ...], tuple[int, ...]]] = {
    "rise-best: 4f + 5c, grids 1 + 2": (("Mixed_4f", "Mixed_5c"), (1, 2)),
    "4f + 5c, grids 1 + 2 + 3": (("Mixed_4f", "Mixed_5c"), (1, 2, 3)),
    "4f + 5c, grids 1 + 2 + 4": (("Mixed_4f", "Mixed_5c"), (1, 2, 4)),
    "4f + 5c, grids 1 + 3": (("Mixed_4f", "Mixed_5c"), (1, 3)),
    "4e + 4f + 5c": (("Mixed_4e", "Mixed_4f", "Mixed_5c"), (1, 2)),
    "4c + 4f + 5c": (("Mixed_4c", "Mixed_4f", "Mixed_5c"), (1, 2)),
    "3c + 4f + 5c": (("Mixed_3c", "Mixed_4f", "Mixed_5c"), (1, 2)),
    "4b ... 4f + 5c": (ENDPOINTS[1:6] + ("Mixed_5c",), (1, 2)),
    "4f alone": (("Mixed_4f",), (1, 2)),
    "4d alone": (("Mixed_4d",), (1, 2)),
    "3c alone": (("Mixed_3c",), (1, 2)),
    "5b + 5c": (("Mixed_5b", "Mixed_5c"), (1, 2)),
}


def clips_and_groups() -> tuple[list, np.ndarray, np.ndarray]:
    """The shared clips, their labels and the scene groups of ``make rise-cv``."""
    items = items_from_labels_csv(RISE / "clips.csv", RISE / "clips")
    groups = scene_groups_of(items, RISE / "clips.csv", RISE / "clips", "splits")
    return items, np.array([it.label for it in items]), groups


def cache_file(folder: Path, item: object) -> Path:
    return folder / f"{Path(item.path).stem}.npz"  # type: ignore[attr-defined]


def as_input(clip: np.ndarray, kind: str) -> np.ndarray:
    """The uint8 clip I3D reads: the RGB frames, or a motion image made from them.

    ``diff``: each frame minus the one before (the last difference repeated, so 36 stay);
    ``residual``: each frame minus the clip's per-pixel temporal median, i.e. what is not
    static background. Both are mapped to ``128 + 2 * delta`` (clipped to 0..255), the gain
    fixed once from the shared clips' 99th percentile of ``|delta|`` (11-73), not tuned.
    RGB I3D on such images is TSN's RGB-difference modality: the static plant and sky, which
    let a head learn scenes instead of smoke, are gone.
    """
    if kind == "rgb":
        return clip
    c = clip.astype(np.int16)
    if kind == "diff":
        delta = np.diff(c, axis=0)
        delta = np.concatenate([delta, delta[-1:]])
    elif kind == "residual":
        delta = c - np.median(c, axis=0).astype(np.int16)
    else:
        raise ValueError(f"unknown input {kind!r}")
    return np.clip(128 + 2 * delta, 0, 255).astype(np.uint8)


def extract(
    folder: Path,
    size: int,
    frames: int = 36,
    full: bool = True,
    kind: str = "rgb",
    where: str = "none",
    flip: bool = False,
) -> None:
    items, _, _ = clips_and_groups()
    folder.mkdir(parents=True, exist_ok=True)
    model = get_model(
        "i3d", weights="kinetics400", num_classes=1, cache_dir=load_settings().cache_dir
    )
    model.eval()
    prepare_for_inference(model)
    started = time.perf_counter()
    for n, item in enumerate(items, 1):
        target = cache_file(folder, item)
        if target.is_file():
            continue
        clip = as_input(read_clip(item.path), kind)
        clip = clip if where == "none" else crop(clip, where)
        clip = np.ascontiguousarray(clip[:, :, ::-1]) if flip else clip
        x = _to_input([clip[stretched_indices(clip.shape[0], frames)]], size)
        with torch.inference_mode():
            maps = model.endpoints(x.contiguous(memory_format=torch.channels_last_3d), ENDPOINTS)
        summary = {}
        for ep, m in maps.items():
            m = m.float()[0]  # C x T x H x W
            for g in GRIDS:
                pooled = nn.functional.adaptive_avg_pool3d(m, (m.shape[1], g, g)).mean(1)
                summary[f"{ep}.g{g}"] = pooled.numpy().astype(np.float16)
            if ep == FULL and full:
                summary[f"{ep}.full"] = m.numpy().astype(np.float16)
        with atomic_path(target, suffix=".npz") as tmp, open(tmp, "wb") as f:
            np.savez(f, **summary)  # type: ignore[arg-type]
        if n % 50 == 0 or n == len(items):
            print(f"{n}/{len(items)} clips, {time.perf_counter() - started:.0f} s", flush=True)


def stretched_indices(length: int, frames: int) -> np.ndarray:
    """:func:`frame_indices`, and past ``length`` each frame repeated: a slowed-down clip.

    RISE's clips are timelapse, so smoke moves far faster between frames than anything in
    Kinetics; repeating frames halves the apparent speed I3D sees.
    """
    repeats = -(-frames // length)  # each frame this many times, then sampled as usual
    return frame_indices(length * repeats, frames) // repeats


def load_grids(
    folder: Path, items: list, keys: set[str] | None = None
) -> list[dict[str, np.ndarray]]:
    """Each clip's pooled grids (``<endpoint>.g<grid>``, float32) from a cache: all of them,
    or only ``keys``."""
    rows = []
    for item in items:
        with np.load(cache_file(folder, item)) as d:
            wanted = [k for k in d.files if not k.endswith(".full") and (keys is None or k in keys)]
            rows.append({k: d[k].astype(np.float32) for k in wanted})
    return rows


def mix_matrix(
    rows: list[dict[str, np.ndarray]], eps: tuple[str, ...], grids: tuple[int, ...]
) -> np.ndarray:
    """One row per clip: the grids of ``eps``, each endpoint's in ``grids`` order, flattened."""
    return np.stack(
        [np.concatenate([r[f"{e}.g{g}"].ravel() for e in eps for g in grids]) for r in rows]
    )


def layers(folder: Path) -> None:
    items, y, groups = clips_and_groups()
    rows = load_grids(folder, items)
    print(f"{'features':36s} {'dim':>6s}  F1     ROC-AUC  (per fold)")
    for name, (eps, grids) in LAYER_MIXES.items():
        x = mix_matrix(rows, eps, grids)
        cands = [Candidate(f"x/{k}", "x", k, "i3d") for k in ("svm-linear", "svm-rbf")]
        runs = nested_cv(
            {"x": x}, y, cands, outer_folds=5, inner_folds=4, groups=groups, fuse=False
        )
        f1 = [r.metrics["f1"] for r in runs]
        auc = [r.metrics["roc_auc"] for r in runs]
        per = " ".join(f"{a:.3f}" for a in auc)
        print(f"{name:36s} {x.shape[1]:6d}  {np.mean(f1):.3f}  {np.mean(auc):.3f}    ({per})")


def rise_best_matrix(folder: Path, items: list) -> np.ndarray:
    """rise-best's features (Mixed_4f + 5c, grids 1 + 2) of every clip, from a cache."""
    eps, grids = LAYER_MIXES["rise-best: 4f + 5c, grids 1 + 2"]
    keys = {f"{e}.g{g}" for e in eps for g in grids}
    return mix_matrix(load_grids(folder, items, keys), eps, grids)


def fuse(folders: list[Path]) -> None:
    """Nested CV of rise-best's features from several caches, scores fused by inner CV.

    Each cache is a family (its best kernel and C chosen inside), weights in steps of 0.25
    and the threshold chosen inside too, exactly as rise-best and rise-fast fuse streams.
    """
    items, y, groups = clips_and_groups()
    feats = {f.name: rise_best_matrix(f, items) for f in folders}
    cands = [
        Candidate(f"{name}/{k}", name, k, name) for name in feats for k in ("svm-linear", "svm-rbf")
    ]
    runs = nested_cv(feats, y, cands, outer_folds=5, inner_folds=4, groups=groups, fuse=True)
    f1 = [r.metrics["f1"] for r in runs]
    auc = [r.metrics["roc_auc"] for r in runs]
    print(f"fused {' + '.join(feats)}: F1 {np.mean(f1):.3f}  ROC-AUC {np.mean(auc):.3f}")
    print("  F1 per fold      " + " ".join(f"{v:.3f}" for v in f1))
    print("  ROC-AUC per fold " + " ".join(f"{v:.3f}" for v in auc))
    for r in runs:
        chosen = ", ".join(
            f"{m.name} C {c:g} w {w:.2f}"
            for m, c, w in zip(r.choice.members, r.choice.cs, r.choice.weights, strict=True)
        )
        print(f"  fold {r.fold + 1}: {chosen}")


def tta(folders: list[Path]) -> None:
    """Nested CV of rise-best's features averaged over several caches (test-time
    augmentation: the whole frame and its crops), kernel, C and threshold chosen inside."""
    items, y, groups = clips_and_groups()
    x = np.mean([rise_best_matrix(f, items) for f in folders], axis=0)
    cands = [Candidate(f"x/{k}", "x", k, "i3d") for k in ("svm-linear", "svm-rbf")]
    runs = nested_cv({"x": x}, y, cands, outer_folds=5, inner_folds=4, groups=groups, fuse=False)
    f1 = [r.metrics["f1"] for r in runs]
    auc = [r.metrics["roc_auc"] for r in runs]
    print(f"mean of {' + '.join(f.name for f in folders)}:")
    print(f"  F1 {np.mean(f1):.3f}  ROC-AUC {np.mean(auc):.3f}")
    print("  F1 per fold      " + " ".join(f"{v:.3f}" for v in f1))
    print("  ROC-AUC per fold " + " ".join(f"{v:.3f}" for v in auc))


def augment(folders: list[Path]) -> None:
    """Crops as *training* augmentation: each reading of a training clip (the whole frame and
    every crop, and their mean) is a training row of its own, and the test clips are scored
    as ``tta`` scores them (the mean of their readings' features), or by the mean of the
    readings' scores. The baseline, trained on the mean only, is ``tta``'s row. Kernel, C
    and threshold chosen by inner CV over *clips* (grouped; a clip's rows stay together), the
    features standardised on the training rows; an SVM as rise-best's."""
    from sklearn.metrics import roc_auc_score

    from smokewatch.training.metrics import binary_metrics
    from smokewatch.training.nested import (
        C_GRID,
        _kernel,
        _svc,
        choose_threshold,
        stratified_folds,
    )

    items, y, groups = clips_and_groups()
    readings = [rise_best_matrix(f, items).astype(np.float32) for f in folders]
    mean = np.mean(readings, axis=0)
    views = {"mean only": [mean], "every reading + mean": [*readings, mean]}
    dim = mean.shape[1]

    def run(train_views: list[np.ndarray], test_by: str) -> tuple[list[float], list[float]]:
        f1s, aucs = [], []
        for k, (train, test) in enumerate(stratified_folds(y, 5, 0, groups)):
            rows = np.concatenate([v[train] for v in train_views])  # reading-major
            mu, sd = rows.mean(axis=0), rows.std(axis=0)
            sd[sd < 1e-8] = 1.0

            def scaled(x: np.ndarray, mu: np.ndarray = mu, sd: np.ndarray = sd) -> np.ndarray:
                return ((x - mu) / sd / np.sqrt(dim)).astype(np.float32)

            n, r = len(train), len(train_views)
            # the rows of training clip i are i, i + n, i + 2n, ...; the last view is the mean
            xs = np.concatenate([scaled(rows), scaled(mean[train])])
            inner = stratified_folds(y[train], 4, 1 + k, groups[train])
            best = (-1.0, "", 0.0, np.zeros(0))
            for kind in ("svm-linear", "svm-rbf"):
                gram = _kernel(xs, kind)  # training rows, then each clip's mean reading
                for c in C_GRID:
                    oof = np.zeros(n)
                    for tr, te in inner:
                        fit_rows = np.concatenate([tr + j * n for j in range(r)])
                        yt = np.tile(y[train][tr], r)
                        model = _svc(c).fit(gram[np.ix_(fit_rows, fit_rows)], yt)
                        oof[te] = model.decision_function(gram[np.ix_(r * n + te, fit_rows)])
                    auc = roc_auc_score(y[train], oof)
                    if auc > best[0] + 1e-9:
                        best = (auc, kind, c, oof)
            _, kind, c, oof = best
            cut = choose_threshold(y[train], oof)
            model = _svc(c, "linear" if kind == "svm-linear" else "rbf")
            model.fit(scaled(rows), np.tile(y[train], len(train_views)))
            if test_by == "mean":
                score = model.decision_function(scaled(mean[test]))
            else:  # the mean of every reading's score
                score = np.mean([model.decision_function(scaled(v[test])) for v in readings], 0)
            m = binary_metrics(y[test].tolist(), (score > cut).astype(float).tolist())
            f1s.append(m.f1)
            aucs.append(float(roc_auc_score(y[test], score)))
            print(f"    fold {k + 1}: {kind} C {c:g}, inner {best[0]:.3f}, test AUC {aucs[-1]:.3f}")
        return f1s, aucs

    print(f"readings: {' + '.join(f.name for f in folders)}")
    for train_name, test_by in (
        ("mean only", "mean"),
        ("every reading + mean", "mean"),
        ("every reading + mean", "scores"),
    ):
        f1s, aucs = run(views[train_name], test_by)
        per = " ".join(f"{a:.3f}" for a in aucs)
        print(
            f"  train on {train_name}, test by {test_by}: F1 {np.mean(f1s):.3f}  "
            f"ROC-AUC {np.mean(aucs):.3f}  ({per})"
        )


def load_full(folder: Path, items: list) -> torch.Tensor:
    """Every clip's Mixed_4f map, float16 ``[N, 832, T, H, W]`` (1.5 GB for the 709)."""
    maps = []
    for item in items:
        with np.load(cache_file(folder, item)) as d:
            maps.append(d[f"{FULL}.full"])
    return torch.from_numpy(np.stack(maps))


class AttentionMIL(nn.Module):
    """Cells embedded, weighted by a learned attention (softmax over cells), one logit."""

    def __init__(self, channels: int, hidden: int = 64) -> None:
        super().__init__()
        self.embed = nn.Sequential(
            nn.Dropout(0.2), nn.Linear(channels, hidden), nn.ReLU(), nn.Dropout(0.5)
        )
        self.attend = nn.Sequential(nn.Linear(hidden, 32), nn.Tanh(), nn.Linear(32, 1))
        self.out = nn.Linear(hidden, 1)

    def forward(self, cells: torch.Tensor) -> torch.Tensor:  # B x cells x C
        h = self.embed(cells)
        weights = torch.softmax(self.attend(h), dim=1)
        return self.out((weights * h).sum(dim=1)).squeeze(1)


class TopBlocks(nn.Module):
    """I3D from Mixed_4f on (MaxPool3d_5a, Mixed_5b, Mixed_5c) with Kinetics weights, new head."""

    def __init__(self) -> None:
        super().__init__()
        i3d = get_model(
            "i3d", weights="kinetics400", num_classes=1, cache_dir=load_settings().cache_dir
        )
        self.blocks = nn.Sequential(i3d.MaxPool3d_5a_2x2, i3d.Mixed_5b, i3d.Mixed_5c)
        self.dropout = nn.Dropout(0.5)
        self.head = nn.Linear(1024, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.blocks(x).mean(dim=(2, 3, 4)))).squeeze(1)


def _auc(y: np.ndarray, s: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, s))


def _z(s: np.ndarray) -> np.ndarray:
    return (s - s.mean()) / (s.std() + 1e-12)


def screen(
    what: str, folder: Path, epochs: list[int], lr: float, mixup: float, ensemble: bool = False
) -> None:
    items, y, groups = clips_and_groups()
    svm_runs = []
    if ensemble:  # rise-best's nested SVM on the same outer folds, its test scores kept
        cands = [Candidate(f"x/{k}", "x", k, "i3d") for k in ("svm-linear", "svm-rbf")]
        x_best = {"x": rise_best_matrix(folder, items)}
        svm_runs = nested_cv(
            x_best, y, cands, outer_folds=5, inner_folds=4, groups=groups, fuse=False
        )
        print("rise-best SVM: ROC-AUC " + " ".join(f"{r.metrics['roc_auc']:.3f}" for r in svm_runs))
    maps = load_full(folder, items)
    if what == "mil":  # time-averaged cells: N x (H*W) x C
        maps = maps.float().mean(dim=2).flatten(2).transpose(1, 2).contiguous()
    labels = torch.from_numpy(y).float()
    aucs: dict[int, list[float]] = {e: [] for e in epochs}
    mixed: dict[int, list[float]] = {e: [] for e in epochs}
    corr: dict[int, list[float]] = {e: [] for e in epochs}
    started = time.perf_counter()
    for k, (train, test) in enumerate(stratified_folds(y, 5, 0, groups)):
        torch.manual_seed(k)
        gen = torch.Generator().manual_seed(k)
        x = maps
        if what == "mil":
            flat = x[train].reshape(-1, x.shape[2])
            x = (x - flat.mean(0)) / (flat.std(0) + 1e-5)
            model: nn.Module = AttentionMIL(x.shape[2])
            groups_ = [{"params": model.parameters(), "lr": lr}]
        else:
            model = TopBlocks()
            groups_ = [
                {"params": model.blocks.parameters(), "lr": lr},
                {"params": model.head.parameters(), "lr": lr * 10},
            ]
        opt = torch.optim.AdamW(groups_, weight_decay=1e-3 if what == "mil" else 1e-4)
        for epoch in range(1, max(epochs) + 1):
            model.train()
            if what == "top":  # 570 clips are too few for batch statistics
                for m in model.modules():
                    if isinstance(m, nn.BatchNorm3d):
                        m.eval()
            order = torch.from_numpy(train)[torch.randperm(len(train), generator=gen)]
            for start in range(0, len(order), 32 if what == "mil" else 16):
                batch = order[start : start + (32 if what == "mil" else 16)]
                xb, target = x[batch].float(), labels[batch]
                if what == "top":
                    flip = torch.rand(len(batch), generator=gen) < 0.5
                    xb = torch.where(flip[:, None, None, None, None], xb.flip(-1), xb)
                    i, j = torch.randint(0, 3, (2,), generator=gen).tolist()
                    xb = xb[..., i : i + 10, j : j + 10]
                    target = target * 0.9 + 0.05  # label smoothing 0.1
                    if mixup > 0:
                        lam = float(torch.distributions.Beta(mixup, mixup).sample())
                        perm = torch.randperm(len(batch), generator=gen)
                        xb = lam * xb + (1 - lam) * xb[perm]
                        target = lam * target + (1 - lam) * target[perm]
                loss = nn.functional.binary_cross_entropy_with_logits(model(xb), target)
                opt.zero_grad()
                loss.backward()
                opt.step()
            if epoch in epochs:
                model.eval()
                with torch.no_grad():
                    xt = x[torch.from_numpy(test)].float()
                    scores = model(xt)
                    if what == "top":  # flip test-time augmentation
                        scores = 0.5 * (scores + model(xt.flip(-1)))
                aucs[epoch].append(_auc(y[test], scores.numpy()))
                if ensemble:  # fixed 50/50 of the two z-scored test scores (no labels used)
                    svm = svm_runs[k]
                    assert np.array_equal(svm.test, test), "the SVM's folds differ"
                    net = scores.numpy().astype(np.float64)
                    mixed[epoch].append(_auc(y[test], 0.5 * _z(svm.scores) + 0.5 * _z(net)))
                    corr[epoch].append(float(np.corrcoef(svm.scores, net)[0, 1]))
        done = " ".join(f"epoch {e}: {aucs[e][-1]:.3f}" for e in epochs)
        print(f"fold {k + 1}: {done} ({time.perf_counter() - started:.0f} s)", flush=True)
    for e in epochs:
        per = " ".join(f"{a:.3f}" for a in aucs[e])
        print(f"{what}, {e} epochs: ROC-AUC {np.mean(aucs[e]):.3f} ({per})")
        if ensemble:
            per = " ".join(f"{a:.3f}" for a in mixed[e])
            print(
                f"  50/50 with rise-best's SVM: ROC-AUC {np.mean(mixed[e]):.3f} ({per}),"
                f" score correlation {np.mean(corr[e]):.2f}"
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=["extract", "layers", "fuse", "tta", "augment", "mil", "top"])
    ap.add_argument(
        "--input",
        choices=["rgb", "diff", "residual"],
        default="rgb",
        help="what I3D reads: the frames, frame differences or frames minus the clip's median",
    )
    ap.add_argument(
        "--with",
        dest="others",
        action="append",
        default=[],
        help="fuse, tta, augment: another cache folder under out/i3d-levers (e.g. 224-diff)",
    )
    ap.add_argument(
        "--crop",
        choices=["none", *CROPS],
        default="none",
        help="extract: read a corner's (tl, tr, bl, br) or the centre's 80%% square instead",
    )
    ap.add_argument("--flip", action="store_true", help="extract: the mirrored clip (-flip/)")
    ap.add_argument("--size", type=int, default=180, help="I3D input size (frames resized)")
    ap.add_argument(
        "--frames", type=int, default=36, help="frames I3D reads; over 36 repeats frames"
    )
    ap.add_argument("--no-full", action="store_true", help="extract: skip the Mixed_4f maps")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", default=None, help="comma-separated epochs to score")
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--mixup", type=float, default=0.0, help="top: mixup's Beta parameter")
    ap.add_argument(
        "--ensemble",
        action="store_true",
        help="mil/top: also score a fixed 50/50 mix with rise-best's nested SVM, per fold",
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    name = str(args.size) if args.frames == 36 else f"{args.size}x{args.frames}"
    name += "" if args.input == "rgb" else f"-{args.input}"
    name += "" if args.crop == "none" else f"-crop-{args.crop}"
    name += "-flip" if args.flip else ""
    folder = REPO / "out" / "i3d-levers" / name
    if args.what == "extract":
        extract(
            folder,
            args.size,
            args.frames,
            full=not args.no_full,
            kind=args.input,
            where=args.crop,
            flip=args.flip,
        )
    elif args.what == "layers":
        layers(folder)
    elif args.what == "fuse":
        fuse([folder] + [folder.parent / o for o in args.others])
    elif args.what == "tta":
        tta([folder] + [folder.parent / o for o in args.others])
    elif args.what == "augment":
        augment([folder] + [folder.parent / o for o in args.others])
    else:
        default = "5,10,20,40" if args.what == "mil" else "2,4,6,8,12"
        epochs = [int(e) for e in (args.epochs or default).split(",")]
        lr = args.lr if args.lr is not None else (1e-3 if args.what == "mil" else 1e-4)
        screen(args.what, folder, epochs, lr, args.mixup, args.ensemble)


if __name__ == "__main__":
    main()
