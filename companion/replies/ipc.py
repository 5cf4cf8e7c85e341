# SPDX-License-Identifier: GPL-3.0-or-later
"""One mascot per user session: a ``QLocalServer`` that takes requests from ``companion say``.

Wire format, both ways: a 4-byte big-endian length, then that many bytes of UTF-8 JSON.
Requests: ``{"cmd": "say", "text": "..."}``, ``{"cmd": "ask", "text": "...", "stream": bool}``
or ``{"cmd": "show"}``; answers: ``{"ok": true, "pid": <the mascot's process id>}`` or
``{"ok": false, "error": "<one line>"}``. An ``ask`` with ``stream: true`` keeps the connection
open after its answer and receives the reply's events as further messages
(:class:`IpcStream`; ``companion ask --print``).

The server name is derived from the user and the config dir, so a test with its own
``COMPANION_CONFIG_DIR`` never talks to the user's mascot. On POSIX it is a socket path in the
user's private folder (:mod:`companion.runtime_dir`: ``XDG_RUNTIME_DIR``, else a 0700 folder of
ours), beside its lock file, and a connection from another user is dropped before a byte of it
is read (:mod:`companion.replies.peer`, where the OS tells). The ``say`` client uses a plain
Python socket: it releases the GIL while it waits (PySide's blocking ``QLocalSocket`` calls do
not), needs no Qt event loop and starts faster. On Windows both sides use Qt's named pipes.
"""

from __future__ import annotations

import logging
import os
import tempfile
from typing import Any

from PySide6.QtCore import QByteArray, QLockFile, QObject, Signal, Slot
from PySide6.QtNetwork import QLocalServer, QLocalSocket

# The client half (no Qt on POSIX, for `companion say`), re-exported for its callers.
from companion.replies import peer
from companion.replies.ipc_client import _POSIX as _POSIX
from companion.replies.ipc_client import send_request as send_request
from companion.replies.ipc_client import server_answers as server_answers
from companion.replies.ipc_client import server_name as server_name
from companion.replies.ipc_wire import MAX_MESSAGE as MAX_MESSAGE
from companion.replies.ipc_wire import IpcError as IpcError
from companion.replies.ipc_wire import _Reader as _Reader
from companion.replies.ipc_wire import encode_message as encode_message
from companion.textinput import MAX_TEXT_CHARS, too_long

log = logging.getLogger("companion.ipc")


def _lock_path(name: str) -> str:
    """The lock file that claims ``name``: beside the socket in the private folder on POSIX,
    in the per-user temp dir on Windows."""
    if _POSIX:
        return f"{name}.lock"
    return os.path.join(tempfile.gettempdir(), f"{name}.lock")


