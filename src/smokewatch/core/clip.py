"""A clip record and RISE's clip file-name convention.

RISE names every clip ``cam-view-Y-M-D-L-T-R-B-h-w-startFrame-startEpoch-endEpoch``, e.g.
``0-0-2018-06-11-6304-964-6807-1467-180-180-3470-1528712115-1528712290``: the camera view, the
day of the timelapse, the view's box in panorama pixels (left, top, right, bottom), the clip's
size, the first panorama frame and the epoch seconds of the first and last frame. The name is
the only place some of these facts live, so parsing and formatting it is part of the spine.

A metadata record's ``file_name`` is that name exactly (:meth:`ClipName.from_file_name`): it
is shown in web pages and used in paths, so anything else, even a real name behind a folder
of markup, is refused rather than passed on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date

from smokewatch.core.labels import GOLD_STATES, State, final_label, label_weight
from smokewatch.errors import ClipNameError

__all__ = [
    "Box",
    "ClipName",
    "Clip",
    "DEFAULT_URL_ROOT",
    "MAX_INT",
    "clip_address",
    "url_part_for",
    "url_problem",
]

#: Where RISE's service published its 180x180 clips (offline now; kept for compatibility).
DEFAULT_URL_ROOT = "https://smoke.createlab.org/videos/180/"

#: RISE's database, and the labeling service's, keeps every number of a clip record (id,
#: camera, view, times, box, size, frame) as a 32-bit signed integer: no larger one can be stored.
MAX_INT = 2**31 - 1

_NAME_RE = re.compile(
    r"(?P<camera>\d+)-(?P<view>\d+)-(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})"
    r"-(?P<left>\d+)-(?P<top>\d+)-(?P<right>\d+)-(?P<bottom>\d+)"
    r"-(?P<height>\d+)-(?P<width>\d+)-(?P<frame>\d+)-(?P<start>\d+)-(?P<end>\d+)",
    re.ASCII,
)


@dataclass(frozen=True, slots=True)
class Box:
    """A view's rectangle in panorama pixels: left, top, right, bottom (right/bottom exclusive)."""

    left: int
    top: int
    right: int
    bottom: int

    def __post_init__(self) -> None:
        if self.left < 0 or self.top < 0:
            raise ValueError(f"box {self.ltrb} has a negative corner")
        if self.right <= self.left or self.bottom <= self.top:
            raise ValueError(f"box {self.ltrb} is empty: right/bottom must exceed left/top")

    @property
    def ltrb(self) -> tuple[int, int, int, int]:
        return (self.left, self.top, self.right, self.bottom)

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top


@dataclass(frozen=True, slots=True)
class ClipName:
    """The facts encoded in a RISE clip file name (without the ``.mp4`` extension)."""

    camera_id: int
    view_id: int
    day: date
    box: Box
    height: int
    width: int
    start_frame: int
    start_time: int
    end_time: int

    @classmethod
    def parse(cls, name: str) -> ClipName:
        """Parse a clip file name; a trailing ``.mp4`` and leading folders are ignored."""
        stem = name.rsplit("/", 1)[-1]
        if stem.endswith(".mp4"):
            stem = stem[: -len(".mp4")]
        match = _NAME_RE.fullmatch(stem)
        if match is None:
            raise ClipNameError(
                f"{name!r} is not a RISE clip name "
                "(cam-view-Y-M-D-L-T-R-B-h-w-startFrame-startEpoch-endEpoch)"
            )
        g = {k: int(v) for k, v in match.groupdict().items()}
        for key, value in g.items():
            if value > MAX_INT:
                raise ClipNameError(f"{name!r}: {key} {value} is over {MAX_INT}")
        try:
            day = date(g["y"], g["m"], g["d"])
            box = Box(g["left"], g["top"], g["right"], g["bottom"])
        except ValueError as exc:
            raise ClipNameError(f"{name!r}: {exc}") from None
        if g["end"] < g["start"]:
            raise ClipNameError(f"{name!r}: end time {g['end']} is before start {g['start']}")
        return cls(
            camera_id=g["camera"],
            view_id=g["view"],
            day=day,
            box=box,
            height=g["height"],
            width=g["width"],
            start_frame=g["frame"],
            start_time=g["start"],
            end_time=g["end"],
        )

    @classmethod
    def from_file_name(cls, file_name: str) -> ClipName:
        """Parse a metadata record's ``file_name``, which must be exactly :meth:`format`'s
        text: no folder, no extension, no leading zeros."""
        name = cls.parse(file_name)
        if file_name != name.format():
            raise ClipNameError(
                f"{file_name!r} is not a RISE clip name as metadata writes it "
                f"(expected {name.format()!r})"
            )
        return name

    def format(self) -> str:
        """The file name, without extension; ``ClipName.parse(n.format()) == n``."""
        b = self.box
        return (
            f"{self.camera_id}-{self.view_id}-{self.day:%Y-%m-%d}"
            f"-{b.left}-{b.top}-{b.right}-{b.bottom}-{self.height}-{self.width}"
            f"-{self.start_frame}-{self.start_time}-{self.end_time}"
        )

    @property
    def view(self) -> str:
        """The camera view as RISE writes it: ``"camera-view"``, e.g. ``"0-14"``."""
        return f"{self.camera_id}-{self.view_id}"


