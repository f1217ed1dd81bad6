"""labeling.catalog: placing clip files into the clip store, and which records are new.

``place_files`` is what ``clips import --from-detections`` places a run's window clips with;
``place_folder`` is ``clips import DIR``. Both refuse links and non-regular files with the
same words, and check each file as placed. No video is decoded here: ``verify`` is a stand-in
that refuses files not starting with ``CLIP``, as the caller's decoder would refuse garbage.
"""

from __future__ import annotations

import os
from pathlib import Path

from smokewatch.core.clip import Clip, ClipName, url_part_for
from smokewatch.core.labels import State
from smokewatch.errors import VideoError
from smokewatch.labeling.catalog import (
    clip_files_beside,
    export_clips,
    import_clips,
    import_placed,
    place_files,
    place_folder,
)
from smokewatch.labeling.db import Database


def clip_name(i: int) -> ClipName:
    start = 1549200000 + i * 180
    return ClipName.parse(f"0-1-2019-02-03-10-20-190-200-180-180-{i}-{start}-{start + 175}")


def verify(path: Path) -> None:
    if not path.read_bytes().startswith(b"CLIP"):
        raise VideoError(f"{path}: not a clip")


def test_place_files_places_regular_files_and_lists_the_rest_in_order(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    secret = tmp_path / "secret.key"
    secret.write_bytes(b"CLIP but a secret")
    store = tmp_path / "videos"
    good, link, fifo, missing, bad = (clip_name(i) for i in range(1, 6))
    (run / "good.mp4").write_bytes(b"CLIP 1")
    (run / "link.mp4").symlink_to(secret)
    os.mkfifo(run / "fifo.mp4")
    (run / "bad.mp4").write_bytes(b"garbage")
    files = [
        (run / "good.mp4", good),
        (run / "link.mp4", link),
        (run / "fifo.mp4", fifo),
        (run / "missing.mp4", missing),
        (run / "bad.mp4", bad),
    ]

    placed, skipped = place_files(iter(files), store, verify)

    assert [(p.source, p.name) for p in placed] == [(run / "good.mp4", good)]
    assert (store / url_part_for(good)).read_bytes() == b"CLIP 1"
    assert skipped == [
        f"{run / 'link.mp4'}: a symbolic link (only regular files are imported)",
        f"{run / 'fifo.mp4'}: not a regular file",
        f"{run / 'missing.mp4'}: No such file or directory",
        f"{run / 'bad.mp4'}: not a clip",  # the user's file named, not the staging copy
    ]
    assert sorted(p.name for p in store.rglob("*") if p.is_file()) == [f"{good.format()}.mp4"]


def test_place_files_keeps_a_clip_already_in_the_store(tmp_path: Path) -> None:
    name = clip_name(1)
    stored = tmp_path / "videos" / url_part_for(name)
    stored.parent.mkdir(parents=True)
    stored.write_bytes(b"CLIP already here")
    (tmp_path / "new.mp4").write_bytes(b"CLIP new")
    placed, skipped = place_files([(tmp_path / "new.mp4", name)], tmp_path / "videos", verify)
    assert [p.name for p in placed] == [name] and skipped == []
    assert stored.read_bytes() == b"CLIP already here"


def test_place_files_and_place_folder_refuse_a_link_in_the_same_words(tmp_path: Path) -> None:
    folder = tmp_path / "clips"
    folder.mkdir()
    target = tmp_path / "elsewhere.mp4"
    target.write_bytes(b"CLIP")
    link = folder / f"{clip_name(1).format()}.mp4"
    link.symlink_to(target)
    (folder / f"{clip_name(2).format()}.mp4").write_bytes(b"CLIP 2")

    from_folder = place_folder(folder, tmp_path / "a", verify)
    from_files = place_files([(link, clip_name(1))], tmp_path / "b", verify)

    assert [p.name for p in from_folder[0]] == [clip_name(2)] and from_files[0] == []
    assert (
        from_folder[1]
        == from_files[1]
        == [f"{link}: a symbolic link (only regular files are imported)"]
    )


def record(vid: int, i: int, *, state: int = -1, admin: int = -1) -> Clip:
    """Clip ``i`` as a metadata record numbered ``vid`` (``clips extract``'s numbering)."""
    name = clip_name(i)
    return Clip(
        id=vid,
        camera_id=name.camera_id,
        view_id=name.view_id,
        label_state=state,
        label_state_admin=admin,
        start_time=name.start_time,
        file_name=name.format(),
        url_root="/videos/",
        url_part=url_part_for(name),
    )


def test_an_unlabeled_record_of_a_known_clip_under_another_id_is_already_there(
    database: Database,
) -> None:
    # a folder import numbered clips 1-3 as 1, 2, 3; the extract's metadata.json numbered
    # the same clips 3, 1, 2 (window then view order): the same clips, not conflicts
    with database.write() as session:
        assert import_clips(session, [record(1, 1), record(2, 2), record(3, 3)]).added == 3
    with database.write() as session:
        report = import_clips(session, [record(3, 1), record(1, 2), record(2, 3), record(9, 4)])
    assert (report.added, report.skipped, report.conflicts) == (1, 3, [])


def test_a_real_clash_of_ids_or_a_labeled_record_stays_a_conflict(database: Database) -> None:
    with database.write() as session:
        import_clips(session, [record(1, 1), record(2, 2)])
    with database.write() as session:
        report = import_clips(
            session,
            [
                record(1, 5),  # a known id naming another clip (two RISE files disagree)
                record(7, 2, state=int(State.ONE_YES)),  # labels for a known clip, other id
            ],
        )
    assert report.added == report.skipped == 0
    assert [c.split(" (")[0] for c in report.conflicts] == ["clip 1", "clip 7"]


def test_clip_files_beside_a_metadata_file_make_it_a_folder_import(tmp_path: Path) -> None:
    out = tmp_path / "clips"  # what clips extract leaves: clips flat beside metadata.json
    out.mkdir()
    for i in (1, 2):
        (out / f"{clip_name(i).format()}.mp4").write_bytes(b"CLIP")
    metadata = out / "metadata.json"
    clips = [record(1, 1), record(2, 2), record(3, 3)]  # clip 3's file was deleted
    assert clip_files_beside(metadata, clips) == [
        (out / f"{clip_name(i).format()}.mp4", clip_name(i)) for i in (1, 2, 3)
    ]
    placed, skipped = place_files(clip_files_beside(metadata, clips) or [], tmp_path / "v", verify)
    assert [p.name for p in placed] == [clip_name(1), clip_name(2)]
    assert skipped == [f"{out / clip_name(3).format()}.mp4: No such file or directory"]
    # metadata-only imports stay so: records with labels (RISE's), or no clip file beside it
    labeled = [record(1, 1, admin=int(State.GOLD_POS)), record(2, 2)]
    assert clip_files_beside(metadata, labeled) is None
    assert clip_files_beside(tmp_path / "metadata.json", clips) is None
    assert clip_files_beside(metadata, []) is None


def test_a_folder_import_repoints_known_clips_at_the_store_and_keeps_their_labels(
    tmp_path: Path, database: Database
) -> None:
    # RISE's metadata came first: labeled records whose host is offline, and one unlabeled
    # record an older extract's metadata.json gave a remote address under its own number
    rise = record(40, 1, admin=int(State.GOLD_POS))
    rise.url_root = "https://offline.example.org/videos/"
    rise.url_part = "old/part.mp4"
    older = record(41, 2)
    older.url_root = "https://elsewhere.example.org/"
    with database.write() as session:
        assert import_clips(session, [rise, older, record(42, 3)]).added == 3
    folder = tmp_path / "clips"
    folder.mkdir()
    for i in (1, 2, 3, 4):
        (folder / f"{clip_name(i).format()}.mp4").write_bytes(b"CLIP")
    placed, skipped = place_folder(folder, tmp_path / "videos", verify)
    assert skipped == []

    with database.write() as session:
        report = import_placed(session, placed, "/videos/")
    # clip 3 was already served from the store: nothing to repoint
    assert (report.added, report.skipped, report.repointed, report.conflicts) == (1, 3, 2, [])
    with database.read() as session:
        clips = {c.file_name: c for c in export_clips(session)}
    for i, vid in ((1, 40), (2, 41), (3, 42), (4, 43)):
        clip = clips[clip_name(i).format()]
        assert (clip.id, clip.url_root, clip.url_part) == (
            vid,
            "/videos/",
            url_part_for(clip_name(i)),
        )
        assert (tmp_path / "videos" / clip.url_part).read_bytes() == b"CLIP"
    assert clips[clip_name(1).format()].label_state_admin == int(State.GOLD_POS)

    with database.write() as session:  # idempotent: a second import changes nothing
        again = import_placed(session, placed, "/videos/")
    assert (again.added, again.skipped, again.repointed) == (0, 4, 0)
    # a metadata import never repoints: its records name where their writer put the files
    with database.write() as session:
        assert import_clips(session, [rise]).repointed == 0
    with database.read() as session:
        (first,) = [c for c in export_clips(session) if c.id == 40]
    assert first.url_root == "/videos/"


def test_one_clip_twice_in_one_import_is_added_once(tmp_path: Path, database: Database) -> None:
    # a metadata file with two unlabeled records of one clip under two numbers
    twice = [record(1, 1), record(2, 1), record(3, 2)]
    with database.write() as session:
        report = import_clips(session, twice)
    assert (report.added, report.skipped, report.conflicts) == (2, 1, [])
    # a folder holding the same clip in two subfolders
    for sub in ("a", "b"):
        (tmp_path / "clips" / sub).mkdir(parents=True)
        (tmp_path / "clips" / sub / f"{clip_name(5).format()}.mp4").write_bytes(b"CLIP")
    placed, skipped = place_folder(tmp_path / "clips", tmp_path / "videos", verify)
    assert len(placed) == 2 and skipped == []
    with database.write() as session:
        report = import_placed(session, placed, "/videos/")
    assert (report.added, report.skipped, report.repointed, report.conflicts) == (1, 1, 0, [])
    with database.read() as session:
        assert [c.file_name for c in export_clips(session)].count(clip_name(5).format()) == 1


def test_a_repoint_within_one_import_is_the_same_in_any_chunk(database: Database) -> None:
    """The second record of a clip repoints the first whether the first is in the database
    already (an earlier chunk) or still waiting to be inserted (the same chunk)."""
    import dataclasses

    cdn = "https://cdn.example.org/"
    for chunk, i in ((2000, 1), (1, 2)):
        twice = [record(10 * i, i), dataclasses.replace(record(10 * i + 1, i), url_root=cdn)]
        with database.write() as session:
            report = import_clips(session, twice, chunk=chunk, repoint=True)
        assert (report.added, report.skipped) == (1, 1)
        with database.read() as session:
            (stored,) = [c for c in export_clips(session) if c.file_name == clip_name(i).format()]
        assert stored.url_root == cdn, chunk
