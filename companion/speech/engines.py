# SPDX-License-Identifier: GPL-3.0-or-later
"""Which voice speaks: the backend, the embedded Piper voice, or espeak-ng.

``settings.engine`` is ``auto`` (the backend when one is configured and a client is
given, else Piper, else espeak-ng), ``piper`` or ``espeak`` (a local voice even with a
backend). Piper speaks with ``settings.local_voice`` (any installed Piper voice,
``speech/voice_engine.py``); espeak-ng with that voice's language. When Piper cannot load,
espeak-ng speaks instead and :attr:`EngineChoice.notice` says so in one line. Engines are
imported only when chosen: Piper pulls in onnxruntime.

The backend's engine asks for ``settings.response_format`` (``auto``: WAV first, remembering
per server what it gives, :mod:`companion.speech.formats`) and stands in front of the embedded
voice: a server with no speech route (or no such voice model) hands over to Piper for the
session, with one notice (:mod:`companion.speech.fallback`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from companion.backend.urls import url_problem
from companion.config import Settings
from companion.speech.types import PLAYER_RATE, SpeechEngine

if TYPE_CHECKING:
    from companion.backend.client import BackendClient

log = logging.getLogger("companion.speech")

DEFAULT_SAMPLE_RATE = PLAYER_RATE
DEFAULT_REMOTE_MODEL = "tts-1"
DEFAULT_REMOTE_VOICE = "alloy"


class EngineUnavailable(RuntimeError):
    """No voice at all could be loaded (one line for the user)."""


@dataclass(frozen=True)
class EngineChoice:
    """The engine picked, what kind it is, and a one-line notice when it is a fallback."""

    engine: SpeechEngine
    kind: str  # "remote", "piper" or "espeak"
    notice: str | None = None


def _remote(settings: Settings, client: BackendClient, sample_rate: int) -> SpeechEngine:
    from companion.speech.fallback import SessionFallback
    from companion.speech.formats import FormatMemory
    from companion.speech.remote_engine import RemoteEngine

    model = settings.extra.get("tts_model")
    remote = RemoteEngine(
        client=client,
        model=model if isinstance(model, str) and model else DEFAULT_REMOTE_MODEL,
        default_voice=settings.voice or DEFAULT_REMOTE_VOICE,
        sample_rate=sample_rate,
        response_format=settings.response_format,
        memory=FormatMemory(),
    )
    return SessionFallback(
        primary=remote, embedded=lambda: _embedded(settings, sample_rate), url=client.base_url
    )


def _embedded(settings: Settings, sample_rate: int) -> SpeechEngine:
    """Piper, else espeak-ng (the voice a server without speech hands over to)."""
    try:
        return _piper(settings, sample_rate)[0]
    except Exception:  # PiperUnavailable, ImportError, onnxruntime errors
        log.info("[engines] Piper unavailable; espeak-ng takes over", exc_info=True)
        return _espeak(sample_rate, _espeak_voice(settings))


def _piper(settings: Settings, sample_rate: int) -> tuple[SpeechEngine, str | None]:
    from companion.speech.voice_engine import VoiceEngine

    engine = VoiceEngine(
        sample_rate=sample_rate, default=settings.local_voice, precision=settings.voice_precision
    )
    engine.load()  # fail here, not in the middle of the first reply
    return engine, engine.notice  # a voice that could not be had, or the other precision


def _espeak_voice(settings: Settings) -> str:
    """espeak-ng's voice for the language of the chosen Piper voice ("" for the default)."""
    if not settings.local_voice:
        return ""
    from companion.speech.voices import find_voice

    info = find_voice(settings.local_voice)
    return info.espeak_voice if info is not None else ""


def _espeak(sample_rate: int, voice: str = "") -> SpeechEngine:
    try:
        from companion.speech.espeak_engine import EspeakEngine
    except (ImportError, OSError) as exc:
        raise EngineUnavailable(
            "No voice available: neither Piper nor espeak-ng can be loaded "
            f"({_why(exc)}). Reinstall Companion with its voices."
        ) from exc
    if voice:
        return EspeakEngine(sample_rate=sample_rate, voice=voice)
    engine: SpeechEngine = EspeakEngine(sample_rate=sample_rate)
    return engine


def _why(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:120]


def choose_engine(
    settings: Settings,
    *,
    client: BackendClient | None,
    sample_rate: int = DEFAULT_SAMPLE_RATE,
) -> EngineChoice:
    """Pick and load the engine; raises :class:`EngineUnavailable` only when none works."""
    wanted = settings.engine if settings.engine in ("piper", "espeak") else "auto"
    notice: str | None = None
    if wanted == "auto" and client is not None and url_problem(client.base_url):
        from companion.speech.fallback import invalid_url_notice

        notice = invalid_url_notice(client.base_url, "piper")
        client = None  # no request to an address that is not one
    if wanted == "auto" and client is not None:
        try:
            return EngineChoice(_remote(settings, client, sample_rate), "remote")
        except ImportError:
            log.info("[engines] the backend's voice cannot load", exc_info=True)
            notice = (
                "The backend's voice cannot be used in this installation (a library is "
                "missing), so the built-in voice speaks instead."
            )
    if wanted in ("auto", "piper"):
        try:
            engine, voice_notice = _piper(settings, sample_rate)
            return EngineChoice(engine, "piper", notice or voice_notice)
        except Exception as exc:  # PiperUnavailable, ImportError, onnxruntime errors
            notice = (
                f"The built-in voice could not be loaded ({_why(exc)}); using espeak-ng "
                "instead."
            )
            log.debug("[engines] Piper unavailable", exc_info=True)
    return EngineChoice(_espeak(sample_rate, _espeak_voice(settings)), "espeak", notice)


def create_engine(
    settings: Settings,
    *,
    client: BackendClient | None,
    sample_rate: int = DEFAULT_SAMPLE_RATE,
) -> SpeechEngine:
    """The engine for ``settings`` (see :func:`choose_engine`); a fallback is logged once."""
    choice = choose_engine(settings, client=client, sample_rate=sample_rate)
    if choice.notice:
        log.info("[engines] %s", choice.notice)
    return choice.engine
