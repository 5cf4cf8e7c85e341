# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import pickle

import pytest

from companion.backend.errors import (
    BackendApiError,
    BudgetExhausted,
    FormatRefused,
    HttpError,
    MessageNotFound,
    ModelNotFound,
    NoChatRoute,
    NoModelsRoute,
    NoSpeechRoute,
    ProtocolError,
    RedirectRefused,
    Transient,
    Unauthorized,
    UnsupportedAudio,
    clean_path,
)

SECRET = "tok-0123456789abcdef"

ALL: list[BackendApiError] = [
    Unauthorized("post", "/openai/v1/audio/speech", body_chars=12),
    MessageNotFound("discord", "123", method="DELETE"),
    BudgetExhausted("POST", "/openai/v1/chat/completions", 402, body_chars=40),
    Transient("POST", "/openai/v1/audio/speech", 503, "status", 2.5, body_chars=3),
    Transient("GET", "/auth/me", None, "reset"),
    HttpError("GET", "/referral/stats", 403, body_chars=900),
    ProtocolError("POST", "/openai/v1/audio/speech", "undecodable audio/wav", status=200),
    Unauthorized("POST", "/v1/chat/completions", status=400, body_chars=90),
    ModelNotFound("POST", "/v1/audio/speech", 404, "tts-9", body_chars=10),
    ModelNotFound("POST", "/v1/chat/completions", 400),
    NoSpeechRoute("POST", "/v1/audio/speech", 405),
    NoChatRoute("POST", "/v1/chat/completions", 404),
    NoModelsRoute("GET", "/v1/models", 404),
    FormatRefused("POST", "/v1/audio/speech", 422, body_chars=200),
    UnsupportedAudio("POST", "/v1/audio/speech", "pcm_rate", status=200),
    UnsupportedAudio("POST", "/v1/audio/speech", "refused", status=400),
    RedirectRefused(
        "POST", "/v1/audio/speech", 307, "other_origin", origin="http://a", target="http://b:81"
    ),
    RedirectRefused("GET", "/auth/me", 302, "too_many", origin="http://a:8000"),
    RedirectRefused("GET", "/auth/me", 304, "no_location"),
]


@pytest.mark.parametrize("err", ALL, ids=lambda e: type(e).__name__)
def test_attributes_and_pickling(err: BackendApiError) -> None:
    assert err.method == err.method.upper()
    assert err.path.startswith("/")
    assert err.user_message and "\n" not in err.user_message
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is type(err)
    assert vars(copy) == vars(err)
    assert str(copy) == str(err)
    assert copy.args == err.args


def test_statuses() -> None:
    assert Unauthorized("GET", "/x").status == 401
    assert MessageNotFound("p", "1").status == 404
    assert MessageNotFound("p", "1").path == "/channels/p/messages/1"
    assert Transient("GET", "/x", None, "timeout").status is None
    assert ProtocolError("GET", "/x", "bad").status is None
    assert HttpError("GET", "/x", 418).user_message.endswith("(HTTP 418).")


def test_query_strings_never_kept() -> None:
    err = Unauthorized("GET", f"/auth/me?token={SECRET}#frag")
    assert err.path == "/auth/me"
    assert SECRET not in str(err) and SECRET not in repr(err)
    assert clean_path("") == "/"
    assert clean_path("/a?b=c") == "/a"


def test_str_names_request_not_body() -> None:
    err = HttpError("GET", "/referral/stats", 500, body_chars=1234)
    assert str(err) == "HttpError: GET /referral/stats (500)"
    t = Transient("POST", "/v1/audio/speech", 429, "status", 3.0)
    assert str(t) == "Transient: POST /v1/audio/speech (429, status, retry after 3s)"
    assert all(isinstance(e, BackendApiError) and isinstance(e, Exception) for e in ALL)


def test_what_the_new_errors_say() -> None:
    assert Unauthorized("GET", "/x", status=403).status == 403
    assert (
        "\u201ctts-9\u201d" in ModelNotFound("POST", "/v1/audio/speech", 404, "tts-9").user_message
    )
    assert "voice model" in ModelNotFound("POST", "/v1/audio/speech", 404, "m").user_message
    assert "voice model" not in ModelNotFound("POST", "/v1/chat/completions", 400).user_message
    assert "sample rate" in UnsupportedAudio("POST", "/x", "pcm_rate").user_message
    assert UnsupportedAudio("POST", "/x", "refused").reason == "refused"
    assert all(e.action == "settings" for e in (UnsupportedAudio("POST", "/x", "codec"),
                                                   NoChatRoute("POST", "/x", 404)))  # fmt: skip


def test_what_a_refused_redirect_says() -> None:
    moved = RedirectRefused("GET", "/x", 301, "other_origin", origin="http://h", target="https://h")
    assert moved.user_message == (
        "The server at http://h redirected to another address (https://h); Companion does not "
        "follow it. If the server moved, set the backend address to https://h in Settings."
    )
    assert str(moved) == "RedirectRefused: GET /x (301, other_origin)"  # no address in reports
    odd = RedirectRefused("GET", "/x", 302, "other_origin", origin="http://h")
    assert "not a web server's" in odd.user_message
    assert "(HTTP 304)" in RedirectRefused("GET", "/x", 304, "no_location").user_message
    assert RedirectRefused.action == "settings"
