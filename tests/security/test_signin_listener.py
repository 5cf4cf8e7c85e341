# SPDX-License-Identifier: GPL-3.0-or-later
"""The sign-in listener against local clients that drip bytes (issue 17).

Anything on this machine can connect to the loopback listener. A client that sends its
request one byte at a time, and never finishes, must not hold up the browser's real redirect
or Cancel; a crowd of them delays the real redirect by at most one head deadline
(:data:`~companion.backend.loopback.HEAD_DEADLINE_S`), and each is closed at its deadline.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from companion.backend import loopback
from companion.backend.signin import BrowserSignIn
from companion.backend.signin_types import SignInError, SignInResult
from companion.tasks import CancelToken
from tests.security.conftest import RssWatch, record
from tests.support.reference_auth import ReferenceAuth
from tests.support.reference_backend import ReferenceBackend


class Dripper:
    """A client that sends a request head one byte every ``interval`` seconds, forever."""

    def __init__(self, port: int, interval: float = 0.2) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.closed_by_peer = threading.Event()
        self._stop = threading.Event()
        self._interval = interval
        self._thread = threading.Thread(target=self._run, daemon=True, name="dripper")
        self._thread.start()

    def _run(self) -> None:
        data = b"GET /callback?state=x&token=y HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + b"a" * 999
        for i in range(len(data)):
            if self._stop.wait(self._interval):
                return
            try:
                self.sock.sendall(data[i : i + 1])
            except OSError:
                self.closed_by_peer.set()
                return

    def peer_closed(self, timeout: float) -> bool:
        """True once the listener closed this connection (a read sees EOF or a reset)."""
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1024) == b""  # the listener never answers a dripper
        except TimeoutError:
            return False
        except OSError:
            return True

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


@pytest.fixture
def backend() -> Iterator[ReferenceBackend]:
    with ReferenceBackend() as server:
        ReferenceAuth.install(server)
        yield server


def _in_thread(fn: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []

    def run() -> None:
        try:
            out.append(fn())
        except BaseException as exc:
            out.append(exc)

    thread = threading.Thread(target=run, name="test-sign-in")
    thread.start()
    return thread, out


@contextlib.contextmanager
def drippers(port: int, count: int) -> Iterator[list[Dripper]]:
    clients = [Dripper(port) for _ in range(count)]
    try:
        yield clients
    finally:
        for client in clients:
            client.stop()


def _browser(flow: BrowserSignIn) -> requests.Response:
    """The real browser: the backend's sign-in page, then its redirect to the listener."""
    return requests.get(flow.url, timeout=20)


@pytest.mark.parametrize("count", [1, loopback.MAX_CONNECTIONS + 4])
def test_drippers_do_not_block_the_real_redirect(backend: ReferenceBackend, count: int) -> None:
    flow = BrowserSignIn(base_url=backend.url)
    thread, out = _in_thread(lambda: flow.finish(CancelToken(), timeout_s=25))
    with RssWatch() as rss, drippers(flow.listener.port, count) as clients:
        time.sleep(0.5)  # the drippers are connected and dripping first
        started = time.monotonic()
        page = _browser(flow)
        thread.join(25)
        took = time.monotonic() - started
        closed = sum(c.peer_closed(loopback.HEAD_DEADLINE_S + 3) for c in clients)
    assert page.status_code == 200 and "Signed in to Companion" in page.text
    assert isinstance(out[0], SignInResult)
    # One dripper takes no slot the browser needs; a crowd of them delays it by at most one
    # head deadline (the browser's connection waits in the listen queue, it is not dropped).
    bound = 2.0 if count < loopback.MAX_CONNECTIONS else loopback.HEAD_DEADLINE_S + 3.0
    assert took < bound, f"the real redirect took {took:.1f} s behind {count} drippers"
    assert closed == count  # each dripper was closed (at its deadline, or on close)
    record(
        f"sign-in listener: {count} dripping client(s), then the real redirect",
        f"signed in after {took:.2f} s, drippers closed",
        took,
        rss.growth_mb,
        growth=True,
    )


@pytest.mark.parametrize("count", [1, loopback.MAX_CONNECTIONS + 4])
def test_drippers_do_not_block_cancel(backend: ReferenceBackend, count: int) -> None:
    flow = BrowserSignIn(base_url=backend.url)
    cancel = CancelToken()
    thread, out = _in_thread(lambda: flow.finish(cancel, timeout_s=25))
    with RssWatch() as rss, drippers(flow.listener.port, count) as clients:
        time.sleep(0.5)
        started = time.monotonic()
        cancel.cancel()
        thread.join(10)
        took = time.monotonic() - started
        closed = sum(c.peer_closed(3.0) for c in clients[: loopback.MAX_CONNECTIONS])
    assert not thread.is_alive()
    assert isinstance(out[0], SignInError) and out[0].kind == "cancelled"
    assert took < 1.0, f"Cancel took {took:.2f} s behind {count} drippers"
    assert closed == min(count, loopback.MAX_CONNECTIONS)  # the served ones were cut at once
    with pytest.raises(requests.ConnectionError):  # the listener is gone
        requests.get(flow.listener.redirect_uri, timeout=2)
    record(
        f"sign-in listener: {count} dripping client(s), then Cancel",
        f"cancelled after {took:.2f} s, listener closed",
        took,
        rss.growth_mb,
        growth=True,
    )
