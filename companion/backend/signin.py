# SPDX-License-Identifier: GPL-3.0-or-later
"""Signing in: the browser with a loopback redirect, or a pasted token / API key.

Browser sign-in (the backend's own accounts):

1. a one-shot HTTP listener on ``127.0.0.1`` (a free port) at ``/callback``, and a random
   ``state`` (:func:`secrets.token_urlsafe`);
2. the system browser opens ``{base}/auth/login?redirect_uri=http://127.0.0.1:<port>/callback
   &state=<state>``; the backend redirects back with ``token=…&state=…``;
3. an answer whose ``state`` is not ours is refused (a page saying so, and a status line in
   the dialog) and the listener keeps waiting for the real one; ``error=…`` with our state
   means the user cancelled in the browser;
4. the one-time token is exchanged: ``POST /auth/login-token/consume {token}`` →
   ``{success, data: {jwt}}``, and the JWT is checked with ``GET /auth/me``.

A pasted token is checked with ``GET /auth/me``; on an OpenAI-compatible server (base URL
ending in ``/v1``) an API key is checked with the cheap ``GET /v1/models``.

Every step that touches the network runs off the GUI thread: :class:`SignInController`
runs it in a thread and sends the result (a :class:`SignInResult`) or a typed
:class:`SignInError` back through queued signals. No token reaches a log line or a message.
"""

from __future__ import annotations

import contextlib
import html
import logging
import secrets
import threading
import time
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit

from PySide6.QtCore import QObject, Signal, Slot

from companion import telemetry
from companion.backend.auth import API_KEY_ACCOUNT, Account
from companion.backend.errors import BackendApiError, ProtocolError, Transient, Unauthorized
from companion.speech.types import CancelToken

if TYPE_CHECKING:
    from companion.backend.client import BackendClient

log = logging.getLogger("companion.auth")

CALLBACK_PATH = "/callback"
#: How long the browser may take before the listener gives up.
BROWSER_TIMEOUT_S = 300.0
#: How often the listener checks for Cancel.
POLL_S = 0.1


class SignInError(Exception):
    """Sign-in did not work; ``user_message`` is the one line the dialog shows.

    Attributes:
        kind: ``cancelled`` (the user closed the dialog), ``browser_cancelled``,
            ``timeout``, ``wrong_key``, ``rejected``, ``unreachable``, ``server``,
            ``empty``, ``no_server``.
        user_message: one line, no token.
    """

    def __init__(self, kind: str, user_message: str) -> None:
        super().__init__(user_message)
        self.kind = kind
        self.user_message = user_message


@dataclass(frozen=True)
class SignInResult:
    """A checked sign-in.

    Attributes:
        token: the bearer token to keep (never in ``repr``).
        account: who it is (``/auth/me``), or "API key".
        method: ``browser`` or ``token``.
    """

    token: str = field(repr=False)
    account: Account
    method: str


def login_url(base_url: str, redirect_uri: str, state: str) -> str:
    query = urlencode({"redirect_uri": redirect_uri, "state": state})
    return f"{base_url.rstrip('/')}/auth/login?{query}"


def is_openai_compatible(base_url: str) -> bool:
    return base_url.strip().rstrip("/").endswith("/v1")


# --- the loopback listener ----------------------------------------------------------------

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
                    raise SignInError("cancelled", "Sign-in cancelled.")
                if time.monotonic() >= deadline:
                    raise SignInError(
                        "timeout",
                        "No answer came from the browser. Try again, or use a token instead.",
                    )
                server.handle_request()  # returns after POLL_S when nothing arrives
        finally:
            self.close()
        kind, value = server.outcome
        if kind == "token":
            return value
        if value == "browser_cancelled":
            raise SignInError("browser_cancelled", "Sign-in was cancelled in the browser.")
        raise SignInError("server", "The server's sign-in answer had no token. Try again.")

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._server.server_close()


# --- talking to the backend -----------------------------------------------------------------


def _client(base_url: str, token: str | None) -> BackendClient:
    from companion.backend.client import BackendClient  # requests: only when signing in

    return BackendClient(base_url=base_url, token=lambda: token, connect_timeout=5.0)


def _sign_in_error(err: BackendApiError, *, step: str, base_url: str) -> SignInError:
    telemetry.log_backend_error(err, operation=f"sign_in_{step}")
    if isinstance(err, Unauthorized):
        if step == "exchange":
            return SignInError(
                "rejected", "The server refused this sign-in (the link was used or expired)."
            )
        return SignInError("wrong_key", "The server did not accept this token or key.")
    if isinstance(err, Transient):
        if err.status is None:
            return SignInError("unreachable", f"Cannot reach the server at {base_url}.")
        if 200 <= err.status < 300:  # the answer broke off or dripped: its status says nothing
            return SignInError("unreachable", f"The server at {base_url} stopped answering.")
        return SignInError(
            "unreachable",
            f"The server at {base_url} is not answering right now (HTTP {err.status}).",
        )
    if isinstance(err, ProtocolError):
        return SignInError("server", "The server's answer was not understood.")
    return SignInError("server", err.user_message)


