# SPDX-License-Identifier: GPL-3.0-or-later
"""The mascot's windows shown, hidden and placed together (the app's real windows)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from companion.app import AppOptions, Companion, ensure_qapp

pytestmark = pytest.mark.qt_log_ignore(r"This plugin does not support (raise|propagateSizeHints)")


@pytest.fixture
def app(qtbot: QtBot, _private_config_dir: Path) -> Iterator[Companion]:
    _private_config_dir.mkdir(parents=True, exist_ok=True)
    (_private_config_dir / "settings.json").write_text(
        json.dumps({"engine": "espeak", "greeted": True})
    )
    companion = Companion(
        qapp=ensure_qapp(), options=AppOptions(ipc=False, signals=False, telemetry=False)
    )
    qtbot.add_widget(companion.window)
    assert companion.start()
    yield companion
    companion.shutdown()


def test_hiding_the_mascot_hides_its_read_aloud_box(app: Companion) -> None:
    desktop = app.desktop
    desktop.open_read_aloud()
    assert app.read_aloud.isVisible()
    desktop.toggle_window()
    assert not app.window.isVisible() and not app.read_aloud.isVisible()
    assert app.menu.actions["show_hide"].text() == "Show"  # the menu is told
    desktop.toggle_window()
    assert app.window.isVisible() and app.menu.actions["show_hide"].text() == "Hide"


def test_a_box_opened_while_the_mascot_is_hidden_shows_the_mascot_first(app: Companion) -> None:
    app.desktop.toggle_window()
    assert not app.window.isVisible()
    app.desktop.toggle_chat()
    assert app.window.isVisible() and app.chat_panel.isVisible()
    app.desktop.toggle_chat()
    assert not app.chat_panel.isVisible()
