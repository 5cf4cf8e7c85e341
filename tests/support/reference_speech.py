# SPDX-License-Identifier: GPL-3.0-or-later
"""The reference backend's speech and model routes: ``POST …/audio/speech`` in both response
shapes (raw audio, JSON with visemes), formats refused or a route missing on request, and
``GET /v1/models`` as OpenAI's API answers it."""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from companion.speech.visemes import cues_from_envelope
from tests.support.reference_audio import (
    FORMATS,
    PIPER_RATE,
    corrupt,
    encode,
    encode_pcm,
    synthesize,
)
from tests.support.reference_errors import Fault, format_refused, model_not_found, openai_error

MODELS_PATHS = ("/openai/v1/models", "/v1/models")


@dataclass
class JsonStyle:
    """How the JSON speech shape is spelled (the contract allows several spellings)."""

    envelope: bool = True  # wrap in {success, data, message}
    audio_key: str = "audio_base64"  # or "audio"
    mime_key: str | None = "audio_mime"  # or "mime"; None → client assumes audio/mpeg
    cues_key: str | None = "visemes"  # or "cues", "viseme_cues"; None → no cues
    cue_timing: str = "start_end"  # or "time_duration", "start_only"
    alignment: str | None = "elevenlabs"  # or "list", None


@dataclass
class SpeechConfig:
    """How speech requests are answered.

    Attributes:
        shape: "raw" (audio bytes) or "json".
        audio_format: a :data:`FORMATS` key; None → the request's ``response_format``.
        pcm_style: how ``pcm`` is labelled (a :data:`PCM_STYLES` key; ``openai``: audio/pcm).
        refuse_formats: formats answered with ``refuse_status`` and an error naming them.
        refuse_status: 400 (OpenAI, local-tts-studio), 415 or 422 (FastAPI servers).
        route: False: no speech route at all (404, as llama.cpp and Ollama answer).
        chunked: raw bodies sent with ``Transfer-Encoding: chunked``.
        chunk_size: bytes per chunk (chunked or not, bodies are written in pieces).
        gate: when set, the server sends the first piece, then waits for this event.
        json_style: spelling of the JSON shape.
    """

    shape: str = "raw"
    audio_format: str | None = None
    pcm_style: str = "openai"
    refuse_formats: frozenset[str] = frozenset()
    refuse_status: int = 400
    route: bool = True
    chunked: bool = False
    chunk_size: int = 8192
    gate: threading.Event | None = None
    json_style: JsonStyle = field(default_factory=JsonStyle)


def unknown_model(handler: Any, doc: Any) -> bool:
    """With ``strict_models``: a request naming a model the server lacks gets OpenAI's
    404 ``model_not_found`` (True: answered)."""
    backend = handler.server.backend
    model = doc.get("model") if isinstance(doc, dict) else None
    if not backend.strict_models or not isinstance(model, str) or model in backend.models:
        return False
    handler._json(404, model_not_found(model))
    return True


def answer_models(handler: Any, path: str) -> None:
    """``GET /v1/models`` (a list) and ``GET /v1/models/<id>`` (one, or 404)."""
    backend = handler.server.backend

    def entry(model_id: str) -> dict[str, Any]:
        return {
            "id": model_id,
            "object": "model",
            "created": backend.created,
            "owned_by": "reference",
        }

    if path in MODELS_PATHS:
        handler._json(200, {"object": "list", "data": [entry(m) for m in backend.models]})
        return
    model_id = path.rstrip("/").rsplit("/", 1)[1]
    if model_id in backend.models:
        handler._json(200, entry(model_id))
    else:
        handler._json(404, model_not_found(model_id))


def answer_speech(handler: Any, payload: dict[str, Any], fault: Fault | None) -> None:
    backend = handler.server.backend
    cfg = backend.speech
    if not cfg.route:  # a chat-only server: llama.cpp answers exactly this
        doc = openai_error("File Not Found", type="not_found_error", code="404")
        handler._json(404, doc)
        return
    if unknown_model(handler, payload):
        return
    text = str(payload.get("input") or payload.get("text") or "")
    fmt = cfg.audio_format or str(payload.get("response_format") or "mp3")
    if fmt not in FORMATS or fmt in cfg.refuse_formats:
        handler._json(cfg.refuse_status, format_refused(fmt))
        return
    headers: dict[str, str] = {}
    if fmt == "pcm" and cfg.pcm_style != "openai":
        audio, mime, headers = encode_pcm(text, cfg.pcm_style)
    else:
        audio, mime = encode(text, fmt)
    if fault is not None and fault.corrupt:
        audio = corrupt(audio)
    if cfg.shape == "json":
        body = json.dumps(speech_json(text, fmt, audio, mime, cfg.json_style)).encode()
        handler._send(200, body, "application/json", {}, fault=fault)
    else:
        handler._send(200, audio, mime, headers, fault=fault, chunked=cfg.chunked)


def speech_json(text: str, fmt: str, audio: bytes, mime: str, style: JsonStyle) -> Any:
    rate = FORMATS[fmt][2]
    samples = synthesize(text)
    duration_ms = 1000.0 * len(samples) / PIPER_RATE
    data: dict[str, Any] = {style.audio_key: base64.b64encode(audio).decode("ascii")}
    if style.mime_key is not None:
        data[style.mime_key] = mime
    if style.cues_key is not None:
        cues = []
        for cue in cues_from_envelope(samples, PIPER_RATE):
            item: dict[str, Any] = {"viseme": cue.viseme}
            if style.cue_timing == "time_duration":
                item.update(time_ms=cue.start_ms, duration_ms=cue.end_ms - cue.start_ms)
            elif style.cue_timing == "start_only":
                item.update(start_ms=cue.start_ms)
            else:
                item.update(start_ms=cue.start_ms, end_ms=cue.end_ms)
            cues.append(item)
        data[style.cues_key] = cues
    if style.alignment is not None and text:
        step = duration_ms / len(text)
        starts = [i * step for i in range(len(text))]
        if style.alignment == "list":
            data["alignment"] = [
                {"char": c, "start_ms": s, "end_ms": s + step}
                for c, s in zip(text, starts, strict=True)
            ]
        else:
            data["alignment"] = {
                "characters": list(text),
                "character_start_times_seconds": [s / 1000.0 for s in starts],
                "character_end_times_seconds": [(s + step) / 1000.0 for s in starts],
            }
    data["sample_rate"] = rate
    if style.envelope:
        return {"success": True, "data": data, "message": ""}
    return data
