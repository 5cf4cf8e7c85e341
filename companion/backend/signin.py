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

A pasted token is first checked for what no header may carry (a control character, a space, a
colon: :func:`~companion.backend.headers.token_problem`), then with ``GET /auth/me``; on an
OpenAI-compatible server (base URL ending in ``/v1``) an API key is checked with the cheap
``GET /v1/models``.

These functions block: :class:`~companion.replies.signin_controller.SignInController` runs
them off the GUI thread. They log nothing about a failed request and send no report: a
:class:`SignInError` carries the typed backend error (``cause``) and its caller logs it.
No token reaches a log line or a message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from companion.backend.auth import API_KEY_ACCOUNT, Account
from companion.backend.errors import BackendApiError, ProtocolError, Transient, Unauthorized
from companion.backend.headers import check_plain_http, token_problem
from companion.backend.key_check import check_api_key
from companion.backend.loopback import BROWSER_TIMEOUT_S, LoopbackListener
from companion.backend.signin_types import SignInError, SignInFailure, SignInMethod, SignInResult
from companion.tasks import CancelToken

if TYPE_CHECKING:
    from companion.backend.client import BackendClient

log = logging.getLogger("companion.auth")


def login_url(base_url: str, redirect_uri: str, state: str) -> str:
    query = urlencode({"redirect_uri": redirect_uri, "state": state})
    return f"{base_url.rstrip('/')}/auth/login?{query}"


def is_openai_compatible(base_url: str) -> bool:
    return base_url.strip().rstrip("/").endswith("/v1")


def _client(base_url: str, token: str | None) -> BackendClient:
    from companion.backend.client import BackendClient  # requests: only when signing in

    return BackendClient(base_url=base_url, token=lambda: token, connect_timeout=5.0)


def _sign_in_error(err: BackendApiError, *, step: str, base_url: str) -> SignInError:
    """The dialog's line for ``err``; the error rides along for the caller's log line."""
    return _message(err, step=step, base_url=base_url, cause=err)


def _message(
    err: BackendApiError, *, step: str, base_url: str, cause: BackendApiError
) -> SignInError:
    def fail(kind: SignInFailure, text: str) -> SignInError:
        return SignInError(kind, text, cause=cause, step=step)

    if isinstance(err, Unauthorized):
        if step == "exchange":
            return fail(
                SignInFailure.REJECTED,
                "The server refused this sign-in (the link was used or expired).",
            )
        return fail(SignInFailure.WRONG_KEY, "The server did not accept this token or key.")
    if isinstance(err, Transient):
        if err.status is None:
            return fail(SignInFailure.UNREACHABLE, f"Cannot reach the server at {base_url}.")
        if 200 <= err.status < 300:  # the answer broke off or dripped: its status says nothing
            return fail(SignInFailure.UNREACHABLE, f"The server at {base_url} stopped answering.")
        return fail(
            SignInFailure.UNREACHABLE,
            f"The server at {base_url} is not answering right now (HTTP {err.status}).",
        )
    if isinstance(err, ProtocolError):
        return fail(SignInFailure.SERVER, "The server's answer was not understood.")
    return fail(SignInFailure.SERVER, err.user_message)


def exchange_login_token(base_url: str, login_token: str) -> str:
    """``POST /auth/login-token/consume {token}`` → the JWT. The one-time token is a credential
    too: over plain HTTP to another machine it is said once, or refused (``NotSent``)."""
    with _client(base_url, None) as client:
        try:
            check_plain_http(client.base_url, "POST", "/auth/login-token/consume")
            data = client.authed_json(
                "POST", "/auth/login-token/consume", {"token": login_token}, operation="sign_in"
            )
        except BackendApiError as err:
            raise _sign_in_error(err, step="exchange", base_url=base_url) from None
    jwt = data.get("jwt") if isinstance(data, dict) else None
    if not isinstance(jwt, str) or not jwt.strip():
        bad = ProtocolError("POST", "/auth/login-token/consume", "no jwt", status=200)
        raise _sign_in_error(bad, step="exchange", base_url=base_url)
    if token_problem(jwt.strip()) is not None:  # it could never be sent: not a session
        bad = ProtocolError("POST", "/auth/login-token/consume", "unusable jwt", status=200)
        raise _sign_in_error(bad, step="exchange", base_url=base_url)
    return jwt.strip()


def fetch_account(base_url: str, token: str | None) -> Account:
    """Who ``token`` belongs to: ``GET /auth/me``; on an OpenAI-compatible server the key is
    checked with ``GET /v1/models`` (:func:`check_api_key`). Raises the typed backend errors."""
    with _client(base_url, token) as client:
        if client.openai_compatible:
            check_api_key(client)
            return API_KEY_ACCOUNT
        return Account.from_me(client.authed_json("GET", "/auth/me", operation="auth_me"))


def check_token(base_url: str, token: str) -> SignInResult:
    """A pasted token or API key, checked with the server before it is accepted."""
    token = token.strip()
    if token.lower().startswith("bearer "):
        token = token[7:].strip()
    if not token:
        raise SignInError(SignInFailure.EMPTY, "Paste a token or API key first.")
    problem = token_problem(token)
    if problem is not None:  # checked before any request; the line never quotes it
        raise SignInError(
            SignInFailure.WRONG_KEY,
            f"This token or key cannot be used ({problem}): copy it again, exactly.",
        )
    try:
        account = fetch_account(base_url, token)
    except BackendApiError as err:
        raise _sign_in_error(err, step="check", base_url=base_url) from None
    return SignInResult(token=token, account=account, method=SignInMethod.TOKEN)


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
            raise SignInError(SignInFailure.CANCELLED, "Sign-in cancelled.")
        jwt = exchange_login_token(self.base_url, login_token)
        try:
            account = fetch_account(self.base_url, jwt)
        except BackendApiError as err:
            raise _sign_in_error(err, step="check", base_url=self.base_url) from None
        log.info("[sign_in] browser sign-in complete")
        return SignInResult(token=jwt, account=account, method=SignInMethod.BROWSER)

    def close(self) -> None:
        self.listener.close()
