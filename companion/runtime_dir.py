# SPDX-License-Identifier: GPL-3.0-or-later
"""The per-user private folder for the mascot's socket and its lock file: a place no other
local user can create, replace or reach.

POSIX (Linux, the BSDs, macOS), the first candidate that is *ours* wins:

1. ``$XDG_RUNTIME_DIR`` as it is (the login manager's ``/run/user/<uid>``);
2. on macOS, the per-user temp dir as it is (:func:`tempfile.gettempdir`, ``/var/folders/…/T``,
   the user's own with mode 0700);
3. ``companion-<uid>`` in the temp dir (``/tmp``, ``$TMPDIR``), created with mode 0700;
4. ``run`` in the state folder (:func:`companion.paths.state_dir`), created with mode 0700.

A candidate too long for a socket path (``sun_path``: 104 bytes on macOS) is skipped.

*Ours* is checked with ``lstat`` (a symlink is never followed): a directory, owned by our
effective uid, with no group or other access. A candidate that fails (another user created
``/tmp/companion-<uid>`` first, a symlink planted in its place, a world-readable
``XDG_RUNTIME_DIR``) is never used, never chmod-ed or removed: one warning per process names
it, and the next candidate is tried. The server and the client call the same function, so they
agree on the folder; when none is private, :class:`RuntimeDirError` (one line).

Windows has no socket files: the mascot listens on a named pipe created with
``QLocalServer.UserAccessOption`` (a per-user ACL), and its lock file is in the temp dir, which is
per user there (``%LOCALAPPDATA%\\Temp``). This module is not used on Windows.
"""

from __future__ import annotations

import logging
import os
import stat
import sys
import tempfile
from pathlib import Path

from companion import paths

log = logging.getLogger("companion.ipc")

#: Longest socket path used (``sun_path`` holds 104 bytes on macOS, 108 on Linux, with its NUL).
MAX_SOCKET_PATH = 100

_warned: set[str] = set()


class RuntimeDirError(OSError):
    """No private folder for the socket; the message is one line for the terminal."""


def why_not_private(path: Path) -> str | None:
    """None when ``path`` is a private folder of ours, else what is wrong with it (one phrase).

    Checked without following a symlink: a directory, owned by our effective uid, no access for
    group or others.
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return "it does not exist"
    except OSError as exc:
        return f"it cannot be checked ({type(exc).__name__})"
    if stat.S_ISLNK(st.st_mode):
        return "it is a symbolic link"
    if not stat.S_ISDIR(st.st_mode):
        return "it is not a folder"
    if st.st_uid != os.geteuid():
        return f"it belongs to another user (uid {st.st_uid})"
    if st.st_mode & 0o077:
        return f"others may use it (mode {stat.S_IMODE(st.st_mode):o})"
    return None


def _warn_once(path: Path, problem: str) -> None:
    key = f"{path}: {problem}"
    if key in _warned:
        return
    _warned.add(key)
    log.warning("[ipc] not using %s for the mascot's socket: %s", path, problem)


def _make_private(path: Path) -> None:
    """Creates ``path`` with mode 0700 (the umask cannot widen it); an existing one is left as
    it is, for :func:`why_not_private` to judge."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError:
        pass  # judged next: "it does not exist" or what is wrong with it


def candidates() -> list[tuple[Path, bool]]:
    """The folders to try, in order, each with whether we create it (POSIX)."""
    found: list[tuple[Path, bool]] = []
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and os.path.isabs(xdg):
        found.append((Path(xdg), False))
    if sys.platform == "darwin":  # /var/folders/…/T: the user's own, mode 0700, as it is
        found.append((Path(tempfile.gettempdir()), False))
    found.append((Path(tempfile.gettempdir()) / f"companion-{os.geteuid()}", True))
    found.append((paths.state_dir() / "run", True))
    return found


def private_dir(room: int = 0) -> Path:
    """The first private folder of ours with ``room`` bytes to spare below
    :data:`MAX_SOCKET_PATH` (for the file name and its separator).

    Raises :class:`RuntimeDirError` when none is private (each refused one warned about once).
    """
    for path, create in candidates():
        if len(os.fsencode(path)) + room > MAX_SOCKET_PATH:
            continue
        if create:
            _make_private(path)
        problem = why_not_private(path)
        if problem is None:
            return path
        _warn_once(path, problem)
    raise RuntimeDirError(
        "no private folder for the mascot's socket (set XDG_RUNTIME_DIR to a folder of yours "
        "with mode 700)"
    )
