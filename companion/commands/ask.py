# SPDX-License-Identifier: GPL-3.0-or-later
"""``companion ask TEXT|-``: a question for the assistant, through the running mascot.

The mascot (started when none runs) shows and speaks the reply. With ``--print`` the
reply is written to standard output as it streams in, without control characters or escape
sequences (:func:`companion.terminal_text.printable`; the notices too). Without ``--print``
the command returns once the reply has started (its first text), or after
:data:`START_WAIT_S` with no news (the mascot has the question; a slow model is still
thinking).

Exit status: 0 done (or started, without ``--print``); 1 one line on standard error for a
failure; 3 signed out: the server refused the key, the mascot asks for sign-in, and nobody
signed in within :data:`SIGN_IN_WAIT_S` (``COMPANION_ASK_SIGN_IN_WAIT`` seconds; the mascot
keeps the question and answers it after sign-in); 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from companion.backend.timing import env_seconds
from companion.commands.say import START_TIMEOUT_S, reach_mascot, read_command_text
from companion.replies import ipc, ipc_client
from companion.terminal_text import printable

#: How long ``--print`` waits for the next event (a model may think for a while; a signed-out
#: mascot waits for the user to sign in).
EVENT_TIMEOUT_S = 600.0
#: How long a signed-out ``ask`` waits for the user to sign in before it exits with status 3.
SIGN_IN_WAIT_S = 120.0
ENV_SIGN_IN_WAIT = "COMPANION_ASK_SIGN_IN_WAIT"
#: Without ``--print``: how long to wait for the reply to start before leaving it to the mascot.
START_WAIT_S = 30.0
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_SIGNED_OUT = 3
#: The ``state`` the mascot gives events about sign-in (``ChatController.SIGNED_OUT``).
SIGNED_OUT = "signed_out"
HOW_TO_SIGN_IN = (
    "sign in in the dialog the mascot opened (or right-click the mascot → Sign in), "
    "or set COMPANION_TOKEN to a valid key"
)


class _Timeout(ipc.IpcError):
    """No message from the mascot within the wait."""


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
            try:
                ipc_client.check_server(sock)  # no question goes to another user's socket
            except ipc.IpcError:
                sock.close()
                raise
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
                raise _Timeout("the mascot did not answer in time") from None
        if self._qt.bytesAvailable() == 0 and not self._qt.waitForReadyRead(int(timeout_s * 1000)):
            if self._qt.state() == self._qt.LocalSocketState.UnconnectedState:
                return b""
            raise _Timeout("the mascot did not answer in time")
        return bytes(self._qt.readAll().data())

    def messages(self, timeout_s: float | Callable[[], float]) -> Iterator[dict[str, Any]]:
        """Messages until the mascot closes the connection; ``timeout_s`` (or what it returns,
        asked before each wait) bounds the wait for the next one (:class:`_Timeout`)."""
        while True:
            try:
                message = self._reader.feed(b"")
            except (ValueError, UnicodeDecodeError):
                raise ipc.IpcError("the mascot sent a bad answer") from None
            if message is not None:
                yield message
                continue
            try:
                data = self._recv(timeout_s() if callable(timeout_s) else timeout_s)
            except _Timeout:
                raise
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


class _Follower:
    """Follows one question's events: writes the reply (``--print``), notices, the exit status.

    Attributes:
        status: the exit status once decided, else None.
    """

    def __init__(
        self, *, print_text: bool, out: Any, err: Any, now: Callable[[], float] = time.monotonic
    ) -> None:
        self.print_text = print_text
        self.out = out
        self.err = err
        self.now = now
        self.wrote = False
        self.started = now()
        self.signed_out_at: float | None = None
        self.sign_in_wait = env_seconds(ENV_SIGN_IN_WAIT) or SIGN_IN_WAIT_S
        self.status: int | None = None

    def _line(self, text: str) -> None:
        print(f"companion ask: {printable(text, one_line=True)}", file=self.err, flush=True)

    def _end_text(self) -> None:
        if self.wrote:
            self.out.write("\n")
            self.out.flush()
        self.wrote = False

    def timeout(self) -> float:
        """Seconds to wait for the next event."""
        if self.signed_out_at is not None:
            return max(0.01, self.signed_out_at + self.sign_in_wait - self.now())
        if not self.print_text:
            return max(0.01, self.started + START_WAIT_S - self.now())
        return EVENT_TIMEOUT_S

    def timed_out(self) -> int:
        if self.signed_out_at is not None:
            self._end_text()
            self._line(f"still signed out after {self.sign_in_wait:g} s: {HOW_TO_SIGN_IN}")
            return EXIT_SIGNED_OUT
        if not self.print_text:
            return EXIT_OK  # the mascot has the question; the reply is on its way
        raise ipc.IpcError("the mascot did not answer in time")

    def handle(self, event: dict[str, Any]) -> int | None:
        """One event; the exit status when it ends the command, else None."""
        kind = event.get("event")
        signed_out = event.get("state") == SIGNED_OUT
        if kind == "delta" and isinstance(event.get("text"), str):
            self.signed_out_at = None
            if not self.print_text:
                return EXIT_OK  # the reply has started
            self.out.write(printable(event["text"]))  # no escape sequence reaches the terminal
            self.out.flush()
            self.wrote = True
        elif kind == "restart":
            self.signed_out_at = None  # signed in again: the reply starts over
            self._end_text()
        elif kind == "notice":
            self._line(str(event.get("message", "")))
            if signed_out:
                self.signed_out_at = self.now()
                self._line(f"{HOW_TO_SIGN_IN}; waiting up to {self.sign_in_wait:g} s")
        elif kind == "done":
            self._end_text()
            return EXIT_OK
        elif kind in ("error", "cancelled"):
            self._end_text()
            self._line(str(event.get("message") or "the reply was stopped"))
            if signed_out:
                self._line(HOW_TO_SIGN_IN)
                return EXIT_SIGNED_OUT
            return EXIT_FAILED
        return None


def ask(text: str, *, stream: bool, out: Any = None, err: Any = None) -> int:
    """Send the question and follow its reply (written to ``out`` with ``stream``).

    Returns the exit status; raises :class:`ipc.IpcError` when the mascot cannot be reached.
    """
    follower = _Follower(print_text=stream, out=out or sys.stdout, err=err or sys.stderr)
    conn = connect()
    try:
        conn.send({"cmd": "ask", "text": text, "stream": True})
        messages = conn.messages(timeout_s=follower.timeout)
        try:
            answer = next(messages, None)
        except _Timeout:
            raise ipc.IpcError("the mascot did not take the question in time") from None
        if answer is None:
            raise ipc.IpcError("the mascot closed the connection without answering")
        if not answer.get("ok"):
            raise ipc.IpcError(f"the mascot refused the question: {answer.get('error', 'unknown')}")
        try:
            for event in messages:
                status = follower.handle(event)
                if status is not None:
                    return status
        except _Timeout:
            return follower.timed_out()
        if follower.signed_out_at is not None:
            return follower.timed_out()
        if not stream:
            return EXIT_OK  # the mascot took it and hung up (an older mascot)
        raise ipc.IpcError("the mascot closed the connection before the reply ended")
    finally:
        conn.close()


def run_ask(args: argparse.Namespace) -> int:
    text = read_command_text("ask", str(args.text), "nothing to ask")
    if text is None:
        return 1
    with contextlib.suppress(AttributeError, ValueError):
        sys.stdout.reconfigure(errors="replace")  # type: ignore[union-attr]
    if not ipc._POSIX:
        from PySide6.QtCore import QCoreApplication

        _app = QCoreApplication.instance() or QCoreApplication(["companion-ask"])
    try:
        return ask(text, stream=bool(args.print))
    except ipc.IpcError as exc:
        print(f"companion ask: {printable(str(exc), one_line=True)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
