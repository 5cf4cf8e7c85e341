# SPDX-License-Identifier: GPL-3.0-or-later
"""``companion ask`` against a real QLocalServer: the question arrives, the reply's events
stream back over the open connection and become standard output, one line on failure."""

from __future__ import annotations

import io
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from companion.commands.ask import ask
from companion.replies import ipc


@pytest.fixture
def server(qtbot: QtBot) -> Iterator[ipc.IpcServer]:
    srv = ipc.IpcServer()
    assert srv.listen()
    yield srv
    srv.close()


class _Asker:
    """``ask`` blocks, so it runs beside the event loop that serves it."""

    def __init__(self, text: str, *, stream: bool) -> None:
        self.out = io.StringIO()
        self.err = io.StringIO()
        self.status: Any = None
        self._thread = threading.Thread(target=self._run, args=(text, stream))
        self._thread.start()

    def _run(self, text: str, stream: bool) -> None:
        try:
            self.status = ask(text, stream=stream, out=self.out, err=self.err)
        except Exception as exc:
            self.status = exc

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()


def test_ask_without_print_returns_once_the_reply_started(
    qtbot: QtBot, server: ipc.IpcServer
) -> None:
    with qtbot.wait_signal(server.ask_requested) as blocker:
        asker = _Asker("What is new?", stream=False)
    text, stream = blocker.args
    assert text == "What is new?" and isinstance(stream, ipc.IpcStream)
    qtbot.wait(200)
    assert not asker.done  # waits for the reply to start (or for news of signing out)
    stream.send({"event": "delta", "text": "Plenty"})
    qtbot.wait_until(lambda: asker.done)
    assert asker.status == 0 and asker.out.getvalue() == "" and asker.err.getvalue() == ""
    stream.send({"event": "delta", "text": " is new."})  # the asker is gone: dropped
    stream.close()


SIGNED_OUT_NOTICE = {
    "event": "notice",
    "message": "Signed out: the reply follows once you sign in.",
    "state": "signed_out",
}


@pytest.mark.parametrize("print_text", [True, False])
def test_signed_out_exits_3_after_a_bounded_wait(
    qtbot: QtBot, server: ipc.IpcServer, monkeypatch: pytest.MonkeyPatch, print_text: bool
) -> None:
    monkeypatch.setenv("COMPANION_ASK_SIGN_IN_WAIT", "0.5")
    with qtbot.wait_signal(server.ask_requested) as blocker:
        asker = _Asker("Say hello", stream=print_text)
    stream = blocker.args[1]
    stream.send(SIGNED_OUT_NOTICE)
    qtbot.wait_until(lambda: asker.done, timeout=10000)
    assert asker.status == 3
    lines = asker.err.getvalue().splitlines()
    assert lines[0] == "companion ask: Signed out: the reply follows once you sign in."
    assert "Sign in" in lines[1] and lines[1].endswith("waiting up to 0.5 s")
    assert lines[-1].startswith("companion ask: still signed out after")
    assert "COMPANION_TOKEN" in lines[-1]
    stream.close()


