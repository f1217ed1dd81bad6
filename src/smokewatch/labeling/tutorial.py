"""The tutorial's lessons: one editable data file, checked, with clip addresses resolved.

The packaged lessons (``web/tutorial.json``) teach with generated clips; a project puts its
own file at ``SMOKEWATCH_DATA_DIR/tutorial.json`` (same shape, its own cameras' clips) and the
service uses that instead, re-reading it when it changes. Each clip names its file (under the
service's ``/videos/``, or any absolute URL), the right answer, an explanation, and where the
smoke is (boxes as fractions of the frame: left, top, right, bottom). A clip may also carry a
``synthetic`` recipe, which ``smokewatch demo`` uses to generate the file when it is missing,
or a ``rise`` file name: the RISE clip (``../shared/rise/clips/NAME``) the demo copies there.
``web/tutorial-rise.json`` is such a file: the lessons made of real RISE clips, which the demo
uses when the RISE clips are present.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from smokewatch.labeling.errors import ServiceError
from smokewatch.settings import Settings

__all__ = ["Lessons", "Lesson", "LessonClip", "TutorialError", "lessons_path", "load_lessons"]

PACKAGED = Path(__file__).with_name("web") / "tutorial.json"
#: The lessons made of real RISE clips (each clip names its ``rise`` file).
PACKAGED_RISE = Path(__file__).with_name("web") / "tutorial-rise.json"
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]


class TutorialError(ServiceError):
    """The lessons file cannot be used (503: the site is misconfigured, not the request)."""

    default_status = 503


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Synthetic(_Strict):
    seed: int = 0


class LessonClip(_Strict):
    id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
    file: Annotated[str, Field(min_length=1, max_length=512)]
    smoke: bool
    explanation: Annotated[str, Field(min_length=1)]
    regions: list[tuple[Fraction, Fraction, Fraction, Fraction]] = []
    synthetic: Synthetic | None = None
    rise: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+\.mp4$", max_length=128)] | None = None

    @field_validator("regions")
    @classmethod
    def _boxes(
        cls, boxes: list[tuple[float, float, float, float]]
    ) -> list[tuple[float, float, float, float]]:
        for left, top, right, bottom in boxes:
            if right <= left or bottom <= top:
                raise ValueError(f"a region is left, top, right, bottom with left < right and "
                                 f"top < bottom; got {[left, top, right, bottom]}")  # fmt: skip
        return boxes

    @field_validator("file")
    @classmethod
    def _file(cls, value: str) -> str:
        if ".." in Path(value).parts:
            raise ValueError(f"file {value!r} must not leave the videos folder")
        return value


class Lesson(_Strict):
    id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
    title: Annotated[str, Field(min_length=1)]
    intro: Annotated[str, Field(min_length=1)]
    hint: Annotated[str, Field(min_length=1)]
    clips: Annotated[list[LessonClip], Field(min_length=1, max_length=16)]


class Lessons(_Strict):
    version: int = 1
    lessons: Annotated[list[Lesson], Field(min_length=1, max_length=20)]

    @field_validator("lessons")
    @classmethod
    def _unique(cls, lessons: list[Lesson]) -> list[Lesson]:
        seen: set[str] = set()
        for clip in (c for lesson in lessons for c in lesson.clips):
            if clip.id in seen:
                raise ValueError(f"clip id {clip.id!r} is used twice")
            seen.add(clip.id)
        return lessons


def lessons_path(settings: Settings) -> Path:
    """The project's own lessons when it has them, else the packaged ones."""
    own = settings.data_dir / "tutorial.json"
    return own if own.is_file() else PACKAGED


def read_lessons(path: Path) -> Lessons:
    """Parse and check a lessons file; the error names the file and the problem."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TutorialError(f"{path}: cannot read the lessons: {exc.strerror}") from None
    except ValueError as exc:
        raise TutorialError(f"{path}: invalid JSON: {exc}") from None
    try:
        return Lessons.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise TutorialError(f"{path}: {where}: {first['msg']}") from None


_cache: dict[Path, tuple[float, Lessons]] = {}
_lock = threading.Lock()


def load_lessons(settings: Settings) -> Lessons:
    """The lessons in force, re-read when the file changes."""
    path = lessons_path(settings)
    try:
        mtime = path.stat().st_mtime
    except OSError:
        mtime = -1.0
    with _lock:
        hit = _cache.get(path)
        if hit is not None and hit[0] == mtime:
            return hit[1]
    lessons = read_lessons(path)
    with _lock:
        _cache[path] = (mtime, lessons)
    return lessons


def clip_url(settings: Settings, file: str) -> str:
    """Where a browser fetches a lesson clip: absolute URLs as given, else under /videos/."""
    if file.startswith(("http://", "https://", "/")):
        return file
    return settings.videos_url_root.rstrip("/") + "/" + file.lstrip("/")


def lessons_for_page(settings: Settings) -> dict[str, Any]:
    """The lessons as the tutorial page gets them (answers included: it is a lesson)."""
    lessons = load_lessons(settings)
    out = lessons.model_dump(
        exclude={"lessons": {"__all__": {"clips": {"__all__": {"synthetic", "rise"}}}}}
    )
    for lesson in out["lessons"]:
        for clip in lesson["clips"]:
            clip["url"] = clip_url(settings, clip["file"])
    return out
