# SPDX-License-Identifier: GPL-3.0-or-later
"""The mascot's right-click menu and its tray icon (the tray only where a tray exists).

The menu owns no behaviour: each item emits a signal the composition root wires to the
window, the router or a dialog. Checkable items show the settings they toggle.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, QPoint, Signal, SignalInstance, Slot
from PySide6.QtGui import QAction, QIcon
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from companion.config import Settings

log = logging.getLogger("companion.ui")


class MascotMenu(QObject):
    """Context menu + tray icon.

    Signals:
        show_hide_requested(): toggle the mascot window.
        mute_toggled(bool), always_on_top_toggled(bool): the checkable items.
        stop_requested(), replay_requested(), reset_position_requested(),
        settings_requested(), read_aloud_requested(), quit_requested().
        chat_requested(): show or hide the chat panel.
        sign_in_requested(), sign_out_requested(): the account items.

    Attributes:
        menu: the QMenu (shared by the window's right click and the tray).
        tray: the QSystemTrayIcon, or None where the desktop has no tray.
        actions: the items by name ("show_hide", "mute", "stop", "replay", "always_on_top",
            "reset_position", "chat", "read_aloud", "settings", "quit", and "account" (who is signed
            in; not clickable), "sign_in", "sign_out").
    """

    show_hide_requested = Signal()
    mute_toggled = Signal(bool)
    always_on_top_toggled = Signal(bool)
    stop_requested = Signal()
    replay_requested = Signal()
    reset_position_requested = Signal()
    settings_requested = Signal()
    read_aloud_requested = Signal()
    chat_requested = Signal()
    quit_requested = Signal()
    sign_in_requested = Signal()
    sign_out_requested = Signal()

    def __init__(
        self,
        *,
        settings: Settings,
        icon: QIcon | None = None,
        tray: bool | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.menu = QMenu()
        self.menu.setObjectName("mascot-menu")
        self.actions: dict[str, QAction] = {}

        def add(name: str, text: str, signal: SignalInstance | None = None) -> QAction:
            action = QAction(text, self.menu)
            action.setObjectName(name)
            if signal is not None:
                action.triggered.connect(lambda _checked=False, s=signal: s.emit())
            self.menu.addAction(action)
            self.actions[name] = action
            return action

        add("show_hide", "Hide", self.show_hide_requested)
        self.menu.addSeparator()
        mute = add("mute", "Mute")
        mute.setCheckable(True)
        mute.setChecked(settings.muted)
        mute.toggled.connect(self.mute_toggled)
        add("stop", "Stop speaking", self.stop_requested).setEnabled(False)  # nothing speaks yet
        add("replay", "Replay last", self.replay_requested)
        add("chat", "Chat…", self.chat_requested)
        add("read_aloud", "Read aloud…", self.read_aloud_requested)
        self.menu.addSeparator()
        on_top = add("always_on_top", "Always on top")
        on_top.setCheckable(True)
        on_top.setChecked(settings.always_on_top)
        on_top.toggled.connect(self.always_on_top_toggled)
        add("reset_position", "Reset position", self.reset_position_requested)
        add("settings", "Settings…", self.settings_requested)
        self.menu.addSeparator()
        add("account", "Not signed in").setEnabled(False)
        add("sign_in", "Sign in…", self.sign_in_requested)
        add("sign_out", "Sign out", self.sign_out_requested).setEnabled(False)
        self.menu.addSeparator()
        add("quit", "Quit", self.quit_requested)

        self.tray: QSystemTrayIcon | None = None
        if tray is None:
            tray = QSystemTrayIcon.isSystemTrayAvailable()
        if tray:
            self.tray = QSystemTrayIcon(self)
            if icon is not None and not icon.isNull():
                self.tray.setIcon(icon)
            self.tray.setToolTip("Companion")
            self.tray.setContextMenu(self.menu)
            self.tray.activated.connect(self._on_tray_activated)
            self.tray.show()
            log.info("[menu] tray icon shown")
        else:
            log.info("[menu] no system tray; the right-click menu is the only menu")

    def set_window_visible(self, visible: bool) -> None:
        """Keep the Show/Hide item's text in step with the window."""
        self.actions["show_hide"].setText("Hide" if visible else "Show")

    def set_stop_enabled(self, enabled: bool) -> None:
        """"Stop speaking" applies only while something speaks or a reply is being written."""
        self.actions["stop"].setEnabled(enabled)

    def set_account(self, text: str, signed_in: bool) -> None:
        """The account line (from ``/auth/me``) and whether Sign out applies."""
        self.actions["account"].setText(text)
        self.actions["sign_out"].setEnabled(signed_in)

    def set_muted(self, muted: bool) -> None:
        self.actions["mute"].setChecked(muted)

    def set_always_on_top(self, on: bool) -> None:
        self.actions["always_on_top"].setChecked(on)

    @Slot(QPoint)
    def popup(self, global_pos: QPoint) -> None:
        self.menu.popup(global_pos)

    @Slot(QSystemTrayIcon.ActivationReason)
    def _on_tray_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason == QSystemTrayIcon.ActivationReason.Trigger:
            self.show_hide_requested.emit()

    def close(self) -> None:
        if self.tray is not None:
            self.tray.hide()
            self.tray.setContextMenu(None)  # type: ignore[arg-type]
        self.menu.close()
        self.menu.deleteLater()
