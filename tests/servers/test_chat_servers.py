# SPDX-License-Identifier: GPL-3.0-or-later
"""The app's chat client against LiteLLM's proxy (no database) and an npm OpenAI mock.

LiteLLM answers with its own ``mock_response`` models (a streamed reply, a rate-limit error
without ``Retry-After``), passes on its upstream's faults (the reference backend's assistant:
a 429 whose ``Retry-After`` it forwards as ``llm_provider-retry-after``, an error event in the
middle of the stream), refuses an unknown model and a wrong key (400 "No connected db."). Each
becomes what the status table says, with the message the user sees; ``companion ask --print``
(the mascot as a process) prints the reply, and exits 3 with a wrong key.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from companion import telemetry
from companion.backend import policy
from companion.backend.client import BackendClient
from companion.backend.errors import HttpError, ModelNotFound, Transient, Unauthorized
from companion.replies.chat import ChatRequest, chat_user_message, stream_chat
from companion.speech.types import CancelToken
from tests.servers.conftest import companion_env, result, run_companion, write_settings
from tests.servers.servers import MOCK_REPLY, RIGHT_KEY, WRONG_KEY, Running
from tests.support.fixtures import RecordingTransport
from tests.support.reference_backend import Fault
from tests.support.reference_chat import DEFAULT_REPLY, ReferenceChat

CHAT = "/v1/chat/completions"


def _client(server: Running, key: str | None = RIGHT_KEY) -> BackendClient:
    return BackendClient(
        base_url=server.base_url, token=lambda: key, backoff_base=0.05, read_timeout=30.0
    )


def _ask(model: str, text: str = "Say hello") -> ChatRequest:
    return ChatRequest(1, (("user", text),), model)


def _stream(server: Running, model: str, key: str | None = RIGHT_KEY) -> tuple[str, int]:
    """The reply's text and how many pieces it came in."""
    with _client(server, key) as client:
        parts = list(stream_chat(client, _ask(model), cancel=CancelToken()))
    return "".join(parts), len(parts)


def test_litellm_streams_a_mock_reply(litellm: Running) -> None:
    text, pieces = _stream(litellm, "mock-chat")
    result("litellm", "chat_stream", chars=len(text), pieces=pieces)
    assert text == MOCK_REPLY and pieces > 5


def test_litellm_streams_its_upstream(litellm: Running, upstream_chat: ReferenceChat) -> None:
    text, pieces = _stream(litellm, "upstream")
    assert text == DEFAULT_REPLY and pieces > 10


def test_litellm_429_without_retry_after(
    litellm: Running, sentry_transport: RecordingTransport
) -> None:
    with pytest.raises(Transient) as info:
        _stream(litellm, "mock-429")
    err = info.value
    telemetry_events = len(sentry_transport.events)
    result("litellm", "chat_429_no_retry_after", error=type(err).__name__, status=err.status,
           retry_after=err.retry_after, reports=telemetry_events)  # fmt: skip
    assert (err.status, err.retry_after) == (429, None)
    assert "busy (HTTP 429)" in chat_user_message(err) and telemetry_events == 0


def test_litellm_429_with_retry_after_is_honoured(
    litellm: Running, upstream_chat: ReferenceChat
) -> None:
    backend = upstream_chat.backend
    before = len(backend.requests)
    backend.inject(Fault(status=429, retry_after="2", path=CHAT))
    started = time.monotonic()
    text, _ = _stream(litellm, "upstream")
    took = time.monotonic() - started
    attempts = [r for r in backend.requests[before:] if r.path == CHAT]
    result("litellm", "chat_429_retry_after", waited_s=f"{took:.1f}", attempts=len(attempts))
    assert text == DEFAULT_REPLY
    assert len(attempts) == 2 and attempts[1].at - attempts[0].at >= 2.0


def test_litellm_error_event_mid_stream(
    litellm: Running, upstream_chat: ReferenceChat, sentry_transport: RecordingTransport
) -> None:
    upstream_chat.inject(after=6, kind="error", status=502)
    parts: list[str] = []
    with _client(litellm) as client, pytest.raises(HttpError) as info:
        for part in stream_chat(client, _ask("upstream"), cancel=CancelToken()):
            parts.append(part)
    err = info.value
    telemetry.log_backend_error(err, operation="chat")
    message = chat_user_message(err, chars=len("".join(parts)))
    reports = len(sentry_transport.events)
    result("litellm", "chat_error_mid_stream", chars=len("".join(parts)),
           error=type(err).__name__, status=err.status, reports=reports)  # fmt: skip
    assert parts and DEFAULT_REPLY.startswith("".join(parts))  # the text so far is kept
    # LiteLLM relays every upstream failure mid-stream as code "500": the table's HttpError.
    assert err.status == 500 and "HTTP 500" in message
    assert len(sentry_transport.events) == 1


def test_litellm_unknown_model(litellm: Running, sentry_transport: RecordingTransport) -> None:
    with pytest.raises(ModelNotFound) as info:
        _stream(litellm, "gpt-nonesuch")
    err = info.value
    telemetry.log_backend_error(err, operation="chat")
    result("litellm", "chat_unknown_model", error=type(err).__name__, status=err.status,
           model=err.model, reports=len(sentry_transport.events))  # fmt: skip
    assert (err.status, err.model) == (400, "gpt-nonesuch")
    assert "\u201cgpt-nonesuch\u201d" in chat_user_message(err) and err.action == "settings"
    assert sentry_transport.events == []


def test_litellm_wrong_key(litellm: Running, sentry_transport: RecordingTransport) -> None:
    with pytest.raises(Unauthorized) as info:
        _stream(litellm, "mock-chat", key=WRONG_KEY)
    assert info.value.status == 400  # LiteLLM without its database: "No connected db."
    assert not policy.should_report(info.value)
    result("litellm", "chat_wrong_key", error="Unauthorized", status=400, reports=0)


def test_mock_llm_chats(mock_llm: Running) -> None:
    text, pieces = _stream(mock_llm, "gpt-4", key=None)
    result("mock-llm", "chat_stream", chars=len(text), pieces=pieces)
    assert text == "Say hello"  # it echoes the question


@pytest.mark.usefixtures("mascot_processes")
def test_ask_print_through_the_mascot(litellm: Running, _private_config_dir: Path) -> None:
    write_settings(_private_config_dir, engine="espeak", chat_model="mock-chat")
    env = companion_env(_private_config_dir, litellm, RIGHT_KEY)
    done = run_companion(["ask", "--print", "Say hello"], env)
    result("litellm", "ask_print", exit=done.returncode)
    assert done.returncode == 0, done.stderr
    assert done.stdout == MOCK_REPLY + "\n" and done.stderr == ""


@pytest.mark.usefixtures("mascot_processes")
def test_ask_with_a_wrong_key_exits_3(litellm: Running, _private_config_dir: Path) -> None:
    write_settings(_private_config_dir, engine="espeak", chat_model="mock-chat")
    env = companion_env(_private_config_dir, litellm, WRONG_KEY, COMPANION_ASK_SIGN_IN_WAIT="3")
    done = run_companion(["ask", "--print", "Say hello"], env)
    lines = done.stderr.splitlines()
    result("litellm", "ask_wrong_key", exit=done.returncode, lines=len(lines))
    assert done.returncode == 3, done.stderr
    assert done.stdout == ""
    assert "Sign in" in done.stderr and lines[-1].startswith("companion ask: still signed out")
    assert "Traceback" not in done.stderr and WRONG_KEY not in done.stderr
