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

Every answer has a ceiling tied to the longest sensible utterance (:data:`MAX_UTTERANCE_S`):
:data:`AUDIO_LIMIT` bytes of audio, :data:`JSON_AUDIO_LIMIT` bytes of a JSON answer, and
:data:`MAX_UTTERANCE_S` seconds decoded (a few megabytes of a low-bitrate MP3 can hold hours).
Past one, the answer is ``ProtocolError("answer too large")``, through the status table.

Audio that does not decode is a :class:`~companion.backend.errors.ProtocolError`. A 2xx that
is an error object (``{"error": …}`` with status 200, as LM Studio answers unknown routes) or
an HTML page is read like an error status: through the status table.
"""

from __future__ import annotations

import base64
import binascii
import logging
import math
from collections.abc import Callable, Iterator
from typing import Any

from companion import bounded_json
from companion.backend import bounded_body, openai_errors, policy
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
from companion.speech.chunking import MAX_CHARS
from companion.speech.decode import (
    AudioTooLong,
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
#: Seconds per character of the slowest speech we ask for, doubled: speech runs at about
#: 0.07 s a character, 0.14 at the slowest speed setting (0.5).
SECONDS_PER_CHAR = 0.3
#: Silence a voice may put around an utterance.
PADDING_S = 5.0
#: The longest utterance a request can sensibly bring: the longest piece the chunker sends
#: (``MAX_CHARS``, 200 characters) spoken slowly, plus padding: 65 s.
MAX_UTTERANCE_S = MAX_CHARS * SECONDS_PER_CHAR + PADDING_S
#: The most bytes a second of audio takes in any layout a speech server sends: 48 kHz stereo,
#: 32-bit samples (OpenAI's PCM is 24 kHz mono 16-bit: a sixteenth of it).
MAX_AUDIO_BYTES_PER_S = 48_000 * 2 * 4
#: The ceiling of a raw audio answer: 25 MB (65 s x 384 kB/s).
AUDIO_LIMIT = int(MAX_UTTERANCE_S * MAX_AUDIO_BYTES_PER_S)
#: The ceiling of a JSON answer: the audio in base64 (4/3) and 1 MiB of cues and alignment.
JSON_AUDIO_LIMIT = AUDIO_LIMIT * 4 // 3 + bounded_body.JSON_LIMIT
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
            max_seconds=MAX_UTTERANCE_S,
        )
        first = True
        try:
            for data in bounded_body.capped(resp.iter_bytes(), AUDIO_LIMIT, self._too_large(resp)):
                cancel.raise_if_cancelled()
                samples = decoder.feed(data)
                if len(samples):
                    yield AudioChunk(samples, self.sample_rate, text=text if first else "")
                    first = False
            samples = decoder.finish()
        except AudioTooLong:
            raise self._too_large(resp)(decoder.bytes_in) from None
        except DecodeError as exc:
            unplayable = _unplayable(exc, resp.status)
            if unplayable is not None and first:
                raise unplayable from None
            raise ProtocolError(
                "POST", self._path(), f"undecodable {resp.content_type}", status=resp.status
            ) from None
        if len(samples):
            yield AudioChunk(samples, self.sample_rate, text=text if first else "")

    def _too_large(self, resp: SpeechResponse) -> Callable[[int], BackendApiError]:
        path = self._path()
        return lambda size: bounded_body.too_large("POST", path, resp.status, size)

    # --- JSON ----------------------------------------------------------------------------
    def _from_json(self, text: str, resp: SpeechResponse) -> AudioChunk:
        path = self._path()
        body = bounded_body.read_all(resp.iter_bytes(), JSON_AUDIO_LIMIT, self._too_large(resp))

        def bad(reason: str) -> ProtocolError:
            return ProtocolError("POST", path, reason, status=resp.status, body_chars=len(body))

        try:
            doc = bounded_json.loads(body)
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
                max_seconds=MAX_UTTERANCE_S,
            )
        except AudioTooLong:
            raise self._too_large(resp)(len(body)) from None
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
