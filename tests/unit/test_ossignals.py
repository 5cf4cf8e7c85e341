# SPDX-License-Identifier: GPL-3.0-or-later
"""SIGTERM, SIGINT and SIGHUP arrive in the Qt event loop as a signal; removing the watcher
gives them back to their old handlers."""

from __future__ import annotations

import os
import signal

import pytest
from pytestqt.qtbot import QtBot

from companion.ossignals import WATCHED, SignalWatcher


@pytest.mark.parametrize("signum", WATCHED, ids=[signal.Signals(s).name for s in WATCHED])
def test_a_signal_wakes_the_event_loop(qtbot: QtBot, signum: int) -> None:
    before = signal.getsignal(signum)
    watcher = SignalWatcher()
    assert watcher.install() and watcher.installed
    try:
        with qtbot.wait_signal(watcher.received, timeout=5000) as got:
            os.kill(os.getpid(), signum)
        assert got.args == [signum]
    finally:
        watcher.remove()
    assert not watcher.installed
    assert signal.getsignal(signum) == before
    watcher.remove()  # twice is harmless


def test_a_signal_before_the_loop_runs_is_not_lost(qtbot: QtBot) -> None:
    watcher = SignalWatcher()
    watcher.install()
    try:
        os.kill(os.getpid(), signal.SIGHUP)  # the event loop is not running yet
        with qtbot.wait_signal(watcher.received, timeout=5000):
            pass
    finally:
        watcher.remove()
