# SPDX-License-Identifier: GPL-3.0-or-later
"""The sign-in listener over real sockets: each connection in a thread of its own with a head
deadline, a bounded number at once, malformed requests answered and forgotten."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from companion.backend import loopback
from companion.backend.loopback import LoopbackListener, page_bytes, read_head
from companion.backend.signin_types import SignInError
from companion.tasks import CancelToken


@pytest.fixture
def listener() -> Iterator[LoopbackListener]:
    server = LoopbackListener()
    yield server
    server.close()


def _waiting(listener: LoopbackListener, cancel: CancelToken) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []

    def run() -> None:
        try:
            out.append(listener.wait(cancel, timeout_s=20))
        except BaseException as exc:
            out.append(exc)

    thread = threading.Thread(target=run, name="test-listener")
    thread.start()
    return thread, out


def _raw(listener: LoopbackListener, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", listener.port), timeout=10) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(4096):
            chunks.append(chunk)
    return b"".join(chunks)


def test_read_head_stops_at_the_blank_line_the_deadline_or_the_limit() -> None:
    a, b = socket.socketpair()
    with a, b:
        b.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nrest")
        assert read_head(a, time.monotonic() + 5).startswith(b"GET / HTTP/1.1")  # type: ignore[union-attr]
        b.sendall(b"GET / HTTP/1.1\r\n")  # never finished: the deadline (already past)
        assert read_head(a, time.monotonic()) is None
        b.sendall(b"X" * (loopback.HEAD_LIMIT + 8192))
        assert read_head(a, time.monotonic() + 5) is None
        b.close()
        assert read_head(a, time.monotonic() + 5) is None  # hung up


def test_page_bytes_is_a_whole_answer() -> None:
    raw = page_bytes(404, loopback.PAGE_NOT_FOUND)
    head, body = raw.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 404 Not Found\r\n") and b"Connection: close" in head
    assert f"Content-Length: {len(body)}".encode() in head and b"Nothing here." in body


def test_malformed_and_other_requests_are_answered_and_waiting_goes_on(
    listener: LoopbackListener,
) -> None:
    cancel = CancelToken()
    thread, out = _waiting(listener, cancel)
    assert _raw(listener, b"garbage\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    assert _raw(listener, b"POST /callback HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 405 ")
    assert _raw(listener, b"GET /elsewhere HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 404 ")
    query = f"token=tok-1&state={listener.state}"
    page = requests.get(f"{listener.redirect_uri}?{query}", timeout=10)
    thread.join(10)
    assert page.status_code == 200 and out == ["tok-1"]


def test_a_slow_head_is_closed_at_its_deadline(
    listener: LoopbackListener, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loopback, "HEAD_DEADLINE_S", 0.3)
    cancel = CancelToken()
    thread, out = _waiting(listener, cancel)
    with socket.create_connection(("127.0.0.1", listener.port), timeout=10) as sock:
        sock.sendall(b"GET /callback")
        assert sock.recv(1024) == b""  # closed, nothing answered
    cancel.cancel()
    thread.join(10)
    assert isinstance(out[0], SignInError) and out[0].kind == "cancelled"
    assert listener.served == 1


def test_connections_past_the_limit_wait_in_the_queue(
    listener: LoopbackListener, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loopback, "HEAD_DEADLINE_S", 0.5)
    cancel = CancelToken()
    thread, out = _waiting(listener, cancel)
    idle = [
        socket.create_connection(("127.0.0.1", listener.port), timeout=10)
        for _ in range(loopback.MAX_CONNECTIONS)
    ]
    try:
        query = f"token=tok-2&state={listener.state}"
        page = requests.get(f"{listener.redirect_uri}?{query}", timeout=10)  # queued, then served
        thread.join(10)
        assert page.status_code == 200 and out == ["tok-2"]
        assert all(sock.recv(1024) == b"" for sock in idle)
    finally:
        for sock in idle:
            sock.close()


def test_close_from_another_thread_ends_the_wait(listener: LoopbackListener) -> None:
    thread, out = _waiting(listener, CancelToken())
    closer: Callable[[], None] = listener.close
    threading.Timer(0.2, closer).start()
    thread.join(10)
    assert not thread.is_alive()
    assert isinstance(out[0], SignInError) and out[0].kind == "cancelled"
