# SPDX-License-Identifier: GPL-3.0-or-later
"""The mascot's windows on the desktop: the mascot, the chat panel and the read-aloud box.

One owner shows, hides and places them together: hiding the mascot hides the boxes that
belong to it; opening a box shows the mascot first; the chat follows the mascot when it is
dragged. The menu is told whether the mascot is visible (its Show/Hide item).
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Slot
from PySide6.QtGui import QGuiApplication

from companion.ui.chat_panel import ChatPanel
from companion.ui.menu import MascotMenu
from companion.ui.read_aloud import ReadAloudBox
from companion.ui.window import MascotWindow

#: Platforms without a window system to raise windows on (they warn when asked to).
HEADLESS_PLATFORMS = ("offscreen", "minimal")


class Desktop(QObject):
    """Shows, hides and places the mascot's windows.

    Attributes:
        window, chat_panel, read_aloud, menu: the windows (and the menu that mirrors them).
    """

    def __init__(
        self,
        *,
        window: MascotWindow,
        chat_panel: ChatPanel,
        read_aloud: ReadAloudBox,
        menu: MascotMenu,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.window = window
        self.chat_panel = chat_panel
        self.read_aloud = read_aloud
        self.menu = menu
        window.moved.connect(self._chat_follows)

    @Slot()
    def show_window(self) -> None:
        self.window.show()
        self.window.ensure_on_screen()
        if QGuiApplication.platformName() not in HEADLESS_PLATFORMS:
            self.window.raise_()
        self.menu.set_window_visible(True)

    @Slot()
    def toggle_window(self) -> None:
        if self.window.isVisible():
            self.window.hide()
            self.read_aloud.hide()
            self.menu.set_window_visible(False)
        else:
            self.show_window()

    @Slot()
    def toggle_chat(self) -> None:
        if self.chat_panel.isVisible():
            self.chat_panel.hide()
            return
        self._mascot_first()
        self.chat_panel.open_near(self.window)

    @Slot()
    def open_read_aloud(self) -> None:
        self._mascot_first()
        self.read_aloud.open_near(self.window)

    def _mascot_first(self) -> None:
        if not self.window.isVisible():
            self.show_window()

    @Slot()
    def _chat_follows(self) -> None:
        if self.chat_panel.isVisible():
            self.chat_panel.follow(self.window)

    def close(self) -> None:
        self.read_aloud.close()
        self.chat_panel.close()
