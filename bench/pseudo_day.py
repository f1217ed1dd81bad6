"""A pseudo camera day made of real labeled clips, and how detection's events match the labels.

    python bench/pseudo_day.py make --clips ../shared/rise/clips \\
        --labels ../shared/rise/clips.csv --out out/pseudo-day --smoke 30 --clear 30
    smokewatch detect models/rise-hard-i3d --timelapse out/pseudo-day/day.mp4 \\
        --views out/pseudo-day/views.yaml --frame-times out/pseudo-day/frames.json \\
        --out out/pseudo-day/run
    python bench/pseudo_day.py score out/pseudo-day

``make`` concatenates ``--smoke`` clips labeled smoke and ``--clear`` labeled not, in seeded runs
of 1-4 clips of one label (smoke comes in episodes), into one 180x180 H.264 timelapse of a
single view ``0-0``; ``frames.json`` times the frames 5 s apart from 07:00 local time (daylight),
and ``truth.json`` records which clip (and label) each 36-frame block is. ``score`` reads the
run's ``detections.json``: for the windows that coincide with a clip (every other one, at a
step of 18), precision/recall/F1 of "smoke window" (the rule's test) and of "p > 0.5" against
the clip's label; for the events, the share of their frames that lie in smoke clips
(precision) and the share of smoke-clip frames they cover (recall). The clips come from a real
labeled set; a model trained on the same clips has seen them (say so when quoting).
"""

from __future__ import annotations

import argparse
import json
import random
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

CLIP_FRAMES = 36


def _runs(rng: random.Random, smoke: list[str], clear: list[str]) -> list[tuple[str, int]]:
    """Alternating runs of 1-4 clips of one label until both lists are used up."""
    order: list[tuple[str, int]] = []
    label = rng.randint(0, 1)
    pools = {1: list(smoke), 0: list(clear)}
    while pools[0] or pools[1]:
        if not pools[label]:
            label = 1 - label
        for _ in range(rng.randint(1, 4)):
            if pools[label]:
                order.append((pools[label].pop(), label))
        label = 1 - label
    return order


def make(args: argparse.Namespace) -> None:
    from smokewatch.dataset.torch_data import items_from_labels_csv
    from smokewatch.video import read_clip, write_clip

    items = items_from_labels_csv(args.labels, args.clips)
    rng = random.Random(args.seed)
    smoke = rng.sample([i.path.name for i in items if i.label == 1], args.smoke)
    clear = rng.sample([i.path.name for i in items if i.label == 0], args.clear)
    order = _runs(rng, smoke, clear)
    frames = [read_clip(args.clips / name)[:CLIP_FRAMES] for name, _ in order]
    day = np.concatenate(frames)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    write_clip(day, out / "day.mp4", fps=12, crf=args.crf)
    start = datetime(2019, 4, 2, 7, 0, tzinfo=ZoneInfo(args.timezone)).timestamp()
    times = [start + 5.0 * i for i in range(len(day))]
    (out / "frames.json").write_text(json.dumps({"frames": times}))
    size = day.shape[1]
    (out / "views.yaml").write_text(
        f"cameras:\n  0:\n    views:\n      0: [0, 0, {day.shape[2]}, {size}]\n"
    )
    truth = [
        {"clip": name, "label": label, "start_frame": k * CLIP_FRAMES}
        for k, (name, label) in enumerate(order)
    ]
    (out / "truth.json").write_text(json.dumps(truth, indent=1))
    print(f"{out / 'day.mp4'}: {len(day)} frames, {len(order)} clips ({args.smoke} smoke)")


def _prf(predicted: list[bool], truth: list[int]) -> str:
    tp = sum(p and t for p, t in zip(predicted, truth, strict=True))
    fp = sum(p and not t for p, t in zip(predicted, truth, strict=True))
    fn = sum((not p) and t for p, t in zip(predicted, truth, strict=True))
    precision = tp / (tp + fp) if tp + fp else float("nan")
    recall = tp / (tp + fn) if tp + fn else float("nan")
    f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return (
        f"precision {precision:.3f}  recall {recall:.3f}  F1 {f1:.3f}  (tp {tp}, fp {fp}, fn {fn})"
    )


def score(args: argparse.Namespace) -> None:
    from smokewatch.core.detections import read_detections
    from smokewatch.detect.rule import EventRule

    folder: Path = args.folder
    truth = json.loads((folder / "truth.json").read_text())
    detections = read_detections(folder / args.run / "detections.json")
    (view,) = detections.views
    rule = EventRule(**{k: v for k, v in detections.settings["rule"].items()})
    by_start = {t["start_frame"]: t["label"] for t in truth}
    aligned = [w for w in view.windows if w.start_frame in by_start]
    labels = [by_start[w.start_frame] for w in aligned]
    print(f"{folder}: {len(truth)} clips, {len(view.windows)} windows, {len(aligned)} on a clip")
    called = [rule.is_smoke(w.probability, w.activation_ratio) for w in aligned]
    print(f"  smoke window (rule):  {_prf(called, labels)}")
    print(f"  probability > 0.5:    {_prf([w.probability > 0.5 for w in aligned], labels)}")
    gated = [w for w in aligned if w.activation_ratio is not None]
    if gated:
        ratios = [w.activation_ratio or 0.0 for w in gated]
        print(
            f"  activation ratio past the gate: min {min(ratios):.3f}  median "
            f"{float(np.median(ratios)):.3f}  max {max(ratios):.3f}  (n={len(gated)})"
        )
    smoke_frames = {
        f
        for t in truth
        if t["label"]
        for f in range(t["start_frame"], t["start_frame"] + CLIP_FRAMES)
    }
    event_frames = {f for e in view.events for f in range(e.start_frame, e.end_frame + 1)}
    hit = len(event_frames & smoke_frames)
    inside = hit / len(event_frames) if event_frames else float("nan")
    covered = hit / len(smoke_frames) if smoke_frames else float("nan")
    print(
        f"  events: {len(view.events)}, {len(event_frames)} frames; {inside:.3f} of them in "
        f"smoke clips, covering {covered:.3f} of smoke-clip frames"
    )
    for e in view.events:
        inside = len(set(range(e.start_frame, e.end_frame + 1)) & smoke_frames)
        print(
            f"    frames {e.start_frame:5d}-{e.end_frame:5d}  max p {e.max_probability:.3f}  "
            f"{inside / (e.end_frame - e.start_frame + 1):.2f} in smoke clips"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="verb", required=True)
    m = sub.add_parser("make", help="build the pseudo-day")
    m.add_argument("--clips", type=Path, required=True)
    m.add_argument("--labels", type=Path, required=True)
    m.add_argument("--out", type=Path, required=True)
    m.add_argument("--smoke", type=int, default=30)
    m.add_argument("--clear", type=int, default=30)
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--crf", type=int, default=18, help="H.264 quality of the timelapse")
    m.add_argument("--timezone", default="US/Eastern")
    s = sub.add_parser("score", help="compare a detect run with the clips' labels")
    s.add_argument("folder", type=Path)
    s.add_argument("--run", default="run", help="the run folder inside FOLDER")
    args = parser.parse_args()
    make(args) if args.verb == "make" else score(args)


if __name__ == "__main__":
    main()
