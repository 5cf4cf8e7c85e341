# SPDX-License-Identifier: GPL-3.0-or-later
"""The mascot's art: a character's layers, rendered once per size and pixel ratio.

The art is a character pack (``companion.characters``; the built-in one lives in
``resources/characters/companion/``), drawn on the pack's canvas. Each layer has a box on that
canvas (an SVG's ``viewBox``), so a mouth layer covers only the mouth's box and its pixmap is
small:

- ``body``: the body (every expression);
- ``face/<expression>``: brows and extras (thought dots, sparkles, sweat drop, Z's);
- ``eyes/<expression>`` and ``eyes/closed``: the eyes (a blink squashes them, then
  shows the closed ones);
- ``mouth/<shape>``: the mouth set, Oculus visemes or Rhubarb shapes (the pack's table maps
  each viseme to its layer), drawn at the shape's full opening;
- ``expr_mouth/<expression>``: the mouth of an expression when nobody speaks.

The canvas is fitted into the square view: scaled to its longer side, centred across and
standing on the bottom edge. Openness is drawn by rendering a mouth squashed toward its
upper lip at a few steps (:data:`MOUTH_STEPS`) and cross-fading the two nearest steps with
painter opacity; below the first step the mouth fades in over the closed (rest) mouth.

Every pixmap is rendered once into a device-pixel-aligned pixmap with
``setDevicePixelRatio``, so drawing is a handful of ``drawPixmap`` calls and stays crisp at any
pixel ratio. Nothing is re-parsed or re-rendered per frame, whatever pack is shown.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QPainter, QPixmap

from companion.characters.layers import BLINKING, EXPRESSIONS, REST_MOUTH_EXPRESSIONS
from companion.characters.loader import Character, load_character
from companion.characters.manifest import PackError
from companion.characters.store import BUILTIN_ID, CharacterStore, builtin_root
from companion.speech.visemes import OPENNESS, VISEMES, VisemeFrame

log = logging.getLogger("companion.ui")

__all__ = ["BLINKING", "EXPRESSIONS", "ArtError", "ArtFrames", "MascotArt", "Sprite"]

#: Logical pixel size of the (square) mascot for each scale setting.
SCALE_SIZES: dict[str, int] = {"small": 120, "medium": 180, "large": 260}

#: Side of the built-in character's canvas in SVG units.
CANVAS = 200.0
#: Relative openness steps rendered per viseme (1.0 = the viseme as drawn).
MOUTH_STEPS: tuple[float, ...] = (0.3, 0.44, 0.58, 0.72, 0.86, 1.0)
#: Eye squash steps used mid-blink, before the closed eyes.
EYE_STEPS: tuple[float, ...] = (0.6, 0.3)


class ArtError(RuntimeError):
    """The built-in character's art is missing or broken (a packaging bug)."""