class IpcServer(QObject):
    """Listens for ``say`` and ``show`` requests from other processes.

    Signals:
        say_requested(str): text to speak.
        ask_requested(str, object): a question for the assistant, and the
            :class:`IpcStream` to send its reply to (None when the asker does not listen).
        show_requested(): another ``companion`` was started; bring the mascot forward.
    """

    say_requested = Signal(str)
    ask_requested = Signal(str, object)
    show_requested = Signal()

    def __init__(self, *, name: str | None = None, parent: QObject | None = None) -> None:
        resolved = name or server_name()  # IpcError when there is no private folder
        super().__init__(parent)
        self.name = resolved
        self._server = QLocalServer(self)
        self._server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self._server.newConnection.connect(self._on_new_connection)
        self._readers: dict[QLocalSocket, _Reader] = {}
        self._lock: QLockFile | None = None
        self._refused = 0

    def listen(self) -> bool:
        """Start serving. False when another mascot already answers on this name, or is
        starting and about to (two ``companion say`` at once each start one)."""
        # Ask first: with UserAccessOption Qt binds elsewhere and renames over the path, which
        # would silently take the name from a running mascot.
        if server_answers(self.name):
            log.info("[ipc] another mascot is running")
            return False
        # Asking is not enough when two mascots start together: both hear nobody, and the
        # second rename leaves the first listening on a path nobody can reach, a mascot no
        # `say` can find. The name is claimed with a lock file first (QLockFile: a lock left
        # by a mascot that died is taken over), held until close().
        lock = QLockFile(_lock_path(self.name))
        lock.setStaleLockTime(0)  # never stale by age: only a dead owner frees it
        if not lock.tryLock(0):
            log.info("[ipc] another mascot is starting")
            return False
        self._lock = lock
        # A stale socket file from a mascot that died: nobody answers, so it is safe to remove.
        QLocalServer.removeServer(self.name)
        ok = self._server.listen(self.name)
        if ok:
            log.info("[ipc] listening")
        else:
            log.warning("[ipc] cannot listen: %s", self._server.errorString())
            self._release_lock()
        return ok

    def _release_lock(self) -> None:
        lock, self._lock = self._lock, None
        if lock is not None:
            lock.unlock()

    @property
    def listening(self) -> bool:
        return self._server.isListening()

    def close(self) -> None:
        for sock in list(self._readers):
            sock.abort()
        self._readers.clear()
        self._server.close()
        self._release_lock()

    @Slot()
    def _on_new_connection(self) -> None:
        while self._server.hasPendingConnections():
            sock = self._server.nextPendingConnection()
            if not self._trusted(sock):
                continue
            self._readers[sock] = _Reader()
            sock.readyRead.connect(self._on_ready_read)
            sock.disconnected.connect(self._on_disconnected)
            if sock.bytesAvailable():
                self._read_from(sock)

    def _trusted(self, sock: QLocalSocket) -> bool:
        """False (the connection aborted, not a byte read) for another user's process."""
        uid = peer.foreign_uid(int(sock.socketDescriptor())) if _POSIX else None
        if uid is None:
            return True
        self._refused += 1
        if self._refused == 1:  # one warning; a flood of them stays out of the log
            log.warning("[ipc] refused a connection from another user (uid %d)", uid)
        sock.abort()
        sock.deleteLater()
        return False

    def _sender_socket(self) -> QLocalSocket | None:
        sock = self.sender()
        return sock if isinstance(sock, QLocalSocket) else None

    @Slot()
    def _on_disconnected(self) -> None:
        sock = self._sender_socket()
        if sock is not None and self._readers.pop(sock, None) is not None:
            sock.deleteLater()

    @Slot()
    def _on_ready_read(self) -> None:
        sock = self._sender_socket()
        if sock is not None:
            self._read_from(sock)

    def _read_from(self, sock: QLocalSocket) -> None:
        reader = self._readers.get(sock)
        if reader is None:
            return
        try:
            message = reader.feed(bytes(sock.readAll().data()))
        except (ValueError, UnicodeDecodeError) as exc:
            log.info("[ipc] bad request: %s", type(exc).__name__)
            self._reply(sock, {"ok": False, "error": "bad request"})
            return
        if message is None:
            return
        if message.get("cmd") == "ask":
            self._handle_ask(sock, message)
            return
        self._reply(sock, self._handle(message))

    def _handle_ask(self, sock: QLocalSocket, message: dict[str, Any]) -> None:
        text = message.get("text")
        if not isinstance(text, str) or not text.strip():
            self._reply(sock, {"ok": False, "error": "nothing to ask"})
            return
        if len(text) > MAX_TEXT_CHARS:
            log.info("[ipc] ask refused: %d chars", len(text))
            self._reply(sock, {"ok": False, "error": too_long()})
            return
        log.info(
            "[ipc] ask: %d chars%s", len(text), " (streamed back)" if message.get("stream") else ""
        )
        if not message.get("stream"):
            self._reply(sock, {"ok": True, "pid": os.getpid()})
            self.ask_requested.emit(text, None)
            return
        stream = IpcStream(sock)
        stream.send({"ok": True, "pid": os.getpid()})
        self.ask_requested.emit(text, stream)

    def _handle(self, message: dict[str, Any]) -> dict[str, Any]:
        cmd = message.get("cmd")
        if cmd == "say":
            text = message.get("text")
            if not isinstance(text, str) or not text.strip():
                return {"ok": False, "error": "nothing to say"}
            if len(text) > MAX_TEXT_CHARS:
                log.info("[ipc] say refused: %d chars", len(text))
                return {"ok": False, "error": too_long()}
            log.info("[ipc] say: %d chars", len(text))
            self.say_requested.emit(text)
            return {"ok": True, "pid": os.getpid()}
        if cmd == "show":
            self.show_requested.emit()
            return {"ok": True, "pid": os.getpid()}
        return {"ok": False, "error": "unknown command"}

    def _reply(self, sock: QLocalSocket, payload: dict[str, Any]) -> None:
        sock.write(QByteArray(encode_message(payload)))
        sock.flush()
        sock.disconnectFromServer()


class IpcStream:
    """An open ``ask`` connection: each event goes back as one message, until :meth:`close`.

    Attributes:
        closed: closed by us, or the asker hung up (events are then dropped).
    """

    def __init__(self, sock: QLocalSocket) -> None:
        self._sock = sock
        self.closed = False
        sock.disconnected.connect(self._on_gone)

    def _on_gone(self) -> None:
        self.closed = True

    def send(self, event: dict[str, Any]) -> None:
        if self.closed:
            return
        self._sock.write(QByteArray(encode_message(event)))
        self._sock.flush()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._sock.disconnectFromServer()
