# SPDX-License-Identifier: GPL-3.0-or-later
"""PyInstaller runtime hook: runs in the frozen app before ``companion`` is imported.

1. No console, no stdio. A windowed app (Windows ``.exe``, macOS ``.app``, or any launch with
   file descriptor 2 closed) starts with ``sys.stderr``/``sys.stdout`` set to ``None``;
   anything that then writes to them unguarded raises (Sentry's atexit callback calls
   ``sys.stderr.write``, ``faulthandler.enable()`` needs a file). Give them a real file:
   stderr goes to ``stderr.log`` in the user state folder (last run only), stdout to the null
   device. A console launch keeps its terminal.
2. The bundled PortAudio first (Linux). sounddevice finds PortAudio with
   ``ctypes.util.find_library("portaudio")``, which on Linux only consults the system's
   linker cache: the copy in the bundle would never be used, and a machine without
   libportaudio2 would play nothing. Point the lookup at the bundled library.
3. Other programs get the system's libraries (Linux). The bootloader points
   ``LD_LIBRARY_PATH`` at the bundle (keeping the caller's value in ``LD_LIBRARY_PATH_ORIG``);
   this process has read it already, but a program started from here (the browser for
   sign-in, ``xdg-open``) would load the bundle's libraries and can crash. Put the caller's
   value back, as PyInstaller's documentation advises ("Runtime information": "LD_LIBRARY_PATH
   / LIBPATH considerations"). The frozen program started again (``companion say`` starting
   the mascot) sets it up itself.
"""

from __future__ import annotations

import os
import sys
from typing import IO


def _state_dir() -> str:
    """``companion.paths.state_dir()`` without importing companion (it is not loaded yet)."""
    override = os.environ.get("COMPANION_CONFIG_DIR")
    if override:
        return os.path.join(override, "state")
    import platformdirs

    return str(platformdirs.user_state_dir("companion", appauthor=False))


def _open_stderr_log() -> IO[str]:
    try:
        folder = _state_dir()
        os.makedirs(folder, exist_ok=True)
        return open(
            os.path.join(folder, "stderr.log"), "w", encoding="utf-8", errors="replace", buffering=1
        )
    except Exception:  # read-only home, odd platformdirs: still never None
        return open(os.devnull, "w", encoding="utf-8")


def _guard_stdio() -> None:
    if sys.stdout is None:
        sys.stdout = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
    if sys.stderr is None:
        sys.stderr = _open_stderr_log()


def _prefer_bundled_portaudio() -> None:
    if not sys.platform.startswith("linux"):
        return
    bundle: str | None = getattr(sys, "_MEIPASS", None)
    if not bundle:
        return
    try:
        names = sorted(n for n in os.listdir(bundle) if n.startswith("libportaudio.so"))
    except OSError:
        return
    if not names:
        return
    bundled: str = os.path.join(bundle, names[0])

    import ctypes.util

    system_find_library = ctypes.util.find_library

    def find_library(name: str) -> str | None:
        if name == "portaudio":
            return bundled
        return system_find_library(name)

    ctypes.util.find_library = find_library


def _restore_library_path_for_children() -> None:
    if not sys.platform.startswith("linux") or not getattr(sys, "frozen", False):
        return
    original = os.environ.pop("LD_LIBRARY_PATH_ORIG", None)
    if original is not None:
        os.environ["LD_LIBRARY_PATH"] = original
    else:
        os.environ.pop("LD_LIBRARY_PATH", None)


_guard_stdio()
_prefer_bundled_portaudio()
_restore_library_path_for_children()
