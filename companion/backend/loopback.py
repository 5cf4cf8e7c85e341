# SPDX-License-Identifier: GPL-3.0-or-later
"""The one-shot loopback listener that receives the browser's sign-in redirect.

It listens on ``127.0.0.1`` (a free port) at ``/callback`` and waits for
``?token=…&state=…``. An answer whose ``state`` is not ours is refused (a page saying so,
and ``on_refused``) and the listener keeps waiting for the real one; ``error=…`` with our
state means the user cancelled in the browser. Nothing is logged of the request line: it
carries the one-time token.

Anything on this machine can connect to the port, so no client may hold up another or
Cancel. Each connection is served by a thread of its own with a deadline: its request line
and headers must arrive within :data:`HEAD_DEADLINE_S` and fit in :data:`HEAD_LIMIT`, else
it is closed (nothing of it is kept). At most :data:`MAX_CONNECTIONS` are served at once;
more wait in the listen queue (neither accepted nor dropped) until one ends, which takes
at most the deadline. The thread in :meth:`LoopbackListener.wait` only accepts and checks
Cancel and the timeout every :data:`POLL_S`: a client that drips bytes, or a crowd of them,
never delays the real redirect beyond those bounds, nor Cancel beyond ``POLL_S``.
"""

from __future__ import annotations

import contextlib
import html
import logging
import secrets
import socket
import threading
import time
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

from companion.backend.signin_types import SignInError, SignInFailure
from companion.tasks import CancelToken

log = logging.getLogger("companion.auth")

CALLBACK_PATH = "/callback"
#: How long the browser may take before the listener gives up.
BROWSER_TIMEOUT_S = 300.0
#: How often the listener checks for Cancel.
POLL_S = 0.1
#: A connection's request line and headers must arrive within this (seconds).
HEAD_DEADLINE_S = 5.0
#: ... and fit in this many bytes (a browser's are well under 8 KiB).
HEAD_LIMIT = 16 * 1024
#: Connections served at once; more wait in the listen queue.
MAX_CONNECTIONS = 16
#: How long writing a page may take (it is under 1 KiB: the socket buffer takes it).
SEND_TIMEOUT_S = 2.0

_PAGE = (
    "<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title></head>"
    "<body style='font-family:sans-serif;max-width:32em;margin:4em auto'>"
    "<h1>{title}</h1><p>{text}</p></body></html>"
)
PAGE_DONE = ("Signed in to Companion", "You can close this tab and go back to Companion.")
PAGE_WRONG_STATE = (
    "Sign-in refused",
    "This answer does not belong to the sign-in Companion started, so it was refused. "
    "Go back to Companion and start the sign-in again.",
)
PAGE_CANCELLED = ("Sign-in cancelled", "Companion was not signed in. You can close this tab.")
PAGE_NO_TOKEN = ("Sign-in failed", "The server's answer had no sign-in token. Try again.")
PAGE_NOT_FOUND = ("Not found", "Nothing here.")
PAGE_BAD_REQUEST = ("Bad request", "This was not a sign-in answer.")
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}


def read_head(conn: socket.socket, deadline: float) -> bytes | None:
    """The request line and headers (up to the blank line), or None when they did not all
    arrive by ``deadline`` (``time.monotonic()``), grew past :data:`HEAD_LIMIT`, or the
    client hung up."""
    buf = b""
    while b"\r\n\r\n" not in buf and b"\n\n" not in buf:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or len(buf) > HEAD_LIMIT:
            return None
        conn.settimeout(remaining)
        try:
            data = conn.recv(4096)
        except OSError:  # the deadline (a timeout), a reset, or close() shutting it down
            return None
        if not data:
            return None
        buf += data
    return buf


