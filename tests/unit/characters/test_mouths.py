# SPDX-License-Identifier: GPL-3.0-or-later
"""The one table between the Oculus-15 visemes and the Rhubarb shapes."""

from __future__ import annotations

from companion.characters.mouths import (
    OCULUS_TO_RHUBARB,
    RHUBARB_BASIC,
    RHUBARB_EXTENDED,
    MouthSet,
    mouth_layers,
    required_shapes,
)
from companion.speech.visemes import VISEMES
from tests.support.packs import ROOT


def test_the_table_covers_every_viseme_once_with_a_rhubarb_shape() -> None:
    assert tuple(v for v, _s, _w in OCULUS_TO_RHUBARB) == VISEMES
    shapes = {s for _v, s, _w in OCULUS_TO_RHUBARB}
    assert shapes <= set(RHUBARB_BASIC) | set(RHUBARB_EXTENDED)
    assert set(RHUBARB_BASIC) <= shapes  # every basic shape is used


def test_the_documented_table_is_this_table() -> None:
    doc = (ROOT / "docs" / "characters.md").read_text(encoding="utf-8")
    for viseme, shape, _what in OCULUS_TO_RHUBARB:
        assert f"| `{viseme}` | `{shape}` |" in doc, viseme


def test_missing_extended_shapes_fall_back_as_rhubarb_does() -> None:
    layers = mouth_layers(MouthSet.RHUBARB, set(RHUBARB_BASIC))
    assert layers["sil"] == "mouth/A"  # X missing
    assert layers["FF"] == "mouth/B"  # G missing
    assert layers["TH"] == "mouth/C"  # H missing
    full = mouth_layers(MouthSet.RHUBARB, set(RHUBARB_BASIC) | set(RHUBARB_EXTENDED))
    assert (full["sil"], full["FF"], full["TH"], full["aa"]) == (
        "mouth/X", "mouth/G", "mouth/H", "mouth/D",
    )  # fmt: skip


def test_oculus_packs_draw_each_viseme_with_its_own_layer() -> None:
    assert mouth_layers(MouthSet.OCULUS, set()) == {v: f"mouth/{v}" for v in VISEMES}
    assert required_shapes(MouthSet.OCULUS) == VISEMES
    assert required_shapes(MouthSet.RHUBARB) == RHUBARB_BASIC
