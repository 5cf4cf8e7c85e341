# SPDX-License-Identifier: GPL-3.0-or-later
"""Sign-in over real HTTP: the browser's loopback redirect (the test plays the browser with
requests), the state check, the token exchange, pasted keys, and the clear failures."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from companion.backend.auth import API_KEY_ACCOUNT
from companion.backend.loopback import LoopbackListener
from companion.backend.signin import BrowserSignIn, check_token, exchange_login_token
from companion.backend.signin_types import SignInError, SignInResult
from companion.tasks import CancelToken
from tests.support.browser import Browser
from tests.support.reference_auth import ReferenceAuth
from tests.support.reference_backend import ReferenceBackend


@pytest.fixture
def backend() -> Iterator[ReferenceBackend]:
    with ReferenceBackend() as server:
        yield server


@pytest.fixture
def auth(backend: ReferenceBackend) -> ReferenceAuth:
    return ReferenceAuth.install(backend)


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


def test_browser_sign_in_end_to_end(backend: ReferenceBackend, auth: ReferenceAuth) -> None:
    flow = BrowserSignIn(base_url=backend.url + "/")
    assert flow.url.startswith(f"{backend.url}/auth/login?redirect_uri=http%3A%2F%2F127.0.0.1%3A")
    assert f"state={flow.listener.state}" in flow.url and len(flow.listener.state) >= 32
    browser = Browser()
    browser.open(flow.url)
    result = flow.finish(CancelToken(), timeout_s=20)
    browser.join()
    (page,) = browser.pages
    assert page.status_code == 200 and "Signed in to Companion" in page.text
    assert page.history and page.history[0].status_code == 302  # the backend's redirect
    assert result.method == "browser" and result.account.name == "Test User"
    assert auth.valid(result.token) is not None and result.token != backend.token
    assert result.token not in repr(result)
    paths = [(r.method, r.path) for r in backend.requests]
    assert paths == [
        ("GET", "/auth/login"),
        ("POST", "/auth/login-token/consume"),
        ("GET", "/auth/me"),
    ]
    assert auth.login_tokens == {}  # the one-time token was used up


def test_a_callback_with_the_wrong_state_is_refused(
    backend: ReferenceBackend, auth: ReferenceAuth
) -> None:
    flow = BrowserSignIn(base_url=backend.url)
    refused = threading.Event()
    thread, out = _in_thread(
        lambda: flow.finish(CancelToken(), timeout_s=20, on_refused=refused.set)
    )
    forged = requests.get(
        flow.listener.redirect_uri, params={"token": "stolen", "state": "guessed"}, timeout=10
    )
    assert forged.status_code == 400 and "Sign-in refused" in forged.text
    assert refused.wait(5) and flow.listener.refused == 1
    no_state = requests.get(flow.listener.redirect_uri, params={"token": "x"}, timeout=10)
    assert no_state.status_code == 400
    other = requests.get(f"http://127.0.0.1:{flow.listener.port}/favicon.ico", timeout=10)
    assert other.status_code == 404
    # The listener kept waiting: the real answer still signs in.
    browser = Browser()
    browser.open(flow.url)
    thread.join(20)
    browser.join()
    assert isinstance(out[0], SignInResult)
    assert flow.listener.refused == 2
    assert not any(r.json == {"token": "stolen"} for r in backend.requests)


def test_cancelled_in_the_browser(backend: ReferenceBackend, auth: ReferenceAuth) -> None:
    auth.deny_login = True
    flow = BrowserSignIn(base_url=backend.url)
    browser = Browser()
    browser.open(flow.url)
    with pytest.raises(SignInError) as caught:
        flow.finish(CancelToken(), timeout_s=20)
    browser.join()
    assert caught.value.kind == "browser_cancelled"
    assert caught.value.user_message == "Sign-in was cancelled in the browser."
    assert "Sign-in cancelled" in browser.pages[0].text


def test_cancel_and_timeout_stop_waiting(backend: ReferenceBackend) -> None:
    flow = BrowserSignIn(base_url=backend.url)
    cancel = CancelToken()
    thread, out = _in_thread(lambda: flow.finish(cancel, timeout_s=60))
    cancel.cancel()
    thread.join(5)
    assert not thread.is_alive()
    assert isinstance(out[0], SignInError) and out[0].kind == "cancelled"
    with pytest.raises(requests.ConnectionError):  # the listener is closed
        requests.get(flow.listener.redirect_uri, timeout=2)
    listener = LoopbackListener()
    with pytest.raises(SignInError) as caught:
        listener.wait(CancelToken(), timeout_s=0.2)
    assert caught.value.kind == "timeout" and "browser" in caught.value.user_message


def test_a_login_token_already_used_is_refused(
    backend: ReferenceBackend, auth: ReferenceAuth
) -> None:
    flow = BrowserSignIn(base_url=backend.url)
    thread, out = _in_thread(lambda: flow.finish(CancelToken(), timeout_s=20))
    hop = requests.get(flow.url, allow_redirects=False, timeout=10)
    location = hop.headers["Location"]
    login_token = next(iter(auth.login_tokens))
    requests.post(
        f"{backend.url}/auth/login-token/consume", json={"token": login_token}, timeout=10
    )
    requests.get(location, timeout=10)  # the real browser arrives second
    thread.join(20)
    assert isinstance(out[0], SignInError) and out[0].kind == "rejected"


def test_a_pasted_token_is_checked_with_auth_me(
    backend: ReferenceBackend, auth: ReferenceAuth
) -> None:
    token = auth.issue()
    result = check_token(backend.url, f"  Bearer {token}\n")
    assert result.token == token and result.account.label == "Test User (test@example.org)"
    assert result.method == "token"
    with pytest.raises(SignInError) as caught:
        check_token(backend.url, "not-a-token")
    assert caught.value.kind == "wrong_key"
    assert caught.value.user_message == "The server did not accept this token or key."
    with pytest.raises(SignInError) as caught:
        check_token(backend.url, "   ")
    assert caught.value.kind == "empty"
    auth.revoke(token)
    with pytest.raises(SignInError) as caught:
        check_token(backend.url, token)
    assert caught.value.kind == "wrong_key"


def test_an_api_key_is_checked_with_v1_models(backend: ReferenceBackend) -> None:
    result = check_token(backend.openai_url, backend.token)
    assert result.account == API_KEY_ACCOUNT
    assert [(r.method, r.path) for r in backend.requests] == [("GET", "/v1/models")]
    with pytest.raises(SignInError) as caught:
        check_token(backend.openai_url, "sk-wrong-key-0000")
    assert caught.value.kind == "wrong_key"


def test_an_unreachable_server_says_so() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"  # bound, not listening: refused
        with pytest.raises(SignInError) as caught:
            check_token(url, "some-token")
    assert caught.value.kind == "unreachable"
    assert caught.value.user_message == f"Cannot reach the server at {url}."


@pytest.mark.parametrize(
    ("pasted", "problem"),
    [
        ("tok-a\r\nX-Evil: 1", "it contains a line break"),
        ("tok a", "it contains a space"),
        ("user:pass", "it contains a colon"),
    ],
)
def test_a_pasted_token_no_header_can_carry_is_refused_before_any_request(
    pasted: str, problem: str, backend: ReferenceBackend
) -> None:
    with pytest.raises(SignInError) as caught:
        check_token(backend.url, pasted)
    assert caught.value.kind == "wrong_key"
    assert caught.value.user_message == (
        f"This token or key cannot be used ({problem}): copy it again, exactly."
    )
    assert pasted not in str(caught.value) and backend.connections == 0


def test_a_jwt_no_header_can_carry_is_not_a_session(backend: ReferenceBackend) -> None:
    backend.require_auth = False
    backend.routes[("POST", "/auth/login-token/consume")] = lambda handler, doc, fault: (
        handler._json(200, {"success": True, "data": {"jwt": "eyJa.eyJb\r\nX: 1.c"}})
    )
    with pytest.raises(SignInError) as caught:
        exchange_login_token(backend.url, "one-time")
    assert caught.value.kind == "server" and "eyJa" not in str(caught.value)
    assert getattr(caught.value.cause, "reason", "") == "unusable jwt"


def test_the_one_time_token_is_not_sent_over_refused_plain_http(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from companion.backend import headers

    monkeypatch.setenv(headers.ENV_REFUSE_PLAIN_HTTP, "1")
    with pytest.raises(SignInError) as caught:
        exchange_login_token("http://192.0.2.9:8000", "one-time")  # no connection is tried
    assert caught.value.kind == "server" and "plain HTTP" in caught.value.user_message
    assert getattr(caught.value.cause, "reason", "") == "plain_http"