@dataclass(frozen=True, slots=True)
class Sprite:
    """A rendered layer: the pixmap (with its pixel ratio) and where it goes, in logical px."""

    pixmap: QPixmap
    origin: QPointF

    @property
    def nbytes(self) -> int:
        return self.pixmap.width() * self.pixmap.height() * max(1, self.pixmap.depth() // 8)


def layer_names() -> list[str]:
    """Every layer the built-in character has, as ``folder/name`` without the suffix."""
    names = ["body", "eyes/closed"]
    for expr in EXPRESSIONS:
        names += [f"face/{expr}", f"eyes/{expr}"]
        if expr not in REST_MOUTH_EXPRESSIONS:
            names.append(f"expr_mouth/{expr}")
    names += [f"mouth/{v}" for v in VISEMES]
    return names


def expression_mouth_layer(expression: str) -> str:
    """The layer drawn as the mouth of ``expression`` when nobody speaks (``mouth/sil``: the
    rest mouth, whatever layer the character draws it with)."""
    if expression in REST_MOUTH_EXPRESSIONS:
        return "mouth/sil"
    return f"expr_mouth/{expression}"


def check_expression(name: str) -> str:
    if name not in EXPRESSIONS:
        raise ValueError(f"unknown expression {name!r}; expected one of {', '.join(EXPRESSIONS)}")
    return name


def check_scale(scale: str) -> str:
    if scale not in SCALE_SIZES:
        raise ValueError(f"unknown scale {scale!r}; expected one of {', '.join(SCALE_SIZES)}")
    return scale


def relative_openness(frame: VisemeFrame) -> float:
    """How open ``frame`` is compared to its viseme as drawn (0..1).

    Shapes drawn closed (``PP``) count as fully formed whatever the openness.
    """
    nominal = OPENNESS.get(frame.viseme, 0.5)
    if nominal <= 0.0:
        return 1.0
    return max(0.0, min(1.0, frame.openness / nominal))


def builtin_character() -> Character:
    try:
        return load_character(builtin_root())
    except (PackError, OSError) as exc:
        raise ArtError(f"the built-in character is broken: {exc}") from exc


def art_for(character_id: str, store: CharacterStore | None = None) -> tuple[MascotArt, str | None]:
    """The art of ``character_id``, or the built-in art and a one-line notice saying why."""
    if character_id in ("", BUILTIN_ID):
        return MascotArt(), None
    try:
        return MascotArt((store or CharacterStore()).load(character_id)), None
    except PackError as exc:
        log.info("[art] character %s unusable; the built-in one is shown", character_id)
        return MascotArt(), f"Your character could not be shown: {exc} Showing Companion instead."


class MascotArt:
    """A character's parsed layers; hands out :class:`ArtFrames` per (size, pixel ratio).

    Parsing happens once, in :mod:`companion.characters.loader`. Pixmap sets are kept for the
    few most recent sizes and pixel ratios (a window moved between screens, a scale change).

    Attributes:
        character: the pack drawn (the built-in one by default).
    """

    KEEP_FRAMES = 3

    def __init__(self, character: Character | None = None) -> None:
        self.character = character if character is not None else builtin_character()
        manifest = self.character.manifest
        self.canvas_width = manifest.width
        self.canvas_height = manifest.height
        self._frames: OrderedDict[tuple[int, float], ArtFrames] = OrderedDict()
        log.debug("[art] %s: %d layers", self.character.id, len(self.character.layers))

    def has_layer(self, name: str) -> bool:
        return self.resolve(name) in self.character.layers

    def resolve(self, name: str) -> str:
        """The character's layer for ``name``: ``mouth/<viseme>`` goes through its mouth table."""
        if name.startswith("mouth/") and name[6:] in OPENNESS:
            return self.character.mouth_layer(name[6:])
        return name

    def geometry(self, size: int) -> tuple[float, float, float]:
        """(logical px per canvas unit, x offset, y offset) of the canvas in a square view."""
        unit = size / max(self.canvas_width, self.canvas_height)
        return unit, (size - self.canvas_width * unit) / 2.0, size - self.canvas_height * unit

    def bubble_anchor(self, size: int) -> QPointF:
        """Where the speech bubble's tail points, in the view's logical px."""
        unit, ox, oy = self.geometry(size)
        bx, by = self.character.manifest.bubble
        return QPointF(ox + bx * unit, oy + by * unit)

    def frames(self, size: int, dpr: float) -> ArtFrames:
        """The pixmap set for a square mascot of ``size`` logical px at pixel ratio ``dpr``."""
        key = (int(size), round(float(dpr), 3))
        frames = self._frames.get(key)
        if frames is None:
            frames = ArtFrames(self, key[0], key[1])
            self._frames[key] = frames
            while len(self._frames) > self.KEEP_FRAMES:
                self._frames.popitem(last=False)
        else:
            self._frames.move_to_end(key)
        return frames

    def cached_bytes(self) -> int:
        return sum(f.nbytes for f in self._frames.values())


class ArtFrames:
    """Rendered pixmaps for one size and pixel ratio, made on first use and then kept."""

    def __init__(self, art: MascotArt, size: int, dpr: float) -> None:
        self.art = art
        self.size = size
        self.dpr = dpr
        self.unit, self._ox, self._oy = art.geometry(size)
        self._sprites: dict[tuple[str, float], Sprite] = {}
        self._bases: dict[str, Sprite] = {}
        self._warm_queue: Iterator[Callable[[], Sprite]] | None = None
        self._warm_expression = ""

    @property
    def nbytes(self) -> int:
        return sum(s.nbytes for s in self._sprites.values()) + sum(
            s.nbytes for s in self._bases.values()
        )

    @property
    def sprite_count(self) -> int:
        return len(self._sprites) + len(self._bases)

    # -- rendering (once per layer and step) -------------------------------------------------

    def _target(self, name: str, squash: float, pivot: float) -> tuple[QRectF, QRectF]:
        """(device-pixel rect of the layer, its pixel-aligned bounding rect)."""
        box = self.art.character.layers[name].box
        scale = self.unit * self.dpr
        top = pivot + (box.top() - pivot) * squash
        rect = QRectF(
            box.left() * scale + self._ox * self.dpr,
            top * scale + self._oy * self.dpr,
            box.width() * scale,
            box.height() * squash * scale,
        )
        x0, y0 = math.floor(rect.left()), math.floor(rect.top())
        x1, y1 = math.ceil(rect.right()), math.ceil(rect.bottom())
        return rect, QRectF(x0, y0, max(1, x1 - x0), max(1, y1 - y0))

    def _render(self, names: list[str], squash: float = 1.0, pivot: float = 0.0) -> Sprite:
        layers = self.art.character.layers
        names = [n for n in names if n in layers] or names[:1]
        rects = [self._target(n, squash, pivot) for n in names]
        bounds = rects[0][1]
        for _rect, aligned in rects[1:]:
            bounds = bounds.united(aligned)
        pixmap = QPixmap(int(bounds.width()), int(bounds.height()))
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        for name, (rect, _aligned) in zip(names, rects, strict=True):
            layers[name].paint(painter, rect.translated(-bounds.topLeft()))
        painter.end()
        pixmap.setDevicePixelRatio(self.dpr)
        return Sprite(pixmap, QPointF(bounds.left() / self.dpr, bounds.top() / self.dpr))

    def sprite(self, name: str, squash: float = 1.0) -> Sprite:
        """One layer, squashed vertically toward its pivot (mouths: lip line; eyes: middle)."""
        layer = self.art.resolve(name)
        key = (layer, squash)
        sprite = self._sprites.get(key)
        if sprite is None:
            character = self.art.character
            pivot = character.eye_pivot if layer.startswith("eyes/") else character.mouth_pivot
            sprite = self._render([layer], squash, pivot)
            self._sprites[key] = sprite
        return sprite

    def base(self, expression: str) -> Sprite:
        """Body and the expression's face extras, composited once."""
        sprite = self._bases.get(expression)
        if sprite is None:
            sprite = self._render(["body", f"face/{expression}"])
            self._bases[expression] = sprite
        return sprite

    def _warm_jobs(self, expressions: tuple[str, ...], mouths: bool) -> list[Callable[[], Sprite]]:
        layers: list[tuple[str, float]] = []
        for expr in expressions:
            layers += [(f"eyes/{expr}", 1.0), (expression_mouth_layer(expr), 1.0)]
            if expr in BLINKING:
                layers += [(f"eyes/{expr}", step) for step in EYE_STEPS]
        layers.append(("eyes/closed", 1.0))
        if mouths:
            for vis in VISEMES:
                layers += [(f"mouth/{vis}", step) for step in self._steps_for(vis)]
        resolved = [(self.art.resolve(name), step) for name, step in layers]
        jobs: list[Callable[[], Sprite]] = [partial(self.base, expr) for expr in expressions]
        jobs += [partial(self.sprite, name, step) for name, step in dict.fromkeys(resolved)]
        return jobs

    def prewarm(self, *, expressions: tuple[str, ...] = EXPRESSIONS, mouths: bool = True) -> None:
        """Render everything now (benchmarks, screenshots)."""
        for job in self._warm_jobs(expressions, mouths):
            job()

    def warm(self, expression: str, *, budget_ms: float) -> bool:
        """Render a little of what speech will need; True once everything is ready.

        Called from an idle timer so the first words never wait for a mouth to be rendered,
        and no single step blocks the event loop for much more than ``budget_ms``.
        """
        if self._warm_queue is None or self._warm_expression != expression:
            self._warm_expression = expression
            # Every face, not only this one: a reply moves through thinking, speaking and
            # happy, and none of them should be rendered mid-reply.
            order = (expression, *(e for e in EXPRESSIONS if e != expression))
            self._warm_queue = iter(self._warm_jobs(order, mouths=True))
        deadline = time.perf_counter() + budget_ms / 1000.0
        for job in self._warm_queue:
            job()
            if time.perf_counter() >= deadline:
                return False
        return True

    @staticmethod
    def _steps_for(viseme: str) -> tuple[float, ...]:
        if viseme == "sil" or OPENNESS.get(viseme, 0.5) <= 0.0:
            return (1.0,)
        return MOUTH_STEPS

    # -- drawing (every frame: only drawPixmap) ----------------------------------------------

    @staticmethod
    def _blit(painter: QPainter, sprite: Sprite, opacity: float = 1.0) -> None:
        if opacity <= 0.0:
            return
        if opacity < 1.0:
            painter.save()
            painter.setOpacity(painter.opacity() * opacity)
            painter.drawPixmap(sprite.origin, sprite.pixmap)
            painter.restore()
        else:
            painter.drawPixmap(sprite.origin, sprite.pixmap)

    def draw_eyes(self, painter: QPainter, expression: str, openness: float) -> None:
        """The eyes, ``openness`` 1 = open, 0 = shut (mid-blink)."""
        if expression not in BLINKING or openness >= 0.85:
            self._blit(painter, self.sprite(f"eyes/{expression}"))
        elif openness >= 0.45:
            self._blit(painter, self.sprite(f"eyes/{expression}", EYE_STEPS[0]))
        elif openness >= 0.18:
            self._blit(painter, self.sprite(f"eyes/{expression}", EYE_STEPS[1]))
        else:
            self._blit(painter, self.sprite("eyes/closed"))

    def draw_mouth(self, painter: QPainter, frame: VisemeFrame) -> None:
        """The mouth for a viseme frame: shape by viseme, blended by openness."""
        vis = frame.viseme if frame.viseme in OPENNESS else "sil"
        steps = self._steps_for(vis)
        if len(steps) == 1:
            self._blit(painter, self.sprite(f"mouth/{vis}"))
            return
        rel = relative_openness(VisemeFrame(vis, frame.openness))
        name = f"mouth/{vis}"
        if rel < steps[0]:
            # Barely open: the closed mouth, with the shape fading in over it.
            self._blit(painter, self.sprite("mouth/sil"))
            self._blit(painter, self.sprite(name, steps[0]), rel / steps[0])
            return
        for lo, hi in itertools.pairwise(steps):
            if rel <= hi:
                frac = (rel - lo) / (hi - lo)
                self._blit(painter, self.sprite(name, lo))
                self._blit(painter, self.sprite(name, hi), frac)
                return
        self._blit(painter, self.sprite(name, steps[-1]))

    def draw(
        self,
        painter: QPainter,
        *,
        expression: str,
        eye_openness: float = 1.0,
        mouth: VisemeFrame | None = None,
    ) -> None:
        """The whole mascot. ``mouth`` None draws the expression's own mouth."""
        self._blit(painter, self.base(expression))
        self.draw_eyes(painter, expression, eye_openness)
        if mouth is None:
            self._blit(painter, self.sprite(expression_mouth_layer(expression)))
        else:
            self.draw_mouth(painter, mouth)
