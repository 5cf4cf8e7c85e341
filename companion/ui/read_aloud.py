# SPDX-License-Identifier: GPL-3.0-or-later
"""The read-aloud box: paste or type next to the mascot; Enter speaks, Shift+Enter is a newline."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QPoint, Qt, Signal
from PySide6.QtGui import QGuiApplication, QKeyEvent
from PySide6.QtWidgets import QFrame, QLabel, QPlainTextEdit, QVBoxLayout, QWidget


class ReadAloudBox(QFrame):
    """A small tool window with a text field.

    Signals:
        submitted(str): the text to speak (Enter); the box clears and hides.
    """

    submitted = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowFlags(
            Qt.WindowType.Tool
            | Qt.WindowType.FramelessWindowHint
            | Qt.WindowType.WindowStaysOnTopHint
        )
        self.setWindowTitle("Read aloud")
        self.setObjectName("read-aloud")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setStyleSheet(
            "#read-aloud { background: palette(base); border: 1px solid palette(mid);"
            " border-radius: 8px; }"
        )
        self.editor = QPlainTextEdit()
        self.editor.setPlaceholderText("Paste or type, then press Enter")
        self.editor.setTabChangesFocus(True)
        self.editor.installEventFilter(self)
        hint = QLabel("Enter: speak · Shift+Enter: new line · Esc: close")
        hint.setStyleSheet("color: palette(mid); font-size: 9pt;")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(self.editor)
        layout.addWidget(hint)
        self.resize(320, 140)

    def open_near(self, anchor: QWidget) -> None:
        """Show next to ``anchor`` (the mascot), on its screen, with the focus in the field."""
        geo = anchor.frameGeometry()
        pos = QPoint(geo.left(), geo.top() - self.height() - 8)
        screen = anchor.screen()
        if screen is not None:
            avail = screen.availableGeometry()
            if pos.y() < avail.top():
                pos.setY(geo.bottom() + 8)
            pos.setX(min(max(pos.x(), avail.left()), avail.right() - self.width()))
            pos.setY(min(max(pos.y(), avail.top()), avail.bottom() - self.height()))
        self.move(pos)
        self.show()
        if QGuiApplication.platformName() not in ("offscreen", "minimal"):
            self.raise_()  # headless platforms warn that they cannot
            self.activateWindow()
        self.editor.setFocus()

    def submit(self) -> None:
        text = self.editor.toPlainText().strip()
        if not text:
            return
        self.editor.clear()
        self.hide()
        self.submitted.emit(text)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.editor and event.type() == QEvent.Type.KeyPress:
            assert isinstance(event, QKeyEvent)
            key = event.key()
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
                    self.editor.insertPlainText("\n")
                else:
                    self.submit()
                return True
            if key == Qt.Key.Key_Escape:
                self.hide()
                return True
        return super().eventFilter(watched, event)
