# SPDX-License-Identifier: GPL-3.0-or-later
"""The mascot's window: frameless, translucent, on top, dragged from anywhere.

The window holds the mascot and, when there is something to read, the speech bubble above it
(below it near the top of a screen). The mascot stays where the user put it: the window grows
and moves around it as the bubble comes and goes. ``Settings.position`` is therefore the
mascot's own top-left corner in global coordinates, not the window's.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QPoint, QPointF, QRect, Qt, QTimer, Signal, Slot
from PySide6.QtGui import (
    QContextMenuEvent,
    QGuiApplication,
    QIcon,
    QKeyEvent,
    QMouseEvent,
    QMoveEvent,
    QScreen,
    QShowEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import QApplication, QWidget

from companion import paths
from companion.config import Settings
from companion.ui import layout
from companion.ui.art import SCALE_SIZES, MascotArt, check_scale
from companion.ui.bubble import SpeechBubble
from companion.ui.mascot_view import MascotView

log = logging.getLogger("companion.ui")

_SCALE_ORDER = ("small", "medium", "large")


class MascotWindow(QWidget):
    """The top-level mascot window.

    Signals:
        context_menu_requested(QPoint): right click (or the menu key), global position.
        escape_pressed(): Esc (the app stops speaking).
        moved(QPoint): the mascot's new global top-left after a drag or a correction.
        scale_changed(str): "small", "medium" or "large".
        read_aloud_requested(): double click on the mascot.

    Attributes:
        view: the mascot.
        bubble: the speech bubble.
        EDGE_MARGIN: distance from the screen corner of the default position.
    """

    context_menu_requested = Signal(QPoint)
    escape_pressed = Signal()
    moved = Signal(QPoint)
    scale_changed = Signal(str)
    read_aloud_requested = Signal()

    EDGE_MARGIN = 24
    #: How far a bubble below the mascot tucks up into its (empty) lower margin.
    BELOW_TUCK = 0.03

    def __init__(
        self, *, settings: Settings, art: MascotArt | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._settings = settings
        self.setWindowTitle("Companion")
        flags = Qt.WindowType.FramelessWindowHint | Qt.WindowType.Tool
        if settings.always_on_top:
            flags |= Qt.WindowType.WindowStaysOnTopHint
        self.setWindowFlags(flags)
        self.setAttribute(Qt.WidgetAttribute.WA_TranslucentBackground)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        icon_path = paths.resource_path("icons/companion.svg")
        if icon_path.exists():
            self.setWindowIcon(QIcon(str(icon_path)))

        scale = settings.scale if settings.scale in SCALE_SIZES else "medium"
        self.view = MascotView(art=art, scale=scale, parent=self)
        self.bubble = SpeechBubble(parent=self)
        self.bubble.layout_changed.connect(self._relayout)
        self.view.art_changed.connect(self._relayout)

        # Until the user places the mascot it sits in the default corner (position None).
        self._placed = isinstance(settings.position, list) and len(settings.position) == 2
        self._anchor = self._initial_anchor()
        self._requested: list[QPoint] = []
        self._press_global: QPoint | None = None
        self._press_window = QPoint()
        self._dragging = False

        self._ensure_timer = QTimer(self)
        self._ensure_timer.setSingleShot(True)
        self._ensure_timer.setInterval(100)
        self._ensure_timer.timeout.connect(self.ensure_on_screen)
        app = QGuiApplication.instance()
        if isinstance(app, QGuiApplication):
            app.screenAdded.connect(self._on_screen_added)
            app.screenRemoved.connect(self._on_screens_changed)
            for screen in app.screens():
                screen.availableGeometryChanged.connect(self._on_screens_changed)

        self._relayout()
        self.ensure_on_screen()

    # -- public API ---------------------------------------------------------------------------

    @property
    def mascot_position(self) -> QPoint:
        """The mascot's global top-left (what ``Settings.position`` holds)."""
        return QPoint(self._anchor)

    def mascot_geometry(self) -> QRect:
        return QRect(self._anchor, self.view.size())

    def layout_scene(self) -> layout.Scene:
        """What the layout places the other windows around (``companion.ui.layout``)."""
        mascot = self.mascot_geometry()
        return layout.Scene(
            mascot=mascot,
            tip_x=round(mascot.left() + self.view.bubble_anchor().x()),
            bubble_width=self.bubble.max_width(),
            screens=layout.available_geometries(),
            shown=self.frameGeometry() if self.isVisible() else mascot,
        )

    def set_always_on_top(self, on: bool) -> None:
        self._settings.always_on_top = on
        current = bool(self.windowFlags() & Qt.WindowType.WindowStaysOnTopHint)
        if current == on:
            return
        visible = self.isVisible()
        # setWindowFlag re-creates the native window, which hides it.
        self.setWindowFlag(Qt.WindowType.WindowStaysOnTopHint, on)
        self._relayout()
        if visible:
            self.show()

    def set_scale(self, scale: str) -> None:
        """Resize the mascot, keeping its feet where they were."""
        check_scale(scale)
        old = self.view.size()
        self._settings.scale = scale
        if scale == self.view.scale:
            return
        self.view.set_scale(scale)
        new = self.view.size()
        self._anchor = QPoint(
            self._anchor.x() + (old.width() - new.width()) // 2,
            self._anchor.y() + old.height() - new.height(),
        )
        self._store_position()
        self._relayout()
        self.ensure_on_screen()
        self.scale_changed.emit(scale)

    def reset_position(self) -> None:
        """Back to the default corner of the primary screen (position None in the settings)."""
        self._anchor = self._default_anchor()
        self._placed = False
        self._settings.position = None
        self._relayout()
        self.moved.emit(QPoint(self._anchor))

    @Slot()
    def ensure_on_screen(self) -> None:
        """Bring the mascot fully onto a screen's available area if it is not."""
        screens = QGuiApplication.screens()
        if not screens:
            return
        if not self._placed:
            # Never placed by the user: follow the default corner of the (new) primary screen.
            default = self._default_anchor()
            if default != self._anchor:
                self._anchor = default
                self._relayout()
                self.moved.emit(QPoint(self._anchor))
            return
        mascot = self.mascot_geometry()
        if any(s.availableGeometry().contains(mascot) for s in screens):
            return
        target = layout.screen_for(mascot, layout.available_geometries())
        x = max(target.left(), min(mascot.left(), target.right() + 1 - mascot.width()))
        y = max(target.top(), min(mascot.top(), target.bottom() + 1 - mascot.height()))
        log.info("[window] mascot brought back onto a screen")
        self._anchor = QPoint(x, y)
        self._store_position()
        self._relayout()
        self.moved.emit(QPoint(self._anchor))

    # -- placement ----------------------------------------------------------------------------

    def _default_anchor(self) -> QPoint:
        side = self.view.width()
        if not QGuiApplication.screens():
            return QPoint(self.EDGE_MARGIN, self.EDGE_MARGIN)
        g = QGuiApplication.primaryScreen().availableGeometry()
        return QPoint(
            g.right() + 1 - side - self.EDGE_MARGIN, g.bottom() + 1 - side - self.EDGE_MARGIN
        )

    def _initial_anchor(self) -> QPoint:
        pos = self._settings.position
        if self._placed and pos is not None:
            return QPoint(int(pos[0]), int(pos[1]))
        return self._default_anchor()

    def _store_position(self) -> None:
        self._placed = True
        self._settings.position = [self._anchor.x(), self._anchor.y()]

    @staticmethod
    def _screen_rect_for(rect: QRect) -> QRect:
        return layout.screen_for(rect, layout.available_geometries())

    @Slot()
    def _relayout(self) -> None:
        """Place the window around the mascot (fixed) and the bubble (if shown)."""
        mascot = self.mascot_geometry()
        whole = QRect(mascot)
        bubble_rect: QRect | None = None
        if not self.bubble.isHidden():
            # The character says where the tail points (its manifest's bubble anchor).
            anchor = self.view.bubble_anchor()
            tip = QPointF(mascot.left() + anchor.x(), mascot.top() + anchor.y())
            place = layout.place_bubble(
                mascot=mascot,
                tip=tip.toPoint(),
                size=self.bubble.size(),
                screen=self._screen_rect_for(mascot),
                shadow=self.bubble.SHADOW,
                tuck=int(mascot.height() * self.BELOW_TUCK),
            )
            bubble_rect = place.rect
            whole = whole.united(bubble_rect)
            self.bubble.set_tail(place.edge, tip.x() - bubble_rect.left())
        origin = whole.topLeft()
        self.view.move(mascot.topLeft() - origin)
        if bubble_rect is not None:
            self.bubble.move(bubble_rect.topLeft() - origin)
            self.bubble.raise_()
        if self.geometry() != whole:
            self._requested = [*self._requested[-3:], QPoint(origin)]
            self.setGeometry(whole)

    # -- screens ------------------------------------------------------------------------------

    @Slot(QScreen)
    def _on_screen_added(self, screen: QScreen) -> None:
        screen.availableGeometryChanged.connect(self._on_screens_changed)
        self._ensure_timer.start()

    @Slot()
    def _on_screens_changed(self) -> None:
        # Deferred: when a screen goes away Qt moves its windows afterwards.
        self._ensure_timer.start()

    # -- input --------------------------------------------------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._press_global = event.globalPosition().toPoint()
            self._press_window = self.pos()
            self._dragging = False
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._press_global is None or not (event.buttons() & Qt.MouseButton.LeftButton):
            super().mouseMoveEvent(event)
            return
        delta = event.globalPosition().toPoint() - self._press_global
        if not self._dragging:
            if delta.manhattanLength() < QApplication.startDragDistance():
                return
            self._dragging = True
            handle = self.windowHandle()
            # The window manager moves the window (Wayland allows nothing else); moveEvent
            # then records the new place. Offscreen and WM-less X11 return False.
            if handle is not None and handle.startSystemMove():
                log.debug("[window] system move started")
                self._press_global = None
                self._dragging = False
                return
        self._move_window_to(self._press_window + delta)
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self._press_global is not None:
            self._press_global = None
            if self._dragging:
                self._dragging = False
                event.accept()
                return
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self.view.geometry().contains(
            event.position().toPoint()
        ):
            self.read_aloud_requested.emit()
            event.accept()
            return
        super().mouseDoubleClickEvent(event)

    def wheelEvent(self, event: QWheelEvent) -> None:
        """Ctrl + wheel changes the scale."""
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier and event.angleDelta().y():
            i = _SCALE_ORDER.index(self.view.scale) + (1 if event.angleDelta().y() > 0 else -1)
            if 0 <= i < len(_SCALE_ORDER):
                self.set_scale(_SCALE_ORDER[i])
            event.accept()
            return
        super().wheelEvent(event)

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        self.context_menu_requested.emit(event.globalPos())
        event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.escape_pressed.emit()
            event.accept()
            return
        super().keyPressEvent(event)

    def _move_window_to(self, pos: QPoint) -> None:
        self._anchor = pos + self.view.pos()
        self._requested = [*self._requested[-3:], QPoint(pos)]
        self.move(pos)
        self._store_position()
        self.moved.emit(QPoint(self._anchor))

    def moveEvent(self, event: QMoveEvent) -> None:
        super().moveEvent(event)
        pos = event.pos()
        if any(pos == p for p in self._requested):
            return
        # Moved by the window manager (a system move, a screen change): follow it.
        anchor = pos + self.view.pos()
        if anchor != self._anchor:
            self._anchor = anchor
            self._requested = [*self._requested[-3:], QPoint(pos)]
            self._store_position()
            self.moved.emit(QPoint(anchor))

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._relayout()
        self.ensure_on_screen()
