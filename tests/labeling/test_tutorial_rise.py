"""The real-clip lessons (web/tutorial-rise.json): a valid lessons file whose every clip is a
RISE clip with the answer RISE's label gives, and the demo installs them only when it can."""

from __future__ import annotations

import csv
from pathlib import Path

from smokewatch.demo import DEMO_TUTORIAL_MARK, choose_tutorial, make_tutorial_clips, site_settings
from smokewatch.labeling.tutorial import PACKAGED_RISE, lessons_path, read_lessons


def _clips() -> list:
    return [c for lesson in read_lessons(PACKAGED_RISE).lessons for c in lesson.clips]


def test_the_real_clip_lessons_read_and_box_only_smoke() -> None:
    lessons = read_lessons(PACKAGED_RISE).lessons
    assert lessons[-1].id == "final-check" and any(c.smoke for c in lessons[-1].clips)
    for clip in _clips():
        assert clip.rise is not None and clip.file == f"tutorial/rise/{clip.rise}"
        assert clip.synthetic is None
        assert bool(clip.regions) == clip.smoke, clip.id  # boxes exactly where there is smoke


def test_every_lesson_clip_is_a_rise_clip_with_its_label(rise_dir: Path) -> None:
    with (rise_dir / "clips.csv").open(newline="") as f:
        labels = {row["file"]: int(row["label"]) for row in csv.DictReader(f)}
    for clip in _clips():
        assert clip.rise is not None
        assert (rise_dir / "clips" / clip.rise).is_file(), clip.rise
        assert labels[clip.rise] == int(clip.smoke), clip.rise


def test_the_demo_uses_the_real_lessons_only_when_every_clip_is_there(tmp_path: Path) -> None:
    rise = tmp_path / "rise"
    (rise / "clips").mkdir(parents=True)
    clips = _clips()
    for clip in clips[:-1]:
        assert clip.rise is not None
        (rise / "clips" / clip.rise).write_bytes(b"clip")
    settings = site_settings(tmp_path / "site")
    assert choose_tutorial(settings, rise) == "synthetic"  # one clip missing
    assert lessons_path(settings).name == "tutorial.json"
    assert not (settings.data_dir / "tutorial.json").exists()

    assert clips[-1].rise is not None
    (rise / "clips" / clips[-1].rise).write_bytes(b"clip")
    assert choose_tutorial(settings, rise) == "rise"
    assert lessons_path(settings) == settings.data_dir / "tutorial.json"
    assert make_tutorial_clips(settings, rise_dir=rise) == len(clips)
    assert make_tutorial_clips(settings, rise_dir=rise) == 0  # already in place
    assert (settings.videos_dir / clips[0].file).read_bytes() == b"clip"

    assert choose_tutorial(settings, None) == "synthetic"  # the demo's own copy goes
    assert not (settings.data_dir / "tutorial.json").exists()
    assert not (settings.data_dir / DEMO_TUTORIAL_MARK).exists()


def test_the_demo_leaves_a_sites_own_lessons_alone(tmp_path: Path) -> None:
    settings = site_settings(tmp_path / "site")
    own = settings.data_dir / "tutorial.json"
    own.parent.mkdir(parents=True)
    own.write_text("{}")
    assert choose_tutorial(settings, None) == "own"
    assert choose_tutorial(settings, tmp_path / "rise") == "own"
    assert own.read_text() == "{}"
