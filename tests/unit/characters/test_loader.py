# SPDX-License-Identifier: GPL-3.0-or-later
"""Every layer of a pack parsed and checked: missing, broken, too large, reaching outside."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

from companion.characters.loader import MAX_PIXELS, load_character
from companion.characters.manifest import PackError
from companion.characters.store import builtin_root
from tests.support.packs import EXAMPLE, copy_example, png_bomb, set_manifest


@pytest.fixture
def pack(tmp_path: Path, qapp: QApplication) -> Path:
    return copy_example(tmp_path / "miso")


def test_the_example_and_the_built_in_packs_load(qapp: QApplication) -> None:
    miso = load_character(EXAMPLE)
    assert miso.id == "miso"
    assert miso.mouth_layer("aa") == "mouth/D" and miso.mouth_layer("FF") == "mouth/B"
    assert "face/idle" not in miso.layers  # optional: Miso has no extras when idle
    assert miso.layers["face/happy"].image is not None  # a PNG layer, placed by its box
    assert miso.layers["face/happy"].box.getRect() == (60.0, 112.0, 120.0, 40.0)
    builtin = load_character(builtin_root())
    assert builtin.id == "companion" and builtin.mouth_layer("aa") == "mouth/aa"
    assert (builtin.mouth_pivot, builtin.eye_pivot) == (129.0, 112.0)


def test_pivots_default_to_what_the_rest_mouth_and_the_eyes_draw(pack: Path) -> None:
    text = (pack / "character.toml").read_text()
    (pack / "character.toml").write_text(text.replace("mouth = 134", "").replace("eyes = 100", ""))
    character = load_character(pack)
    assert 131.0 <= character.mouth_pivot <= 136.0  # the rest mouth starts at the lip line
    assert 97.0 <= character.eye_pivot <= 103.0  # the eyes' middle


def test_a_missing_layer_is_named(pack: Path) -> None:
    (pack / "mouth" / "D.svg").unlink()
    with pytest.raises(PackError, match=r"no layer mouth/D \(expected as .svg or .png"):
        load_character(pack)
    (pack / "eyes" / "closed.svg").unlink()
    (pack / "body.svg").unlink()
    with pytest.raises(PackError, match="no layer body, eyes/closed, mouth/D"):
        load_character(pack)


def test_one_file_per_layer(pack: Path) -> None:
    (pack / "body.png").write_bytes(png_bomb(10, 10))
    with pytest.raises(PackError, match="body is there twice"):
        load_character(pack)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"<svg xmlns='http://www.w3.org/2000/svg'><rect", "broken SVG file \\(XML error"),
        (b"<html><body/></html>", "not an SVG file"),
        (b"", "broken SVG file"),
        (
            b"<svg xmlns='http://www.w3.org/2000/svg' xmlns:xlink='http://www.w3.org/1999/xlink'>"
            b"<image xlink:href='file:///etc/passwd' width='9' height='9'/></svg>",
            "refers to a file outside the pack",
        ),
        (
            b"<svg xmlns='http://www.w3.org/2000/svg'><image href='../../x.png'/></svg>",
            "refers to a file outside the pack",
        ),
    ],
)
def test_broken_and_reaching_svgs_are_refused(pack: Path, content: bytes, message: str) -> None:
    (pack / "mouth" / "C.svg").write_bytes(content)
    with pytest.raises(PackError, match=message):
        load_character(pack)


def test_huge_images_are_refused_from_their_header(pack: Path) -> None:
    (pack / "face" / "happy.png").write_bytes(png_bomb(3000, 3000))  # 9 MP in 3 KB
    assert MAX_PIXELS < 3000 * 3000
    with pytest.raises(PackError, match=r"face/happy.png is too large \(3000 x 3000 pixels\)"):
        load_character(pack)
    (pack / "face" / "happy.png").write_bytes(png_bomb(5000, 10))  # few pixels, too wide
    with pytest.raises(PackError, match="too large"):
        load_character(pack)


def test_a_huge_image_inside_an_svg_is_refused(pack: Path) -> None:
    data = base64.b64encode(png_bomb(4000, 4000)).decode()
    (pack / "body.svg").write_text(
        "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 240 200'>"
        f"<image href='data:image/png;base64,{data}' width='240' height='200'/></svg>"
    )
    with pytest.raises(PackError, match=r"An image inside body\.svg is too large"):
        load_character(pack)


def test_broken_pngs_are_refused(pack: Path) -> None:
    (pack / "face" / "happy.png").write_bytes(b"GIF89a not a png")
    with pytest.raises(PackError, match="not a PNG image"):
        load_character(pack)
    (pack / "face" / "happy.png").write_bytes(png_bomb(20, 20)[:40])
    with pytest.raises(PackError, match=r"happy\.png is"):
        load_character(pack)


def test_a_newer_format_is_refused(pack: Path) -> None:
    set_manifest(pack, "format = 1", "format = 7")
    with pytest.raises(PackError, match="format is 7, this Companion reads format 1"):
        load_character(pack)
