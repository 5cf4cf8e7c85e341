# SPDX-License-Identifier: GPL-3.0-or-later
"""The backend client against the reference backend: real HTTP on 127.0.0.1, real faults."""

from __future__ import annotations

import math
import socket
import threading
import time
from collections.abc import Iterator
from email.utils import formatdate

import pytest

from companion import __version__
from companion.backend.client import BackendClient
from companion.backend.errors import (
    BackendApiError,
    BudgetExhausted,
    HttpError,
    MessageNotFound,
    ProtocolError,
    Transient,
    Unauthorized,
)
from companion.backend.stream import SpeechResponse
from companion.backend.timing import parse_retry_after
from companion.speech.types import Cancelled, CancelToken
from tests.support.reference_backend import ReferenceBackend, encode

TEXT = "Hello there."
PAYLOAD = {"model": "tts-1", "input": TEXT, "voice": "alloy", "response_format": "wav"}
SPEECH = "/openai/v1/audio/speech"


def make_client(backend: ReferenceBackend, **kwargs: float) -> BackendClient:
    options: dict[str, float] = {
        "connect_timeout": 2.0,
        "read_timeout": 1.0,  # the stall limit: generous, machines running tests are busy
        "backoff_base": 0.02,
        "backoff_max": 0.1,
        "poll_interval": 0.01,
    }
    options.update(kwargs)
    return BackendClient(
        base_url=options.pop("base_url", backend.url),  # type: ignore[arg-type]
        token=lambda: backend.token,
        connect_timeout=options["connect_timeout"],
        read_timeout=options["read_timeout"],
        backoff_base=options["backoff_base"],
        backoff_max=options["backoff_max"],
        poll_interval=options["poll_interval"],
        max_attempts=int(options.get("max_attempts", 3)),
    )


def speech_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "companion-backend-speech"]


@pytest.fixture
def client(reference_backend: ReferenceBackend) -> Iterator[BackendClient]:
    c = make_client(reference_backend)
    try:
        yield c
    finally:
        c.close()
        assert not speech_threads()


def read_speech(client: BackendClient, payload: dict[str, object] | None = None) -> bytes:
    with client.speech(payload or PAYLOAD, cancel=CancelToken()) as resp:
        return resp.read()


# --- JSON ------------------------------------------------------------------------------
def test_authed_json_unwraps_and_sends_headers(
    client: BackendClient, reference_backend: ReferenceBackend
) -> None:
    assert client.authed_json("GET", "/auth/me") == {"id": "u-1", "name": "Test User"}
    assert client.authed_json("POST", "/anything", {"a": 1}) == {
        "method": "POST",
        "path": "/anything",
    }
    assert client.authed_json("get", "/auth/me")["name"] == "Test User"
    for request in reference_backend.requests:
        assert request.headers["Authorization"] == f"Bearer {reference_backend.token}"
        assert request.headers["User-Agent"] == f"companion/{__version__}"
    assert reference_backend.requests[1].json == {"a": 1}
    assert reference_backend.connections == 1  # one session, the connection reused


def test_plain_json_is_returned_as_is(
    client: BackendClient, reference_backend: ReferenceBackend
) -> None:
    reference_backend.inject(status=200, body='{"value": [1, 2]}')
    assert client.authed_json("GET", "/plain") == {"value": [1, 2]}


def test_no_token_sends_no_authorization(reference_backend: ReferenceBackend) -> None:
    c = BackendClient(base_url=reference_backend.url, token=lambda: None)
    with c, pytest.raises(Unauthorized) as info:
        c.authed_json("GET", "/referral/stats")
    assert (info.value.method, info.value.path) == ("GET", "/referral/stats")
    assert "Authorization" not in reference_backend.requests[0].headers


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        ({"status": 401}, Unauthorized),
        ({"status": 403, "body": "html"}, HttpError),
        ({"status": 500, "body": "html"}, HttpError),
        ({"status": 402, "body": "budget"}, BudgetExhausted),
        ({"status": 400, "body": "budget"}, BudgetExhausted),
        ({"status": 400, "body": "json"}, HttpError),
        ({"status": 200, "body": '{"success": false, "message": "No credits"}'}, BudgetExhausted),
        ({"status": 200, "body": '{"success": false, "message": "nope"}'}, ProtocolError),
        ({"status": 200, "body": "html"}, ProtocolError),
        ({"status": 503, "retry_after": "7"}, Transient),
        ({"status": 520, "body": "html"}, Transient),
    ],
)
def test_authed_json_statuses(
    client: BackendClient,
    reference_backend: ReferenceBackend,
    fault: dict[str, object],
    kind: type[Exception],
) -> None:
    reference_backend.inject(**fault)
    with pytest.raises(kind) as info:
        client.authed_json("GET", "/referral/stats")
    err = info.value
    assert isinstance(err, BackendApiError)
    assert (err.method, err.path) == ("GET", "/referral/stats")
    if fault.get("retry_after"):
        assert isinstance(err, Transient) and err.retry_after == 7.0
    assert len(reference_backend.requests) == 1  # JSON calls are not retried


