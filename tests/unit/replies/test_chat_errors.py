# SPDX-License-Identifier: GPL-3.0-or-later
"""What a failed chat reply says: by what had arrived, which model was missing, no chat route."""

from __future__ import annotations

from typing import Any

import pytest

from companion.backend.client import BackendClient
from companion.backend.errors import ModelNotFound, NoChatRoute, Transient
from companion.replies.chat import (
    ChatRequest,
    ChatResult,
    build_request,
    chat_user_message,
    error_from_event,
    stream_chat,
)
from companion.speech.types import CancelToken
from tests.support.reference_backend import ReferenceBackend
from tests.support.reference_chat import install_chat

CHAT = "/openai/v1/chat/completions"


def _client(backend: ReferenceBackend, **kw: Any) -> BackendClient:
    return BackendClient(base_url=backend.url, token=lambda: backend.token, backoff_base=0.02, **kw)


def _request() -> ChatRequest:
    return build_request(1, system_prompt="", history=[("user", "Hi")], model="m-1")


@pytest.fixture
def chat_backend(reference_backend: ReferenceBackend) -> ReferenceBackend:
    install_chat(reference_backend)
    return reference_backend


def test_cut_short_only_when_text_had_arrived() -> None:
    err = Transient("POST", CHAT, None, "reset")
    before = ChatResult(1, "failed", err, chars=0).user_message
    after = ChatResult(1, "failed", err, chars=42).user_message
    assert "broke before any reply arrived" in before and "cut short" not in before
    assert "cut short" in after and "before any reply" not in after


def test_an_unknown_model_names_itself_and_offers_settings(chat_backend: ReferenceBackend) -> None:
    chat_backend.strict_models = True
    with _client(chat_backend) as client, pytest.raises(ModelNotFound) as info:
        list(stream_chat(client, _request(), cancel=CancelToken()))
    assert info.value.model == "m-1" and info.value.action == "settings"
    assert "\u201cm-1\u201d" in chat_user_message(info.value) and "Settings" in chat_user_message(
        info.value
    )
    mid_stream = error_from_event(CHAT, {"error": {"code": "model_not_found", "message": "gone"}})
    assert isinstance(mid_stream, ModelNotFound)


def test_a_server_without_chat(reference_backend: ReferenceBackend) -> None:
    reference_backend.inject(status=405, path=CHAT, body="Method Not Allowed")
    with _client(reference_backend) as client, pytest.raises(NoChatRoute) as info:
        list(stream_chat(client, _request(), cancel=CancelToken()))
    assert "Settings" in chat_user_message(info.value)
