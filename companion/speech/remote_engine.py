# SPDX-License-Identifier: GPL-3.0-or-later
"""The remote speech engine: the backend's ``/audio/speech``, in either response shape.

1. Raw audio (WAV, MP3, Ogg, FLAC, ``audio/pcm``), possibly chunked: decoded with
   :class:`~companion.speech.decode.StreamDecoder` while the body arrives, so PCM and WAV
   yield their first :class:`AudioChunk` before the body ends.
2. JSON, optionally inside ``{success, data, message}``: ``audio_base64`` or ``audio``,
   ``audio_mime`` or ``mime`` (default ``audio/mpeg``), viseme cues under ``visemes``,
   ``cues`` or ``viseme_cues`` (``start_ms``/``end_ms``, or ``time_ms`` + ``duration_ms``; a
   missing end is start + 80 ms), and an optional character ``alignment``.

Audio that does not decode is a :class:`~companion.backend.errors.ProtocolError`.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
from collections.abc import Iterator
from typing import Any

from companion.backend.client import BackendClient, SpeechResponse, unwrap_envelope
from companion.backend.errors import ProtocolError
from companion.speech.decode import DecodeError, StreamDecoder, decode_audio
from companion.speech.types import AudioChunk, CancelToken, CharAlignment, VisemeCue
from companion.speech.visemes import VISEMES

log = logging.getLogger("companion.speech")

DEFAULT_MIME = "audio/mpeg"
DEFAULT_CUE_MS = 80.0
_VISEME_BY_LOWER = {v.lower(): v for v in VISEMES}


def _is_json(mime: str) -> bool:
    return mime in ("application/json", "text/json") or mime.endswith("+json")


class RemoteEngine:
    """Speech from the backend (or an OpenAI-compatible server).

    Attributes:
        name: ``"remote"``.
        model, default_voice: the OpenAI ``model`` and ``voice`` fields.
        response_format: the format asked for (``pcm`` streams best); the server may answer
            another format or JSON, and both are handled.
        sample_rate: the rate of the samples yielded.
    """

    name = "remote"

    def __init__(
        self,
        *,
        client: BackendClient,
        model: str = "tts-1",
        default_voice: str = "alloy",
        sample_rate: int,
        response_format: str = "pcm",
        deadline_s: float = 60.0,
    ) -> None:
        self._client = client
        self.model = model
        self.default_voice = default_voice
        self.sample_rate = sample_rate
        self.response_format = response_format
        self.deadline_s = deadline_s

    def payload(self, text: str, *, voice: str | None, speed: float) -> dict[str, Any]:
        """The request body: OpenAI's fields plus the original backend's ``text``/visemes."""
        return {
            "model": self.model,
            "input": text,
            "voice": voice or self.default_voice,
            "response_format": self.response_format,
            "speed": speed,
            "text": text,
            "with_visemes": True,
        }

    def synthesize(
        self, text: str, *, voice: str | None, speed: float, cancel: CancelToken
    ) -> Iterator[AudioChunk]:
        payload = self.payload(text, voice=voice, speed=speed)
        with self._client.speech(payload, cancel=cancel, deadline_s=self.deadline_s) as resp:
            if _is_json(resp.content_type):
                yield self._from_json(text, resp)
            else:
                yield from self._from_stream(text, resp, cancel)

    # --- raw audio -----------------------------------------------------------------------
    def _from_stream(
        self, text: str, resp: SpeechResponse, cancel: CancelToken
    ) -> Iterator[AudioChunk]:
        path = self._client.openai_path("/audio/speech")
        decoder = StreamDecoder(resp.content_type, target_rate=self.sample_rate)
        first = True
        try:
            for data in resp.iter_bytes():
                cancel.raise_if_cancelled()
                samples = decoder.feed(data)
                if len(samples):
                    yield AudioChunk(samples, self.sample_rate, text=text if first else "")
                    first = False
            samples = decoder.finish()
        except DecodeError:
            raise ProtocolError(
                "POST", path, f"undecodable {resp.content_type}", status=resp.status
            ) from None
        if len(samples):
            yield AudioChunk(samples, self.sample_rate, text=text if first else "")

    # --- JSON ----------------------------------------------------------------------------
    def _from_json(self, text: str, resp: SpeechResponse) -> AudioChunk:
        path = self._client.openai_path("/audio/speech")
        body = resp.read()

        def bad(reason: str) -> ProtocolError:
            return ProtocolError("POST", path, reason, status=resp.status, body_chars=len(body))

        try:
            doc = json.loads(body)
        except ValueError:
            raise bad("speech JSON does not parse") from None
        data = unwrap_envelope("POST", path, resp.status, doc, body_chars=len(body))
        if not isinstance(data, dict):
            raise bad("speech JSON is not an object")
        audio, mime = _audio_field(data)
        if audio is None:
            raise bad("speech JSON has no audio")
        try:
            samples = decode_audio(audio, mime, target_rate=self.sample_rate)
        except DecodeError:
            raise bad(f"undecodable {mime}") from None
        return AudioChunk(
            samples,
            self.sample_rate,
            text=text,
            visemes=parse_cues(data),
            alignment=parse_alignment(data.get("alignment")),
        )


def _audio_field(data: dict[str, Any]) -> tuple[bytes | None, str]:
    mime = data.get("audio_mime") or data.get("mime")
    mime = mime.strip().lower() if isinstance(mime, str) and mime.strip() else DEFAULT_MIME
    raw = data.get("audio_base64")
    if not isinstance(raw, str) or not raw:
        raw = data.get("audio")
    if not isinstance(raw, str) or not raw:
        return None, mime
    if raw.startswith("data:") and "," in raw:  # a data URL: data:audio/wav;base64,....
        head, raw = raw.split(",", 1)
        declared = head[5:].split(";", 1)[0].strip().lower()
        if declared:
            mime = declared
    try:
        return base64.b64decode(raw, validate=False), mime
    except (binascii.Error, ValueError):
        return None, mime


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def parse_cues(data: dict[str, Any]) -> list[VisemeCue] | None:
    """Viseme cues from ``visemes``/``cues``/``viseme_cues``; None when there are none.

    Items that are not understood are skipped (visemes are a nicety, audio is not).
    """
    items = next(
        (data[k] for k in ("visemes", "cues", "viseme_cues") if isinstance(data.get(k), list)),
        None,
    )
    if not items:
        return None
    cues: list[VisemeCue] = []
    skipped = 0
    for item in items:
        if not isinstance(item, dict):
            skipped += 1
            continue
        code = item.get("viseme", item.get("value"))
        viseme = _VISEME_BY_LOWER.get(code.strip().lower()) if isinstance(code, str) else None
        start = _number(item.get("start_ms", item.get("time_ms")))
        if viseme is None or start is None:
            skipped += 1
            continue
        end = _number(item.get("end_ms"))
        if end is None:
            duration = _number(item.get("duration_ms"))
            end = start + (duration if duration is not None else DEFAULT_CUE_MS)
        weight = _number(item.get("weight"))
        weight = 1.0 if weight is None else min(1.0, max(0.0, weight))
        cues.append(VisemeCue(start, max(start, end), viseme, weight))
    if skipped:
        log.debug("[remote_engine] skipped %d of %d viseme cues", skipped, len(items))
    cues.sort(key=lambda c: c.start_ms)
    return cues or None


def parse_alignment(value: Any) -> list[CharAlignment] | None:
    """A character alignment: a list of ``{char|character, start_ms, end_ms}``, or
    ``{characters, character_start_times_seconds, character_end_times_seconds}``."""
    out: list[CharAlignment] = []
    if isinstance(value, dict):
        chars = value.get("characters") or value.get("chars")
        starts = value.get("character_start_times_seconds")
        ends = value.get("character_end_times_seconds")
        if isinstance(chars, list) and isinstance(starts, list) and isinstance(ends, list):
            for char, start, end in zip(chars, starts, ends, strict=False):
                s, e = _number(start), _number(end)
                if isinstance(char, str) and s is not None and e is not None:
                    out.append(CharAlignment(char, 1000.0 * s, 1000.0 * max(s, e)))
    elif isinstance(value, list):
        for item in value:
            if not isinstance(item, dict):
                continue
            char = item.get("char", item.get("character"))
            s, e = _number(item.get("start_ms")), _number(item.get("end_ms"))
            if isinstance(char, str) and s is not None:
                out.append(CharAlignment(char, s, max(s, e if e is not None else s)))
    return out or None
