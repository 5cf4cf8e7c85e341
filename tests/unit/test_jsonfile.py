# SPDX-License-Identifier: GPL-3.0-or-later
"""JSON files: atomic writes, damaged files kept aside, never an exception on read."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from companion import jsonfile


def _dict(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValueError("not an object")
    return data


def test_write_then_load(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "state.json"
    jsonfile.write_json(path, {"é": [1, 2]})
    assert jsonfile.load_json(path, _dict) == jsonfile.Loaded({"é": [1, 2]})
    assert [p.name for p in path.parent.iterdir()] == ["state.json"]  # no temporary left


def test_missing_is_not_a_problem(tmp_path: Path) -> None:
    assert jsonfile.load_json(tmp_path / "none.json", _dict) == jsonfile.Loaded(None)


def test_rejected_by_the_parser_is_damaged_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text(json.dumps([1]))
    loaded = jsonfile.load_json(path, _dict)
    assert loaded.value is None and loaded.problem == "damaged" and loaded.kept_as
    assert (tmp_path / loaded.kept_as).read_text() == "[1]"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text("{}")
    path.chmod(0)
    loaded = jsonfile.load_json(path, _dict)
    assert (loaded.value, loaded.problem, loaded.error) == (None, "unreadable", "PermissionError")


def test_unreadable_directory_in_place_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.mkdir()
    loaded = jsonfile.load_json(path, _dict)
    assert loaded.problem == "unreadable" and loaded.error == "IsADirectoryError"


def test_failed_write_leaves_the_old_file_whole(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    jsonfile.write_json(path, {"a": 1})
    with pytest.raises(TypeError):
        jsonfile.write_json(path, {"a": object()})
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]
