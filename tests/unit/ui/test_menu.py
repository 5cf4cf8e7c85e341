# SPDX-License-Identifier: GPL-3.0-or-later
"""The mascot's menu and tray icon."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import QSystemTrayIcon
from pytestqt.qtbot import QtBot

from companion.config import Settings
from companion.ui.menu import MascotMenu

ITEMS = [
    ("show_hide", "show_hide_requested"),
    ("stop", "stop_requested"),
    ("replay", "replay_requested"),
    ("chat", "chat_requested"),
    ("read_aloud", "read_aloud_requested"),
    ("reset_position", "reset_position_requested"),
    ("settings", "settings_requested"),
    ("sign_in", "sign_in_requested"),
    ("sign_out", "sign_out_requested"),
    ("quit", "quit_requested"),
]


def _icon() -> QIcon:
    pixmap = QPixmap(16, 16)
    pixmap.fill(QColor("orange"))
    return QIcon(pixmap)


@pytest.fixture
def menu(qtbot: QtBot) -> MascotMenu:
    m = MascotMenu(settings=Settings(muted=False, always_on_top=True), tray=False)
    yield m
    m.close()


def test_items_in_order(menu: MascotMenu) -> None:
    names = [a.objectName() for a in menu.menu.actions() if not a.isSeparator()]
    assert names == [
        "show_hide", "mute", "stop", "replay", "chat", "read_aloud",
        "always_on_top", "reset_position", "settings", "account", "sign_in", "sign_out", "quit",
    ]  # fmt: skip


def test_the_account_items_show_who_is_signed_in(menu: MascotMenu) -> None:
    account, sign_out = menu.actions["account"], menu.actions["sign_out"]
    assert account.text() == "Not signed in" and not account.isEnabled()
    assert not sign_out.isEnabled()
    menu.set_account("Signed in as Ann", True)
    assert account.text() == "Signed in as Ann" and sign_out.isEnabled()
    menu.set_account("Not signed in", False)
    assert not sign_out.isEnabled()


@pytest.mark.parametrize(("item", "signal"), ITEMS)
def test_each_item_emits_its_signal(qtbot: QtBot, menu: MascotMenu, item: str, signal: str) -> None:
    menu.actions[item].setEnabled(True)  # Sign out is enabled only with a session
    with qtbot.wait_signal(getattr(menu, signal), timeout=1000):
        menu.actions[item].trigger()


def test_checkable_items_show_and_toggle_the_settings(qtbot: QtBot, menu: MascotMenu) -> None:
    mute, on_top = menu.actions["mute"], menu.actions["always_on_top"]
    assert mute.isCheckable() and not mute.isChecked()
    assert on_top.isCheckable() and on_top.isChecked()
    with qtbot.wait_signal(menu.mute_toggled) as blocker:
        mute.trigger()
    assert blocker.args == [True]
    with qtbot.wait_signal(menu.always_on_top_toggled) as blocker:
        on_top.trigger()
    assert blocker.args == [False]
    menu.set_muted(False)
    assert not mute.isChecked()


def test_show_hide_text_follows_the_window(menu: MascotMenu) -> None:
    menu.set_window_visible(False)
    assert menu.actions["show_hide"].text() == "Show"
    menu.set_window_visible(True)
    assert menu.actions["show_hide"].text() == "Hide"


def test_no_tray_where_the_desktop_has_none(qtbot: QtBot) -> None:
    m = MascotMenu(settings=Settings())
    try:
        assert (m.tray is not None) == QSystemTrayIcon.isSystemTrayAvailable()
    finally:
        m.close()


# The offscreen platform has no tray host; Qt says so when the icon is made.
@pytest.mark.qt_log_ignore("systemTrayWindowChanged")
def test_tray_shares_the_menu_and_a_click_toggles(qtbot: QtBot) -> None:
    m = MascotMenu(settings=Settings(), icon=_icon(), tray=True)
    try:
        assert m.tray is not None
        assert m.tray.contextMenu() is m.menu
        assert m.tray.toolTip() == "Companion"
        with qtbot.wait_signal(m.show_hide_requested):
            m.tray.activated.emit(QSystemTrayIcon.ActivationReason.Trigger)
        with qtbot.assert_not_emitted(m.show_hide_requested):
            m.tray.activated.emit(QSystemTrayIcon.ActivationReason.Context)
    finally:
        m.close()


# Headless platforms cannot raise windows or grab the keyboard for a popup, and say so.
@pytest.mark.qt_log_ignore("This plugin does not support")
def test_popup_opens_the_menu(qtbot: QtBot, menu: MascotMenu) -> None:
    menu.popup(QPoint(10, 10))
    qtbot.wait_until(menu.menu.isVisible)
    menu.menu.hide()
