# SPDX-License-Identifier: GPL-3.0-or-later
"""Reading a pack from a folder or a zip: nothing outside the pack, nothing too big."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

import pytest

from companion.characters.manifest import PackError
from companion.characters.source import (
    MAX_FILE_BYTES,
    MAX_FILES,
    FolderSource,
    ZipSource,
    open_source,
    safe_name,
)
from tests.support.packs import EXAMPLE, copy_example, zip_folder


def test_names_inside_the_pack_are_kept_and_others_refused() -> None:
    assert safe_name("mouth/aa.svg") == "mouth/aa.svg"
    assert safe_name("./mouth//aa.svg") == "mouth/aa.svg"
    assert safe_name("mouth\\aa.svg") == "mouth/aa.svg"
    assert safe_name("__MACOSX/._body.svg") is None
    assert safe_name("eyes/.DS_Store") is None
    for bad in ("../evil.svg", "/etc/passwd", "mouth/../../x", "C:/Windows/x", "..\\x"):
        with pytest.raises(PackError, match="outside itself"):
            safe_name(bad)


def test_a_folder_and_a_zip_list_the_same_files(tmp_path: Path) -> None:
    folder = FolderSource(EXAMPLE)
    flat = ZipSource(zip_folder(EXAMPLE, tmp_path / "flat.zip"))
    nested = ZipSource(zip_folder(EXAMPLE, tmp_path / "nested.zip", top="miso"))
    assert folder.names() == flat.names() == nested.names()
    assert nested.read("character.toml") == (EXAMPLE / "character.toml").read_bytes()
    for source in (folder, flat, nested):
        source.close()
    assert isinstance(open_source(EXAMPLE), FolderSource)


def test_zip_slip_is_refused_before_anything_is_read(tmp_path: Path) -> None:
    for evil in ("../evil.svg", "/tmp/evil.svg", "mouth/../../evil.svg"):
        path = zip_folder(EXAMPLE, tmp_path / "slip.zip")
        with zipfile.ZipFile(path, "a") as zf:
            zf.writestr(evil, "<svg/>")
        with pytest.raises(PackError, match="outside itself"):
            ZipSource(path)
        path.unlink()
    assert not (tmp_path.parent / "evil.svg").exists()


def test_links_are_refused_in_zips_and_folders(tmp_path: Path) -> None:
    path = zip_folder(EXAMPLE, tmp_path / "link.zip")
    with zipfile.ZipFile(path, "a") as zf:
        info = zipfile.ZipInfo("mouth/G.svg")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(PackError, match="link"):
        ZipSource(path)
    pack = copy_example(tmp_path / "pack")
    (pack / "mouth" / "G.svg").symlink_to("/etc/hostname")
    with pytest.raises(PackError, match="link"):
        FolderSource(pack)


def test_sizes_are_limited_by_the_directory_and_while_reading(tmp_path: Path) -> None:
    big = zip_folder(EXAMPLE, tmp_path / "big.zip")
    with zipfile.ZipFile(big, "a", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("notes.txt", b"0" * (MAX_FILE_BYTES + 1))  # 4 MiB of zeros: a small zip
    with pytest.raises(PackError, match=r"notes\.txt is larger than 4 MiB"):
        ZipSource(big)
    total = zip_folder(EXAMPLE, tmp_path / "total.zip")
    with zipfile.ZipFile(total, "a", zipfile.ZIP_DEFLATED) as zf:
        for i in range(9):
            zf.writestr(f"filler/{i}.bin", b"0" * (MAX_FILE_BYTES - 10))
    with pytest.raises(PackError, match="larger than 32 MiB in all"):
        ZipSource(total)
    many = zip_folder(EXAMPLE, tmp_path / "many.zip")
    with zipfile.ZipFile(many, "a") as zf:
        for i in range(MAX_FILES):
            zf.writestr(f"filler/{i}.txt", "x")
    with pytest.raises(PackError, match="more than 400 files"):
        ZipSource(many)
    pack = copy_example(tmp_path / "pack")
    (pack / "body.svg").write_bytes(b"<svg>" + b" " * MAX_FILE_BYTES + b"</svg>")
    with pytest.raises(PackError, match=r"body\.svg is larger than 4 MiB"):
        FolderSource(pack).read("body.svg")


def test_not_a_pack(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(PackError, match=r"no character\.toml"):
        open_source(tmp_path / "empty")
    (tmp_path / "junk.zip").write_bytes(b"PK not really")
    with pytest.raises(PackError, match="not a readable zip"):
        open_source(tmp_path / "junk.zip")
    two = tmp_path / "two.zip"
    with zipfile.ZipFile(two, "w") as zf:
        zf.writestr("a/character.toml", "")
        zf.writestr("b/character.toml", "")
    with pytest.raises(PackError, match=r"no character\.toml"):
        open_source(two)
    with pytest.raises(PackError, match="does not exist"):
        open_source(tmp_path / "nowhere")
