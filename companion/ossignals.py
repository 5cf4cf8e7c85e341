# SPDX-License-Identifier: GPL-3.0-or-later
"""SIGTERM, SIGINT and SIGHUP, handled in the Qt event loop (qutebrowser's ``crashsignal.py``).

Qt's event loop runs in C++: a Python signal handler would only run when Python code next
does. The C-level handler writes the signal number to a socket pair
(:func:`signal.set_wakeup_fd`); a :class:`~PySide6.QtCore.QSocketNotifier` wakes the loop,
which emits :attr:`SignalWatcher.received`. Install it before anything can ask the process to
stop (before the single-instance server listens), or a signal in between kills it the
default way.
"""

from __future__ import annotations

import logging
import signal
import socket
from types import FrameType
from typing import Any

from PySide6.QtCore import QObject, QSocketNotifier, Signal, Slot

log = logging.getLogger("companion.app")

WATCHED = tuple(
    s for s in (signal.SIGTERM, signal.SIGINT, getattr(signal, "SIGHUP", None)) if s is not None
)


def _note_signal(signum: int, frame: FrameType | None) -> None:
    """Python-level handler; the work happens in the event loop (see the wakeup fd)."""


class SignalWatcher(QObject):
    """Delivers the process's termination signals as a Qt signal.

    Signals:
        received(int): a watched signal arrived (its number).

    Attributes:
        installed: the handlers are in place.
    """

    received = Signal(int)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._sockets: tuple[socket.socket, socket.socket] | None = None
        self._notifier: QSocketNotifier | None = None
        self._old: dict[int, Any] = {}

    @property
    def installed(self) -> bool:
        return self._sockets is not None

    def install(self) -> bool:
        """Take over the signals; False when that is impossible (not the main thread)."""
        if self._sockets is not None:
            return True
        rsock, wsock = socket.socketpair()
        rsock.setblocking(False)
        wsock.setblocking(False)
        try:
            signal.set_wakeup_fd(wsock.fileno(), warn_on_full_buffer=False)
        except ValueError:  # not the main thread: no signal handling (tests building the app)
            rsock.close()
            wsock.close()
            return False
        self._sockets = (rsock, wsock)
        for signum in WATCHED:
            self._old[signum] = signal.signal(signum, _note_signal)
        self._notifier = QSocketNotifier(rsock.fileno(), QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._on_readable)
        return True

    @Slot()
    def _on_readable(self) -> None:
        if self._sockets is None:
            return
        try:
            data = self._sockets[0].recv(64)
        except OSError:
            return
        if data:
            log.info("[app] signal %d: shutting down", data[-1])
            self.received.emit(data[-1])

    def remove(self) -> None:
        """Give the signals back to their previous handlers. Safe to call twice."""
        if self._notifier is not None:
            self._notifier.setEnabled(False)
            self._notifier = None
        if self._sockets is None:
            return
        signal.set_wakeup_fd(-1)
        for signum, handler in self._old.items():
            signal.signal(signum, handler)
        self._old.clear()
        for sock in self._sockets:
            sock.close()
        self._sockets = None