def exchange_login_token(base_url: str, login_token: str) -> str:
    """``POST /auth/login-token/consume {token}`` → the JWT."""
    with _client(base_url, None) as client:
        try:
            data = client.authed_json(
                "POST", "/auth/login-token/consume", {"token": login_token}, operation="sign_in"
            )
        except BackendApiError as err:
            raise _sign_in_error(err, step="exchange", base_url=base_url) from None
    jwt = data.get("jwt") if isinstance(data, dict) else None
    if not isinstance(jwt, str) or not jwt.strip():
        bad = ProtocolError("POST", "/auth/login-token/consume", "no jwt", status=200)
        raise _sign_in_error(bad, step="exchange", base_url=base_url)
    return jwt.strip()


def fetch_account(base_url: str, token: str | None) -> Account:
    """Who ``token`` belongs to: ``GET /auth/me``; on an OpenAI-compatible server the key is
    checked with ``GET /v1/models``. Raises the typed backend errors."""
    with _client(base_url, token) as client:
        if client.openai_compatible:
            client.authed_json("GET", client.openai_path("/models"), operation="check_key")
            return API_KEY_ACCOUNT
        return Account.from_me(client.authed_json("GET", "/auth/me", operation="auth_me"))


def check_token(base_url: str, token: str) -> SignInResult:
    """A pasted token or API key, checked with the server before it is accepted."""
    token = token.strip()
    if token.lower().startswith("bearer "):
        token = token[7:].strip()
    if not token:
        raise SignInError("empty", "Paste a token or API key first.")
    try:
        account = fetch_account(base_url, token)
    except BackendApiError as err:
        raise _sign_in_error(err, step="check", base_url=base_url) from None
    return SignInResult(token=token, account=account, method="token")


class BrowserSignIn:
    """One browser sign-in: the listener is bound at once; :meth:`finish` waits for it.

    Attributes:
        url: the address the browser opens.
        listener: the loopback listener.
    """

    def __init__(self, *, base_url: str) -> None:
        self.base_url = base_url.strip().rstrip("/")
        self.listener = LoopbackListener()
        self.url = login_url(self.base_url, self.listener.redirect_uri, self.listener.state)

    def finish(
        self,
        cancel: CancelToken,
        *,
        timeout_s: float = BROWSER_TIMEOUT_S,
        on_refused: Callable[[], None] | None = None,
    ) -> SignInResult:
        login_token = self.listener.wait(cancel, timeout_s=timeout_s, on_refused=on_refused)
        if cancel.cancelled:
            raise SignInError("cancelled", "Sign-in cancelled.")
        jwt = exchange_login_token(self.base_url, login_token)
        try:
            account = fetch_account(self.base_url, jwt)
        except BackendApiError as err:
            raise _sign_in_error(err, step="check", base_url=self.base_url) from None
        log.info("[sign_in] browser sign-in complete")
        return SignInResult(token=jwt, account=account, method="browser")

    def close(self) -> None:
        self.listener.close()


def open_in_browser(url: str) -> bool:
    """The system browser (Qt's desktop services, then :mod:`webbrowser`)."""
    from PySide6.QtCore import QUrl
    from PySide6.QtGui import QDesktopServices

    if QDesktopServices.openUrl(QUrl.fromEncoded(url.encode("ascii"))):
        return True
    try:
        return webbrowser.open(url)
    except webbrowser.Error:
        return False


# --- off the GUI thread ---------------------------------------------------------------------


class Background(QObject):
    """Runs a function in a thread; its result comes back to the GUI thread as a call.

    ``run(name, fn, done)``: ``fn()`` runs in a thread named ``companion-<name>``;
    ``done(result, error)`` is then called on this object's thread (a queued signal),
    with ``error`` the exception ``fn`` raised, or None.
    """

    _done = Signal(object, object, object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._threads: list[threading.Thread] = []
        self._closed = False
        self._done.connect(self._deliver)

    def run(
        self,
        name: str,
        fn: Callable[[], Any],
        done: Callable[[Any, BaseException | None], None],
    ) -> None:
        if self._closed:
            return

        def body() -> None:
            result: Any = None
            error: BaseException | None = None
            try:
                result = fn()
            except Exception as exc:  # handed to the GUI thread, which decides
                error = exc
            with contextlib.suppress(RuntimeError):  # the receiver was deleted at shut-down
                self._done.emit(done, result, error)

        thread = threading.Thread(target=body, name=f"companion-{name}", daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()]
        self._threads.append(thread)
        thread.start()

    @Slot(object, object, object)
    def _deliver(self, done: Any, result: Any, error: Any) -> None:
        if not self._closed:
            done(result, error)

    @property
    def running(self) -> int:
        return sum(t.is_alive() for t in self._threads)

    def close(self, timeout: float = 2.0) -> None:
        """Drop results from now on; wait up to ``timeout`` for the threads to end."""
        self._closed = True
        end = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, end - time.monotonic()))


