# SPDX-License-Identifier: GPL-3.0-or-later
"""Redirects never take a backend call to another origin (issue 17).

A hostile backend (the reference backend with a redirect fault, a real server on 127.0.0.1)
answers 301/302/303/307/308 pointing at a second listener, :class:`OtherOrigin`, which
answers as an attacker would (audio, a JWT, an account) and records whatever reaches it.
On every path (speech through ``companion speak`` as a process, chat, ``/auth/me``, the
sign-in token exchange) the redirect ends in one clear line and the other origin sees not
even a connection: no reply text, no token, no ``Authorization`` header. Same-origin
redirects are followed with the method and the body kept.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from companion.backend.client import BackendClient
from companion.backend.errors import RedirectRefused
from companion.backend.signin import BrowserSignIn, check_token
from companion.backend.signin_types import SignInError, SignInResult
from companion.replies.chat import ChatRequest, stream_chat
from companion.tasks import CancelToken
from tests.security.conftest import (
    RssWatch,
    Victim,
    companion_argv,
    companion_env,
    record,
    run_victim,
)
from tests.support.other_origin import OtherOrigin
from tests.support.reference_auth import ReferenceAuth
from tests.support.reference_backend import ReferenceBackend
from tests.support.reference_chat import install_chat

SPEECH = "/openai/v1/audio/speech"
CHAT = "/openai/v1/chat/completions"
CONSUME = "/auth/login-token/consume"
REDIRECTS = [301, 302, 303, 307, 308]
TEXT = "Walrus umbrellas drift north at midnight."
SHORT = {"COMPANION_CONNECT_TIMEOUT": "2", "COMPANION_READ_TIMEOUT": "5"}


@pytest.fixture
def backend() -> Iterator[ReferenceBackend]:
    with ReferenceBackend() as server:
        yield server


@pytest.fixture
def other() -> Iterator[OtherOrigin]:
    with OtherOrigin() as server:
        yield server


def _client(backend: ReferenceBackend) -> BackendClient:
    return BackendClient(
        base_url=backend.url, token=lambda: backend.token, connect_timeout=2.0, read_timeout=5.0
    )


def _speak(tmp_path: Path, backend: ReferenceBackend, wav: Path) -> Victim:
    env = companion_env(
        tmp_path / "config",
        COMPANION_BACKEND_URL=backend.url,
        COMPANION_TOKEN=backend.token,
        **SHORT,
    )
    return run_victim(companion_argv("speak", TEXT, "--output", str(wav)), env)


@pytest.mark.parametrize("status", REDIRECTS)
def test_speech_redirect_to_another_origin(
    status: int, tmp_path: Path, backend: ReferenceBackend, other: OtherOrigin
) -> None:
    backend.inject(status=status, location=other.url + SPEECH, path=SPEECH, times=99)
    wav = tmp_path / "out.wav"
    victim = _speak(tmp_path, backend, wav)
    assert victim.returncode == 1, victim.stderr
    (line,) = victim.lines()
    assert "redirected to another address" in line and other.url in line
    assert "Traceback" not in victim.stderr and backend.token not in victim.stderr
    assert other.untouched and not wav.exists()
    assert len(backend.speech_requests()) == 1  # refused, not retried
    record(
        f"speech {status} to another origin (speak)",
        "refused, exit 1, nothing sent there",
        victim.seconds,
        victim.peak_rss_mb,
    )


@pytest.mark.parametrize("status", [307, 308])
def test_speech_same_origin_redirect_keeps_method_and_body(
    status: int, tmp_path: Path, backend: ReferenceBackend, other: OtherOrigin
) -> None:
    backend.inject(status=status, location=SPEECH + "?moved=1", path=SPEECH)
    wav = tmp_path / "out.wav"
    victim = _speak(tmp_path, backend, wav)
    assert victim.returncode == 0, victim.stderr
    assert wav.stat().st_size > 1000
    first, second = backend.speech_requests()[:2]
    assert (first.method, second.method) == ("POST", "POST")
    assert second.json == first.json and TEXT.split()[0] in second.json["input"]
    assert second.headers["Authorization"] == f"Bearer {backend.token}"
    assert other.untouched
    record(
        f"speech {status} to the same origin (speak)",
        "followed, POST and body kept, spoken",
        victim.seconds,
        victim.peak_rss_mb,
    )


def _endless_redirect(other: OtherOrigin) -> tuple[socket.socket, threading.Event]:
    """A server that answers 307 to ``other`` and then streams a body that never ends."""
    sock = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        sock.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            with conn:
                conn.recv(65536)
                head = f"HTTP/1.1 307 Moved\r\nLocation: {other.url}{SPEECH}\r\n"
                conn.sendall((head + "Transfer-Encoding: chunked\r\n\r\n").encode())
                chunk = b"4000\r\n" + b"A" * 0x4000 + b"\r\n"
                try:
                    while not stop.is_set():
                        conn.sendall(chunk)
                except OSError:
                    pass

    threading.Thread(target=serve, daemon=True, name="endless-redirect").start()
    return sock, stop


def test_speech_redirect_with_an_endless_body(tmp_path: Path, other: OtherOrigin) -> None:
    sock, stop = _endless_redirect(other)
    try:
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        env = companion_env(
            tmp_path / "config", COMPANION_BACKEND_URL=url, COMPANION_TOKEN="tok-x", **SHORT
        )
        victim = run_victim(companion_argv("speak", TEXT, "--output", str(tmp_path / "o.wav")), env)
    finally:
        stop.set()
        sock.close()
    assert victim.returncode == 1 and "redirected to another address" in victim.stderr
    assert other.untouched
    record(
        "speech 307 to another origin, endless body (speak)",
        "refused, body never read",
        victim.seconds,
        victim.peak_rss_mb,
    )


@pytest.mark.parametrize("status", REDIRECTS)
def test_chat_redirect_to_another_origin(
    status: int, backend: ReferenceBackend, other: OtherOrigin
) -> None:
    install_chat(backend)
    backend.inject(status=status, location=other.url + CHAT, path=CHAT, times=99)
    request = ChatRequest(1, (("user", TEXT),), "reference")
    started = time.monotonic()
    with RssWatch() as rss, _client(backend) as client, pytest.raises(RedirectRefused) as caught:
        list(stream_chat(client, request, cancel=CancelToken()))
    took = time.monotonic() - started
    assert caught.value.reason == "other_origin" and caught.value.target == other.url
    assert other.untouched and TEXT not in str(caught.value)
    record(
        f"chat {status} to another origin",
        "refused, one line, nothing sent there",
        took,
        rss.growth_mb,
        growth=True,
    )


def test_chat_same_origin_307_is_followed(backend: ReferenceBackend, other: OtherOrigin) -> None:
    install_chat(backend)
    backend.inject(status=307, location=CHAT + "?again", path=CHAT)
    request = ChatRequest(1, (("user", TEXT),), "reference")
    started = time.monotonic()
    with RssWatch() as rss, _client(backend) as client:
        reply = "".join(stream_chat(client, request, cancel=CancelToken()))
    took = time.monotonic() - started
    chats = [r for r in backend.requests if r.path == CHAT]
    assert reply and len(chats) == 2 and chats[1].method == "POST"
    assert chats[1].json == chats[0].json and other.untouched
    record(
        "chat 307 to the same origin",
        "followed, POST and body kept",
        took,
        rss.growth_mb,
        growth=True,
    )


@pytest.mark.parametrize("status", REDIRECTS)
def test_auth_me_redirect_to_another_origin(
    status: int, backend: ReferenceBackend, other: OtherOrigin
) -> None:
    backend.inject(status=status, location=other.url + "/auth/me", path="/auth/me", times=99)
    started = time.monotonic()
    with RssWatch() as rss, pytest.raises(SignInError) as caught:
        check_token(backend.url, backend.token)
    took = time.monotonic() - started
    assert isinstance(caught.value.cause, RedirectRefused)
    assert "redirected to another address" in caught.value.user_message
    assert backend.token not in caught.value.user_message
    assert other.untouched  # no Authorization header went there
    record(
        f"/auth/me {status} to another origin",
        "refused, not signed in",
        took,
        rss.growth_mb,
        growth=True,
    )


@pytest.mark.parametrize("status", REDIRECTS)
def test_token_exchange_redirect_to_another_origin(
    status: int, backend: ReferenceBackend, other: OtherOrigin
) -> None:
    auth = ReferenceAuth.install(backend)
    backend.inject(status=status, location=other.url + CONSUME, path=CONSUME, times=99)
    flow = BrowserSignIn(base_url=backend.url)
    started = time.monotonic()
    with RssWatch() as rss:
        browser = threading.Thread(target=requests.get, args=(flow.url,), kwargs={"timeout": 10})
        browser.start()
        with pytest.raises(SignInError) as caught:
            flow.finish(CancelToken(), timeout_s=20)
        browser.join(10)
    took = time.monotonic() - started
    assert isinstance(caught.value.cause, RedirectRefused)
    assert "redirected to another address" in caught.value.user_message
    assert other.untouched  # the one-time login token never went there
    assert auth.login_tokens  # and it was not used up by anyone
    record(
        f"sign-in token exchange {status} to another origin",
        "refused, no token sent, not signed in",
        took,
        rss.growth_mb,
        growth=True,
    )


def test_the_exchange_goes_only_to_the_backend_it_started_with(
    backend: ReferenceBackend, other: OtherOrigin
) -> None:
    """A callback naming another server (as a forged or tampered redirect might) changes
    nothing: the exchange and ``/auth/me`` go to the backend the sign-in started against."""
    auth = ReferenceAuth.install(backend)
    flow = BrowserSignIn(base_url=backend.url)
    started = time.monotonic()
    with RssWatch() as rss:
        hop = requests.get(flow.url, allow_redirects=False, timeout=10)
        callback = hop.headers["Location"]
        extra = f"&server={other.url}&base_url={other.url}&redirect_uri={other.url}/x"
        page = threading.Thread(
            target=requests.get, args=(callback + extra,), kwargs={"timeout": 10}
        )
        page.start()
        result = flow.finish(CancelToken(), timeout_s=20)
        page.join(10)
    took = time.monotonic() - started
    assert isinstance(result, SignInResult) and auth.valid(result.token) is not None
    assert result.account.name == "Test User"
    assert other.untouched
    record(
        "sign-in callback naming another server",
        "ignored, exchange at the starting backend",
        took,
        rss.growth_mb,
        growth=True,
    )
