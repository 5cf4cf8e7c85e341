# SPDX-License-Identifier: GPL-3.0-or-later
"""``character.toml``: the pack's manifest, read with ``tomllib`` and checked.

Format 1 (``docs/characters.md``)::

    format = 1                 # required; a newer number is refused with a clear message
    id = "pip"                 # optional: lower-case letters, digits, - and _ (default: the name)
    name = "Pip"               # required
    author = "Jane Doe"        # required
    licence = "CC-BY-4.0"      # required ("license" is read too)
    description = "…"          # optional
    size = [200, 200]          # required: the canvas, width and height
    bubble = [100, 14]         # required: where the speech bubble's tail points, on the canvas
    mouths = "oculus"          # required: "oculus" (15 visemes) or "rhubarb" (A-H, X)

    [pivots]                   # optional: the upper-lip line and the eyes' middle line (y)
    mouth = 129
    eyes = 112

    [voice]                    # optional: how this character prefers to speak
    name = "en_US-joe-medium"  # a Piper voice id (the user's own choice wins)
    speed = 1.0

    [boxes]                    # optional: where PNG layers go, [x, y, width, height]
    mouth = [64, 118, 72, 50]  # a folder, or one layer ("eyes/closed")

Keys this version does not know are ignored, so a pack may carry more for later versions of
the same format; a pack of a newer format is refused whole.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from typing import Any

from companion.characters.mouths import MouthSet

FORMAT_VERSION = 1
MANIFEST = "character.toml"
MAX_MANIFEST_BYTES = 64 * 1024
#: The longest side of a canvas, in its own units (SVG units or PNG pixels).
MAX_CANVAS_SIDE = 4096.0
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,47}$")
_TEXT_LIMIT = 200

Box = tuple[float, float, float, float]


class PackError(Exception):
    """A pack that cannot be used; the message is one line for the user."""


class PackExists(PackError):
    """A pack with this id is installed already (install again with ``replace=True``)."""

    def __init__(self, pack_id: str, name: str) -> None:
        super().__init__(f"A character with the id “{pack_id}” ({name}) is installed already.")
        self.pack_id = pack_id


@dataclass(frozen=True)
class Manifest:
    """A checked manifest. Sizes and points are in canvas units."""

    format: int
    id: str
    name: str
    author: str
    licence: str
    width: float
    height: float
    bubble: tuple[float, float]
    mouths: MouthSet
    description: str = ""
    mouth_pivot: float | None = None
    eye_pivot: float | None = None
    voice: str = ""
    speed: float | None = None
    boxes: dict[str, Box] = field(default_factory=dict)


def slug(name: str) -> str:
    """An id made of a name: "Pip the Fox" → ``pip-the-fox``."""
    out = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:48].strip("-")
    return out or "character"


def _text(data: dict[str, Any], key: str, *, required: bool, alias: str | None = None) -> str:
    value = data.get(key, data.get(alias) if alias else None)
    if value is None:
        if required:
            raise PackError(f"character.toml has no “{key}”.")
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise PackError(f"character.toml: “{key}” must be text.")
    return " ".join(value.split())[:_TEXT_LIMIT]


def _number(value: object, what: str, *, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise PackError(f"character.toml: {what} must be a number.")
    if not lo <= float(value) <= hi:
        raise PackError(f"character.toml: {what} must be between {lo:g} and {hi:g}.")
    return float(value)


def _numbers(value: object, what: str, count: int, *, lo: float, hi: float) -> list[float]:
    if not isinstance(value, list) or len(value) != count:
        raise PackError(f"character.toml: {what} must be a list of {count} numbers.")
    return [_number(v, what, lo=lo, hi=hi) for v in value]


def _table(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise PackError(f"character.toml: [{key}] must be a table.")
    return value


def _format(data: dict[str, Any]) -> int:
    version = data.get("format")
    if version is None:
        raise PackError("character.toml has no “format” (this Companion reads format 1).")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise PackError("character.toml: “format” must be a whole number (1).")
    if version > FORMAT_VERSION:
        raise PackError(
            f"This character needs a newer Companion: its pack format is {version}, "
            f"this Companion reads format {FORMAT_VERSION}."
        )
    return version


def parse_manifest(raw: bytes) -> Manifest:
    """The checked manifest of ``raw`` (the bytes of ``character.toml``); raises PackError."""
    if len(raw) > MAX_MANIFEST_BYTES:
        raise PackError(f"character.toml is larger than {MAX_MANIFEST_BYTES // 1024} KiB.")
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise PackError("character.toml is not UTF-8 text.") from None
    except tomllib.TOMLDecodeError as exc:
        raise PackError(f"character.toml is not valid TOML ({exc}).") from None
    version = _format(data)
    name = _text(data, "name", required=True)
    pack_id = _text(data, "id", required=False) or slug(name)
    if not _ID.match(pack_id):
        raise PackError(
            "character.toml: “id” may hold only lower-case letters, digits, - and _ "
            "(at most 48)."
        )
    width, height = _numbers(data.get("size"), "“size”", 2, lo=1.0, hi=MAX_CANVAS_SIDE)
    bx, by = _numbers(data.get("bubble"), "“bubble”", 2, lo=0.0, hi=MAX_CANVAS_SIDE)
    if bx > width or by > height:
        raise PackError("character.toml: “bubble” must lie on the canvas (inside “size”).")
    mouths = data.get("mouths")
    if mouths not in tuple(MouthSet):
        raise PackError("character.toml: “mouths” must be \"oculus\" or \"rhubarb\".")
    pivots = _table(data, "pivots")
    voice = _table(data, "voice")
    speed = voice.get("speed")
    return Manifest(
        format=version,
        id=pack_id,
        name=name,
        author=_text(data, "author", required=True),
        licence=_text(data, "licence", required=True, alias="license"),
        width=width,
        height=height,
        bubble=(bx, by),
        mouths=MouthSet(mouths),
        description=_text(data, "description", required=False),
        mouth_pivot=_pivot(pivots, "mouth", height),
        eye_pivot=_pivot(pivots, "eyes", height),
        voice=_text(voice, "name", required=False),
        speed=None if speed is None else _number(speed, "[voice] speed", lo=0.5, hi=2.0),
        boxes=_boxes(_table(data, "boxes"), width, height),
    )


def _pivot(pivots: dict[str, Any], key: str, height: float) -> float | None:
    value = pivots.get(key)
    return None if value is None else _number(value, f"[pivots] {key}", lo=0.0, hi=height)


def _boxes(table: dict[str, Any], width: float, height: float) -> dict[str, Box]:
    out: dict[str, Box] = {}
    for key, value in table.items():
        what = f"[boxes] {key}"
        x, y, w, h = _numbers(value, what, 4, lo=-MAX_CANVAS_SIDE, hi=MAX_CANVAS_SIDE)
        if w <= 0 or h <= 0 or x + w <= 0 or y + h <= 0 or x >= width or y >= height:
            raise PackError(f"character.toml: {what} must have a size and overlap the canvas.")
        out[key] = (x, y, w, h)
    return out
