# SPDX-License-Identifier: GPL-3.0-or-later
"""character.toml: what a pack says about itself, checked, with one clear line per mistake."""

from __future__ import annotations

import pytest

from companion.characters.manifest import (
    FORMAT_VERSION,
    MAX_MANIFEST_BYTES,
    PackError,
    parse_manifest,
    slug,
)
from companion.characters.mouths import MouthSet
from tests.support.packs import EXAMPLE

GOOD = """
format = 1
name = "Pip the Fox"
author = "Jane"
licence = "CC0-1.0"
size = [300, 200]
bubble = [150, 10]
mouths = "oculus"
"""


def test_the_example_pack_manifest() -> None:
    m = parse_manifest((EXAMPLE / "character.toml").read_bytes())
    assert (m.id, m.name, m.format) == ("miso", "Miso", FORMAT_VERSION)
    assert (m.width, m.height, m.bubble) == (240.0, 200.0, (120.0, 22.0))
    assert m.mouths is MouthSet.RHUBARB
    assert (m.mouth_pivot, m.eye_pivot) == (134.0, 100.0)
    assert (m.voice, m.speed) == ("en_US-joe-medium", 1.1)
    assert m.boxes == {"face/happy": (60.0, 112.0, 120.0, 40.0)}


def test_defaults_and_the_id_made_of_the_name() -> None:
    m = parse_manifest(GOOD.encode())
    assert m.id == "pip-the-fox" == slug("Pip the Fox")
    assert (m.description, m.voice, m.speed, m.mouth_pivot, m.boxes) == ("", "", None, None, {})


def test_license_is_read_as_licence_and_unknown_keys_are_ignored() -> None:
    text = GOOD.replace("licence", "license") + 'future_key = "x"\n[future_table]\na = 1\n'
    assert parse_manifest(text.encode()).licence == "CC0-1.0"


def test_a_newer_format_is_refused_with_a_clear_message() -> None:
    with pytest.raises(PackError, match=r"needs a newer Companion: its pack format is 2"):
        parse_manifest(GOOD.replace("format = 1", "format = 2").encode())


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("format = 1", "", "no “format”"),
        ("format = 1", 'format = "1"', "whole number"),
        ('name = "Pip the Fox"', "", "no “name”"),
        ('author = "Jane"', "", "no “author”"),
        ("size = [300, 200]", "size = [300]", "list of 2 numbers"),
        ("size = [300, 200]", "size = [0, 200]", "between 1 and 4096"),
        ("size = [300, 200]", "size = [9000, 200]", "between 1 and 4096"),
        ("bubble = [150, 10]", "bubble = [350, 10]", "on the canvas"),
        ('mouths = "oculus"', 'mouths = "preston"', 'oculus" or "rhubarb'),
        ('name = "Pip the Fox"', 'name = "Pip"\nid = "Bad Id!"', "lower-case"),
    ],
)
def test_mistakes_are_named(old: str, new: str, message: str) -> None:
    with pytest.raises(PackError, match=message):
        parse_manifest(GOOD.replace(old, new).encode())


def test_broken_toml_binary_and_huge_manifests() -> None:
    with pytest.raises(PackError, match="not valid TOML"):
        parse_manifest(b"format = = 1")
    with pytest.raises(PackError, match="not UTF-8"):
        parse_manifest(b"\xff\xfe\x00name")
    with pytest.raises(PackError, match="larger than 64 KiB"):
        parse_manifest(GOOD.encode() + b"#" * MAX_MANIFEST_BYTES)


def test_boxes_and_voice_are_checked() -> None:
    with pytest.raises(PackError, match=r"\[boxes\] mouth"):
        parse_manifest((GOOD + "[boxes]\nmouth = [400, 0, 10, 10]\n").encode())
    with pytest.raises(PackError, match="speed"):
        parse_manifest((GOOD + "[voice]\nspeed = 7\n").encode())
    m = parse_manifest((GOOD + '[voice]\nname = "x"\n[pivots]\nmouth = 120\n').encode())
    assert (m.voice, m.mouth_pivot) == ("x", 120.0)
