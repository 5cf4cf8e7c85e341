# SPDX-License-Identifier: GPL-3.0-or-later
"""The bearer header's guard: a token no header can carry never reaches ``requests`` (whose
``InvalidHeader`` would quote it), plain HTTP to another machine is said once or refused, and
no error text carries the token. Requests go to the reference backend (real HTTP on
127.0.0.1), which counts what reaches it."""

from __future__ import annotations

import logging
import pickle
import socket
from collections.abc import Iterator

import pytest
import requests

from companion.backend import headers, policy
from companion.backend.client import BackendClient
from companion.backend.errors import NotSent, Transient
from companion.speech.types import CancelToken
from tests.support.reference_backend import ReferenceBackend

BAD = {
    "tok-abc\r\nX-Evil: 1": "it contains a line break",
    "tok-abc\nrest": "it contains a line break",
    "tok-abc\0rest": "it contains a NUL character",
    "tok-abc\trest": "it contains a control character",
    "tok-abc\x7frest": "it contains a control character",
    "tok-abc\x85rest": "it contains a control character",
    "tok abc": "it contains a space",
    "tok-abc\u00a0rest": "it contains a space",
    "user:password": "it contains a colon",
    "tok-\u20acuro": "it contains a character an HTTP header cannot carry (not Latin-1)",
    "": "it is empty",
}
GOOD = ["tok-0123456789abcdef", "sk-proj_AbC-123", "eyJhbGciOi.eyJzdWIiOiIx.c2ln", "a/b+c=="]


@pytest.fixture(autouse=True)
def _fresh(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(headers.ENV_REFUSE_PLAIN_HTTP, raising=False)
    headers.reset()
    yield
    headers.reset()


@pytest.mark.parametrize("token", list(BAD), ids=repr)
def test_token_problem_names_the_problem(token: str) -> None:
    assert headers.token_problem(token) == BAD[token]


@pytest.mark.parametrize("token", GOOD)
def test_usable_tokens(token: str) -> None:
    assert headers.token_problem(token) is None
    assert headers.bearer(token, base_url="http://127.0.0.1:9") == f"Bearer {token}"
    assert headers.known_tokens()[-1] == token


@pytest.mark.parametrize("token", [t for t in BAD if t], ids=repr)
def test_a_bad_token_is_not_sent_and_never_quoted(
    token: str, reference_backend: ReferenceBackend
) -> None:
    client = BackendClient(base_url=reference_backend.url, token=lambda: token)
    with client, pytest.raises(NotSent) as caught:
        client.authed_json("GET", "/auth/me?x=1")
    err = caught.value
    assert (err.method, err.path, err.status, err.reason) == ("GET", "/auth/me", None, "bad_token")
    assert err.problem == BAD[token]
    texts = [str(err), repr(err), err.user_message, *map(str, err.args)]
    assert not any(token in text for text in texts)
    assert BAD[token] in err.user_message and "\n" not in err.user_message
    assert reference_backend.connections == 0 and reference_backend.requests == []
    assert token not in headers.known_tokens()
    assert policy.log_level(err) == logging.WARNING and not policy.should_report(err)
    assert policy.fields(err, "auth_me")["failure"] == "not_sent"


def test_a_bad_token_on_a_stream_is_not_sent(reference_backend: ReferenceBackend) -> None:
    client = BackendClient(base_url=reference_backend.url, token=lambda: "a\r\nb")
    with client, pytest.raises(NotSent) as caught:
        client.speech({"model": "tts-1", "input": "Hi."}, cancel=CancelToken())
    assert caught.value.path == "/openai/v1/audio/speech"
    assert reference_backend.connections == 0


def test_not_sent_pickles() -> None:
    for err in (
        NotSent("POST", "/v1/x", "bad_token", problem="it contains a colon", source="X"),
        NotSent("GET", "/auth/me", "plain_http", origin="http://192.0.2.7:8000"),
    ):
        copy = pickle.loads(pickle.dumps(err))
        assert vars(copy) == vars(err) and str(copy) == str(err)
    assert str(err) == "NotSent: GET /auth/me (no status, plain_http)"  # no address in reports
    assert "http://192.0.2.7:8000" in err.user_message


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("LOCALHOST.", True),
        ("app.localhost", True),
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("::ffff:127.0.0.1", True),
        ("192.0.2.2", False),
        ("10.0.0.1", False),
        ("example.com", False),
        ("localhost.example.com", False),
        ("128.0.0.1", False),
    ],
)
def test_loopback(host: str, loopback: bool) -> None:
    assert headers.is_loopback_host(host) is loopback


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("http://192.0.2.2:8000/v1", "http://192.0.2.2:8000"),
        ("HTTP://Example.COM", "http://example.com"),
        ("http://[fd00::2]:81/", "http://[fd00::2]:81"),
        ("https://192.0.2.2:8000", None),
        ("http://127.0.0.1:8000", None),
        ("http://localhost", None),
        ("http://[::1]:5", None),
        ("http://", None),
        ("http://h:port", None),
    ],
)
def test_plain_http_origin(url: str, origin: str | None) -> None:
    assert headers.plain_http_origin(url) == origin


