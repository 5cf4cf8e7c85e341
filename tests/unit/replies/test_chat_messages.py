# SPDX-License-Identifier: GPL-3.0-or-later
"""Chat failures written for people: what happened, what to do, the URL where it is the
problem, no class names; Retry only where asking again can help."""

from __future__ import annotations

import re

import pytest

from companion.backend.errors import (
    HttpError,
    ModelNotFound,
    NoChatRoute,
    NotSent,
    RedirectRefused,
    Transient,
)
from companion.replies.chat_messages import ChatUnavailable, chat_action, chat_user_message
from companion.vocab import BubbleAction

CHAT = "/v1/chat/completions"
URL = "http://127.0.0.1:11434/v1"
CLASS_NAME = re.compile(r"\b[A-Z][a-z]+[A-Z]\w*\b")  # InvalidURL, ConnectionError, …


@pytest.mark.parametrize(
    ("error", "words", "action"),
    [
        (ChatUnavailable(), ["No chat server is set", "COMPANION_BACKEND_URL"], "settings"),
        (
            ChatUnavailable("htp//x", "it does not start with http:// or https://"),
            ["\u201chtp//x\u201d", "Settings"],
            "settings",
        ),
        (Transient("POST", CHAT, None, "refused"), [URL, "start the chat server"], "retry_chat"),
        (Transient("POST", CHAT, None, "dns"), [URL, "does not resolve"], "settings"),
        (Transient("POST", CHAT, None, "tls"), [URL, "https://"], "settings"),
        (Transient("POST", CHAT, None, "stall"), ["did not answer in time"], "retry_chat"),
        (Transient("POST", CHAT, 429, "status"), ["busy", "429"], "retry_chat"),
        (Transient("POST", CHAT, 503, "status"), ["503"], "retry_chat"),
        (NoChatRoute("POST", CHAT, 404), [URL, "does not chat"], "settings"),
        (ModelNotFound("POST", CHAT, 404, "llama9"), ["\u201cllama9\u201d"], "settings"),
        (HttpError("POST", CHAT, 500), ["HTTP 500"], "retry_chat"),
        (ValueError("boom"), ["Try again"], "retry_chat"),
    ],
)
def test_each_failure_says_what_to_do(error: BaseException, words: list[str], action: str) -> None:
    line = chat_user_message(error, url=URL)
    assert all(w in line for w in words), line
    assert "cut short" not in line and "\n" not in line
    assert not CLASS_NAME.search(line.replace("OpenAI", "")), line
    assert chat_action(error) == BubbleAction(action)


def test_credentials_in_the_url_are_not_shown() -> None:
    line = chat_user_message(
        Transient("POST", CHAT, None, "refused"), url="http://me:pw@h:1/v1?key=k"
    )
    assert "http://h:1/v1" in line and "pw" not in line and "key=" not in line


def test_a_refused_redirect_names_both_origins_and_offers_settings() -> None:
    err = RedirectRefused(
        "POST", "/v1/chat/completions", 308, "other_origin", origin="http://a", target="http://b"
    )
    line = chat_user_message(err)
    assert "http://a" in line and "http://b" in line and "does not follow" in line
    assert chat_action(err) == BubbleAction.SETTINGS


def test_a_request_not_sent_says_why_and_offers_settings() -> None:
    bad = NotSent(
        "POST", CHAT, "bad_token", problem="it contains a colon", source="COMPANION_TOKEN"
    )
    assert chat_user_message(bad).startswith("COMPANION_TOKEN cannot be used (it contains a colon)")
    plain = NotSent("POST", CHAT, "plain_http", origin="http://192.0.2.9:8000")
    assert "plain HTTP to http://192.0.2.9:8000" in chat_user_message(plain)
    assert chat_action(bad) == chat_action(plain) == BubbleAction.SETTINGS
