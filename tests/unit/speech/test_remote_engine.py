# SPDX-License-Identifier: GPL-3.0-or-later
"""The remote engine against the reference backend: both shapes, every format, streaming."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from companion.backend.client import BackendClient
from companion.backend.errors import (
    BudgetExhausted,
    ModelNotFound,
    NoSpeechRoute,
    ProtocolError,
    Transient,
    Unauthorized,
    UnsupportedAudio,
)
from companion.speech.formats import FormatMemory
from companion.speech.remote_engine import RemoteEngine, parse_alignment, parse_cues
from companion.speech.types import AudioChunk, CancelToken, CharAlignment, VisemeCue
from companion.speech.visemes import VISEMES
from tests.support.reference_backend import (
    FORMATS,
    PCM_STYLES,
    PIPER_RATE,
    JsonStyle,
    ReferenceBackend,
    synthesize,
)

RATE = 22050
TEXT = "Good morning, friend."


@pytest.fixture
def client(reference_backend: ReferenceBackend) -> Iterator[BackendClient]:
    c = BackendClient(
        base_url=reference_backend.url,
        token=lambda: reference_backend.token,
        read_timeout=2.0,
        backoff_base=0.02,
        poll_interval=0.01,
    )
    try:
        yield c
    finally:
        c.close()


def engine(client: BackendClient, fmt: str = "pcm") -> RemoteEngine:
    return RemoteEngine(client=client, sample_rate=RATE, response_format=fmt)


def speak(eng: RemoteEngine, text: str = TEXT) -> list[AudioChunk]:
    return list(eng.synthesize(text, voice=None, speed=1.0, cancel=CancelToken()))


def joined(chunks: list[AudioChunk]) -> np.ndarray:
    assert all(c.sample_rate == RATE for c in chunks)
    return np.concatenate([c.samples for c in chunks])


def assert_is_the_speech(samples: np.ndarray, text: str = TEXT) -> None:
    expected = len(synthesize(text)) * RATE / PIPER_RATE
    assert samples.dtype == np.float32
    # Codecs pad (MP3, Opus pre-skip): same length within 60 ms.
    assert abs(len(samples) - expected) < 0.06 * RATE
    assert float(np.sqrt(np.mean(samples**2))) > 0.02
    assert float(np.max(np.abs(samples))) <= 1.0


def test_request_body(client: BackendClient, reference_backend: ReferenceBackend) -> None:
    eng = RemoteEngine(client=client, sample_rate=RATE, model="tts-x", default_voice="nova")
    list(eng.synthesize(TEXT, voice=None, speed=1.25, cancel=CancelToken()))
    list(eng.synthesize(TEXT, voice="echo", speed=1.0, cancel=CancelToken()))
    first, second = (r.json for r in reference_backend.speech_requests())
    assert first == {
        "model": "tts-x",
        "input": TEXT,
        "voice": "nova",
        "response_format": "wav",  # auto asks for WAV first (self-describing)
        "speed": 1.25,
        "text": TEXT,
        "with_visemes": True,
    }
    assert second["voice"] == "echo"
    assert eng.name == "remote"


@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_raw_audio_every_format(
    client: BackendClient, reference_backend: ReferenceBackend, fmt: str, chunked: bool
) -> None:
    reference_backend.speech.chunked = chunked
    chunks = speak(engine(client, fmt))
    assert_is_the_speech(joined(chunks))
    assert chunks[0].text == TEXT and all(c.text == "" for c in chunks[1:])
    assert all(c.visemes is None and c.alignment is None for c in chunks)


@pytest.mark.parametrize("fmt", ["pcm", "wav", "wav24", "wav_float"])
def test_streamed_audio_yields_before_the_body_ends(
    client: BackendClient, reference_backend: ReferenceBackend, fmt: str
) -> None:
    gate = threading.Event()
    reference_backend.speech.gate = gate  # the server sends one piece, then waits
    reference_backend.speech.chunked = True
    reference_backend.speech.chunk_size = 4096
    chunks = engine(client, fmt).synthesize(TEXT, voice=None, speed=1.0, cancel=CancelToken())
    first = next(chunks)
    assert not gate.is_set()
    assert len(first.samples) > 0 and first.text == TEXT
    gate.set()
    rest = list(chunks)
    assert rest
    assert_is_the_speech(joined([first, *rest]))


_STYLES = {
    "default": JsonStyle(),
    "plain": JsonStyle(envelope=False, audio_key="audio", mime_key="mime", cues_key="cues"),
    "time_duration": JsonStyle(
        cues_key="viseme_cues", cue_timing="time_duration", alignment="list"
    ),
    "start_only": JsonStyle(cue_timing="start_only", alignment=None),
    "bare": JsonStyle(mime_key=None, cues_key=None, alignment=None),  # mime: audio/mpeg
}


@pytest.mark.parametrize(
    ("style", "fmt"),
    [(s, f) for s in _STYLES.values() for f in ("mp3", "wav", "opus") if s.mime_key or f == "mp3"],
    ids=[
        f"{n}-{f}"
        for n, s in _STYLES.items()
        for f in ("mp3", "wav", "opus")
        if s.mime_key or f == "mp3"
    ],
)
def test_json_shape(
    client: BackendClient, reference_backend: ReferenceBackend, style: JsonStyle, fmt: str
) -> None:
    reference_backend.speech.shape = "json"
    reference_backend.speech.json_style = style
    (chunk,) = speak(engine(client, fmt))
    assert_is_the_speech(chunk.samples)
    assert chunk.text == TEXT
    if style.cues_key is None:
        assert chunk.visemes is None
    else:
        assert chunk.visemes
        assert all(c.viseme in VISEMES and c.end_ms > c.start_ms for c in chunk.visemes)
        assert [c.start_ms for c in chunk.visemes] == sorted(c.start_ms for c in chunk.visemes)
        if style.cue_timing == "start_only":
            assert all(c.end_ms - c.start_ms == 80.0 for c in chunk.visemes)
    if style.alignment is None:
        assert chunk.alignment is None
    else:
        assert chunk.alignment is not None
        assert "".join(a.char for a in chunk.alignment) == TEXT
        assert all(a.end_ms >= a.start_ms for a in chunk.alignment)


def test_parse_cues_spellings() -> None:
    cues = parse_cues(
        {
            "cues": [
                {"viseme": "AA", "time_ms": 100, "duration_ms": 50},
                {"viseme": "PP", "start_ms": 0, "end_ms": 40, "weight": 0.5},
                {"viseme": "E", "start_ms": 200},
                {"viseme": "??", "start_ms": 300},
                {"start_ms": 1},
                "junk",
            ]
        }
    )
    assert cues == [
        VisemeCue(0, 40, "PP", 0.5),
        VisemeCue(100, 150, "aa"),
        VisemeCue(200, 280, "E"),
    ]
    assert parse_cues({}) is None
    assert parse_cues({"visemes": []}) is None


def test_parse_alignment_spellings() -> None:
    assert parse_alignment(
        {
            "characters": ["H", "i"],
            "character_start_times_seconds": [0.0, 0.1],
            "character_end_times_seconds": [0.1, 0.25],
        }
    ) == [CharAlignment("H", 0.0, 100.0), CharAlignment("i", 100.0, 250.0)]
    assert parse_alignment([{"character": "a", "start_ms": 5, "end_ms": 9}]) == [
        CharAlignment("a", 5, 9)
    ]
    assert parse_alignment(None) is None
    assert parse_alignment({"characters": "x"}) is None


@pytest.mark.parametrize("shape", ["raw", "json"])
@pytest.mark.parametrize("fmt", ["wav", "mp3", "flac", "opus"])
def test_corrupt_audio_is_a_protocol_error(
    client: BackendClient, reference_backend: ReferenceBackend, shape: str, fmt: str
) -> None:
    reference_backend.speech.shape = shape
    reference_backend.inject(corrupt=True)
    with pytest.raises(ProtocolError) as info:
        speak(engine(client, fmt))
    assert (info.value.method, info.value.path, info.value.status) == (
        "POST",
        "/openai/v1/audio/speech",
        200,
    )


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ('{"success": false, "message": "Budget exhausted"}', BudgetExhausted),
        ('{"success": false, "message": "nope"}', ProtocolError),
        ('{"success": true, "data": {"visemes": []}}', ProtocolError),
        ('{"success": true, "data": [1]}', ProtocolError),
        ('{"audio_base64": "####"}', ProtocolError),
        ("{not json", ProtocolError),
    ],
)
def test_unusable_json(
    client: BackendClient, reference_backend: ReferenceBackend, body: str, kind: type[Exception]
) -> None:
    reference_backend.inject(status=200, body=body, content_type="application/json")
    with pytest.raises(kind):
        speak(engine(client))


def test_unauthorized_propagates(
    client: BackendClient, reference_backend: ReferenceBackend
) -> None:
    stale = BackendClient(base_url=reference_backend.url, token=lambda: "expired")
    with stale, pytest.raises(Unauthorized) as info:
        speak(engine(stale))
    assert info.value.path == "/openai/v1/audio/speech"
    assert len(reference_backend.speech_requests()) == 1


# --- format negotiation ----------------------------------------------------------------------


def formats_asked(backend: ReferenceBackend) -> list[str]:
    return [str(r.json["response_format"]) for r in backend.speech_requests()]


@pytest.mark.parametrize("style", sorted(set(PCM_STYLES) - {"unlabelled"}))
def test_pcm_as_real_servers_label_it(
    client: BackendClient, reference_backend: ReferenceBackend, style: str
) -> None:
    """Every label, rate and byte order is heard at the right speed (the length says so)."""
    reference_backend.speech.pcm_style = style
    reference_backend.speech.chunked = True
    chunks = speak(engine(client, "pcm"))
    assert formats_asked(reference_backend) == ["pcm"]
    assert_is_the_speech(joined(chunks))


def test_pcm_of_unknown_rate_asks_for_the_next_format(
    client: BackendClient, reference_backend: ReferenceBackend, tmp_path: Path
) -> None:
    reference_backend.speech.pcm_style = "unlabelled"
    memory = FormatMemory(tmp_path / "formats.json")
    eng = RemoteEngine(client=client, sample_rate=RATE, response_format="pcm", memory=memory)
    assert_is_the_speech(joined(speak(eng)))
    assert formats_asked(reference_backend) == ["pcm", "wav"]
    assert memory.refused(eng.plan.server) == ("pcm",)


def test_a_refused_format_is_followed_by_the_next_and_remembered(
    client: BackendClient, reference_backend: ReferenceBackend, tmp_path: Path
) -> None:
    reference_backend.speech.refuse_formats = frozenset({"wav", "pcm"})
    reference_backend.speech.refuse_status = 422
    path = tmp_path / "formats.json"
    eng = RemoteEngine(client=client, sample_rate=RATE, memory=FormatMemory(path))
    assert_is_the_speech(joined(speak(eng)))
    assert formats_asked(reference_backend) == ["wav", "pcm", "mp3"]
    speak(eng)  # the next piece asks for what worked
    assert formats_asked(reference_backend)[3:] == ["mp3"]
    fresh = RemoteEngine(client=client, sample_rate=RATE, memory=FormatMemory(path))
    speak(fresh)  # and so does the next session
    assert formats_asked(reference_backend)[4:] == ["mp3"]


def test_aac_sent_anyway_asks_for_the_next_format(
    client: BackendClient, reference_backend: ReferenceBackend
) -> None:
    reference_backend.speech.audio_format = "aac"  # whatever is asked for
    with pytest.raises(UnsupportedAudio) as info:
        speak(engine(client, "auto"))
    assert info.value.reason == "codec" and info.value.action == "settings"
    assert formats_asked(reference_backend) == ["wav", "pcm", "mp3", "flac", "opus"]


def test_every_format_refused_is_one_clear_error(
    client: BackendClient, reference_backend: ReferenceBackend
) -> None:
    reference_backend.speech.refuse_formats = frozenset(FORMATS)
    with pytest.raises(UnsupportedAudio) as info:
        speak(engine(client, "auto"))
    assert (info.value.reason, info.value.status) == ("refused", 400)


def test_unknown_pcm_rate_everywhere_is_one_clear_error(
    client: BackendClient, reference_backend: ReferenceBackend
) -> None:
    reference_backend.speech.audio_format = "pcm"  # a server that only sends raw PCM
    reference_backend.speech.pcm_style = "unlabelled"
    with pytest.raises(UnsupportedAudio) as info:
        speak(engine(client, "auto"))
    assert info.value.reason == "pcm_rate"
    assert "sample rate" in info.value.user_message


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ('{"error": "Unexpected endpoint or method. (POST /v1/audio/speech)"}', NoSpeechRoute),
        (
            '{"error": {"message": "The model `tts-1` does not exist", "code": "model_not_found"}}',
            ModelNotFound,
        ),
        ('{"error": {"message": "quota", "type": "insufficient_quota"}}', BudgetExhausted),
        ('{"error": {"message": "upstream failed"}}', Transient),  # as a chat error event
    ],
)
def test_a_200_carrying_an_error_reads_like_the_error(
    client: BackendClient, reference_backend: ReferenceBackend, body: str, kind: type[Exception]
) -> None:
    reference_backend.inject(status=200, body=body, content_type="application/json")
    with pytest.raises(Exception) as info:
        speak(engine(client, "wav"))
    assert isinstance(info.value, kind), info.value


def test_a_web_page_where_audio_belongs_is_no_speech_route(
    client: BackendClient, reference_backend: ReferenceBackend
) -> None:
    reference_backend.inject(status=200, body="<html>app</html>", content_type="text/html")
    with pytest.raises(NoSpeechRoute):
        speak(engine(client, "wav"))


def test_an_openai_compatible_server_gets_openai_fields_only(
    reference_backend: ReferenceBackend,
) -> None:
    """tts-daemon (FastAPI, ``extra="forbid"``) answers any other field with 422."""
    with BackendClient(
        base_url=reference_backend.openai_url, token=lambda: reference_backend.token
    ) as client:
        speak(RemoteEngine(client=client, sample_rate=RATE, model="tts-1"))
    (sent,) = reference_backend.speech_requests()
    assert sent.path == "/v1/audio/speech"
    assert sent.json == {
        "model": "tts-1",
        "input": TEXT,
        "voice": "alloy",
        "response_format": "wav",
        "speed": 1.0,
    }
