# SPDX-License-Identifier: GPL-3.0-or-later
"""The Qt-free client half of the IPC: what ``companion say`` loads, and its wire format."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from companion.replies import ipc, ipc_client


def test_say_starts_without_qt(tmp_path: Path) -> None:
    """``companion say`` delivers through a plain socket: PySide6 is never imported (POSIX)."""
    code = textwrap.dedent(
        """
        import subprocess, sys
        from companion.commands import say
        # No mascot runs under this config dir; the one "started" exits at once, so the
        # command fails fast (exit 1, one line) and only what it imported matters.
        say.start_mascot = lambda: subprocess.Popen([sys.executable, "-c", "pass"])
        from companion.cli import main
        print("EXIT:%d" % main(["say", "hello"]))
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("PySide6", "shiboken6"))
        print("QT:" + ",".join(loaded))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "COMPANION_CONFIG_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "EXIT:1" in done.stdout, done.stderr
    assert "the mascot exited at start" in done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith("QT:"))
    if sys.platform == "win32":
        pytest.skip("Windows uses Qt's named pipes")
    assert line == "QT:"


def test_the_server_module_re_exports_the_client() -> None:
    assert ipc.send_request is ipc_client.send_request
    assert ipc.IpcError is ipc_client.IpcError
    assert ipc.server_name is ipc_client.server_name