def test_message_not_found(client: BackendClient, reference_backend: ReferenceBackend) -> None:
    reference_backend.messages[("discord", "42")] = {"id": "42", "text": "hi"}
    assert client.authed_json("GET", "/channels/discord/messages/42")["id"] == "42"
    with pytest.raises(MessageNotFound) as info:
        client.authed_json("GET", "/channels/discord/messages/43")
    assert (info.value.provider, info.value.message_id) == ("discord", "43")


def test_openai_compatible_base_drops_openai(reference_backend: ReferenceBackend) -> None:
    with make_client(reference_backend, base_url=reference_backend.openai_url) as c:  # type: ignore[arg-type]
        assert c.openai_compatible
        assert c.openai_path("/openai/v1/audio/speech") == "/audio/speech"
        assert c.openai_path("/v1/chat/completions") == "/chat/completions"
        assert c.openai_path("audio/speech") == "/audio/speech"
        assert read_speech(c) == encode(TEXT, "wav")[0]
    assert reference_backend.requests[-1].path == "/v1/audio/speech"
    with make_client(reference_backend) as c:
        assert c.openai_path("/audio/speech") == "/openai/v1/audio/speech"
        assert c.openai_path("/v1/audio/speech") == "/openai/v1/audio/speech"


# --- connection failures -----------------------------------------------------------------
def test_reset_is_transient(client: BackendClient, reference_backend: ReferenceBackend) -> None:
    reference_backend.inject(reset=True)
    with pytest.raises(Transient) as info:
        client.authed_json("GET", "/auth/me")
    assert (info.value.status, info.value.reason) == (None, "reset")


def test_timeout_is_transient(client: BackendClient, reference_backend: ReferenceBackend) -> None:
    reference_backend.inject(hang=math.inf)
    with pytest.raises(Transient) as info:
        client.authed_json("GET", "/auth/me")
    assert info.value.reason == "timeout"


def test_cut_short_json_is_transient(
    client: BackendClient, reference_backend: ReferenceBackend
) -> None:
    reference_backend.inject(cut_short=True)
    with pytest.raises(Transient) as info:
        client.authed_json("GET", "/auth/me")
    assert info.value.reason == "cut_short"


def test_refused_is_transient() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    c = BackendClient(base_url=f"http://127.0.0.1:{port}", token=lambda: "t")
    with c, pytest.raises(Transient) as info:
        c.authed_json("GET", "/auth/me")
    assert info.value.reason == "refused"


def test_dns_failure_is_transient() -> None:
    c = BackendClient(base_url="http://companion-test.invalid", token=lambda: "t")
    with c, pytest.raises(Transient) as info:
        c.authed_json("GET", "/auth/me")
    assert info.value.reason == "dns"


def test_tls_failure_is_transient(reference_backend: ReferenceBackend) -> None:
    url = reference_backend.url.replace("http://", "https://")
    c = BackendClient(base_url=url, token=lambda: "t", read_timeout=2.0)
    with c, pytest.raises(Transient) as info:
        c.authed_json("GET", "/auth/me")
    assert info.value.reason == "tls"


# --- speech ------------------------------------------------------------------------------
@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize("fmt", ["wav", "pcm", "mp3", "opus", "flac"])
def test_speech_streams_every_format(
    client: BackendClient, reference_backend: ReferenceBackend, fmt: str, chunked: bool
) -> None:
    reference_backend.speech.chunked = chunked
    reference_backend.speech.chunk_size = 4096
    audio, mime = encode(TEXT, fmt)
    with client.speech({**PAYLOAD, "response_format": fmt}, cancel=CancelToken()) as resp:
        assert isinstance(resp, SpeechResponse)
        assert resp.content_type == mime
        assert resp.content_length == (None if chunked else len(audio))
        pieces = list(resp.iter_bytes())
    assert b"".join(pieces) == audio
    assert reference_backend.speech_requests()[0].json["input"] == TEXT


