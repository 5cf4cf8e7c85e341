# SPDX-License-Identifier: GPL-3.0-or-later
"""The speech bubble's card: a rounded rectangle with a tail towards the mascot, a border and a
soft shadow, painted once into a pixmap per size, kind, tail and pixel ratio (the bubble blits
it; the antialiased shadow costs 15-30 ms a time on a software surface).

Opaque and light (dark text), so it reads the same on light and dark desktops.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen, QPixmap

TEXT_COLOR = "#2a2142"
FILL = {"info": "#fffdf8", "speech": "#fffdf8", "error": "#fff5f3"}
BORDER = {"info": "#4a3b7a", "speech": "#4a3b7a", "error": "#b3261e"}


def card_shape(
    card: QRectF, *, tail_edge: str, tail_x: float | None, radius: float, tail: int
) -> QPainterPath:
    """The card's outline: ``card`` rounded, and a tail on ``tail_edge`` at ``tail_x``."""
    path = QPainterPath()
    path.addRoundedRect(card, radius, radius)
    if tail_x is None:
        return path
    x = max(card.left() + radius + 8, min(card.right() - radius - 8, tail_x))
    spike = QPainterPath()
    if tail_edge == "bottom":
        y = card.bottom()
        spike.moveTo(x - 9, y - 1)
        spike.quadTo(x - 2, y + 3, x + 1, y + tail)
        spike.quadTo(x + 4, y + 4, x + 10, y - 1)
    else:
        y = card.top()
        spike.moveTo(x - 9, y + 1)
        spike.quadTo(x - 2, y - 3, x + 1, y - tail)
        spike.quadTo(x + 4, y - 4, x + 10, y + 1)
    spike.closeSubpath()
    return path.united(spike)


def render_card(size: QSize, dpr: float, shape: QPainterPath, kind: str, shadow: int) -> QPixmap:
    """The card of ``kind`` (``info``, ``speech``, ``error``) painted at ``dpr``."""
    pixmap = QPixmap(max(1, round(size.width() * dpr)), max(1, round(size.height() * dpr)))
    pixmap.setDevicePixelRatio(dpr)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    # Soft shadow: a few widening, fading outlines below the card.
    painter.setBrush(Qt.BrushStyle.NoBrush)
    for i in range(shadow, 0, -1):
        alpha = int(28 * (1.0 - i / (shadow + 1)) ** 2) + 2
        painter.setPen(QPen(QColor(20, 12, 40, alpha), 2 * i, c=Qt.PenCapStyle.RoundCap))
        painter.drawPath(shape.translated(QPointF(0, 2)))
    painter.setPen(QPen(QColor(BORDER.get(kind, BORDER["info"])), 1.6))
    painter.setBrush(QColor(FILL.get(kind, FILL["info"])))
    painter.drawPath(shape)
    painter.end()
    return pixmap
