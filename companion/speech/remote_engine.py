# SPDX-License-Identifier: GPL-3.0-or-later
"""The remote speech engine: the backend's ``/audio/speech``, in either response shape.

1. Raw audio (WAV, MP3, Ogg, FLAC, raw PCM under any label with its rate in the content
   type or a header: :mod:`companion.speech.audio_labels`), possibly chunked: decoded with
   :class:`~companion.speech.decode.StreamDecoder` while the body arrives, so PCM and WAV
   yield their first :class:`AudioChunk` before the body ends.
2. JSON, optionally inside ``{success, data, message}``: ``audio_base64`` or ``audio``,
   ``audio_mime`` or ``mime`` (default ``audio/mpeg``), viseme cues under ``visemes``,
   ``cues`` or ``viseme_cues`` (``start_ms``/``end_ms``, or ``time_ms`` + ``duration_ms``; a
   missing end is start + 80 ms), and an optional character ``alignment``.

Which ``response_format`` to ask for is :class:`~companion.speech.formats.FormatPlan`'s
choice (WAV first by default); a format the server refuses (``FormatRefused``) or sends in a
way that cannot be played right (PCM without a rate, AAC) makes the engine ask for the next
one, before any audio was yielded. When none is left the error is
:class:`~companion.backend.errors.UnsupportedAudio` (expected: no crash report).

Audio that does not decode is a :class:`~companion.backend.errors.ProtocolError`. A 2xx that
is an error object (``{"error": …}`` with status 200, as LM Studio answers unknown routes) or
an HTML page is read like an error status: through the status table.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
from collections.abc import Iterator
from typing import Any

from companion.backend import openai_errors, policy
from companion.backend.client import BackendClient, unwrap_envelope
from companion.backend.errors import (
    BackendApiError,
    FormatRefused,
    NoSpeechRoute,
    ProtocolError,
    UnsupportedAudio,
)
from companion.backend.stream import SpeechResponse
from companion.speech import audio_labels
from companion.speech.decode import (
    DecodeError,
    PcmRateUnknown,
    StreamDecoder,
    UnsupportedCodec,
    decode_audio,
)
from companion.speech.formats import FormatMemory, FormatPlan, server_key
from companion.speech.types import AudioChunk, CancelToken, CharAlignment, VisemeCue
from companion.speech.visemes import VISEMES

log = logging.getLogger("companion.speech")

DEFAULT_MIME = "audio/mpeg"
DEFAULT_CUE_MS = 80.0
_VISEME_BY_LOWER = {v.lower(): v for v in VISEMES}


def _is_json(mime: str) -> bool:
    return mime in ("application/json", "text/json") or mime.endswith("+json")


class _Unplayable(Exception):
    """This format's answer cannot be played right; the next format may be."""

    def __init__(self, reason: str, status: int | None) -> None:
        super().__init__(reason)
        self.reason = reason  # UnsupportedAudio's reason: pcm_rate or codec
        self.status = status


def _unplayable(exc: DecodeError, status: int | None) -> _Unplayable | None:
    if isinstance(exc, PcmRateUnknown):
        return _Unplayable("pcm_rate", status)
    if isinstance(exc, UnsupportedCodec):
        return _Unplayable("codec", status)
    return None


