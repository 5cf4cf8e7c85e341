# SPDX-License-Identifier: GPL-3.0-or-later
"""Whether the mascot can open a window here: one line for the user instead of Qt's abort.

On Linux without ``DISPLAY`` or ``WAYLAND_DISPLAY`` (an SSH session, a service, a container)
Qt's xcb plugin aborts with "could not connect to display", "xcb-cursor0 is needed" and
"Reinstalling the application may fix this problem", none of which is the cause. A platform
that needs no display (``QT_QPA_PLATFORM=offscreen``, ``vnc``, …) is left alone.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

#: Qt platforms that draw without a window system.
HEADLESS_PLATFORMS = frozenset({"offscreen", "minimal", "vnc", "eglfs", "linuxfb", "vkkhrdisplay"})

NO_DISPLAY = (
    "the mascot needs a graphical session, and there is none here (neither DISPLAY nor "
    "WAYLAND_DISPLAY is set). Start it from your desktop; in a terminal without one, "
    "`companion speak TEXT` speaks without a window."
)


def display_problem(
    env: Mapping[str, str] | None = None, platform: str | None = None
) -> str | None:
    """Why no window can open here (one line), or None."""
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    if not platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return None
    qpa = env.get("QT_QPA_PLATFORM", "").split(":", 1)[0].split(";", 1)[0].strip().lower()
    if qpa in HEADLESS_PLATFORMS:
        return None
    wayland = bool(env.get("WAYLAND_DISPLAY")) and qpa in ("", "wayland", "wayland-egl")
    if not env.get("DISPLAY") and not wayland:
        return NO_DISPLAY
    return None
