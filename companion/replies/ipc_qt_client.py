# SPDX-License-Identifier: GPL-3.0-or-later
"""The ``say`` client over Qt's named pipes (Windows, where there are no Unix sockets).

Imported by :mod:`companion.replies.ipc_client` only where ``QLocalSocket`` is the transport,
so ``companion say`` on POSIX never loads Qt.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QByteArray
from PySide6.QtNetwork import QLocalSocket

from companion.replies.ipc_wire import IpcError, _Reader, encode_message


def qt_server_answers(name: str, timeout_ms: int) -> bool:
    """True when a Qt server accepts a connection on ``name`` (Windows named pipes)."""
    qsock = QLocalSocket()
    qsock.connectToServer(name)
    ok = qsock.waitForConnected(timeout_ms)
    qsock.abort()
    return ok


def send_qt(payload: dict[str, Any], name: str, timeout_ms: int) -> dict[str, Any]:
    sock = QLocalSocket()
    sock.connectToServer(name)
    if not sock.waitForConnected(min(timeout_ms, 1000)):
        err = sock.error()
        sock.abort()
        if err in (
            QLocalSocket.LocalSocketError.ServerNotFoundError,
            QLocalSocket.LocalSocketError.ConnectionRefusedError,
        ):
            raise ConnectionRefusedError("no mascot is running")
        raise IpcError(f"cannot reach the mascot ({sock.errorString()})")
    try:
        sock.write(QByteArray(encode_message(payload)))
        while sock.bytesToWrite() > 0:
            if not sock.waitForBytesWritten(timeout_ms):
                raise IpcError("the mascot did not take the text in time")
        reader = _Reader()
        while True:
            if sock.bytesAvailable() == 0 and not sock.waitForReadyRead(timeout_ms):
                raise IpcError("the mascot did not answer in time")
            answer = reader.feed(bytes(sock.readAll().data()))
            if answer is not None:
                return answer
    except (ValueError, UnicodeDecodeError) as exc:
        raise IpcError("the mascot sent a bad answer") from exc
    finally:
        sock.abort()