AUTH = {"Authorization": "Bearer tok-1"}


def test_plain_http_is_said_once_per_backend(caplog: pytest.LogCaptureFixture) -> None:
    told: list[str] = []
    headers.set_notice_sink(told.append)
    with caplog.at_level(logging.WARNING, logger="companion.backend"):
        headers.bearer("tok-1", base_url="http://192.0.2.9:8000/v1")  # not sent yet: no word
        assert told == []
        for _ in range(3):
            headers.went_out("http://192.0.2.9:8000/v1", AUTH)
        headers.went_out("http://192.0.2.10", AUTH)
        headers.went_out("http://192.0.2.11", {"User-Agent": "x"})  # no token: nothing to say
        headers.went_out("https://192.0.2.9:8000", AUTH)
        headers.went_out("http://127.0.0.1:8000", AUTH)
    assert told == [
        headers.plain_http_line(o) for o in ("http://192.0.2.9:8000", "http://192.0.2.10")
    ]
    assert [r.getMessage() for r in caplog.records] == [f"[backend] {line}" for line in told]
    assert all(getattr(r, headers.TOLD_ATTR) for r in caplog.records)
    assert all("tok-1" not in line for line in told)


@pytest.mark.parametrize("how", ["setting", "env"])
def test_plain_http_refused(how: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if how == "setting":
        headers.set_refuse_plain_http(True)
    else:
        monkeypatch.setenv(headers.ENV_REFUSE_PLAIN_HTTP, "1")
    told: list[str] = []
    headers.set_notice_sink(told.append)
    client = BackendClient(base_url="http://192.0.2.9:8000", token=lambda: "tok-1")
    with client, pytest.raises(NotSent) as caught:
        client.authed_json("GET", "/auth/me")
    err = caught.value
    assert (err.reason, err.origin, err.path) == ("plain_http", "http://192.0.2.9:8000", "/auth/me")
    assert "plain HTTP" in err.user_message and "tok-1" not in err.user_message
    assert told == []
    # Loopback, HTTPS and a request without a token go ahead.
    assert headers.bearer("tok-1", base_url="http://127.0.0.1:9") == "Bearer tok-1"
    assert headers.bearer("tok-1", base_url="https://192.0.2.9") == "Bearer tok-1"
    without = BackendClient(base_url="http://192.0.2.9:8000", token=lambda: None)
    assert "Authorization" not in without.headers()


def test_the_environment_wins_over_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    headers.set_refuse_plain_http(True)
    monkeypatch.setenv(headers.ENV_REFUSE_PLAIN_HTTP, "0")
    assert not headers.refuse_plain_http()
    monkeypatch.setenv(headers.ENV_REFUSE_PLAIN_HTTP, "yes")
    headers.set_refuse_plain_http(False)
    assert headers.refuse_plain_http()
    monkeypatch.setenv(headers.ENV_REFUSE_PLAIN_HTTP, "maybe")  # not a switch: the setting
    assert not headers.refuse_plain_http()


def test_check_token_names_its_source() -> None:
    with pytest.raises(NotSent) as caught:
        headers.check_token("a b", source="COMPANION_TOKEN")
    assert caught.value.user_message.startswith("COMPANION_TOKEN cannot be used (it contains a")
    headers.check_token("tok-fine")


def test_known_tokens_keep_the_last_few() -> None:
    for i in range(headers.KNOWN_TOKENS + 3):
        headers.remember(f"tok-{i}")
    headers.remember("tok-5")
    known = headers.known_tokens()
    assert len(known) == headers.KNOWN_TOKENS and known[-1] == "tok-5"
    assert "tok-0" not in known


def test_a_sink_is_cleared_only_by_its_owner() -> None:
    first: list[str] = []
    second: list[str] = []
    headers.set_notice_sink(first.append)
    headers.set_notice_sink(second.append)
    headers.clear_notice_sink(first.append)  # gone already: the current one stays
    headers.went_out("http://192.0.2.9", AUTH)
    headers.clear_notice_sink(second.append)
    headers.went_out("http://192.0.2.10", AUTH)
    assert first == [] and second == [headers.plain_http_line("http://192.0.2.9")]


def test_a_request_that_never_connected_says_nothing(caplog: pytest.LogCaptureFixture) -> None:
    """A name that does not resolve (``.invalid`` never does) and a port nobody listens on: no
    byte crossed the network, so no warning (the fallback's line is the one the user sees)."""
    told: list[str] = []
    headers.set_notice_sink(told.append)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed when the block ends: refused from then on
    for url in ("http://companion-test.invalid:9", f"http://127.0.0.1:{port}"):
        client = BackendClient(base_url=url, token=lambda: "tok-1", connect_timeout=2.0)
        with client, pytest.raises(Transient):
            client.authed_json("GET", "/auth/me")
    assert told == []
    # Past the connection (a read that timed out), the token may have gone: said once.
    plain = BackendClient(base_url="http://192.0.2.9", token=lambda: "tok-1")
    plain.went_out(AUTH, requests.exceptions.ReadTimeout("slow"))
    plain.went_out(AUTH)
    assert told == [headers.plain_http_line("http://192.0.2.9")]
