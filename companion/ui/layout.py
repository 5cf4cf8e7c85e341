# SPDX-License-Identifier: GPL-3.0-or-later
"""Where the mascot's windows go: one set of rules for the bubble, the panels and the dialogs.

Pure geometry first (``QRect`` values in logical pixels, the screens' *available* geometries as
a list, so a layout with two screens is tested without them): the bubble above the mascot
(below it near the top of a screen), then a *column* kept free for it — as wide as the widest
bubble, the mascot's width at least, the whole height of the screen — and every other window
beside that column, clear of the mascot, of the bubble and of each other, fully on the screen
the mascot is on. :class:`WindowLayout` applies the rules to real windows: it measures each
window with its frame (a window manager's title bar), shrinks a window taller than the screen,
places it again once the frame is known, and again when the mascot moves.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PySide6.QtCore import QEvent, QObject, QPoint, QRect, QSize, QTimer, Slot
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QWidget

log = logging.getLogger("companion.ui")

#: Space between two windows, logical px.
GAP = 12


def _clamp(value: int, lo: int, hi: int) -> int:
    return max(lo, min(value, hi))


def _area(a: QRect, b: QRect) -> int:
    r = a.intersected(b)
    return r.width() * r.height() if r.isValid() else 0


def screen_for(rect: QRect, screens: Sequence[QRect]) -> QRect:
    """The available geometry ``rect`` overlaps most, else the nearest one (``rect`` if none)."""
    if not screens:
        return QRect(rect)
    best = max(screens, key=lambda s: _area(s, rect))
    if _area(best, rect) > 0:
        return QRect(best)
    centre = rect.center()
    return QRect(min(screens, key=lambda s: (s.center() - centre).manhattanLength()))


def fit(rect: QRect, screen: QRect) -> QRect:
    """``rect`` moved (and shrunk if it is larger) to lie fully inside ``screen``."""
    w, h = min(rect.width(), screen.width()), min(rect.height(), screen.height())
    x = _clamp(rect.left(), screen.left(), screen.right() + 1 - w)
    y = _clamp(rect.top(), screen.top(), screen.bottom() + 1 - h)
    return QRect(x, y, w, h)


@dataclass(frozen=True)
class BubblePlace:
    """Where the bubble goes: its rectangle and the edge its tail leaves from."""

    rect: QRect
    edge: str  # "bottom": the bubble is above the mascot; "top": below it


def place_bubble(
    *, mascot: QRect, tip: QPoint, size: QSize, screen: QRect, shadow: int, tuck: int
) -> BubblePlace:
    """The bubble above the mascot, its tail at ``tip``; below it when there is no room above.

    ``shadow`` is the bubble's transparent margin (it may hang over the tip), ``tuck`` how far a
    bubble below tucks up into the mascot's empty lower margin. Sideways it stays on ``screen``.
    """
    above = tip.y() - size.height() + shadow
    if above >= screen.top():
        edge, top = "bottom", above
    else:
        edge, top = "top", mascot.bottom() - tuck - shadow
    left = _clamp(tip.x() - size.width() // 2, screen.left(), screen.right() + 1 - size.width())
    return BubblePlace(QRect(QPoint(left, top), size), edge)


def bubble_column(mascot: QRect, tip_x: int, bubble_width: int, screen: QRect) -> QRect:
    """The band kept for the mascot and any bubble it may show: the widest bubble (placed as
    :func:`place_bubble` places it) and the mascot side by side, the screen's whole height."""
    left = _clamp(tip_x - bubble_width // 2, screen.left(), screen.right() + 1 - bubble_width)
    x0 = min(mascot.left(), left)
    x1 = max(mascot.right(), left + bubble_width - 1)
    top, bottom = min(screen.top(), mascot.top()), max(screen.bottom(), mascot.bottom())
    return QRect(QPoint(x0, top), QPoint(x1, bottom))


def _candidates(size: QSize, near: QRect, avoid: Sequence[QRect], screen: QRect) -> list[QRect]:
    w, h = size.width(), size.height()
    xs = {near.left(), near.right() + 1 - w, screen.left(), screen.right() + 1 - w}
    ys = {near.top(), near.bottom() + 1 - h, screen.top(), screen.bottom() + 1 - h}
    for o in avoid:
        xs |= {o.left() - GAP - w, o.right() + 1 + GAP, o.left()}
        ys |= {o.top() - GAP - h, o.bottom() + 1 + GAP, o.top(), o.bottom() + 1 - h}
    out = {(r.left(), r.top()): r for r in (fit(QRect(x, y, w, h), screen) for x in xs for y in ys)}
    return list(out.values())


def _sizes(size: QSize, minimum: QSize | None, steps: int = 4) -> list[QSize]:
    """``size``, then smaller ones down to ``minimum`` (a panel may shrink to find room)."""
    if minimum is None:
        return [size]
    low = minimum.boundedTo(size)
    return [
        QSize(
            size.width() - (size.width() - low.width()) * i // steps,
            size.height() - (size.height() - low.height()) * i // steps,
        )
        for i in range(steps + 1)
    ]


def place_window(
    size: QSize,
    *,
    near: QRect,
    tiers: Sequence[Sequence[QRect]],
    screen: QRect,
    minimum: QSize | None = None,
) -> QRect:
    """A rectangle on ``screen`` as close to ``near`` (the mascot) as it can be while it
    overlaps nothing in the first tier of rectangles to avoid that leaves room: of ``size``, or
    smaller down to ``minimum`` where that makes room. With no room in any tier, ``size`` (fitted
    to the screen) where it overlaps the last tier least."""
    if not tiers:
        tiers = [[]]
    centre = near.center()

    def distance(r: QRect) -> int:
        return (r.center() - centre).manhattanLength()

    for avoid in tiers:
        for each in _sizes(size, minimum):
            free = [
                r
                for r in _candidates(each, near, avoid, screen)
                if not any(r.intersects(o) for o in avoid)
            ]
            if free:
                return min(free, key=distance)
    last = tiers[-1]
    options = _candidates(size, near, last, screen)
    return min(options, key=lambda r: (sum(_area(r, o) for o in last), distance(r)))


@dataclass(frozen=True)
class Scene:
    """What the layout knows of the mascot: its rectangle, where the bubble's tail points, the
    widest bubble, the screens' available geometries, and the mascot's window as it is now
    (the mascot and the bubble it shows, if any)."""

    mascot: QRect
    tip_x: int
    bubble_width: int
    screens: tuple[QRect, ...]
    shown: QRect

    @property
    def screen(self) -> QRect:
        return screen_for(self.mascot, self.screens)

    @property
    def column(self) -> QRect:
        """The column, widened to the bubble as it is shown (a dragged window keeps the place
        its bubble had, which may lie further out than the column's)."""
        column = bubble_column(self.mascot, self.tip_x, self.bubble_width, self.screen)
        left = min(column.left(), self.shown.left())
        right = max(column.right(), self.shown.right())
        return QRect(QPoint(left, column.top()), QPoint(right, column.bottom()))


def place_panels(
    scene: Scene, sizes: Sequence[QSize], minimums: Sequence[QSize | None] = ()
) -> list[QRect]:
    """The panels (chat, then read-aloud), in order, each beside the column and clear of the
    ones before it; on a screen too narrow for that, clear of the mascot and the bubble as they
    are now (the desktop places them again whenever the bubble changes), smaller if need be."""
    placed: list[QRect] = []
    for i, size in enumerate(sizes):
        tiers = [[scene.column, *placed], [scene.shown, *placed]]
        minimum = minimums[i] if i < len(minimums) else None
        placed.append(
            place_window(
                size, near=scene.mascot, tiers=tiers, screen=scene.screen, minimum=minimum
            )
        )
    return placed


def place_dialog(scene: Scene, size: QSize, *, panels: Sequence[QRect]) -> QRect:
    """A dialog clear of the column and the panels; if it cannot be, clear of the column; if
    not even that, clear of the mascot and the bubble as they are now (and the panels)."""
    column, shown = scene.column, scene.shown
    tiers = [[column, *panels], [column], [shown, *panels], [shown]]
    return place_window(size, near=scene.mascot, tiers=tiers, screen=scene.screen)


def available_geometries() -> tuple[QRect, ...]:
    """Every screen's available geometry (logical px: the same on a HiDPI screen)."""
    return tuple(s.availableGeometry() for s in QGuiApplication.screens())


class WindowLayout(QObject):
    """Places real windows by the rules above, measured with their frames.

    Panels are placed in the order they were added (the chat, then the read-aloud box);
    dialogs clear of them. :meth:`apply` places every shown window again (the mascot moved);
    :meth:`place` one about to be shown. A window shown for the first time is placed again once
    its frame is known (a window manager adds it after the window is mapped).

    Attributes:
        panels, dialogs: the windows it places.
    """

    #: How long after a window is shown its frame may still change (a window manager's).
    SETTLE_MS = 1500

    def __init__(
        self,
        *,
        scene: Callable[[], Scene],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._scene = scene
        self.panels: list[QWidget] = []
        self.dialogs: list[QWidget] = []
        self._planned: dict[int, QSize] = {}
        self._preferred: dict[int, QSize] = {}  # a panel's own size, before any shrinking
        self._margins: dict[int, QSize] = {}  # frame size minus client size, once known
        self._settling: dict[int, QTimer] = {}
        self._again = QTimer(self)
        self._again.setSingleShot(True)
        self._again.setInterval(0)
        self._again.timeout.connect(self.apply)

    def add_panel(self, widget: QWidget) -> None:
        self.panels.append(widget)
        widget.installEventFilter(self)

    def add_dialog(self, widget: QWidget) -> None:
        """Place ``widget`` now (shown or not) and whenever the mascot moves, until it closes."""
        if widget not in self.dialogs:
            self.dialogs.append(widget)
            widget.installEventFilter(self)
            key = id(widget)
            widget.destroyed.connect(lambda _obj=None: self._forget(key))
        if not widget.isVisible():
            widget.adjustSize()
        self.place(widget)

    @Slot()
    def apply(self) -> None:
        """Place every shown panel and dialog again."""
        self._place_all(None)

    def place(self, widget: QWidget) -> None:
        """Place every shown window and ``widget`` (about to be shown)."""
        self._place_all(widget)

    # -- internals -----------------------------------------------------------------------------

    def _frame_size(self, widget: QWidget) -> QSize:
        client = widget.size()
        frame = widget.frameGeometry().size()
        if widget.isVisible() and frame != client:
            self._margins[id(widget)] = frame - client
            return frame
        return client + self._margins.get(id(widget), QSize(0, 0))

    def _fit_size(self, widget: QWidget, screen: QRect) -> QSize:
        """The frame size, the window made smaller first if it would not fit on ``screen``."""
        size = self._frame_size(widget)
        if size.width() > screen.width() or size.height() > screen.height():
            extra = size - widget.size()
            fitted = size.boundedTo(screen.size())
            widget.resize(fitted - extra)
            size = widget.size() + extra
        return size

    def _place_all(self, extra: QWidget | None) -> None:
        scene = self._scene()
        screen = scene.screen

        def wanted(w: QWidget) -> bool:
            return w is extra or w.isVisible()

        panels = [w for w in self.panels if wanted(w)]
        for w in panels:  # back to its own size; shrunk again below only if it must be
            preferred = self._preferred.get(id(w))
            if preferred is not None and w.size() != preferred:
                w.resize(preferred)
        sizes = [self._fit_size(w, screen) for w in panels]
        minimums = [
            w.minimumSize() + (self._frame_size(w) - w.size()) if not w.minimumSize().isEmpty()
            else None
            for w in panels
        ]  # fmt: skip
        rects = place_panels(scene, sizes, minimums)
        for widget, rect in zip(panels, rects, strict=True):
            frame = self._frame_size(widget) - widget.size()
            if rect.size() != self._frame_size(widget):
                self._preferred.setdefault(id(widget), widget.size())
                widget.resize(rect.size() - frame)
            else:
                self._preferred.pop(id(widget), None)
            self._move(widget, rect)
        for widget in (w for w in self.dialogs if wanted(w)):
            size = self._fit_size(widget, screen)
            rect = place_dialog(scene, size, panels=rects)
            self._move(widget, rect)

    def _move(self, widget: QWidget, rect: QRect) -> None:
        self._planned[id(widget)] = rect.size()
        if widget.pos() != rect.topLeft():
            widget.move(rect.topLeft())  # a window's pos() is its frame's top-left

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if isinstance(watched, QWidget) and kind in (
            QEvent.Type.Show,
            QEvent.Type.Move,
            QEvent.Type.Resize,
        ):
            key = id(watched)
            if kind == QEvent.Type.Show:
                self._settle(watched)
            elif self._is_settling(key) and self._frame_size(watched) != self._planned.get(key):
                log.debug("[layout] frame known: placed again")
                self._again.start()
        return False

    def _is_settling(self, key: int) -> bool:
        timer = self._settling.get(key)
        return timer is not None and timer.isActive()

    def _settle(self, widget: QWidget) -> None:
        key = id(widget)
        timer = self._settling.get(key)
        if timer is None:
            timer = QTimer(self)
            timer.setSingleShot(True)
            self._settling[key] = timer
        timer.start(self.SETTLE_MS)
        self._again.start()

    def _forget(self, key: int) -> None:
        self.dialogs = [w for w in self.dialogs if id(w) != key]
        self._planned.pop(key, None)
        self._margins.pop(key, None)
        timer = self._settling.pop(key, None)
        if timer is not None:
            timer.stop()
            timer.deleteLater()
