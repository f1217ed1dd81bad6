"""The model in the loop, once, end to end: detect -> import -> label over HTTP -> export -> train.

    python bench/pseudo_day.py make --clips ../shared/rise/clips \\
        --labels ../shared/rise/clips.csv --out out/pseudo-day --smoke 30 --clear 30
    smokewatch detect MODEL --timelapse out/pseudo-day/day.mp4 \\
        --views out/pseudo-day/views.yaml --frame-times out/pseudo-day/frames.json \\
        --out out/pseudo-day/run
    python bench/model_loop.py out/pseudo-day/run/detections.json

The script plays every part after the detection run, with the embedded defaults (SQLite and
local files in a fresh data folder, ``--work``, a new temporary folder unless given):

1. reads the run (``detections.json``, its ``clips/``) and the pseudo-day's ``truth.json``
   (``--truth``; default: beside the run folder), which the simulated volunteers answer from;
2. sets up a site: ``--gold`` smoke and as many clear RISE clips (``--rise-dir``, not those
   of the pseudo-day) to be gold standards and ``--others`` to label besides the run's clips,
   named as RISE names clips and imported with ``smokewatch clips import DIR``; a researcher
   account (``smokewatch users add``); ``smokewatch serve`` on a free local port; the
   researcher signs in (``login_password``) and marks the gold standards
   (``set_label_state`` 47/32), as the gallery does;
3. ``smokewatch clips import --from-detections RUN/detections.json --uncertain N``;
4. ``--volunteers`` simulated volunteers (one thread and client id each) label through
   ``/api/v1`` as the label page does: ``login``, ``get_batch``, watch the clips for the
   service's page wait, ``send_batch`` (a 425 "too early" is waited out), until every clip
   of the run has a final citizen label or each has sent ``--max-pages``. Each page is
   printed with how many of its 12 clips to label came from the run: the priority draw
   serves those first. A volunteer answers a gold standard and any RISE clip with its RISE
   label, and a window of the run with the truth of the pseudo-day's clips under it: smoke
   when smoke clips cover at least half its frames (a window at a multiple of 36 is one
   clip; one at 36k+18 straddles two, and is smoke when either half is), wrong on purpose
   with probability ``--error-rate`` (never on a gold standard);
5. ``smokewatch labels export --only-labeled``, gathers the exported clips' files as
   ``<file_name>.mp4`` (what ``train --videos`` reads) and runs ``smokewatch train`` on them
   (``--preset``, ``--steps``; ``--init-from auto`` starts from the run's model when it has
   the preset's architecture: the next model of the loop), counting the run's clips with the
   volunteers' labels among the clips ``train`` reads;
6. prints a summary.

The server is stopped on every exit (SIGTERM and Ctrl-C included; on Linux also when this
process dies). Torch threads are pinned to ``--threads`` (1) in every command it runs.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from smokewatch.core.clip import Box, ClipName
from smokewatch.core.detections import Detections, read_detections
from smokewatch.core.labels import State, final_label
from smokewatch.core.window_clips import window_clip_name

CLIP_FRAMES = 36
RESEARCHER = "loop-researcher"
#: The researcher states that mark gold standards (``set_label_state``).
GOLD = {1: int(State.GOLD_POS), 0: int(State.GOLD_NEG)}
_CITIZEN_FINAL = {State.STRONG_POS, State.STRONG_NEG, State.WEAK_POS, State.WEAK_NEG}


def say(text: str = "") -> None:
    print(text, flush=True)


def step(title: str) -> float:
    say(f"\n== {title}")
    return time.perf_counter()


# --- running the command line ----------------------------------------------------------------
def _pdeathsig() -> None:
    """The child gets SIGTERM if this process dies (Linux), so no server outlives the script."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


@dataclass
class Cli:
    """``smokewatch`` commands as a user runs them, with this run's environment."""

    env: dict[str, str]

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "smokewatch", *args]

    def run(self, *args: str) -> str:
        say(f"$ smokewatch {shlex.join(args)}")
        done = subprocess.run(
            self.argv(*args),
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
        )
        out = done.stdout.strip()
        if out:
            say("  " + out.replace("\n", "\n  "))
        if done.returncode != 0:
            raise SystemExit(f"smokewatch {args[0]} failed (exit status {done.returncode})")
        return out


