"""A damaged model folder is a one-line :class:`ModelDirError` naming the file, never a
traceback, and never a silently wrong model (a threshold outside (0, 1))."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from model_dirs import tiny3d_model_dir

from smokewatch.training.saved import ModelDirError, load_model_dir


def _edit_meta(change: Callable[[dict[str, Any]], None]) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        meta = json.loads((folder / "model.json").read_text())
        change(meta)
        (folder / "model.json").write_text(json.dumps(meta))

    return edit


def _set(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda meta: meta.__setitem__(key, value)


DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "model.json not UTF-8": (
        lambda d: (d / "model.json").write_bytes(b"\xff\xfe\x00garbage"),
        r"model.json: unreadable",
    ),
    "model.pt a list": (
        lambda d: torch.save([1, 2, 3], d / "model.pt"),
        r"model.pt: not a state dict \(holds a list\)",
    ),
    "model.pt a tensor": (
        lambda d: torch.save(torch.zeros(3), d / "model.pt"),
        r"model.pt: not a state dict \(holds a Tensor\)",
    ),
    "model.pt of ints": (
        lambda d: torch.save({"logits.weight": 3}, d / "model.pt"),
        r"model.pt: weights do not fit tiny3d",
    ),
    "unknown model_kwargs": (
        _edit_meta(lambda m: m["config"].__setitem__("model_kwargs", {"bogus": 1})),
        r"model.json: model_kwargs \{'bogus': 1\} do not fit tiny3d",
    ),
    "threshold null": (
        _edit_meta(_set("probability_threshold", None)),
        r"probability_threshold None is not a number strictly between 0 and 1",
    ),
    "threshold 7": (
        _edit_meta(_set("probability_threshold", 7)),
        r"probability_threshold 7 is not",
    ),
    "threshold 0": (_edit_meta(_set("probability_threshold", 0)), "probability_threshold 0 "),
    "threshold 1.0": (
        _edit_meta(_set("probability_threshold", 1.0)),
        "probability_threshold 1.0 ",
    ),
    "threshold true": (
        _edit_meta(_set("probability_threshold", True)),
        "probability_threshold True ",
    ),
    "threshold text": (
        _edit_meta(_set("probability_threshold", "0.5")),
        "probability_threshold '0.5' ",
    ),
}


@pytest.mark.parametrize("damage", DAMAGE, ids=list(DAMAGE))
def test_a_damaged_model_folder_is_a_one_line_error(damage: str, tmp_path: Path) -> None:
    folder = tiny3d_model_dir(tmp_path / "model")
    spoil, said = DAMAGE[damage]
    spoil(folder)
    with pytest.raises(ModelDirError, match=said) as caught:
        load_model_dir(folder)
    assert "\n" not in str(caught.value)


def test_a_threshold_inside_0_1_is_the_models(tmp_path: Path) -> None:
    folder = tiny3d_model_dir(tmp_path / "model")
    _edit_meta(_set("probability_threshold", 0.25))(folder)
    assert load_model_dir(folder).threshold == 0.25
    assert load_model_dir(tiny3d_model_dir(tmp_path / "plain")).threshold == 0.5