def test_signing_in_within_the_wait_goes_on(
    qtbot: QtBot, server: ipc.IpcServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMPANION_ASK_SIGN_IN_WAIT", "30")
    with qtbot.wait_signal(server.ask_requested) as blocker:
        asker = _Asker("Say hello", stream=True)
    stream = blocker.args[1]
    stream.send(SIGNED_OUT_NOTICE)
    qtbot.wait_until(lambda: "waiting up to 30 s" in asker.err.getvalue())
    stream.send({"event": "restart"})
    stream.send({"event": "delta", "text": "Hello"})
    stream.send({"event": "done"})
    stream.close()
    qtbot.wait_until(lambda: asker.done)
    assert asker.status == 0 and asker.out.getvalue() == "Hello\n"


def test_sign_in_cancelled_is_status_3(qtbot: QtBot, server: ipc.IpcServer) -> None:
    with qtbot.wait_signal(server.ask_requested) as blocker:
        asker = _Asker("Say hello", stream=True)
    stream = blocker.args[1]
    stream.send(SIGNED_OUT_NOTICE)
    stream.send(
        {
            "event": "error",
            "message": "Not signed in. Retry after signing in.",
            "state": "signed_out",
        }
    )
    stream.close()
    qtbot.wait_until(lambda: asker.done)
    assert asker.status == 3
    assert "Not signed in" in asker.err.getvalue() and "Sign in" in asker.err.getvalue()


def test_the_reply_streams_back_to_stdout(qtbot: QtBot, server: ipc.IpcServer) -> None:
    with qtbot.wait_signal(server.ask_requested) as blocker:
        asker = _Asker("Say hello", stream=True)
    text, stream = blocker.args
    assert text == "Say hello" and isinstance(stream, ipc.IpcStream)
    for event in (
        {"event": "delta", "text": "Hel"},
        {"event": "notice", "message": "Signed out: the reply follows once you sign in."},
        {"event": "restart"},
        {"event": "delta", "text": "Hello"},
        {"event": "delta", "text": " there. Ünïcode ok"},
    ):
        stream.send(event)
    qtbot.wait_until(lambda: "Ünïcode" in asker.out.getvalue())
    assert not asker.done  # still listening
    stream.send({"event": "done"})
    stream.close()
    qtbot.wait_until(lambda: asker.done)
    assert asker.status == 0
    assert asker.out.getvalue() == "Hel\nHello there. Ünïcode ok\n"
    assert (
        asker.err.getvalue() == "companion ask: Signed out: the reply follows once you sign in.\n"
    )


@pytest.mark.parametrize(
    ("event", "line"),
    [
        (
            {"event": "error", "message": "The assistant could not be reached."},
            "could not be reached",
        ),
        ({"event": "cancelled"}, "the reply was stopped"),
    ],
)
def test_a_failed_reply_is_one_line_and_status_1(
    qtbot: QtBot, server: ipc.IpcServer, event: dict[str, str], line: str
) -> None:
    with qtbot.wait_signal(server.ask_requested) as blocker:
        asker = _Asker("Say hello", stream=True)
    stream = blocker.args[1]
    stream.send({"event": "delta", "text": "Hello"})
    stream.send(event)
    stream.close()
    qtbot.wait_until(lambda: asker.done)
    assert asker.status == 1
    assert asker.out.getvalue() == "Hello\n"
    assert asker.err.getvalue().count("\n") == 1 and line in asker.err.getvalue()


def test_a_connection_closed_mid_reply_is_an_error(qtbot: QtBot, server: ipc.IpcServer) -> None:
    with qtbot.wait_signal(server.ask_requested) as blocker:
        asker = _Asker("Say hello", stream=True)
    blocker.args[1].close()
    qtbot.wait_until(lambda: asker.done)
    assert isinstance(asker.status, ipc.IpcError)
    assert "before the reply ended" in str(asker.status)


def test_an_asker_that_hangs_up_is_left_alone(qtbot: QtBot, server: ipc.IpcServer) -> None:
    with qtbot.wait_signal(server.ask_requested) as blocker:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(server.name)
        sock.sendall(ipc.encode_message({"cmd": "ask", "text": "Hi", "stream": True}))
    stream = blocker.args[1]
    sock.close()
    qtbot.wait_until(lambda: stream.closed)
    stream.send({"event": "delta", "text": "nobody listens"})  # dropped, no error
    stream.close()


def test_nothing_to_ask_is_refused(qtbot: QtBot, server: ipc.IpcServer) -> None:
    with qtbot.assert_not_emitted(server.ask_requested):
        asker = _Asker("   ", stream=True)
        qtbot.wait_until(lambda: asker.done)
    assert isinstance(asker.status, ipc.IpcError) and "nothing to ask" in str(asker.status)
