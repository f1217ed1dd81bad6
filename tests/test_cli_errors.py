"""What every verb shares (``cli._common``): an output never replaces an input, an unusable
output path is one line, and an error raised in a DataLoader worker is one line too."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from cli_helpers import one_line_error
from typer.testing import CliRunner

from smokewatch.cli import app
from smokewatch.cli._common import user_errors
from smokewatch.core.answers import Answer, write_answers_csv
from smokewatch.errors import VideoError

runner = CliRunner()
NAME = "0-0-2018-06-11-6304-964-6807-1467-180-180-3470-1528712115-1528712290"


def _metadata(path: Path) -> Path:
    record = {
        "camera_id": 0,
        "view_id": 0,
        "id": 1,
        "label_state": -1,
        "label_state_admin": -1,
        "start_time": 1528712115,
        "file_name": NAME,
    }
    path.write_text(json.dumps([record]))
    return path


def test_an_output_that_is_the_input_is_refused_and_the_input_kept(tmp_path: Path) -> None:
    meta = _metadata(tmp_path / "meta.json")
    before = meta.read_bytes()
    result = runner.invoke(app, ["clips", "views", str(meta), "--out", str(meta)])
    one_line_error(result, "--out", "input", "meta.json")
    assert meta.read_bytes() == before
    # the same file by another name: a link, or a path through ".."
    link = tmp_path / "link.json"
    link.symlink_to(meta)
    for other in (link, tmp_path / "sub" / ".." / "meta.json"):
        (tmp_path / "sub").mkdir(exist_ok=True)
        result = runner.invoke(app, ["clips", "views", str(meta), "--out", str(other)])
        one_line_error(result, "replace that file")
    assert meta.read_bytes() == before and link.is_symlink()


def test_analysis_outputs_never_replace_the_answers(tmp_path: Path) -> None:
    answers = tmp_path / "answers.csv"
    rows = [Answer(c, f"c{c}", w, "citizen", 1, 10 * w + c) for c in (1, 2) for w in (1, 2)]
    write_answers_csv(rows, answers)
    before = answers.read_bytes()
    for args in (
        ["analyze", "aggregate", str(answers), "--out", str(answers)],
        ["analyze", "contributors", str(answers), "--csv", str(answers)],
        ["analyze", "contributors", str(answers), "--plot", str(answers)],
    ):
        one_line_error(runner.invoke(app, args), str(answers))
        assert answers.read_bytes() == before, args


def test_an_unusable_output_path_is_one_line(tmp_path: Path) -> None:
    meta = _metadata(tmp_path / "meta.json")
    afile = tmp_path / "afile"
    afile.write_text("x")
    under_a_file = runner.invoke(app, ["clips", "views", str(meta), "--out", f"{afile}/v.yaml"])
    one_line_error(under_a_file, "Not a directory", "afile")
    (tmp_path / "folder.yaml").mkdir()
    a_folder = runner.invoke(
        app, ["clips", "views", str(meta), "--out", str(tmp_path / "folder.yaml")]
    )
    one_line_error(a_folder, "folder.yaml")
    answers = tmp_path / "answers.csv"
    write_answers_csv([Answer(1, "c1", 1, "citizen", 1, 1)], answers)
    labels = runner.invoke(app, ["analyze", "aggregate", str(answers), "--out", f"{afile}/l.csv"])
    one_line_error(labels, "Not a directory", "afile")
    assert afile.read_text() == "x"


def test_an_error_in_a_dataloader_worker_is_its_own_message() -> None:
    import torch

    class Broken(torch.utils.data.Dataset[int]):
        def __len__(self) -> int:
            return 2

        def __getitem__(self, index: int) -> int:
            raise VideoError(f"clips/c{index}.mp4: cannot open video")

    @user_errors
    def read_all() -> None:
        for _ in torch.utils.data.DataLoader(Broken(), num_workers=1):
            pass

    command = typer.Typer()
    command.command()(read_all)
    result = runner.invoke(command, [])
    err = one_line_error(result)
    assert err == "error: clips/c0.mp4: cannot open video\n"


def test_an_os_error_without_a_path_is_still_a_bug(tmp_path: Path) -> None:
    @user_errors
    def broken() -> None:
        raise ConnectionResetError("peer went away")  # an OSError that names no file

    with pytest.raises(ConnectionResetError):
        broken()


def test_a_registration_never_replaces_a_photo(tmp_path: Path) -> None:
    from PIL import Image

    photos = tmp_path / "photos"
    photos.mkdir()
    for k in range(2):
        Image.new("RGB", (16, 16), (k, k, k)).save(photos / f"cam{k}_20260601-100000.png")
    target = photos / "cam1_20260601-100000.png"
    before = target.read_bytes()
    args = ["timelapse", "register", str(photos), "--out", str(target)]
    result = runner.invoke(app, [*args, "--time-pattern", "%Y%m%d-%H%M%S"])
    one_line_error(result, "cam1_20260601-100000.png", "input")
    assert target.read_bytes() == before


@pytest.mark.parametrize(
    "args",
    [
        ["analyze", "simulate", "--target", "nan"],
        ["analyze", "simulate", "--target", "1.5"],
        ["timelapse", "build", "p", "--camera", "c.yaml", "--date", "2026-01-01", "--out", "o",
         "--fps", "1e308"],
    ],
)  # fmt: skip
def test_numbers_out_of_range_are_usage_errors(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "Invalid value" in result.output
    assert "Traceback" not in result.output


def test_a_metadata_export_to_another_suffix_is_refused(tmp_path: Path) -> None:
    """``labels export --out exp.txt`` would have written JSON under a name that says text,
    where ``--answers`` and ``--pages`` refuse a suffix they do not write."""
    for name in ("exp.txt", "exp.parquet", "exp"):
        result = runner.invoke(app, ["labels", "export", "--out", str(tmp_path / name)])
        one_line_error(result, name, "a metadata export is .json or .csv")
        assert not (tmp_path / name).exists()
