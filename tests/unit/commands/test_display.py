# SPDX-License-Identifier: GPL-3.0-or-later
"""No display: ``companion`` says in one line that it needs a graphical session and exits 1
(a real process with DISPLAY unset), never Qt's xcb abort."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from companion.commands.display import NO_DISPLAY, display_problem

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("env", "platform", "problem"),
    [
        ({}, "linux", True),
        ({"DISPLAY": ":0"}, "linux", False),
        ({"WAYLAND_DISPLAY": "wayland-0"}, "linux", False),
        ({"WAYLAND_DISPLAY": "wayland-0", "QT_QPA_PLATFORM": "xcb"}, "linux", True),
        ({"QT_QPA_PLATFORM": "offscreen"}, "linux", False),
        ({"QT_QPA_PLATFORM": "vnc:size=800x600"}, "linux", False),
        ({}, "darwin", False),
        ({}, "win32", False),
    ],
)
def test_display_problem(env: dict[str, str], platform: str, problem: bool) -> None:
    assert (display_problem(env, platform) == NO_DISPLAY) is problem


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11/Wayland only")
def test_the_mascot_without_a_display_says_so_in_one_line(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
        and not k.startswith("COMPANION_")
    }
    env.update(COMPANION_CONFIG_DIR=str(tmp_path / "cfg"), XDG_RUNTIME_DIR=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-m", "companion"],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=60,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 1, done.stderr
    assert len(lines) == 1 and "needs a graphical session" in lines[0], done.stderr
    assert "xcb" not in done.stderr and "Reinstalling" not in done.stderr
    assert done.stdout == ""
