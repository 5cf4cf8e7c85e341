# SPDX-License-Identifier: GPL-3.0-or-later
"""Error bodies as real servers write them (copied from LiteLLM, local-tts-studio, tts-daemon,
vLLM, LM Studio, Ollama, OpenAI), read into one shape; any other text never raises."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from companion.backend import openai_errors

LITELLM_NO_DB = (
    '{"error":{"message":"No connected db.","type":"no_db_connection","param":null,"code":"400"}}'
)
LITELLM_BAD_MODEL = (
    '{"error":{"message":"/chat/completions: Invalid model name passed in model=gpt-9. Call '
    '`/v1/models` to view available models for your key.","type":"invalid_request_error",'
    '"param":null,"code":"400"}}'
)
LITELLM_SPEECH_MODEL = (
    '{"detail":{"error":"/audio/speech: Invalid model name passed in model=tts-1. Call '
    '`/v1/models` to view available models for your key."}}'
)
LOCAL_TTS_FORMAT = (
    '{"error":{"message":"response_format \'mp3\' needs the ffmpeg binary on the server host, '
    "which was not found. Use 'wav' (default) or 'pcm', or install ffmpeg.\",\"type\":"
    '"invalid_request_error","param":null,"code":"unsupported_response_format"}}'
)
LOCAL_TTS_KEY = (
    '{"error":{"message":"Incorrect API key provided.","type":"invalid_request_error",'
    '"param":null,"code":"invalid_api_key"}}'
)
TTS_DAEMON_FORMAT = (
    "{\"detail\":\"provider 'piper' produces 'wav' audio and this endpoint never transcodes, "
    "so response_format 'pcm' cannot be served by it. Use response_format='wav'.\"}"
)
TTS_DAEMON_KEY = '{"detail":"Missing or invalid bearer token. Send \'Authorization: Bearer <t>\'"}'
VLLM_MODEL = (
    '{"object":"error","message":"The model `llama-9` does not exist.","type":"NotFoundError",'
    '"param":null,"code":404}'
)
LM_STUDIO_ROUTE = '{"error":"Unexpected endpoint or method. (POST /v1/audio/speech)"}'
OLLAMA_MODEL = (
    '{"error":{"message":"model \\"llama3\\" not found, try pulling it first","type":"api_error",'
    '"param":null,"code":null}}'
)
OPENAI_QUOTA = (
    '{"error":{"message":"You exceeded your current quota, please check your plan and billing '
    'details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}'
)
FASTAPI_VALIDATION = (
    '{"detail":[{"type":"literal_error","loc":["body","response_format"],'
    '"msg":"Input should be \'mp3\', \'opus\' or \'wav\'","input":"pcm"}]}'
)


@pytest.mark.parametrize(
    ("body", "auth", "model", "fmt"),
    [
        (LITELLM_NO_DB, True, False, False),
        (LITELLM_BAD_MODEL, False, True, False),
        (LITELLM_SPEECH_MODEL, False, True, False),
        (LOCAL_TTS_FORMAT, False, False, True),
        (LOCAL_TTS_KEY, True, False, False),
        (TTS_DAEMON_FORMAT, False, False, True),
        (TTS_DAEMON_KEY, True, False, False),
        (VLLM_MODEL, False, True, False),
        (OLLAMA_MODEL, False, True, False),
        (OPENAI_QUOTA, False, False, False),
        (FASTAPI_VALIDATION, False, False, True),
        ("<html><body>404 Not Found</body></html>", False, False, False),
        ("", False, False, False),
    ],
)
def test_real_servers_bodies(body: str, auth: bool, model: bool, fmt: bool) -> None:
    error = openai_errors.parse(body)
    assert error.says_unauthorized() is auth
    assert error.says_model_not_found() is model
    assert error.names_format() is fmt


def test_fields() -> None:
    error = openai_errors.parse(LITELLM_NO_DB)
    assert (error.message, error.type, error.code, error.param) == (
        "No connected db.",
        "no_db_connection",
        "400",
        "",
    )
    assert error.structured and error.text == LITELLM_NO_DB
    assert openai_errors.parse(VLLM_MODEL).code == "404"
    assert openai_errors.parse(FASTAPI_VALIDATION).param == "response_format"
    assert openai_errors.parse(LM_STUDIO_ROUTE).says_no_route()
    assert openai_errors.parse(OPENAI_QUOTA).status_hint() == 402
    assert openai_errors.parse('{"error": {"param": "None", "type": "x"}}').param == ""


def test_error_documents() -> None:
    assert openai_errors.is_error_document(json.loads(LM_STUDIO_ROUTE))
    assert openai_errors.is_error_document(json.loads(VLLM_MODEL))
    assert openai_errors.is_error_document({"detail": "Not Found"})
    assert not openai_errors.is_error_document({"audio": "…", "detail": "x"})
    assert not openai_errors.is_error_document({"error": None, "audio_base64": "AAAA"})
    assert not openai_errors.is_error_document([1, 2])


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["error", "message", "type", "code", "param", "detail", "object", "x"]),
            inner,
            max_size=5,
        )
    ),
    max_leaves=12,
)


@given(doc=_json)
def test_any_json_is_read_without_raising(doc: object) -> None:
    error = openai_errors.parse(json.dumps(doc))
    for check in (error.says_unauthorized, error.says_model_not_found, error.names_format):
        assert isinstance(check(), bool)
    assert error.status_hint() in (None, 400, 401, 402, 403, 404, 429, 503, 504)


@given(text=st.text(max_size=200))
def test_any_text_is_read_without_raising(text: str) -> None:
    error = openai_errors.parse(text)
    assert isinstance(error.message, str)
