# SPDX-License-Identifier: GPL-3.0-or-later
"""The mascot's art: SVG layers parsed once, rendered once per size and pixel ratio.

The art lives in ``resources/mascot/`` as SVG files drawn on one 200 x 200 canvas. Each file's
``viewBox`` is its place on that canvas, so a mouth file covers only the mouth's box and its
pixmap is small:

- ``body.svg``: the body (every expression);
- ``face/<expression>.svg``: brows and extras (thought dots, sparkles, sweat drop, Z's);
- ``eyes/<expression>.svg`` and ``eyes/closed.svg``: the eyes (a blink squashes them, then
  shows the closed ones);
- ``mouth/<viseme>.svg``: one mouth per Oculus viseme, drawn at that viseme's full opening;
- ``expr_mouth/<expression>.svg``: the mouth of an expression when nobody speaks.

Openness is drawn by rendering a mouth squashed toward its upper lip at a few steps
(:data:`MOUTH_STEPS`) and cross-fading the two nearest steps with painter opacity; below the
first step the mouth fades in over the closed (rest) mouth.

Every pixmap is rendered by :class:`QSvgRenderer` into a device-pixel-aligned pixmap with
``setDevicePixelRatio``, so drawing is a handful of ``drawPixmap`` calls and stays crisp at any
pixel ratio. Nothing is re-parsed or re-rendered per frame.
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
from pathlib import Path

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QPainter, QPixmap
from PySide6.QtSvg import QSvgRenderer

from companion import paths
from companion.speech.visemes import OPENNESS, VISEMES, VisemeFrame

log = logging.getLogger("companion.ui")

EXPRESSIONS: tuple[str, ...] = ("idle", "thinking", "speaking", "happy", "concerned", "signed_out")

#: Expressions whose eyes are open, so they blink.
BLINKING: frozenset[str] = frozenset({"idle", "thinking", "speaking", "concerned"})

#: Expressions that show the rest mouth (``sil``) rather than a mouth of their own.
_REST_MOUTH_EXPRESSIONS: frozenset[str] = frozenset({"idle", "speaking"})

#: Logical pixel size of the (square) mascot for each scale setting.
SCALE_SIZES: dict[str, int] = {"small": 120, "medium": 180, "large": 260}

#: Side of the drawing canvas in SVG units.
CANVAS = 200.0
#: The upper-lip line: mouths open downward from here (jaw drop).
MOUTH_PIVOT_Y = 129.0
#: The eyes' middle line: a blink squashes the eyes toward it.
EYE_PIVOT_Y = 112.0
#: Relative openness steps rendered per viseme (1.0 = the viseme as drawn).
MOUTH_STEPS: tuple[float, ...] = (0.3, 0.44, 0.58, 0.72, 0.86, 1.0)
#: Eye squash steps used mid-blink, before the closed eyes.
EYE_STEPS: tuple[float, ...] = (0.6, 0.3)


class ArtError(RuntimeError):
    """A layer of the mascot art is missing or not valid SVG (a packaging bug)."""


@dataclass(frozen=True, slots=True)
class Sprite:
    """A rendered layer: the pixmap (with its pixel ratio) and where it goes, in logical px."""

    pixmap: QPixmap
    origin: QPointF

    @property
    def nbytes(self) -> int:
        return self.pixmap.width() * self.pixmap.height() * max(1, self.pixmap.depth() // 8)


def layer_names() -> list[str]:
    """Every SVG layer the mascot needs, as ``folder/name`` without ``.svg``."""
    names = ["body", "eyes/closed"]
    for expr in EXPRESSIONS:
        names += [f"face/{expr}", f"eyes/{expr}"]
        if expr not in _REST_MOUTH_EXPRESSIONS:
            names.append(f"expr_mouth/{expr}")
    names += [f"mouth/{v}" for v in VISEMES]
    return names


def expression_mouth_layer(expression: str) -> str:
    """The layer drawn as the mouth of ``expression`` when nobody speaks."""
    if expression in _REST_MOUTH_EXPRESSIONS:
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


class MascotArt:
    """The parsed SVG layers; hands out :class:`ArtFrames` per (size, pixel ratio).

    Parsing happens once, here. Pixmap sets are kept for the few most recent sizes and
    pixel ratios (a window moved between screens, a scale change).
    """

    KEEP_FRAMES = 3

    def __init__(self, root: Path | None = None) -> None:
        self.root = root if root is not None else paths.resource_path("mascot")
        self._renderers: dict[str, QSvgRenderer] = {}
        for name in layer_names():
            path = self.root / f"{name}.svg"
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise ArtError(
                    f"mascot art layer {name} is missing ({type(exc).__name__})"
                ) from exc
            renderer = QSvgRenderer(data)
            if not renderer.isValid():
                raise ArtError(f"mascot art layer {name} is not valid SVG")
            renderer.setAspectRatioMode(Qt.AspectRatioMode.IgnoreAspectRatio)
            self._renderers[name] = renderer
        self._frames: OrderedDict[tuple[int, float], ArtFrames] = OrderedDict()
        log.debug("[art] %d layers parsed", len(self._renderers))

    def renderer(self, name: str) -> QSvgRenderer:
        return self._renderers[name]

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
        self.unit = size / CANVAS
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
        vb = self.art.renderer(name).viewBoxF()
        scale = self.unit * self.dpr
        top = pivot + (vb.top() - pivot) * squash
        rect = QRectF(
            vb.left() * scale, top * scale, vb.width() * scale, vb.height() * squash * scale
        )
        x0, y0 = math.floor(rect.left()), math.floor(rect.top())
        x1, y1 = math.ceil(rect.right()), math.ceil(rect.bottom())
        return rect, QRectF(x0, y0, max(1, x1 - x0), max(1, y1 - y0))

    def _render(self, names: list[str], squash: float = 1.0, pivot: float = 0.0) -> Sprite:
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
            self.art.renderer(name).render(painter, rect.translated(-bounds.topLeft()))
        painter.end()
        pixmap.setDevicePixelRatio(self.dpr)
        return Sprite(pixmap, QPointF(bounds.left() / self.dpr, bounds.top() / self.dpr))

    def sprite(self, name: str, squash: float = 1.0) -> Sprite:
        """One layer, squashed vertically toward its pivot (mouths: lip line; eyes: middle)."""
        key = (name, squash)
        sprite = self._sprites.get(key)
        if sprite is None:
            pivot = EYE_PIVOT_Y if name.startswith("eyes/") else MOUTH_PIVOT_Y
            sprite = self._render([name], squash, pivot)
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
        jobs: list[Callable[[], Sprite]] = [partial(self.base, expr) for expr in expressions]
        jobs += [partial(self.sprite, name, step) for name, step in dict.fromkeys(layers)]
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
