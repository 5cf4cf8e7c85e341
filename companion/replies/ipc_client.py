# SPDX-License-Identifier: GPL-3.0-or-later
"""The client side of the single-instance IPC (``companion/replies/ipc.py``), without Qt on POSIX.

``companion say`` only needs to find the mascot's socket and send it one message: this module
does that with a plain Python socket, so the command starts without loading PySide6 (Qt's
libraries and bindings took about 250 ms of a ~330 ms ``say`` start; see
``benchmarks/first_sound.py``). On Windows the mascot listens on a Qt named pipe, and the Qt client
in ``ipc.py`` is imported when it is needed. Wire format: see ``ipc.py``.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import json
import os
import socket
import struct
import sys
import tempfile
from typing import Any

from companion import paths

#: Largest request accepted (a long pasted text is fine; a runaway client is not).
MAX_MESSAGE = 8 * 1024 * 1024
_HEADER = struct.Struct(">I")
_POSIX = sys.platform != "win32"


class IpcError(Exception):
    """``say`` could not deliver; the message is one line for the terminal."""


def server_name() -> str:
    """Per user and per config dir: ``companion-<user>-<hash>`` (a socket path on POSIX)."""
    try:
        user = getpass.getuser()
    except Exception:  # no user name in the environment (containers)
        user = "user"
    digest = hashlib.sha256(str(paths.config_dir().resolve()).encode()).hexdigest()[:12]
    safe_user = "".join(c for c in user if c.isalnum())[:16] or "user"
    name = f"companion-{safe_user}-{digest}"
    if not _POSIX:
        return name
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    path = os.path.join(base, name)
    if len(path.encode()) > 100:  # sun_path holds 108 bytes; fall back to a short dir
        path = os.path.join("/tmp", name)
    return path


def encode_message(payload: dict[str, Any]) -> bytes:
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    return _HEADER.pack(len(body)) + body


class _Reader:
    """Collects one length-prefixed message from a socket's bytes."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def feed(self, data: bytes) -> dict[str, Any] | None:
        self.buffer += data
        if len(self.buffer) < _HEADER.size:
            return None
        (length,) = _HEADER.unpack_from(self.buffer)
        if length > MAX_MESSAGE:
            raise ValueError("message too large")
        if len(self.buffer) < _HEADER.size + length:
            return None
        body = bytes(self.buffer[_HEADER.size : _HEADER.size + length])
        del self.buffer[: _HEADER.size + length]
        data_obj = json.loads(body.decode("utf-8"))
        if not isinstance(data_obj, dict):
            raise ValueError("message is not an object")
        return data_obj


def server_answers(name: str, timeout_ms: int = 500) -> bool:
    """True when a server accepts a connection on ``name``."""
    if _POSIX:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(timeout_ms / 1000)
                sock.connect(name)
            return True
        except OSError:
            return False
    from companion.replies.ipc import qt_server_answers

    return qt_server_answers(name, timeout_ms)


def send_request(
    payload: dict[str, Any], *, name: str | None = None, timeout_ms: int = 5000
) -> dict[str, Any]:
    """Send one request and wait for the answer (blocking; for the ``say`` process).

    Raises :class:`ConnectionRefusedError` when no mascot listens, :class:`IpcError` otherwise.
    """
    name = name or server_name()
    if _POSIX:
        return _send_posix(payload, name, timeout_ms / 1000)
    from companion.replies.ipc import _send_qt

    return _send_qt(payload, name, timeout_ms)


def _send_posix(payload: dict[str, Any], name: str, timeout_s: float) -> dict[str, Any]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(min(timeout_s, 1.0))
        try:
            sock.connect(name)
        except (FileNotFoundError, ConnectionRefusedError):
            raise ConnectionRefusedError("no mascot is running") from None
        except OSError as exc:
            raise IpcError(f"cannot reach the mascot ({type(exc).__name__})") from None
        sock.settimeout(timeout_s)
        reader = _Reader()
        try:
            sock.sendall(encode_message(payload))
            while True:
                data = sock.recv(65536)
                if not data:
                    raise IpcError("the mascot closed the connection without answering")
                answer = reader.feed(data)
                if answer is not None:
                    return answer
        except TimeoutError:
            raise IpcError("the mascot did not answer in time") from None
        except (ValueError, UnicodeDecodeError):
            raise IpcError("the mascot sent a bad answer") from None
        except OSError as exc:
            raise IpcError(f"the connection to the mascot failed ({type(exc).__name__})") from None
    finally:
        with contextlib.suppress(OSError):
            sock.close()