class Server:
    """``smokewatch serve`` on a free local port, stopped on exit."""

    def __init__(self, cli: Cli, log: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        args = ("serve", "--port", str(self.port))
        say(f"$ smokewatch {shlex.join(args)} &    (log: {log})")
        self._out = log.open("w")
        self.process = subprocess.Popen(
            cli.argv(*args),
            env=cli.env,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            preexec_fn=_pdeathsig if sys.platform == "linux" else None,
        )

    def wait_ready(self, timeout: float = 60.0) -> float:
        start = time.perf_counter()
        while time.perf_counter() - start < timeout:
            if self.process.poll() is not None:
                raise SystemExit(f"the server exited ({self.process.returncode}):\n{self.tail()}")
            try:
                if httpx.get(f"{self.url}/api/v1/get_label_statistics").status_code == 200:
                    return time.perf_counter() - start
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise SystemExit(f"the server did not answer within {timeout:.0f} s:\n{self.tail()}")

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._out.close()


# --- the truth the volunteers answer from ---------------------------------------------------
def window_truth(start_frame: int, blocks: dict[int, int]) -> int:
    """The label a volunteer gives a window: smoke when smoke clips cover at least half of its
    frames (a window starting at 36k+18 straddles two clips: smoke when either is)."""
    smoke = sum(
        1
        for f in range(start_frame, start_frame + CLIP_FRAMES)
        if blocks.get(f - f % CLIP_FRAMES, 0) == 1
    )
    return int(2 * smoke >= CLIP_FRAMES)


@dataclass
class RunClips:
    """The run's windows as the service names their clips, and each one's truth."""

    event_names: set[str]
    all_names: set[str]
    truth: dict[str, int]
    probability: dict[str, float]


def run_clips(detections: Detections, truth_file: Path, size: int, timezone: str) -> RunClips:
    blocks = {int(t["start_frame"]): int(t["label"]) for t in json.loads(truth_file.read_text())}
    if len(detections.views) != 1:
        raise SystemExit(f"{truth_file} describes one view; the run has {len(detections.views)}")
    (view,) = detections.views
    names = [window_clip_name(view, w, size=size, timezone=timezone).format() for w in view.windows]
    events = {names[i] for e in view.events for i in e.windows}
    return RunClips(
        event_names=events,
        all_names=set(names),
        truth={
            n: window_truth(w.start_frame, blocks) for n, w in zip(names, view.windows, strict=True)
        },
        probability={n: w.probability for n, w in zip(names, view.windows, strict=True)},
    )


# --- the site ----------------------------------------------------------------------------------
def reference_clips(
    rise_dir: Path, folder: Path, exclude: set[str], gold: int, others: int, seed: int, tz: str
) -> dict[str, tuple[str, int]]:
    """RISE clips under RISE names in ``folder`` (hard links, else copies), for gold standards
    and clips to label besides the run's: ``name -> (RISE file, label)``. They carry no camera
    or time, so they are filed as ``smokewatch demo`` files them: camera 0, views 1-2, five
    minutes apart from 2019-01-07 08:00, a day and views the pseudo-day does not use."""
    with (rise_dir / "clips.csv").open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["file"] not in exclude]
    rng = random.Random(seed)
    rng.shuffle(rows)
    smoke = [r for r in rows if r["label"] == "1"]
    clear = [r for r in rows if r["label"] == "0"]
    half = others // 2
    chosen = smoke[:gold] + clear[:gold] + smoke[gold : gold + half]
    chosen += clear[gold : gold + others - half]
    folder.mkdir(parents=True, exist_ok=True)
    start = datetime(2019, 1, 7, 8, 0, tzinfo=ZoneInfo(tz))
    out = {}
    for k, row in enumerate(chosen):
        view = 1 + k % 2
        t0 = int((start + timedelta(minutes=5 * (k // 2))).timestamp())
        name = ClipName(
            camera_id=0, view_id=view, day=date(2019, 1, 7),
            box=Box(200 * view, 0, 200 * view + 180, 180), height=180, width=180,
            start_frame=36 * (k // 2), start_time=t0, end_time=t0 + 175,
        ).format()  # fmt: skip
        _link(rise_dir / "clips" / row["file"], folder / f"{name}.mp4")
        out[name] = (row["file"], int(row["label"]))
    return out


def _link(source: Path, target: Path) -> None:
    if target.exists():
        return
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


class Api:
    """The labeling API as the web pages call it (JSON bodies)."""

    def __init__(self, base: str) -> None:
        self.http = httpx.Client(base_url=f"{base}/api/v1/", timeout=60.0)

    def post(self, path: str, body: dict[str, Any], ok: tuple[int, ...] = (200,)) -> httpx.Response:
        for _ in range(10):
            r = self.http.post(path, json=body)
            if r.status_code != 503:  # busy database: the contract says send again
                break
            time.sleep(0.5)
        if r.status_code not in ok:
            raise SystemExit(f"POST {path}: {r.status_code} {r.text[:300]}")
        return r


def all_clips(api: Api, token: str) -> list[dict[str, Any]]:
    return list(api.post("get_all_labels", {"user_token": token}).json()["data"])


# --- the volunteers ---------------------------------------------------------------------------
@dataclass
class Tally:
    """What the volunteers did, shared by their threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    pages: list[dict[str, Any]] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)
    errors: list[BaseException] = field(default_factory=list)


def volunteer(tally: Tally, *args: Any, **kwargs: Any) -> None:
    """One volunteer's thread: an error stops every volunteer and is raised by the main thread."""
    try:
        _volunteer(tally, *args, **kwargs)
    except BaseException as exc:
        tally.errors.append(exc)
        tally.done.set()


def _volunteer(
    tally: Tally,
    name: str,
    base: str,
    truth: dict[str, int],
    gold: set[int],
    run: RunClips,
    researcher: str,
    args: argparse.Namespace,
    rng: random.Random,
) -> None:
    api = Api(base)
    token = api.post("login", {"client_id": name}).json()["user_token"]
    for _ in range(args.max_pages):
        if tally.done.is_set():
            return
        r = api.post("get_batch", {"user_token": token}, ok=(200, 204))
        if r.status_code == 204:
            with tally.lock:
                say(f"  {name}: no page left for this volunteer (204)")
            return
        page = r.json()
        answers, from_run, events = [], 0, 0
        for clip in page["data"]:
            label = truth[clip["file_name"]]
            if clip["id"] not in gold:
                if clip["file_name"] in run.all_names:
                    from_run += 1
                    events += clip["file_name"] in run.event_names
                if rng.random() < args.error_rate:
                    label = 1 - label
            answers.append({"video_id": clip["id"], "label": label})
        time.sleep(args.watch_seconds)  # the volunteer watches the clips
        body = {"user_token": token, "video_token": page["video_token"], "data": answers}
        while (r := api.post("send_batch", body, ok=(200, 425))).status_code == 425:
            wait = re.search(r"submit in (\d+) s", r.text)
            time.sleep(float(wait.group(1)) if wait else 1.0)
        score = r.json()["data"]["score"]
        to_label = len(page["data"]) - sum(c["id"] in gold for c in page["data"])
        with tally.lock:
            tally.pages.append(
                {"volunteer": name, "from_run": from_run, "to_label": to_label, "score": score}
            )
            say(
                f"  page {len(tally.pages):2d}  {name}: {to_label} to label, {from_run} from the "
                f"run ({events} of an event), {to_label - from_run} others, "
                f"{len(page['data']) - to_label} gold -> "
                + ("accepted" if score["batch"] else "rejected")
                + f", score {score['user']}"
            )
            states = {c["file_name"]: c["label_state"] for c in all_clips(api, researcher)}
            pending = [n for n in run_imported(states, run) if states[n] not in _CITIZEN_FINAL]
            if not pending:
                tally.done.set()


def run_imported(states: dict[str, int], run: RunClips) -> list[str]:
    return sorted(n for n in states if n in run.all_names)


# --- the whole loop -------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("detections", type=Path, help="the run's detections.json")
    parser.add_argument("--truth", type=Path, help="default: RUN/../truth.json")
    parser.add_argument("--rise-dir", type=Path, default=Path("../shared/rise"))
    parser.add_argument("--work", type=Path, help="a new folder (default: a temporary one)")
    parser.add_argument("--uncertain", type=int, default=50)
    parser.add_argument("--gold", type=int, default=8, help="gold standards of each class")
    parser.add_argument("--others", type=int, default=24, help="RISE clips to label as well")
    parser.add_argument("--volunteers", type=int, default=4)
    parser.add_argument("--max-pages", type=int, default=8, help="per volunteer")
    parser.add_argument("--watch-seconds", type=float, default=5.0, help="per page")
    parser.add_argument("--error-rate", type=float, default=0.0)
    parser.add_argument("--preset", default="cpu-small")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    parser.add_argument("--init-from", default="auto", help="auto, none or a model folder")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    def _terminate(signum: int, frame: object) -> None:
        raise SystemExit(f"stopped by signal {signum}")

    signal.signal(signal.SIGTERM, _terminate)
    servers: list[Server] = []
    try:
        loop(args, servers)
    finally:
        for server in servers:
            server.stop()


def loop(args: argparse.Namespace, servers: list[Server]) -> None:
    from smokewatch.settings import Settings

    started = time.perf_counter()
    run_dir = args.detections.parent
    truth_file = args.truth or run_dir.parent / "truth.json"
    work = args.work or Path(tempfile.mkdtemp(prefix="model-loop-"))
    if args.work and args.work.exists() and any(args.work.iterdir()):
        raise SystemExit(f"{args.work}: not empty; give a new folder")
    work = work.resolve()
    data_dir = work / "site"
    env = {
        **os.environ,
        "SMOKEWATCH_DATA_DIR": str(data_dir),
        "SMOKEWATCH_DATABASE_URL": "",  # the embedded default: SQLite in the data folder
        "SMOKEWATCH_ENV_FILE": "",
        "OMP_NUM_THREADS": str(args.threads),
        "MKL_NUM_THREADS": str(args.threads),
        "COLUMNS": "160",  # rich wraps at 80 columns in a pipe
    }
    settings = Settings(data_dir=data_dir)
    cli = Cli(env)

    # 1 ---------------------------------------------------------------------------------------
    t = step(f"1. the detection run: {args.detections}")
    detections = read_detections(args.detections)
    run = run_clips(detections, truth_file, settings.clip_size, settings.timezone)
    (view,) = detections.views
    files = len(list((run_dir / "clips").glob("*.mp4")))
    say(
        f"model {detections.model.get('path')} ({detections.model.get('preset')}); view "
        f"{view.camera_id}-{view.view_id}: {len(view.windows)} windows, events: {len(view.events)} "
        f"({len(run.event_names)} windows); {files} clips in {run_dir / 'clips'}"
    )
    smoke = sum(run.truth.values())
    say(
        f"truth ({truth_file}): {smoke} of {len(run.truth)} windows are smoke (>= half their "
        f"frames in smoke clips); of the event windows {sum(run.truth[n] for n in run.event_names)}"
        f" of {len(run.event_names)}"
    )
    say(f"work folder: {work}  ({time.perf_counter() - t:.1f} s)")

    # 2 ---------------------------------------------------------------------------------------
    t = step(f"2. a fresh site in {data_dir} (SQLite, local files)")
    exclude = {str(x["clip"]) for x in json.loads(truth_file.read_text())}
    refs = reference_clips(
        args.rise_dir, work / "reference-clips", exclude, args.gold, args.others, args.seed,
        settings.timezone,
    )  # fmt: skip
    say(f"{len(refs)} RISE clips named as RISE names clips in {work / 'reference-clips'}")
    cli.run("clips", "import", str(work / "reference-clips"))
    password = secrets.token_urlsafe(12)
    cli.env["SMOKEWATCH_NEW_PASSWORD"] = password
    cli.run("users", "add", RESEARCHER, "--role", "researcher")
    del cli.env["SMOKEWATCH_NEW_PASSWORD"]
    server = Server(cli, work / "serve.log")
    servers.append(server)
    say(f"  serving on {server.url} (ready in {server.wait_ready():.1f} s)")
    api = Api(server.url)
    researcher = api.post("login_password", {"name": RESEARCHER, "password": password}).json()[
        "user_token"
    ]
    by_name = {c["file_name"]: c for c in all_clips(api, researcher)}
    wanted = list(refs)[: 2 * args.gold]
    marks = [
        {"video_id": by_name[n]["id"], "label": GOLD[refs[n][1]]} for n in wanted if n in by_name
    ]
    api.post("set_label_state", {"user_token": researcher, "data": marks}, ok=(204,))
    gold_ids = {m["video_id"] for m in marks}
    say(
        f"researcher {RESEARCHER} signed in (login_password) and marked {len(marks)} gold "
        f"standards (set_label_state: {sum(m['label'] == GOLD[1] for m in marks)} x 47, "
        f"{sum(m['label'] == GOLD[0] for m in marks)} x 32); {len(by_name) - len(marks)} other "
        f"clips to label  ({time.perf_counter() - t:.1f} s)"
    )

    # 3 ---------------------------------------------------------------------------------------
    t = step("3. the run's clips into the queue")
    cli.run(
        "clips", "import", "--from-detections", str(args.detections),
        "--uncertain", str(args.uncertain),
    )  # fmt: skip
    clips = all_clips(api, researcher)
    imported = run_imported({c["file_name"]: c["label_state"] for c in clips}, run)
    n_events = sum(n in run.event_names for n in imported)
    p_uncertain = [run.probability[n] for n in imported if n not in run.event_names]
    events = api.post("get_events", {"user_token": researcher}, ok=(200, 204))
    n_stored = sum(len(v["events"]) for v in events.json()["views"]) if events.content else 0
    say(
        f"the service holds {len(clips)} clips: {len(imported)} from the run ({n_events} of "
        f"events, {len(imported) - n_events} uncertain"
        + (f": p {min(p_uncertain):.2f}-{max(p_uncertain):.2f}" if p_uncertain else "")
        + f"), {len(gold_ids)} gold, "
        f"{len(clips) - len(imported) - len(gold_ids)} others; {n_stored} events to review "
        f"(get_events)  ({time.perf_counter() - t:.1f} s)"
    )

    # 4 ---------------------------------------------------------------------------------------
    t = step(
        f"4. {args.volunteers} volunteers label through {server.url}/api/v1 "
        f"(pages of {settings.page_size}: {settings.gold_per_page} hidden gold)"
    )
    truth = {**run.truth, **{n: label for n, (_, label) in refs.items()}}
    tally = Tally()
    threads = [
        threading.Thread(
            target=volunteer,
            args=(tally, f"volunteer-{k + 1}", server.url, truth, gold_ids, run, researcher, args),
            kwargs={"rng": random.Random(args.seed * 1000 + k)},
            daemon=True,
        )
        for k in range(args.volunteers)
    ]
    for thread in threads:
        thread.start()
        time.sleep(0.3)  # people do not arrive at the same instant
    for thread in threads:
        thread.join()
    if tally.errors:
        raise tally.errors[0]
    states = {c["file_name"]: c["label_state"] for c in all_clips(api, researcher)}
    final = {n: final_label(states[n], -1) for n in imported if states[n] in _CITIZEN_FINAL}
    right = sum(final[n] == run.truth[n] for n in final)
    accepted = sum(1 for p in tally.pages if p["score"]["batch"])
    leading = next(
        (k for k, p in enumerate(tally.pages) if p["from_run"] < p["to_label"]), len(tally.pages)
    )
    say(
        f"the priority draw: the first {leading} pages held only the run's clips to label; "
        f"{sum(p['from_run'] for p in tally.pages)} of the "
        f"{sum(p['to_label'] for p in tally.pages)} clips labeled were the run's"
    )
    say(
        f"{len(tally.pages)} pages sent ({accepted} accepted); the run's clips: {len(final)} of "
        f"{len(imported)} with a final citizen label ({right} equal to the truth), "
        f"{Counter(State(states[n]).name for n in imported if n not in final) or 'none'} "
        f"not final  ({time.perf_counter() - t:.1f} s)"
    )
    server.stop()
    say("  server stopped")

    # 5 ---------------------------------------------------------------------------------------
    t = step("5. export the labels and train")
    export = work / "export" / "labels.json"
    export.parent.mkdir(parents=True)
    cli.run("labels", "export", "--out", str(export), "--only-labeled")
    records = json.loads(export.read_text())
    videos = work / "export" / "videos"
    videos.mkdir()
    for r in records:
        _link(settings.videos_dir / r["url_part"], videos / f"{r['file_name']}.mp4")
    labels = {
        r["file_name"]: final_label(r["label_state"], r["label_state_admin"]) for r in records
    }
    from_run = {n: v for n, v in labels.items() if n in run.all_names}
    n_gold = sum(r["label_state_admin"] in GOLD.values() for r in records)
    agree = sum(from_run[n] == run.truth[n] for n in from_run)
    say(
        f"{len(records)} rows exported; {len(from_run)} are the run's clips labeled by the "
        f"volunteers ({sum(n in run.event_names for n in from_run)} of events, "
        f"{sum(v == 1 for v in from_run.values())} smoke; {agree} equal to the truth), "
        f"{n_gold} gold, {len(records) - len(from_run) - n_gold} other "
        f"clips the volunteers settled; files as <file_name>.mp4 in {videos}"
    )
    from smokewatch.dataset.torch_data import items_from_metadata

    items = items_from_metadata(export, videos)
    say(
        f"the training set train reads: {len(items)} clips, "
        f"{sum(i.key in run.all_names for i in items)} of them the run's, "
        f"{sum(i.label for i in items)} smoke"
    )
    train_args = [
        "train", "--preset", args.preset, "--metadata", str(export), "--videos", str(videos),
        "--out", str(work / "train"), "--threads", str(args.threads), "--quiet",
        "--set", f"steps={args.steps}",
    ]  # fmt: skip
    init = _init_from(args, detections)
    if init is not None:
        train_args += ["--set", f"init_from={init}"]
    for item in args.overrides:
        train_args += ["--set", item]
    trained = cli.run(*train_args)
    held = re.search(r"(\d+) training clips, (\d+) validation clips", trained)
    say(f"  ({time.perf_counter() - t:.1f} s)")

    # 6 ---------------------------------------------------------------------------------------
    step("6. summary")
    say(f"clips imported from the run:  {len(imported)} ({n_events} event, "
        f"{len(imported) - n_events} uncertain)")  # fmt: skip
    say(f"pages labeled:                {len(tally.pages)} ({accepted} accepted) by "
        f"{args.volunteers} volunteers")  # fmt: skip
    say(f"run clips with a final label: {len(final)} of {len(imported)} ({right} right)")
    say(f"exported rows:                {len(records)} ({len(from_run)} of the run's clips)")
    if held:
        say(f"training / validation clips:  {held.group(1)} / {held.group(2)}")
    say(f"training run folder:          {work / 'train'} (model: {work / 'train' / 'model'})")
    say(f"total time:                   {time.perf_counter() - started:.0f} s")


def _init_from(args: argparse.Namespace, detections: Detections) -> str | None:
    """The model the new one starts from: ``--init-from``; with ``auto``, the run's model when
    it has the architecture of ``--preset`` (the loop's next model is the last one trained
    further), else none (the preset's own start, e.g. Kinetics weights)."""
    from smokewatch.training.config import apply_overrides, load_config

    if args.init_from != "auto":
        return None if args.init_from == "none" else str(args.init_from)
    preset = apply_overrides(load_config(args.preset), args.overrides)
    path = Path(str(detections.model.get("path", "")))
    model = path / "model" if (path / "model" / "model.json").is_file() else path
    if not (model / "model.json").is_file():
        say(f"  the run's model {path} is not here: {args.preset} starts from its own weights")
        return None
    config = json.loads((model / "model.json").read_text()).get("config", {})
    arch = (config.get("model"), config.get("model_kwargs") or {})
    if arch != (preset.model, preset.model_kwargs):
        say(
            f"  the run's model {model} is {arch[0]}, {args.preset} trains {preset.model}: "
            f"it starts from its own weights"
        )
        return None
    say(f"  {args.preset} starts from the run's model {model} (init_from)")
    return str(model)


if __name__ == "__main__":
    main()
