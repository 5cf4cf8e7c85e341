# SPDX-License-Identifier: GPL-3.0-or-later
"""The read-aloud box: paste or type next to the mascot; Enter speaks, Shift+Enter is a newline."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QFrame, QLabel, QPlainTextEdit, QVBoxLayout, QWidget


class ReadAloudBox(QFrame):
    """A small tool window with a text field.

    Signals:
        submitted(str): the text to speak (Enter); the box clears and hides.
    """

    submitted = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # A tool window beside the mascot: only the mascot stays above the others.
        self.setWindowFlags(Qt.WindowType.Tool | Qt.WindowType.FramelessWindowHint)
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
        self.setMinimumSize(240, 110)

    def present(self) -> None:
        """Show (placed by the desktop's layout) with the focus in the field."""
        self.show()
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
