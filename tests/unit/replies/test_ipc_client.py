# SPDX-License-Identifier: GPL-3.0-or-later
"""The Qt-free client half of the IPC: what ``companion say`` loads, and its wire format."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from companion.commands import ask
from companion.replies import ipc, ipc_client
from tests.support import squatter


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


@pytest.mark.skipif(not hasattr(socket, "SO_PEERCRED"), reason="SO_PEERCRED: Linux")
def test_no_text_goes_to_another_users_server() -> None:
    """``nobody`` listening where the client looks: ``say`` and ``ask`` send it nothing."""
    if not squatter.can_run_as_nobody():
        pytest.skip("needs root and setpriv to run a process as nobody")
    with squatter.shared_dir() as shared:
        name = str(shared / "squat" / "sock")
        proc = squatter.run_as_nobody("listen", name)
        try:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
            assert not ipc_client.server_answers(name)
            with pytest.raises(ipc_client.IpcError, match=r"another user \(uid 65534\)"):
                ipc_client.send_request({"cmd": "say", "text": "secret words"}, name=name)
            with pytest.raises(ipc_client.IpcError, match="another user"):
                ask._Connection(name)
            # Three connections (asked, say, ask), each closed before a byte was sent.
            lines = [proc.stdout.readline().strip() for _ in range(3)]
        finally:
            squatter.stop(proc)
    assert lines == [f"received {name} 0"] * 3
