"""A detection run's folder for the tests, as ``smokewatch detect`` leaves it: detections.json,
the clips of its windows (``clips/``, a timelapse run; or elsewhere, named by ``Window.file``)
and its events' evidence (a real clip and a real GIF).

The day: 2019-01-01, windows every 18 frames at 5 s a frame from 09:00 in US/Eastern
(14:00 UTC), one view box for every view.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from videos import make_clip

from smokewatch.core.detections import Detections, Event, ViewDetections, Window, write_detections
from smokewatch.core.window_clips import window_clip_name

T0 = 1_546_351_200  # 2019-01-01 14:00 UTC: 09:00 in US/Eastern
SECONDS_PER_FRAME = 5.0
BOX = (100, 50, 280, 230)
TIMEZONE = "US/Eastern"
SIZE = 180  # the clip size in names (Settings.clip_size); the files themselves are smaller
#: A 1x1 GIF.
GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)


@dataclass
class RunView:
    camera: int
    view: int
    probabilities: list[float]
    #: (event id, window indices)
    events: list[tuple[str, list[int]]] = field(default_factory=list)


@dataclass
class Run:
    path: Path  #: detections.json
    detections: Detections
    names: dict[tuple[int, int], str]  #: (view index, window index) -> clip name
    files: dict[tuple[int, int], Path]  #: the clip file of each window

    @property
    def folder(self) -> Path:
        return self.path.parent


def window(k: int, probability: float, file: str | None = None) -> Window:
    first = 18 * k
    return Window(
        start_frame=first,
        end_frame=first + 35,
        start_time=T0 + first * SECONDS_PER_FRAME,
        end_time=T0 + (first + 35) * SECONDS_PER_FRAME,
        probability=probability,
        activation_ratio=0.5 if probability > 0.6 else None,
        file=file,
    )


def write_run(
    folder: Path,
    views: list[RunView],
    *,
    clips_mode: bool = False,
    evidence: bool = True,
    zone: str | None = None,
    size: int | None = None,
) -> Run:
    """Write the run; ``clips_mode``: windows name their files (``detect --clips``), kept in
    ``folder/scored/``, else the clips are ``folder/clips/<RISE name>.mp4``. ``zone``: the
    camera's zone, recorded as a timelapse run's daytime rule and naming the clips (local
    dates); without it nothing is recorded and the names are in US/Eastern. ``size``: the
    run's crop size (``detect --size``), recorded and naming the clips; without it nothing is
    recorded and the names say ``SIZE``, the service's default."""
    folder.mkdir(parents=True, exist_ok=True)
    sample = folder / ".sample.mp4"
    make_clip(sample, frames=36, size=32, seed=1)
    names: dict[tuple[int, int], str] = {}
    files: dict[tuple[int, int], Path] = {}
    out_views = []
    for v, spec in enumerate(views):
        plain = ViewDetections(spec.camera, spec.view, box=BOX)
        windows = []
        for k, p in enumerate(spec.probabilities):
            name = window_clip_name(
                plain, window(k, p), size=size or SIZE, timezone=zone or TIMEZONE
            ).format()
            names[(v, k)] = name
            where = Path("scored" if clips_mode else "clips") / f"{name}.mp4"
            files[(v, k)] = folder / where
            (folder / where).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(sample, folder / where)
            windows.append(window(k, p, str(where) if clips_mode else None))
        events = []
        for e, (event_id, indices) in enumerate(spec.events):
            clip = gif = None
            if evidence:
                clip = f"evidence/{spec.camera}-{spec.view}-{e}.mp4"
                gif = f"evidence/{spec.camera}-{spec.view}-{e}.gif"
                make_clip(folder / clip, frames=12, size=32, seed=10 + 10 * v + e)
                (folder / gif).write_bytes(GIF)
            first, last = windows[indices[0]], windows[indices[-1]]
            events.append(
                Event(
                    id=event_id,
                    start_time=first.start_time,
                    end_time=last.end_time,
                    start_frame=first.start_frame,
                    end_frame=last.end_frame,
                    windows=tuple(indices),
                    max_probability=max(windows[i].probability for i in indices),
                    evidence_clip=clip,
                    evidence_gif=gif,
                )
            )
        out_views.append(
            ViewDetections(
                spec.camera,
                spec.view,
                windows=tuple(windows),
                events=tuple(events),
                box=None if clips_mode else BOX,
            )
        )
    sample.unlink()
    settings: dict[str, object] = {"daylight": {"timezone": zone}} if zone else {}
    if size is not None:
        settings["size"] = size
    detections = Detections(model={"name": "tiny"}, views=tuple(out_views), settings=settings)
    path = folder / "detections.json"
    write_detections(detections, path)
    return Run(path, detections, names, files)
