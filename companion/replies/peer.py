# SPDX-License-Identifier: GPL-3.0-or-later
"""Who is at the other end of a local socket: the peer's uid from the kernel, where it tells.

Both ends of the IPC check it. The mascot drops a connection from another user before it reads a
byte (:class:`companion.replies.ipc.IpcServer`); ``say`` and ``ask`` send no text to a server
run by another user (:mod:`companion.replies.ipc_client`, ``companion/commands/ask.py``).

Linux: ``SO_PEERCRED`` (``struct ucred``: pid, uid, gid as three ints), the credentials the
peer had when it connected or listened. Elsewhere (macOS, the BSDs: ``LOCAL_PEERCRED`` is not
exposed by Python's ``socket`` module; Windows: named pipes, guarded by the pipe's per-user ACL)
the check is skipped: :func:`peer_uid` answers None and the socket's private folder
(:mod:`companion.runtime_dir`) is the guard.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct

_UCRED = struct.Struct("3i")


def peer_uid(fd: int) -> int | None:
    """The uid of the process at the other end of the Unix socket ``fd``, or None where the OS
    does not tell (or ``fd`` is not such a socket). ``fd`` stays open (it is duplicated)."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None or fd < 0:
        return None
    try:
        dup = socket.fromfd(fd, socket.AF_UNIX, socket.SOCK_STREAM)
    except OSError:
        return None
    try:
        raw = dup.getsockopt(socket.SOL_SOCKET, option, _UCRED.size)
    except OSError:
        return None
    finally:
        with contextlib.suppress(OSError):
            dup.close()
    _pid, uid, _gid = _UCRED.unpack(raw)
    return int(uid)


def foreign_uid(fd: int) -> int | None:
    """The peer's uid when it is another user's (not our effective uid), else None (ours, or
    the OS does not tell)."""
    uid = peer_uid(fd)
    if uid is None or uid == os.geteuid():
        return None
    return uid
