# SPDX-License-Identifier: GPL-3.0-or-later
"""The settings dialog's pages: a list of page names on the left, the chosen page on the right
(as KDE's and GNOME's preferences and Qt Creator's options are laid out)."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Slot
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QListWidget,
    QScrollArea,
    QStackedWidget,
    QWidget,
)


class PageList(QWidget):
    """Named pages, one shown at a time; each scrolls if it is taller than the dialog.

    Attributes:
        names: the page names in order.
        list: the page names' list; ``stack``: the pages.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.names: list[str] = []
        self.list = QListWidget()
        self.list.setObjectName("settings-pages")
        self.list.setFrameShape(QFrame.Shape.NoFrame)
        self.list.setSpacing(2)
        self.stack = QStackedWidget()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list)
        layout.addWidget(self.stack, 1)
        self.list.currentRowChanged.connect(self._on_row)

    def add(self, name: str, page: QWidget) -> None:
        scroll = QScrollArea()
        scroll.setWidget(page)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        # Rows wrap to the dialog's width; only a page taller than the dialog scrolls.
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.names.append(name)
        self.stack.addWidget(scroll)
        self.list.addItem(name)
        width = max(self.list.sizeHintForColumn(0) + 16, 120)
        self.list.setFixedWidth(width)
        if self.list.currentRow() < 0:
            self.list.setCurrentRow(0)

    def page(self, name: str) -> QWidget:
        scroll = self.stack.widget(self.names.index(name))
        assert isinstance(scroll, QScrollArea)
        widget = scroll.widget()
        assert widget is not None
        return widget

    def current(self) -> str:
        return self.names[self.stack.currentIndex()]

    def show_page(self, name: str) -> None:
        self.list.setCurrentRow(self.names.index(name))

    def sizeHint(self) -> QSize:
        """Room for the tallest and the widest page without scrolling (within the screen's
        height, which the layout keeps the dialog inside)."""
        inner = QSize(0, 0)
        for i in range(self.stack.count()):
            scroll = self.stack.widget(i)
            if isinstance(scroll, QScrollArea) and scroll.widget() is not None:
                widget = scroll.widget()
                assert widget is not None
                inner = inner.expandedTo(widget.sizeHint())
        return QSize(self.list.width() + inner.width() + 24, max(inner.height(), 240) + 8)

    @Slot(int)
    def _on_row(self, row: int) -> None:
        if row >= 0:
            self.stack.setCurrentIndex(row)
