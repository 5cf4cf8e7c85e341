# SPDX-License-Identifier: GPL-3.0-or-later
"""The mascot's windows on the desktop: the mascot, the chat panel, the read-aloud box, dialogs.

One owner shows, hides and places them together: hiding the mascot hides the boxes that
belong to it; opening a box shows the mascot first; every box and dialog is placed by
:class:`~companion.ui.layout.WindowLayout` beside the mascot and its bubble, never over them
or each other, and follows the mascot when it is dragged, resized or given another character.
Only the mascot (with its bubble) stays above other windows; the boxes are ordinary tool
windows. The menu is told whether the mascot is visible (its Show/Hide item).
"""

from __future__ import annotations

from typing import TypeVar

from PySide6.QtCore import QObject, Slot
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QWidget

from companion.replies.chat_controller import ChatController
from companion.replies.router import ReplyRouter
from companion.ui.chat_panel import ChatPanel
from companion.ui.layout import WindowLayout
from companion.ui.menu import MascotMenu
from companion.ui.read_aloud import ReadAloudBox
from companion.ui.window import MascotWindow

#: Platforms without a window system to raise windows on (they warn when asked to).
HEADLESS_PLATFORMS = ("offscreen", "minimal")

T = TypeVar("T")


def bring_forward(widget: QWidget) -> None:
    """Raise and activate ``widget`` where the platform can (headless ones warn)."""
    if QGuiApplication.platformName() not in HEADLESS_PLATFORMS:
        widget.raise_()
        widget.activateWindow()


class Desktop(QObject):
    """Shows, hides and places the mascot's windows.

    Attributes:
        window, chat_panel, read_aloud, menu: the windows (and the menu that mirrors them).
        layout: places the boxes and the dialogs.
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
        self.layout = WindowLayout(scene=window.layout_scene, parent=self)
        self.layout.add_panel(chat_panel)
        self.layout.add_panel(read_aloud)
        window.moved.connect(self.layout.apply)
        window.scale_changed.connect(self.layout.apply)
        window.view.art_changed.connect(self.layout.apply)
        window.bubble.layout_changed.connect(self.layout.apply)  # after the window's own

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
        self.layout.place(self.chat_panel)
        self.chat_panel.present()
        bring_forward(self.chat_panel)

    @Slot()
    def open_read_aloud(self) -> None:
        self._mascot_first()
        self.layout.place(self.read_aloud)
        self.read_aloud.present()
        bring_forward(self.read_aloud)

    def follow_activity(self, *, router: ReplyRouter, chat: ChatController) -> None:
        """Offer "Stop speaking" in the menu only while something speaks or a reply streams."""

        @Slot()
        def update(*_args: object) -> None:
            self.menu.set_stop_enabled(router.busy or chat.busy)

        router.current_changed.connect(update)
        router.drained.connect(update)
        chat.busy_changed.connect(update)
        self.menu.menu.aboutToShow.connect(update)
        update()

    def adopt_dialog(self, dialog: T) -> T:
        """Place a dialog (settings, sign-in) beside the mascot, clear of it and the boxes."""
        if isinstance(dialog, QWidget):
            self.layout.add_dialog(dialog)
        return dialog

    def _mascot_first(self) -> None:
        if not self.window.isVisible():
            self.show_window()

    def close(self) -> None:
        self.read_aloud.close()
        self.chat_panel.close()
