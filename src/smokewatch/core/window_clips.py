"""The clip file of a scored window: the name a detection run gives it, so others can find it.

``detect --clips`` scores clips that already have files (``Window.file``). A timelapse run
scores windows cropped in memory, so the labeling service cannot take them as they are: the
run writes the windows that the service will ask for as clips under ``DIR/clips/``, named as
``clips extract`` names the clips it cuts (RISE's convention, :class:`~smokewatch.core.clip.
ClipName`): the view's box, the camera's local day of the window's first frame, the clip
size, the first frame and the rounded epoch seconds of the first and last frames. Both sides
call :func:`window_clip_name`, so the convention is written down once.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from smokewatch.core.clip import Box, ClipName
from smokewatch.core.detections import ViewDetections, Window
from smokewatch.errors import SmokewatchError

__all__ = ["CLIPS_FOLDER", "local_day", "window_clip_name"]

#: Where, beside ``detections.json``, a timelapse run keeps the clips of its windows.
CLIPS_FOLDER = "clips"


def local_day(epoch: float, timezone: str) -> date:
    """The calendar day of ``epoch`` in ``timezone`` (the cameras' zone, as clip names use)."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise SmokewatchError(f"unknown time zone {timezone!r}") from None
    return datetime.fromtimestamp(epoch, zone).date()


def window_clip_name(view: ViewDetections, window: Window, *, size: int, timezone: str) -> ClipName:
    """The RISE name of the clip holding ``window`` of ``view`` (a ``size``-pixel square clip).

    Needs the view's ``box`` (a timelapse run records it); a :class:`SmokewatchError` says
    which view has none, or which number does not fit a clip record.
    """
    if view.box is None:
        raise SmokewatchError(f"view {view.key} has no box: its windows' clips cannot be named")
    try:
        box = Box(*view.box)
    except ValueError as exc:
        raise SmokewatchError(f"view {view.key}: {exc}") from None
    name = ClipName(
        camera_id=view.camera_id,
        view_id=view.view_id,
        day=local_day(window.start_time, timezone),
        box=box,
        height=size,
        width=size,
        start_frame=window.start_frame,
        start_time=round(window.start_time),
        end_time=round(window.end_time),
    )
    return ClipName.parse(name.format())  # checks every number fits a clip record
