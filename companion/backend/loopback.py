# SPDX-License-Identifier: GPL-3.0-or-later
"""The one-shot loopback listener that receives the browser's sign-in redirect.

It listens on ``127.0.0.1`` (a free port) at ``/callback`` and waits for
``?token=…&state=…``. An answer whose ``state`` is not ours is refused (a page saying so,
and ``on_refused``) and the listener keeps waiting for the real one; ``error=…`` with our
state means the user cancelled in the browser. Nothing is logged of the request line: it
carries the one-time token.
"""

from __future__ import annotations

import html
import logging
import secrets
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from companion.backend.signin_types import SignInError, SignInFailure
from companion.tasks import CancelToken

log = logging.getLogger("companion.auth")

CALLBACK_PATH = "/callback"
#: How long the browser may take before the listener gives up.
BROWSER_TIMEOUT_S = 300.0
#: How often the listener checks for Cancel.
POLL_S = 0.1

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


class _Handler(BaseHTTPRequestHandler):
    server: _OneShotServer
    timeout = 5.0  # a connection that sends nothing must not keep Cancel waiting long

    def log_message(self, format: str, *args: Any) -> None:  # base signature
        """Silent: the request line carries the one-time token."""

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path != CALLBACK_PATH:
            self._page(404, PAGE_NOT_FOUND)
            return
        query = parse_qs(parts.query, keep_blank_values=True)
        state = (query.get("state") or [""])[0]
        if not secrets.compare_digest(state.encode(), self.server.state.encode()):
            self.server.refused += 1
            log.info("[sign_in] callback refused: wrong state (%d so far)", self.server.refused)
            self._page(400, PAGE_WRONG_STATE)
            if self.server.on_refused is not None:
                self.server.on_refused()
            return
        if query.get("error"):
            self.server.outcome = ("error", "browser_cancelled")
            self._page(200, PAGE_CANCELLED)
            return
        token = (query.get("token") or [""])[0]
        if not token:
            self.server.outcome = ("error", "no_token")
            self._page(400, PAGE_NO_TOKEN)
            return
        self.server.outcome = ("token", token)
        self._page(200, PAGE_DONE)

    def _page(self, status: int, page: tuple[str, str]) -> None:
        title, text = (html.escape(s) for s in page)
        body = _PAGE.format(title=title, text=text).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True


class _OneShotServer(HTTPServer):
    allow_reuse_address = False

    def __init__(self, state: str) -> None:
        self.state = state
        self.outcome: tuple[str, str] | None = None
        self.refused = 0
        self.on_refused: Callable[[], None] | None = None
        super().__init__(("127.0.0.1", 0), _Handler)
        self.timeout = POLL_S

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A browser that hangs up is no error of ours; nothing is printed."""
        log.debug("[sign_in] callback connection failed")


class LoopbackListener:
    """A one-shot listener for the browser's redirect, on 127.0.0.1 and a free port.

    Attributes:
        state: the random value the answer must carry.
        port: the port it listens on.
        redirect_uri: ``http://127.0.0.1:<port>/callback``.
        refused: how many answers with a wrong ``state`` were refused.
    """

    def __init__(self, *, state: str | None = None) -> None:
        self.state = state or secrets.token_urlsafe(32)
        self._server = _OneShotServer(self.state)
        self.port = int(self._server.server_address[1])
        self.redirect_uri = f"http://127.0.0.1:{self.port}{CALLBACK_PATH}"
        self._closed = False

    @property
    def refused(self) -> int:
        return self._server.refused

    def wait(
        self,
        cancel: CancelToken,
        *,
        timeout_s: float = BROWSER_TIMEOUT_S,
        on_refused: Callable[[], None] | None = None,
    ) -> str:
        """The one-time token from the redirect. Raises SignInError (cancelled, timeout,
        browser_cancelled, server)."""
        server = self._server
        server.on_refused = on_refused
        deadline = time.monotonic() + timeout_s
        try:
            while server.outcome is None:
                if cancel.cancelled:
                    raise SignInError(SignInFailure.CANCELLED, "Sign-in cancelled.")
                if time.monotonic() >= deadline:
                    raise SignInError(
                        SignInFailure.TIMEOUT,
                        "No answer came from the browser. Try again, or use a token instead.",
                    )
                server.handle_request()  # returns after POLL_S when nothing arrives
        finally:
            self.close()
        kind, value = server.outcome
        if kind == "token":
            return value
        if value == "browser_cancelled":
            raise SignInError(
                SignInFailure.BROWSER_CANCELLED, "Sign-in was cancelled in the browser."
            )
        raise SignInError(
            SignInFailure.SERVER, "The server's sign-in answer had no token. Try again."
        )

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._server.server_close()
