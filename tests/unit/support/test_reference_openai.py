# SPDX-License-Identifier: GPL-3.0-or-later
"""The reference backend, with OpenAI's own SDK as its client: if the SDK reads it as the real
API (speech in every format it lists, streamed chat, the model list, the error bodies and
their classes), the reference cannot drift from the API again."""

from __future__ import annotations

import io
from collections.abc import Iterator

import openai
import pytest

from companion.backend import policy
from companion.backend.errors import FormatRefused, ModelNotFound, Unauthorized
from companion.speech.decode import decode_audio
from tests.support.reference_audio import OPENAI_FORMATS, PCM_RATE, PIPER_RATE, synthesize
from tests.support.reference_backend import Fault, ReferenceBackend
from tests.support.reference_chat import DEFAULT_REPLY, install_chat

TEXT = "The quick brown fox reads the news aloud."
MAGIC = {
    "wav": (b"RIFF",),
    "mp3": (b"ID3", b"\xff\xfb", b"\xff\xf3", b"\xff\xe3"),
    "opus": (b"OggS",),
    "flac": (b"fLaC",),
    "aac": (b"\xff\xf1", b"\xff\xf9"),
}


@pytest.fixture
def sdk(reference_backend: ReferenceBackend) -> Iterator[openai.OpenAI]:
    client = openai.OpenAI(
        base_url=reference_backend.openai_url, api_key=reference_backend.token, max_retries=0
    )
    try:
        yield client
    finally:
        client.close()


def _seconds(data: bytes, fmt: str) -> float:
    """How long the audio lasts (AAC through PyAV: libsndfile does not read it)."""
    if fmt == "aac":
        import av

        with av.open(io.BytesIO(data), format="aac") as container:
            frames = [f.to_ndarray() for f in container.decode(audio=0)]
        return float(sum(f.shape[-1] for f in frames)) / PCM_RATE
    mime = {"wav": "audio/wav", "mp3": "audio/mpeg", "opus": "audio/ogg", "flac": "audio/flac"}
    samples = decode_audio(data, mime.get(fmt, "audio/pcm"), target_rate=PIPER_RATE)
    return len(samples) / PIPER_RATE


@pytest.mark.parametrize("fmt", OPENAI_FORMATS)
def test_speech_in_every_format_the_sdk_lists(sdk: openai.OpenAI, fmt: str) -> None:
    answer = sdk.audio.speech.create(
        model="tts-1",
        voice="alloy",
        input=TEXT,
        response_format=fmt,  # type: ignore[arg-type]
    )
    data = answer.read()
    if fmt == "pcm":
        assert answer.response.headers["content-type"] == "audio/pcm"
        assert len(data) % 2 == 0
    else:
        assert data.startswith(MAGIC[fmt]), data[:4]
    expected = len(synthesize(TEXT)) / PIPER_RATE
    assert abs(_seconds(data, fmt) - expected) < 0.08  # codecs pad a little


def test_streamed_chat(sdk: openai.OpenAI, reference_backend: ReferenceBackend) -> None:
    install_chat(reference_backend)
    stream = sdk.chat.completions.create(
        model="reference", messages=[{"role": "user", "content": "Hello"}], stream=True
    )
    parts = [c.choices[0].delta.content or "" for c in stream if c.choices]
    assert "".join(parts) == DEFAULT_REPLY
    assert len(parts) > 10  # token by token, not one piece


def test_models(sdk: openai.OpenAI, reference_backend: ReferenceBackend) -> None:
    ids = [m.id for m in sdk.models.list()]
    assert ids == reference_backend.models and "tts-1" in ids
    assert sdk.models.retrieve("tts-1").id == "tts-1"
    with pytest.raises(openai.NotFoundError) as info:
        sdk.models.retrieve("gpt-99")
    assert info.value.code == "model_not_found"


def test_a_wrong_key_is_the_sdks_authentication_error(
    reference_backend: ReferenceBackend,
) -> None:
    with openai.OpenAI(
        base_url=reference_backend.openai_url, api_key="sk-wrong", max_retries=0
    ) as wrong:
        with pytest.raises(openai.AuthenticationError) as info:
            wrong.audio.speech.create(model="tts-1", voice="alloy", input=TEXT)
        assert info.value.code == "invalid_api_key"
        with pytest.raises(openai.AuthenticationError):
            wrong.chat.completions.create(
                model="reference", messages=[{"role": "user", "content": "Hi"}]
            )
    body = info.value.response.text
    assert isinstance(policy.classify("POST", "/v1/audio/speech", 401, body), Unauthorized)


def test_speech_429_carries_retry_after(
    sdk: openai.OpenAI, reference_backend: ReferenceBackend
) -> None:
    reference_backend.inject(Fault(status=429, path="/v1/audio/speech"))
    with pytest.raises(openai.RateLimitError) as info:
        sdk.audio.speech.create(model="tts-1", voice="alloy", input=TEXT)
    assert info.value.response.headers["retry-after"] == "1"
    assert info.value.code == "rate_limit_exceeded"


def test_unknown_model_and_refused_format(
    sdk: openai.OpenAI, reference_backend: ReferenceBackend
) -> None:
    reference_backend.strict_models = True
    with pytest.raises(openai.NotFoundError) as missing:
        sdk.audio.speech.create(model="tts-9", voice="alloy", input=TEXT)
    assert missing.value.code == "model_not_found"
    err = policy.classify(
        "POST", "/v1/audio/speech", 404, missing.value.response.text, model="tts-9"
    )
    assert isinstance(err, ModelNotFound) and err.model == "tts-9"

    reference_backend.speech.refuse_formats = frozenset({"mp3"})
    with pytest.raises(openai.BadRequestError) as refused:
        sdk.audio.speech.create(model="tts-1", voice="alloy", input=TEXT, response_format="mp3")
    assert refused.value.param == "response_format"
    body = refused.value.response.text
    assert isinstance(policy.classify("POST", "/v1/audio/speech", 400, body), FormatRefused)


def test_no_speech_route_is_a_404(sdk: openai.OpenAI, reference_backend: ReferenceBackend) -> None:
    reference_backend.speech.route = False
    with pytest.raises(openai.NotFoundError):
        sdk.audio.speech.create(model="tts-1", voice="alloy", input=TEXT)


def test_a_mid_stream_error_event_is_the_sdks_api_error(
    sdk: openai.OpenAI, reference_backend: ReferenceBackend
) -> None:
    install_chat(reference_backend).inject(after=4, kind="error", status=500)
    stream = sdk.chat.completions.create(
        model="reference", messages=[{"role": "user", "content": "Hello"}], stream=True
    )
    parts: list[str] = []
    with pytest.raises(openai.APIError):
        for chunk in stream:
            parts.append(chunk.choices[0].delta.content or "" if chunk.choices else "")
    assert "".join(parts)  # the text before the error arrived
