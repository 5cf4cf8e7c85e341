# SPDX-License-Identifier: GPL-3.0-or-later
"""The single-instance server and its client, over a real QLocalServer."""

from __future__ import annotations

import logging
import os
import socket
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from companion import runtime_dir
from companion.replies import ipc
from companion.textinput import MAX_TEXT_CHARS, too_long
from tests.support import squatter


@pytest.fixture
def server(qtbot: QtBot) -> Iterator[ipc.IpcServer]:
    srv = ipc.IpcServer()
    assert srv.listen()
    yield srv
    srv.close()


def _send_in_thread(payload: dict[str, Any], name: str) -> tuple[threading.Thread, list[Any]]:
    """The client blocks, so it runs beside the event loop that serves it."""
    out: list[Any] = []

    def run() -> None:
        try:
            out.append(ipc.send_request(payload, name=name))
        except Exception as exc:
            out.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, out


def test_name_follows_the_config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = ipc.server_name()
    assert first == ipc.server_name()
    monkeypatch.setenv("COMPANION_CONFIG_DIR", str(tmp_path / "other"))
    assert ipc.server_name() != first
    assert os.path.basename(ipc.server_name()).startswith("companion-")


def test_say_reaches_the_server(qtbot: QtBot, server: ipc.IpcServer) -> None:
    with qtbot.wait_signal(server.say_requested) as blocker:
        thread, out = _send_in_thread({"cmd": "say", "text": "Hello there"}, server.name)
    qtbot.wait_until(lambda: not thread.is_alive())
    assert blocker.args == ["Hello there"]
    assert out == [{"ok": True, "pid": os.getpid()}]


def test_text_up_to_the_limit_arrives_whole(qtbot: QtBot, server: ipc.IpcServer) -> None:
    text = ("Ünïcode sentence number one. " * 4000)[:MAX_TEXT_CHARS]
    with qtbot.wait_signal(server.say_requested, timeout=20000) as blocker:
        thread, out = _send_in_thread({"cmd": "say", "text": text}, server.name)
    qtbot.wait_until(lambda: not thread.is_alive(), timeout=20000)
    assert blocker.args == [text]
    assert out == [{"ok": True, "pid": os.getpid()}]


@pytest.mark.parametrize("cmd", ["say", "ask"])
def test_text_over_the_limit_is_refused_with_a_line(
    qtbot: QtBot, server: ipc.IpcServer, cmd: str
) -> None:
    """The one limit holds in the mascot too (a client that skips the command line's check)."""
    heard: list[object] = []
    server.say_requested.connect(heard.append)
    server.ask_requested.connect(lambda text, _stream: heard.append(text))
    text = "x" * (MAX_TEXT_CHARS + 1)
    thread, out = _send_in_thread({"cmd": cmd, "text": text, "stream": False}, server.name)
    qtbot.wait_until(lambda: not thread.is_alive(), timeout=20000)
    assert out == [{"ok": False, "error": too_long()}] and heard == []


def test_show_and_bad_requests(qtbot: QtBot, server: ipc.IpcServer) -> None:
    with qtbot.wait_signal(server.show_requested):
        thread, out = _send_in_thread({"cmd": "show"}, server.name)
    qtbot.wait_until(lambda: not thread.is_alive())
    assert out == [{"ok": True, "pid": os.getpid()}]
    for payload, error in (
        ({"cmd": "say", "text": "   "}, "nothing to say"),
        ({"cmd": "dance"}, "unknown command"),
    ):
        with qtbot.assert_not_emitted(server.say_requested):
            thread, out = _send_in_thread(payload, server.name)
            qtbot.wait_until(lambda t=thread: not t.is_alive())  # type: ignore[misc]
        assert out == [{"ok": False, "error": error}]


def test_no_server_is_connection_refused(qtbot: QtBot) -> None:
    with pytest.raises(ConnectionRefusedError):
        ipc.send_request({"cmd": "show"})


def test_second_server_defers_to_the_running_one(qtbot: QtBot, server: ipc.IpcServer) -> None:
    second = ipc.IpcServer()
    assert second.listen() is False
    second.close()
    assert server.listening
    with qtbot.wait_signal(server.say_requested):
        thread, _out = _send_in_thread({"cmd": "say", "text": "still here"}, server.name)
    qtbot.wait_until(lambda: not thread.is_alive())


@pytest.mark.skipif(os.name != "posix", reason="socket files exist on POSIX only")
def test_stale_socket_file_is_replaced(qtbot: QtBot) -> None:
    name = ipc.server_name()
    path = name
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(path)  # bound, never listening: what a crashed mascot leaves behind
    stale.close()
    assert os.path.exists(path)
    srv = ipc.IpcServer()
    try:
        assert srv.listen()
        with qtbot.wait_signal(srv.say_requested):
            thread, out = _send_in_thread({"cmd": "say", "text": "hi"}, name)
        qtbot.wait_until(lambda: not thread.is_alive())
        assert out == [{"ok": True, "pid": os.getpid()}]
    finally:
        srv.close()


@pytest.mark.skipif(os.name != "posix", reason="socket files exist on POSIX only")
def test_the_socket_and_its_lock_are_in_the_private_folder(server: ipc.IpcServer) -> None:
    folder = os.path.dirname(server.name)
    assert folder == str(runtime_dir.private_dir())
    st = os.lstat(folder)
    assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == os.geteuid()
    assert os.path.exists(f"{server.name}.lock")


@pytest.mark.skipif(not hasattr(socket, "SO_PEERCRED"), reason="SO_PEERCRED: Linux")
def test_another_users_connection_is_dropped_unread(
    qtbot: QtBot, caplog: pytest.LogCaptureFixture
) -> None:
    """As on a system that ignores a socket file's mode: ``nobody`` reaches the socket, and its
    ``say`` is dropped before a byte is read (one warning for any number of them)."""
    if not squatter.can_run_as_nobody():
        pytest.skip("needs root and setpriv to run a process as nobody")
    with squatter.shared_dir() as shared:
        srv = ipc.IpcServer(name=str(shared / "sock"))
        try:
            assert srv.listen()
            os.chmod(srv.name, 0o777)
            with qtbot.assert_not_emitted(srv.say_requested):
                for _ in range(2):
                    proc = squatter.run_as_nobody("connect", srv.name)
                    qtbot.wait_until(lambda p=proc: p.poll() is not None, timeout=20000)  # type: ignore[misc]
                    assert squatter.stop(proc) == ["answered 0"]
            warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
            assert warnings == [
                f"[ipc] refused a connection from another user (uid {squatter.NOBODY})"
            ]
            with qtbot.wait_signal(srv.say_requested):  # ours still gets through
                thread, out = _send_in_thread({"cmd": "say", "text": "hi"}, srv.name)
            qtbot.wait_until(lambda: not thread.is_alive())
            assert out == [{"ok": True, "pid": os.getpid()}]
        finally:
            srv.close()
