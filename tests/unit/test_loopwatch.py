# SPDX-License-Identifier: GPL-3.0-or-later
"""The event-loop heartbeat: off unless asked for; a stall of the GUI thread is measured."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from PySide6.QtCore import QObject

from companion import loopwatch


def test_off_unless_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(loopwatch.ENV, raising=False)
    assert loopwatch.start_if_wanted(QObject()) is None
    monkeypatch.setenv(loopwatch.ENV, "0")
    assert not loopwatch.wanted()
    loopwatch.stop(None)  # nothing to stop


def test_a_busy_gui_thread_is_seen(
    qtbot: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(loopwatch.ENV, "1")
    owner = QObject()
    watch = loopwatch.start_if_wanted(owner)
    assert watch is not None
    qtbot.wait(30)
    time.sleep(0.12)  # the GUI thread does not answer
    qtbot.wait(30)
    with caplog.at_level(logging.INFO, logger="companion.app"):
        loopwatch.stop(watch)
    assert watch.longest_ms >= 100
    assert "longest so far" in caplog.text