class SignInController(QObject):
    """Runs one sign-in attempt at a time, off the GUI thread.

    Signals:
        succeeded(SignInResult): a checked sign-in.
        failed(SignInError): it did not work (the message is for the dialog).
        status(str): progress for the dialog ("Waiting for the browser…", a refused answer).
        busy_changed(bool): an attempt started or ended.

    Attributes:
        base_url: the backend.
        open_url: opens the browser; returns False when it could not (tests play the browser).
        timeout_s: how long the browser may take.
        last_url: the last sign-in address opened (shown when no browser opens).
    """

    succeeded = Signal(object)
    failed = Signal(object)
    status = Signal(str)
    busy_changed = Signal(bool)
    _refused = Signal(int)

    def __init__(
        self,
        *,
        base_url: str,
        open_url: Callable[[str], bool] | None = None,
        timeout_s: float = BROWSER_TIMEOUT_S,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.base_url = base_url.strip().rstrip("/")
        self.open_url: Callable[[str], bool] = open_url or open_in_browser
        self.timeout_s = timeout_s
        self.last_url: str | None = None
        self._jobs = Background(self)
        self._generation = 0
        self._cancel: CancelToken | None = None
        self._busy = False
        self._refused.connect(self._on_refused)

    @property
    def busy(self) -> bool:
        return self._busy

    @property
    def openai_compatible(self) -> bool:
        return is_openai_compatible(self.base_url)

    def _begin(self) -> tuple[int, CancelToken]:
        self.cancel()
        self._generation += 1
        self._cancel = CancelToken()
        self._set_busy(True)
        return self._generation, self._cancel

    def _set_busy(self, busy: bool) -> None:
        if busy != self._busy:
            self._busy = busy
            self.busy_changed.emit(busy)

    def _no_server(self) -> bool:
        if self.base_url:
            return False
        self.failed.emit(
            SignInError("no_server", "No server is set: add the backend address in Settings.")
        )
        return True

    @Slot()
    def start_browser(self) -> None:
        """Bind the listener, open the browser, wait for the redirect in a thread."""
        if self._no_server():
            return
        if self.openai_compatible:
            self.failed.emit(
                SignInError("server", "This server signs in with an API key, not a browser.")
            )
            return
        generation, cancel = self._begin()
        try:
            flow = BrowserSignIn(base_url=self.base_url)
        except OSError as exc:
            self._set_busy(False)
            log.warning("[sign_in] no loopback listener: %s", type(exc).__name__)
            self.failed.emit(SignInError("server", "Could not listen for the browser's answer."))
            return
        self.last_url = flow.url
        log.info("[sign_in] browser sign-in started (listener on port %d)", flow.listener.port)
        if self.open_url(flow.url):
            self.status.emit("Waiting for you to sign in in the browser…")
        else:
            self.status.emit(f"No browser opened. Open this address to sign in: {flow.url}")

        def refused() -> None:  # listener thread → GUI thread
            with contextlib.suppress(RuntimeError):
                self._refused.emit(generation)

        def work() -> SignInResult:
            try:
                return flow.finish(cancel, timeout_s=self.timeout_s, on_refused=refused)
            finally:
                flow.close()

        self._jobs.run("sign-in", work, lambda r, e: self._finish(generation, r, e))

    @Slot(str)
    def use_token(self, text: str) -> None:
        """Check a pasted token or API key in a thread."""
        if self._no_server():
            return
        if not text.strip():
            self.failed.emit(SignInError("empty", "Paste a token or API key first."))
            return
        generation, _cancel = self._begin()
        self.status.emit("Checking the key with the server…")
        base = self.base_url
        self._jobs.run(
            "check-token",
            lambda: check_token(base, text),
            lambda r, e: self._finish(generation, r, e),
        )

    @Slot(int)
    def _on_refused(self, generation: int) -> None:
        if generation == self._generation and self._busy:
            self.status.emit(
                "A sign-in answer that did not match this sign-in was refused. "
                "Still waiting for the browser…"
            )

    def _finish(self, generation: int, result: Any, error: BaseException | None) -> None:
        if generation != self._generation:
            return  # cancelled or superseded
        self._cancel = None
        self._set_busy(False)
        if error is None and isinstance(result, SignInResult):
            self.succeeded.emit(result)
            return
        if not isinstance(error, SignInError):
            if error is not None:
                log.error("[sign_in] failed: %s", type(error).__name__, extra=telemetry.NO_EVENT)
                telemetry.report_exception(error, tags={"operation": "sign_in"})
            error = SignInError("server", "Sign-in failed. Try again.")
        if error.kind != "cancelled":
            log.info("[sign_in] not signed in: %s", error.kind)
            self.failed.emit(error)

    @Slot()
    def cancel(self) -> None:
        """Stop waiting (the browser's answer, or a check's result, is dropped)."""
        if self._cancel is not None:
            self._cancel.cancel()
            self._cancel = None
        self._generation += 1
        self._set_busy(False)

    def close(self, timeout: float = 2.0) -> None:
        self.cancel()
        self._jobs.close(timeout)