def test_speech_reuses_the_connection(
    client: BackendClient, reference_backend: ReferenceBackend
) -> None:
    for _ in range(3):
        read_speech(client)
    assert reference_backend.connections == 1


def test_first_bytes_arrive_before_the_body_ends(
    client: BackendClient, reference_backend: ReferenceBackend
) -> None:
    gate = threading.Event()
    reference_backend.speech.gate = gate
    reference_backend.speech.chunked = True
    reference_backend.speech.chunk_size = 1000
    with client.speech(PAYLOAD, cancel=CancelToken()) as resp:
        pieces = resp.iter_bytes()
        first = next(pieces)
        assert 0 < len(first) <= 1000 and not gate.is_set()  # the server is still holding
        gate.set()
        rest = b"".join(pieces)
    assert first + rest == encode(TEXT, "wav")[0]


@pytest.mark.parametrize("chunked", [False, True])
def test_body_cut_short_is_transient(
    client: BackendClient, reference_backend: ReferenceBackend, chunked: bool
) -> None:
    reference_backend.speech.chunked = chunked
    reference_backend.inject(cut_short=True)
    with pytest.raises(Transient) as info:
        read_speech(client)
    assert (info.value.status, info.value.reason) == (200, "cut_short")
    assert len(reference_backend.speech_requests()) == 1  # audio had arrived: no retry


def test_stall_mid_body_is_transient(
    client: BackendClient, reference_backend: ReferenceBackend
) -> None:
    reference_backend.inject(stall_after=100)
    with pytest.raises(Transient) as info:
        read_speech(client)
    assert info.value.reason == "stall"


def test_hang_before_headers_is_retried_then_transient(
    reference_backend: ReferenceBackend,
) -> None:
    reference_backend.inject(hang=math.inf, times=10)
    with make_client(reference_backend, read_timeout=0.4) as c, pytest.raises(Transient) as info:
        read_speech(c)
    assert (info.value.status, info.value.reason) == (None, "stall")
    assert len(reference_backend.speech_requests()) == 3


def test_transient_status_is_retried_honouring_retry_after(
    client: BackendClient, reference_backend: ReferenceBackend
) -> None:
    reference_backend.inject(status=503, retry_after="0.3", body="html")
    assert read_speech(client) == encode(TEXT, "wav")[0]
    first, second = reference_backend.speech_requests()
    assert second.at - first.at >= 0.3


def test_retries_are_bounded(client: BackendClient, reference_backend: ReferenceBackend) -> None:
    reference_backend.inject(status=429, times=10)
    with pytest.raises(Transient) as info:
        read_speech(client)
    assert (info.value.status, info.value.reason) == (429, "status")
    assert len(reference_backend.speech_requests()) == 3


def test_retry_after_beyond_the_deadline_gives_up_at_once(
    client: BackendClient, reference_backend: ReferenceBackend
) -> None:
    reference_backend.inject(status=503, retry_after="120", times=10)
    with pytest.raises(Transient) as info:
        read_speech(client)
    assert info.value.retry_after == 120.0
    assert len(reference_backend.speech_requests()) == 1


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        ({"status": 401}, Unauthorized),
        ({"status": 403}, HttpError),
        ({"status": 402, "body": "budget"}, BudgetExhausted),
        ({"status": 500, "body": "html"}, HttpError),
    ],
)
def test_speech_errors_are_not_retried(
    client: BackendClient,
    reference_backend: ReferenceBackend,
    fault: dict[str, object],
    kind: type[Exception],
) -> None:
    reference_backend.inject(**fault)
    with pytest.raises(kind) as info:
        read_speech(client)
    err = info.value
    assert isinstance(err, BackendApiError)
    assert (err.method, err.path) == ("POST", SPEECH)
    assert len(reference_backend.speech_requests()) == 1


def test_reset_before_audio_is_retried(
    client: BackendClient, reference_backend: ReferenceBackend
) -> None:
    reference_backend.inject(reset=True, times=2)
    assert read_speech(client) == encode(TEXT, "wav")[0]
    assert len(reference_backend.speech_requests()) == 3


