# SPDX-License-Identifier: GPL-3.0-or-later
"""The layers of a character: what a pack must draw, and what it may.

Every layer is one file, ``<folder>/<name>.svg`` or ``.png``, on the pack's canvas:

- ``body``: the body, under every expression;
- ``eyes/<expression>`` and ``eyes/closed``: the eyes (a blink squashes the open ones toward
  their middle line, then shows the closed ones);
- ``face/<expression>`` (optional): brows and extras (thought dots, sparkles, a sweat drop);
- ``expr_mouth/<expression>``: the mouth of an expression that has its own (thinking, happy,
  concerned, signed out); idle and speaking show the rest mouth;
- ``mouth/<shape>``: the mouth set (:mod:`companion.characters.mouths`).
"""

from __future__ import annotations

from companion.vocab import Expression

EXPRESSIONS: tuple[str, ...] = tuple(e.value for e in Expression)

#: Expressions whose eyes are open, so they blink.
BLINKING: frozenset[str] = frozenset({"idle", "thinking", "speaking", "concerned"})

#: Expressions that show the rest mouth rather than a mouth of their own.
REST_MOUTH_EXPRESSIONS: frozenset[str] = frozenset({"idle", "speaking"})

#: The file types a layer may be.
LAYER_SUFFIXES: tuple[str, ...] = (".svg", ".png")


def required_layers() -> list[str]:
    """Every layer a pack must have besides its mouth set, as ``folder/name``."""
    names = ["body", "eyes/closed"]
    for expr in EXPRESSIONS:
        names.append(f"eyes/{expr}")
        if expr not in REST_MOUTH_EXPRESSIONS:
            names.append(f"expr_mouth/{expr}")
    return names


def optional_layers() -> list[str]:
    """Layers a pack may leave out (nothing is drawn in their place)."""
    return [f"face/{expr}" for expr in EXPRESSIONS]
