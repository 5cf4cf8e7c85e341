# SPDX-License-Identifier: GPL-3.0-or-later
"""``companion ask TEXT|-``: a question for the assistant, through the running mascot.

The mascot (started when none runs) shows and speaks the reply. With ``--print`` the
connection stays open and the reply is written to standard output as it streams in; a
failure is one line on standard error and exit status 1. Without ``--print`` the command
returns as soon as the mascot took the question.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import sys
from collections.abc import Iterator
from typing import Any

from companion.replies import ipc
from companion.replies.say import START_TIMEOUT_S, _read_text, reach_mascot
from companion.textinput import TextInputError

#: How long ``--print`` waits for the next event (a model may think for a while; a signed-out
#: mascot waits for the user to sign in).
EVENT_TIMEOUT_S = 600.0


class _Connection:
    """One request and the messages that follow it (a plain socket on POSIX, Qt elsewhere)."""

    def __init__(self, name: str) -> None:
        self._reader = ipc._Reader()
        self._sock: Any = None
        self._qt: Any = None
        if ipc._POSIX:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(1.0)
            try:
                sock.connect(name)
            except (FileNotFoundError, ConnectionRefusedError):
                sock.close()
                raise ConnectionRefusedError("no mascot is running") from None
            except OSError as exc:
                sock.close()
                raise ipc.IpcError(f"cannot reach the mascot ({type(exc).__name__})") from None
            self._sock = sock
        else:
            from PySide6.QtNetwork import QLocalSocket

            qsock = QLocalSocket()
            qsock.connectToServer(name)
            if not qsock.waitForConnected(1000):
                qsock.abort()
                raise ConnectionRefusedError("no mascot is running")
            self._qt = qsock

    def send(self, payload: dict[str, Any]) -> None:
        data = ipc.encode_message(payload)
        if self._sock is not None:
            self._sock.sendall(data)
            return
        from PySide6.QtCore import QByteArray

        self._qt.write(QByteArray(data))
        while self._qt.bytesToWrite() > 0:
            if not self._qt.waitForBytesWritten(5000):
                raise ipc.IpcError("the mascot did not take the question in time")

    def _recv(self, timeout_s: float) -> bytes:
        if self._sock is not None:
            self._sock.settimeout(timeout_s)
            try:
                return bytes(self._sock.recv(65536))
            except TimeoutError:
                raise ipc.IpcError("the mascot did not answer in time") from None
        if self._qt.bytesAvailable() == 0 and not self._qt.waitForReadyRead(int(timeout_s * 1000)):
            if self._qt.state() == self._qt.LocalSocketState.UnconnectedState:
                return b""
            raise ipc.IpcError("the mascot did not answer in time")
        return bytes(self._qt.readAll().data())

    def messages(self, timeout_s: float) -> Iterator[dict[str, Any]]:
        """Messages until the mascot closes the connection."""
        while True:
            try:
                message = self._reader.feed(b"")
            except (ValueError, UnicodeDecodeError):
                raise ipc.IpcError("the mascot sent a bad answer") from None
            if message is not None:
                yield message
                continue
            try:
                data = self._recv(timeout_s)
            except OSError as exc:
                raise ipc.IpcError(
                    f"the connection to the mascot failed ({type(exc).__name__})"
                ) from None
            if not data:
                return
            try:
                message = self._reader.feed(data)
            except (ValueError, UnicodeDecodeError):
                raise ipc.IpcError("the mascot sent a bad answer") from None
            if message is not None:
                yield message

    def close(self) -> None:
        with contextlib.suppress(OSError, RuntimeError):
            if self._sock is not None:
                self._sock.close()
            if self._qt is not None:
                self._qt.abort()


def connect(*, start: bool = True, timeout_s: float = START_TIMEOUT_S) -> _Connection:
    """A connection to the mascot, starting one when none runs."""
    name = ipc.server_name()
    return reach_mascot(lambda: _Connection(name), start=start, timeout_s=timeout_s)


def ask(text: str, *, stream: bool, out: Any = None, err: Any = None) -> int:
    """Send the question; with ``stream``, write the reply to ``out`` as it arrives.

    Returns the exit status; raises :class:`ipc.IpcError` when the mascot cannot be reached.
    """
    out = out or sys.stdout
    err = err or sys.stderr
    conn = connect()
    try:
        conn.send({"cmd": "ask", "text": text, "stream": stream})
        messages = conn.messages(timeout_s=20.0 if not stream else EVENT_TIMEOUT_S)
        answer = next(messages, None)
        if answer is None:
            raise ipc.IpcError("the mascot closed the connection without answering")
        if not answer.get("ok"):
            raise ipc.IpcError(f"the mascot refused the question: {answer.get('error', 'unknown')}")
        if not stream:
            return 0
        wrote = False
        for event in messages:
            kind = event.get("event")
            if kind == "delta" and isinstance(event.get("text"), str):
                out.write(event["text"])
                out.flush()
                wrote = True
            elif kind == "restart":
                if wrote:
                    out.write("\n")
                    out.flush()
                wrote = False
            elif kind == "notice":
                print(f"companion ask: {event.get('message', '')}", file=err)
            elif kind == "done":
                if wrote:
                    out.write("\n")
                    out.flush()
                return 0
            elif kind in ("error", "cancelled"):
                if wrote:
                    out.write("\n")
                    out.flush()
                message = event.get("message") or "the reply was stopped"
                print(f"companion ask: {message}", file=err)
                return 1
        raise ipc.IpcError("the mascot closed the connection before the reply ended")
    finally:
        conn.close()


def run_ask(args: argparse.Namespace) -> int:
    try:
        text = _read_text(str(args.text))
    except TextInputError as exc:
        print(f"companion ask: {exc}", file=sys.stderr)
        return 1
    if not text.strip():
        print("companion ask: nothing to ask", file=sys.stderr)
        return 1
    with contextlib.suppress(AttributeError, ValueError):
        sys.stdout.reconfigure(errors="replace")  # type: ignore[union-attr]
    if not ipc._POSIX:
        from PySide6.QtCore import QCoreApplication

        _app = QCoreApplication.instance() or QCoreApplication(["companion-ask"])
    try:
        return ask(text, stream=bool(args.print))
    except ipc.IpcError as exc:
        print(f"companion ask: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
