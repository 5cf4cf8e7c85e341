# SPDX-License-Identifier: GPL-3.0-or-later
"""Installing, listing and removing packs; a bad pack changes nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

from companion import paths
from companion.characters.manifest import PackError, PackExists
from companion.characters.store import BUILTIN_ID, CharacterStore, user_root
from tests.support.packs import EXAMPLE, copy_example, set_manifest, zip_folder


@pytest.fixture
def store(qapp: QApplication) -> CharacterStore:
    return CharacterStore()


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*")) if root.exists() else []


def test_the_user_folder_is_in_the_data_dir() -> None:
    assert user_root() == paths.data_dir() / "characters"
    assert paths.data_dir().parent == paths.config_dir()  # tests: inside the private dir


def test_only_the_built_in_character_at_first(store: CharacterStore) -> None:
    entries = store.entries()
    assert [(e.id, e.builtin, e.usable) for e in entries] == [(BUILTIN_ID, True, True)]


def test_install_from_a_folder_copies_the_pack_in(store: CharacterStore) -> None:
    entry = store.install(EXAMPLE)
    assert (entry.id, entry.name, entry.path) == ("miso", "Miso", store.root / "miso")
    assert _files(store.root / "miso") == _files(EXAMPLE)
    assert [e.id for e in store.entries()] == [BUILTIN_ID, "miso"]
    assert store.load("miso").manifest.author == "The Companion authors"


def test_install_from_a_zip_with_or_without_a_top_folder(
    store: CharacterStore, tmp_path: Path
) -> None:
    store.install(zip_folder(EXAMPLE, tmp_path / "miso.zip", top="miso-1.0"))
    assert _files(store.root / "miso") == _files(EXAMPLE)
    with pytest.raises(PackExists, match="“miso” \\(Miso\\) is installed already"):
        store.install(zip_folder(EXAMPLE, tmp_path / "flat.zip"))
    store.install(tmp_path / "flat.zip", replace=True)
    assert _files(store.root) == ["miso", *(f"miso/{f}" for f in _files(EXAMPLE))]


def test_a_bad_pack_installs_nothing_and_leaves_the_others(
    store: CharacterStore, tmp_path: Path
) -> None:
    store.install(EXAMPLE)
    before = _files(store.root)
    bad = copy_example(tmp_path / "bad")
    (bad / "mouth" / "A.svg").write_text("<svg this is not")
    with pytest.raises(PackError, match=r"mouth/A\.svg is a broken SVG"):
        store.install(bad, replace=True)
    assert _files(store.root) == before  # no staging folder left, Miso untouched
    set_manifest(bad, 'id = "miso"', f'id = "{BUILTIN_ID}"')
    shutil.copy(EXAMPLE / "mouth" / "A.svg", bad / "mouth" / "A.svg")
    with pytest.raises(PackError, match="belongs to the built-in character"):
        store.install(bad)
    assert _files(store.root) == before


def test_remove(store: CharacterStore) -> None:
    store.install(EXAMPLE)
    store.remove("miso")
    assert _files(store.root) == []
    with pytest.raises(PackError, match="not installed"):
        store.remove("miso")
    with pytest.raises(PackError, match="built-in character cannot be removed"):
        store.remove(BUILTIN_ID)
    with pytest.raises(PackError, match="not installed"):
        store.load("miso")


def test_packs_dropped_in_the_folder_are_listed_broken_ones_with_the_reason(
    store: CharacterStore, tmp_path: Path
) -> None:
    store.root.mkdir(parents=True)
    zip_folder(EXAMPLE, store.root / "dropped.zip")
    broken = copy_example(store.root / "broken")
    set_manifest(broken, 'id = "miso"', 'id = "broken"')
    (broken / "eyes" / "happy.svg").unlink()
    twin = copy_example(store.root / "twin")  # the same id as the zip
    entries = store.entries()
    assert [(e.id, e.usable) for e in entries] == [
        (BUILTIN_ID, True), ("miso", True), ("broken", False), ("miso", False),
    ]  # fmt: skip
    assert "no layer eyes/happy" in (entries[2].problem or "")
    assert "Another character already has the id “miso”" in (entries[3].problem or "")
    assert store.load("miso").path in (store.root / "dropped.zip", twin)
    store.remove("broken")
    assert not broken.exists()


def test_a_newer_format_in_the_folder_is_listed_as_unusable(store: CharacterStore) -> None:
    pack = copy_example(store.root / "future")
    set_manifest(pack, "format = 1", "format = 2")
    entry = store.entries()[1]
    assert not entry.usable and "newer Companion" in (entry.problem or "")
    with pytest.raises(PackError, match="not installed"):
        store.load("miso")
