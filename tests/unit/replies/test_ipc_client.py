# SPDX-License-Identifier: GPL-3.0-or-later
"""The Qt-free client half of the IPC: what ``companion say`` loads, and its wire format."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
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


@pytest.mark.skipif(sys.platform == "win32", reason="socket folders are POSIX")
def test_no_private_folder_is_one_line_for_say_and_no_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """Every candidate refused (the fallback is a file, the state folder too long for a socket
    path): ``say`` says so in one line, and the mascot has no server to start."""
    base = Path(tempfile.mkdtemp(dir="/tmp"))  # short: pytest's folders are too long for this
    request.addfinalizer(lambda: shutil.rmtree(base, ignore_errors=True))
    (base / f"companion-{os.geteuid()}").write_text("")
    env = {
        **os.environ,
        "TMPDIR": str(base),
        "COMPANION_CONFIG_DIR": str(tmp_path / ("c" * 100)),
    }
    env.pop("XDG_RUNTIME_DIR", None)
    done = subprocess.run(
        [sys.executable, "-m", "companion", "say", "hello"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert len(lines) == 2, lines  # the refused folder, then the command's line
    assert lines[0].endswith("it is not a folder")
    assert lines[1].startswith("companion say: no private folder for the mascot's socket")
    monkeypatch.setattr(tempfile, "tempdir", str(base))
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setenv("COMPANION_CONFIG_DIR", env["COMPANION_CONFIG_DIR"])
    with pytest.raises(ipc.IpcError, match="no private folder"):
        ipc.IpcServer()