class RemoteEngine:
    """Speech from the backend (or an OpenAI-compatible server).

    Attributes:
        name: ``"remote"``.
        model, default_voice: the OpenAI ``model`` and ``voice`` fields.
        response_format: the setting: ``auto`` (WAV first, then what the server gives) or
            one format; the server may answer another format or JSON, and both are handled.
        plan: the formats asked for, and what this server was found to give.
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
        response_format: str = "auto",
        deadline_s: float = 60.0,
        memory: FormatMemory | None = None,
    ) -> None:
        self._client = client
        self.model = model
        self.default_voice = default_voice
        self.sample_rate = sample_rate
        self.response_format = response_format
        self.deadline_s = deadline_s
        self.plan = FormatPlan(
            setting=response_format, server=server_key(client.base_url), memory=memory
        )

    def payload(
        self, text: str, *, voice: str | None, speed: float, response_format: str | None = None
    ) -> dict[str, Any]:
        """The request body: OpenAI's fields, plus the original backend's ``text`` and
        ``with_visemes`` for it alone (OpenAI-compatible servers may refuse unknown fields:
        tts-daemon answers them with 422)."""
        body: dict[str, Any] = {
            "model": self.model,
            "input": text,
            "voice": voice or self.default_voice,
            "response_format": response_format or self.plan.candidates()[0],
            "speed": speed,
        }
        if not self._client.openai_compatible:
            body.update(text=text, with_visemes=True)
        return body

    def _path(self) -> str:
        return self._client.openai_path("/audio/speech")

    def synthesize(
        self, text: str, *, voice: str | None, speed: float, cancel: CancelToken
    ) -> Iterator[AudioChunk]:
        unplayable: _Unplayable | None = None
        refused: FormatRefused | None = None
        for fmt in self.plan.candidates():
            payload = self.payload(text, voice=voice, speed=speed, response_format=fmt)
            try:
                yield from self._ask(text, payload, cancel)
            except FormatRefused as err:
                self.plan.refused(fmt, f"HTTP {err.status}")
                refused = err
                continue
            except _Unplayable as exc:
                self.plan.refused(fmt, exc.reason)
                unplayable = exc
                continue
            self.plan.worked(fmt)
            return
        if unplayable is not None:
            raise UnsupportedAudio(
                "POST", self._path(), unplayable.reason, status=unplayable.status
            )
        status = refused.status if refused is not None else None
        raise UnsupportedAudio("POST", self._path(), "refused", status=status)

    def _ask(self, text: str, payload: dict[str, Any], cancel: CancelToken) -> Iterator[AudioChunk]:
        """One request in one format; raises ``_Unplayable`` only before audio was yielded."""
        with self._client.speech(payload, cancel=cancel, deadline_s=self.deadline_s) as resp:
            if _is_json(resp.content_type):
                yield self._from_json(text, resp)
            elif resp.content_type == "text/html":
                # A web page where audio belongs (a web UI's catch-all route): no speech here.
                raise NoSpeechRoute("POST", self._path(), resp.status)
            else:
                yield from self._from_stream(text, resp, cancel)

    # --- raw audio -----------------------------------------------------------------------
    def _from_stream(
        self, text: str, resp: SpeechResponse, cancel: CancelToken
    ) -> Iterator[AudioChunk]:
        decoder = StreamDecoder(
            resp.content_type,
            target_rate=self.sample_rate,
            pcm=audio_labels.pcm_spec(resp.content_type_header, resp.headers),
        )
        first = True
        try:
            for data in resp.iter_bytes():
                cancel.raise_if_cancelled()
                samples = decoder.feed(data)
                if len(samples):
                    yield AudioChunk(samples, self.sample_rate, text=text if first else "")
                    first = False
            samples = decoder.finish()
        except DecodeError as exc:
            unplayable = _unplayable(exc, resp.status)
            if unplayable is not None and first:
                raise unplayable from None
            raise ProtocolError(
                "POST", self._path(), f"undecodable {resp.content_type}", status=resp.status
            ) from None
        if len(samples):
            yield AudioChunk(samples, self.sample_rate, text=text if first else "")

    # --- JSON ----------------------------------------------------------------------------
    def _from_json(self, text: str, resp: SpeechResponse) -> AudioChunk:
        path = self._path()
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
        if audio is None and openai_errors.is_error_document(data):
            raise self._error_document(data, body)
        if audio is None:
            raise bad("speech JSON has no audio")
        rate = data.get("sample_rate")
        headers = {"X-Sample-Rate": str(rate)} if isinstance(rate, int) else {}
        try:
            samples = decode_audio(
                audio,
                mime,
                target_rate=self.sample_rate,
                pcm=audio_labels.pcm_spec(mime, headers),
            )
        except DecodeError as exc:
            unplayable = _unplayable(exc, resp.status)
            if unplayable is not None:
                raise unplayable from None
            raise bad(f"undecodable {mime}") from None
        return AudioChunk(
            samples,
            self.sample_rate,
            text=text,
            visemes=parse_cues(data),
            alignment=parse_alignment(data.get("alignment")),
        )

    def _error_document(self, data: dict[str, Any], body: bytes) -> BackendApiError:
        """A 2xx carrying an error object, read as the status it stands for (502 when it
        names none: the server behind failed)."""
        error = openai_errors.from_json(data)
        status = error.status_hint() or (404 if error.says_no_route() else 502)
        return policy.classify(
            "POST",
            self._path(),
            status,
            body.decode("utf-8", "replace"),
            model=self.model,
            error=error,
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
