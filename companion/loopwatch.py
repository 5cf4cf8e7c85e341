# SPDX-License-Identifier: GPL-3.0-or-later
"""The event loop's longest stall, measured by a heartbeat (``COMPANION_LOOP_WATCH=1``).

A precise timer fires every :data:`BEAT_MS`; the longest gap between two beats, less the
beat, is the longest time the GUI thread did not answer. Off by default (a timer waking the
process 100 times a second is no idle mascot's business); the security suite turns it on
and reads the line it logs each second (the longest stall in that second, and so far) and
at shut-down.
"""

from __future__ import annotations

import logging
import os
import time

from PySide6.QtCore import QObject, Qt, QTimer, Slot

log = logging.getLogger("companion.app")

ENV = "COMPANION_LOOP_WATCH"
BEAT_MS = 5


def wanted() -> bool:
    """The heartbeat was asked for (``COMPANION_LOOP_WATCH`` set and not ``0``)."""
    return os.environ.get(ENV, "").strip() not in ("", "0")


class LoopWatch(QObject):
    """Measures the GUI thread's longest stall while it runs.

    Attributes:
        longest_ms: the longest gap between two beats, less the beat.
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.longest_ms = 0.0
        self._window_ms = 0.0
        self._last = 0.0
        self._last_report = 0.0
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(BEAT_MS)
        self._timer.timeout.connect(self._beat)

    def start(self) -> None:
        self._last = self._last_report = time.monotonic()
        self._timer.start()

    @Slot()
    def _beat(self) -> None:
        now = time.monotonic()
        gap = (now - self._last) * 1000 - BEAT_MS
        self._last = now
        self.longest_ms = max(self.longest_ms, gap)
        self._window_ms = max(self._window_ms, gap)
        if now - self._last_report >= 1.0:
            self.report()

    def report(self) -> None:
        """Logs the longest stall of the last second or so, and the longest so far."""
        self._last_report = time.monotonic()
        log.info(
            "[app] event-loop stall: %.1f ms (longest so far %.1f ms)",
            self._window_ms,
            self.longest_ms,
        )
        self._window_ms = 0.0

    def stop(self) -> None:
        self._timer.stop()
        self.report()


def start_if_wanted(parent: QObject) -> LoopWatch | None:
    """A running watch when :func:`wanted`, else None."""
    if not wanted():
        return None
    watch = LoopWatch(parent)
    watch.start()
    return watch


def stop(watch: LoopWatch | None) -> None:
    """Stops ``watch`` (when there is one) and logs its figure."""
    if watch is not None:
        watch.stop()
