# SPDX-License-Identifier: GPL-3.0-or-later
"""The client side of the single-instance IPC (``companion/replies/ipc.py``), without Qt on POSIX.

``companion say`` only needs to find the mascot's socket and send it one message: this module
does that with a plain Python socket, so the command starts without loading PySide6 (Qt's
libraries and bindings took about 250 ms of a ~330 ms ``say`` start; see
``benchmarks/first_sound.py``). On Windows the mascot listens on a Qt named pipe, and the Qt client
(``ipc_qt_client.py``) is imported when it is needed. Wire format: ``ipc_wire.py``.

The socket is in the user's private folder (:mod:`companion.runtime_dir`), and no text is sent
before the kernel says the server is ours (:func:`check_server`, :mod:`companion.replies.peer`).
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import os
import socket
import sys
from typing import Any

from companion import paths, runtime_dir
from companion.replies import peer
from companion.replies.ipc_wire import MAX_MESSAGE as MAX_MESSAGE
from companion.replies.ipc_wire import IpcError as IpcError
from companion.replies.ipc_wire import _Reader, encode_message

_POSIX = sys.platform != "win32"


def socket_file_name() -> str:
    """``companion-<user>-<hash>``: per user and per config dir (the pipe's name on Windows)."""
    try:
        user = getpass.getuser()
    except Exception:  # no user name in the environment (containers)
        user = "user"
    digest = hashlib.sha256(str(paths.config_dir().resolve()).encode()).hexdigest()[:12]
    safe_user = "".join(c for c in user if c.isalnum())[:16] or "user"
    return f"companion-{safe_user}-{digest}"


def server_name() -> str:
    """Per user and per config dir (:func:`socket_file_name`); on POSIX a socket path in the
    user's private folder (:func:`companion.runtime_dir.private_dir`, never a world-writable
    one). Raises :class:`IpcError` when there is no private folder."""
    name = socket_file_name()
    if not _POSIX:
        return name
    try:
        base = runtime_dir.private_dir(room=len(name) + 1)  # the lock's path is not bounded
    except runtime_dir.RuntimeDirError as exc:
        raise IpcError(str(exc)) from None
    return os.path.join(base, name)


def server_answers(name: str, timeout_ms: int = 500) -> bool:
    """True when a server accepts a connection on ``name``."""
    if _POSIX:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(timeout_ms / 1000)
                sock.connect(name)
                return peer.foreign_uid(sock.fileno()) is None  # another user's is not ours
        except OSError:
            return False
    from companion.replies.ipc_qt_client import qt_server_answers

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
    from companion.replies.ipc_qt_client import send_qt

    return send_qt(payload, name, timeout_ms)


def check_server(sock: socket.socket) -> None:
    """Raises :class:`IpcError` when the server at the other end of ``sock`` is another user's
    (where the OS tells: :mod:`companion.replies.peer`): no text goes to a squatter."""
    uid = peer.foreign_uid(sock.fileno())
    if uid is not None:
        raise IpcError(f"the mascot's socket is held by another user (uid {uid}); nothing sent")


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
        check_server(sock)
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
