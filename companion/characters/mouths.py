# SPDX-License-Identifier: GPL-3.0-or-later
"""The mouth sets a pack may draw, and the one table between them.

Companion's timelines speak the 15 Oculus visemes (``speech/visemes.py``). A pack draws either
those 15 (``mouths = "oculus"``: ``mouth/sil.svg`` … ``mouth/U.svg``) or the Rhubarb Lip Sync
shapes (``mouths = "rhubarb"``: ``mouth/A.svg`` … ``mouth/H.svg``, ``mouth/X.svg``), the
Hanna-Barbera / Preston Blair set most 2D animators already have. A to F are Rhubarb's basic
shapes and must be there; G, H and X are its extended shapes and may be left out, as Rhubarb
itself allows: a missing one is drawn with the basic shape Rhubarb uses in its place.

:data:`OCULUS_TO_RHUBARB` is the table (also printed in ``docs/characters.md``).
"""

from __future__ import annotations

import enum

from companion.speech.visemes import VISEMES


class MouthSet(enum.StrEnum):
    """The two mouth sets a pack may draw."""

    OCULUS = "oculus"
    RHUBARB = "rhubarb"


RHUBARB_BASIC: tuple[str, ...] = ("A", "B", "C", "D", "E", "F")
#: Rhubarb's optional extended shapes and the basic shape drawn when one is missing.
RHUBARB_EXTENDED: dict[str, str] = {"G": "B", "H": "C", "X": "A"}

#: Oculus viseme → Rhubarb shape, with what the mouth does (the documented table).
OCULUS_TO_RHUBARB: tuple[tuple[str, str, str], ...] = (
    ("sil", "X", "rest: lips closed and relaxed"),
    ("PP", "A", "p, b, m: lips pressed together"),
    ("FF", "G", "f, v: upper teeth on the lower lip"),
    ("TH", "H", "th: tongue between or behind the teeth"),
    ("DD", "B", "t, d: teeth nearly closed"),
    ("kk", "B", "k, g, h: teeth nearly closed"),
    ("CH", "B", "ch, sh, j: teeth nearly closed"),
    ("SS", "B", "s, z: teeth nearly closed"),
    ("nn", "H", "n, l: tongue raised behind the upper teeth"),
    ("RR", "E", "r, er (bird): slightly rounded"),
    ("aa", "D", "a (father): wide open"),
    ("E", "C", "e (men), ae (bat): open"),
    ("I", "B", "i (bee, sit): teeth nearly closed, lips wide"),
    ("O", "E", "o (off, toe): slightly rounded"),
    ("U", "F", "u (you), w: puckered"),
)

def shape_names(mouth_set: MouthSet) -> tuple[str, ...]:
    """The file names (without suffix) of a mouth set, required ones first."""
    if mouth_set is MouthSet.OCULUS:
        return VISEMES
    return (*RHUBARB_BASIC, *RHUBARB_EXTENDED)


def required_shapes(mouth_set: MouthSet) -> tuple[str, ...]:
    return VISEMES if mouth_set is MouthSet.OCULUS else RHUBARB_BASIC


def mouth_layers(mouth_set: MouthSet, present: set[str]) -> dict[str, str]:
    """Viseme → the layer (``mouth/<shape>``) that draws it, given the shapes ``present``.

    Every required shape must be in ``present`` (the loader checks that first).
    """
    if mouth_set is MouthSet.OCULUS:
        return {v: f"mouth/{v}" for v in VISEMES}
    out: dict[str, str] = {}
    for viseme, shape, _what in OCULUS_TO_RHUBARB:
        drawn = shape if shape in present else RHUBARB_EXTENDED.get(shape, shape)
        out[viseme] = f"mouth/{drawn}"
    return out