def page_bytes(status: int, page: tuple[str, str]) -> bytes:
    """A whole HTTP/1.1 answer: the page, no caching, no referrer, the connection closed."""
    title, text = (html.escape(s) for s in page)
    body = _PAGE.format(title=title, text=text).encode()
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
        "Content-Type: text/html; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Cache-Control: no-store\r\n"
        "Referrer-Policy: no-referrer\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class LoopbackListener:
    """A one-shot listener for the browser's redirect, on 127.0.0.1 and a free port.

    Attributes:
        state: the random value the answer must carry.
        port: the port it listens on.
        redirect_uri: ``http://127.0.0.1:<port>/callback``.
        refused: how many answers with a wrong ``state`` were refused.
        served: connections served so far (closed at their deadline included).
    """

    def __init__(self, *, state: str | None = None) -> None:
        self.state = state or secrets.token_urlsafe(32)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            self._sock.bind(("127.0.0.1", 0))
            self._sock.listen(MAX_CONNECTIONS)
        except OSError:
            self._sock.close()
            raise
        self._sock.settimeout(POLL_S)
        self.port = int(self._sock.getsockname()[1])
        self.redirect_uri = f"http://127.0.0.1:{self.port}{CALLBACK_PATH}"
        self.refused = 0
        self.served = 0
        self.on_refused: Callable[[], None] | None = None
        self._outcome: tuple[str, str] | None = None
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self._open: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._closed = False

    # --- the waiting thread ----------------------------------------------------------
    def wait(
        self,
        cancel: CancelToken,
        *,
        timeout_s: float = BROWSER_TIMEOUT_S,
        on_refused: Callable[[], None] | None = None,
    ) -> str:
        """The one-time token from the redirect. Raises SignInError (cancelled, timeout,
        browser_cancelled, server)."""
        self.on_refused = on_refused
        deadline = time.monotonic() + timeout_s
        try:
            while (outcome := self._outcome) is None:
                if cancel.cancelled or self._closed:  # closed: by another thread, on Cancel
                    raise SignInError(SignInFailure.CANCELLED, "Sign-in cancelled.")
                if time.monotonic() >= deadline:
                    raise SignInError(
                        SignInFailure.TIMEOUT,
                        "No answer came from the browser. Try again, or use a token instead.",
                    )
                self._accept_one()
        finally:
            self.close()
        kind, value = outcome
        if kind == "token":
            return value
        if value == "browser_cancelled":
            raise SignInError(
                SignInFailure.BROWSER_CANCELLED, "Sign-in was cancelled in the browser."
            )
        raise SignInError(
            SignInFailure.SERVER, "The server's sign-in answer had no token. Try again."
        )

    def _accept_one(self) -> None:
        """Hand one connection to a thread of its own; return within about ``POLL_S``."""
        if not self._slots.acquire(timeout=POLL_S):
            return  # all slots busy: the next connection waits in the listen queue
        try:
            conn, _addr = self._sock.accept()
        except OSError:  # nothing arrived within POLL_S (a timeout), or closed
            self._slots.release()
            return
        thread = threading.Thread(
            target=self._serve, args=(conn,), name="companion-sign-in-conn", daemon=True
        )
        with self._lock:
            self._open.add(conn)
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    # --- a connection's thread -------------------------------------------------------
    def _serve(self, conn: socket.socket) -> None:
        try:
            head = read_head(conn, time.monotonic() + HEAD_DEADLINE_S)
            if head is None:
                log.debug("[sign_in] callback connection closed: no request in time")
                return
            status, page, outcome = self._answer(head)
            conn.settimeout(SEND_TIMEOUT_S)
            with contextlib.suppress(OSError):
                conn.sendall(page_bytes(status, page))
            if outcome is not None:  # after the page: closing must not cut it off
                with self._lock:
                    if self._outcome is None:
                        self._outcome = outcome
        finally:
            with self._lock:
                self._open.discard(conn)
                self.served += 1
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()
            self._slots.release()

    def _answer(self, head: bytes) -> tuple[int, tuple[str, str], tuple[str, str] | None]:
        """The status and page for a request, and the outcome it brings (or None)."""
        line = head.split(b"\n", 1)[0].decode("latin-1").strip()
        parts = line.split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            return 400, PAGE_BAD_REQUEST, None
        method, target = parts[0], parts[1]
        url = urlsplit(target)
        if url.path != CALLBACK_PATH:
            return 404, PAGE_NOT_FOUND, None
        if method != "GET":
            return 405, PAGE_NOT_FOUND, None
        query = parse_qs(url.query, keep_blank_values=True)
        state = (query.get("state") or [""])[0]
        if not secrets.compare_digest(state.encode(), self.state.encode()):
            with self._lock:
                self.refused += 1
                refused = self.refused
            log.info("[sign_in] callback refused: wrong state (%d so far)", refused)
            if self.on_refused is not None:
                self.on_refused()
            return 400, PAGE_WRONG_STATE, None
        if query.get("error"):
            return 200, PAGE_CANCELLED, ("error", "browser_cancelled")
        token = (query.get("token") or [""])[0]
        if not token:
            return 400, PAGE_NO_TOKEN, ("error", "no_token")
        return 200, PAGE_DONE, ("token", token)

    # --- lifetime ----------------------------------------------------------------------
    def close(self, timeout: float = 1.0) -> None:
        """Stop listening, cut every connection still open, wait briefly for their threads."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            conns, threads = list(self._open), list(self._threads)
        self._sock.close()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        end = time.monotonic() + timeout
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(max(0.0, end - time.monotonic()))