def test_drip_is_bounded_by_the_deadline(
    client: BackendClient, reference_backend: ReferenceBackend
) -> None:
    reference_backend.inject(drip=0.02)  # a byte every 20 ms: never a stall, never done
    started = time.monotonic()
    with (
        pytest.raises(Transient) as info,
        client.speech(PAYLOAD, cancel=CancelToken(), deadline_s=1.0) as resp,
    ):
        for _ in resp.iter_bytes():
            pass
    elapsed = time.monotonic() - started
    assert info.value.reason == "deadline"
    assert elapsed < 1.5 + 0.5


def test_giving_up_takes_at_most_the_deadline(reference_backend: ReferenceBackend) -> None:
    """Hangs, stalls and backoff together never exceed the utterance deadline (60 s in
    production; 1.2 s here, with a 0.3 s stall limit and 5 attempts allowed)."""
    reference_backend.inject(hang=math.inf, times=100)
    with make_client(reference_backend, max_attempts=5, backoff_base=0.1, read_timeout=0.3) as c:
        started = time.monotonic()
        with pytest.raises(Transient):
            c.speech(PAYLOAD, cancel=CancelToken(), deadline_s=1.2)
        elapsed = time.monotonic() - started
    assert elapsed < 1.2 + 0.5


def test_cancel_stops_waiting_at_once(reference_backend: ReferenceBackend) -> None:
    reference_backend.inject(hang=math.inf)
    cancel = CancelToken()
    outcome: list[BaseException] = []
    with make_client(reference_backend, read_timeout=10.0) as c:

        def run() -> None:
            try:
                c.speech(PAYLOAD, cancel=cancel)
            except BaseException as exc:  # recorded for the assertion below
                outcome.append(exc)

        worker = threading.Thread(target=run)
        worker.start()
        while not reference_backend.speech_requests():
            time.sleep(0.01)  # a plain thread, not Qt: polling a list is fine here
        cancelled_at = time.monotonic()
        cancel.cancel()
        worker.join(5.0)
        assert time.monotonic() - cancelled_at < 1.0
    assert len(outcome) == 1 and isinstance(outcome[0], Cancelled)


def test_cancel_mid_body(client: BackendClient, reference_backend: ReferenceBackend) -> None:
    reference_backend.inject(stall_after=200)
    cancel = CancelToken()
    with client.speech(PAYLOAD, cancel=cancel) as resp:
        pieces = resp.iter_bytes()
        assert next(pieces)
        cancel.cancel()
        with pytest.raises(Cancelled):
            next(pieces)


def test_cancelled_before_start(client: BackendClient, reference_backend: ReferenceBackend) -> None:
    cancel = CancelToken()
    cancel.cancel()
    with pytest.raises(Cancelled):
        client.speech(PAYLOAD, cancel=cancel)
    assert not reference_backend.requests


def test_close_ends_reader_threads(reference_backend: ReferenceBackend) -> None:
    reference_backend.inject(stall_after=10)
    c = make_client(reference_backend, read_timeout=30.0)
    resp = c.speech(PAYLOAD, cancel=CancelToken())
    assert speech_threads()
    c.close()
    assert not speech_threads()
    resp.close()


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(None, None), ("", None), ("5", 5.0), (" 0.5 ", 0.5), ("-3", 0.0), ("soon", None)],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value) == seconds


def test_parse_retry_after_http_date() -> None:
    now = time.time()
    assert parse_retry_after(formatdate(now + 30, usegmt=True), now=now) == pytest.approx(30, abs=1)


def test_retry_after_from_every_header_servers_use() -> None:
    from requests.structures import CaseInsensitiveDict

    from companion.backend.timing import retry_after_of

    def of(**headers: str) -> float | None:
        return retry_after_of(CaseInsensitiveDict(headers))

    assert of(**{"Retry-After": "3"}) == 3.0
    assert of(**{"retry-after-ms": "1500"}) == 1.5  # OpenAI
    assert of(**{"llm_provider-retry-after": "2"}) == 2.0  # LiteLLM, forwarding its upstream's
    assert of(**{"Retry-After": "soon", "retry-after-ms": "250"}) == 0.25
    assert of(**{"retry-after-ms": "nan"}) is None and of(**{"retry-after-ms": "-5"}) is None
    assert of() is None