def url_part_for(name: ClipName) -> str:
    """The path under ``url_root`` where RISE's service serves a clip."""
    return f"{name.day:%Y-%m-%d}/{name.view}/{name.format()}.mp4"


def clip_address(name: ClipName, url_root: str | None, url_part: str | None) -> tuple[str, str]:
    """Where a clip plays, as ``(url_root, url_part)``: as stored, else RISE's own address
    (:data:`DEFAULT_URL_ROOT`, :func:`url_part_for` its name). RISE's split files carry no
    addresses, so clips read from them have none; every place that gives a clip's address
    (metadata, the service's pages and exports) gives this one."""
    root = url_root if url_root is not None else DEFAULT_URL_ROOT
    part = url_part if url_part is not None else url_part_for(name)
    return root, part


#: A clip's address ends up in pages (RISE's own front end builds links from it with string
#: concatenation) and in spreadsheets: only plain web addresses and paths are taken, never a
#: scheme like ``javascript:``, quotes, markup, spaces, or a leading formula character.
_URL_ROOT = re.compile(
    r"(?:https?://[A-Za-z0-9.\-]+(?::[0-9]{1,5})?(?:/[A-Za-z0-9._~%/+\-]*)?"
    r"|/(?!/)[A-Za-z0-9._~%/+\-]*)",
    re.ASCII,
)
#: RISE's older clips were served by a thumbnail server: their part is a query string
#: (``?root=https://...&width=180&nframes=36``), so a part may hold one.
_URL_PART = re.compile(r"[A-Za-z0-9_.~%?][A-Za-z0-9._~%/+\-?&=:;,@!$*]*", re.ASCII)


def url_problem(key: str, value: str) -> str | None:
    """Why ``value`` cannot be a clip's ``url_root`` or ``url_part`` (``key``), or None.

    A root is an http(s) address or an absolute path ("/videos/"); a part is a relative path
    (or a query) under it, without ``..``: so ``url_root + url_part`` is always a web address
    on the root's host."""
    if key == "url_root":
        if not _URL_ROOT.fullmatch(value):
            return "expected an http(s) address or a path starting with /"
        return None
    if not _URL_PART.fullmatch(value) or ".." in value.partition("?")[0].split("/"):
        return "expected a relative path (or query) without quotes, spaces, markup or .."
    return None


@dataclass(slots=True)
class Clip:
    """One clip as the RISE metadata describes it, plus (optionally) its derived label.

    ``label`` and ``weight`` are only present in split files; use :meth:`with_label` to fill
    them from the two states with the one label-state machine.
    """

    id: int
    camera_id: int
    view_id: int
    label_state: int
    label_state_admin: int
    start_time: int
    file_name: str
    url_root: str | None = DEFAULT_URL_ROOT
    url_part: str | None = None
    label: int | None = None
    weight: float | None = None
    _name: ClipName | None = field(default=None, repr=False, compare=False)

    @property
    def name(self) -> ClipName:
        """The parsed file name (parsed once, on first use)."""
        if self._name is None:
            self._name = ClipName.parse(self.file_name)
        return self._name

    @property
    def view(self) -> str:
        return f"{self.camera_id}-{self.view_id}"

    @property
    def day(self) -> date:
        """The timelapse day, as the file name says (the camera's local date)."""
        return self.name.day

    @property
    def address(self) -> tuple[str, str]:
        """``(url_root, url_part)``: as stored, else derived (:func:`clip_address`)."""
        return clip_address(self.name, self.url_root, self.url_part)

    @property
    def url(self) -> str:
        """Where to fetch the clip: ``url_root + url_part`` (derived when absent)."""
        return "".join(self.address)

    @property
    def derived_label(self) -> int | None:
        return final_label(self.label_state, self.label_state_admin)

    @property
    def derived_weight(self) -> float | None:
        return label_weight(self.label_state, self.label_state_admin)

    @property
    def is_bad(self) -> bool:
        return State.BAD in (self.label_state, self.label_state_admin)

    @property
    def is_gold(self) -> bool:
        """A gold standard: its researcher state is a known answer that checks pages."""
        return self.label_state_admin in GOLD_STATES

    def with_label(self) -> Clip:
        """A copy with ``label`` and ``weight`` set by the RISE rules."""
        return replace(self, label=self.derived_label, weight=self.derived_weight)
