# SPDX-License-Identifier: GPL-3.0-or-later
"""Which voice speaks: the backend, the embedded Piper voice, or espeak-ng.

``settings.engine`` is ``auto`` (the backend when one is configured and a client is
given, else Piper, else espeak-ng), ``piper`` or ``espeak`` (a local voice even with a
backend). When Piper cannot load, espeak-ng speaks instead and :attr:`EngineChoice.notice`
says so in one line. Engines are imported only when chosen: Piper pulls in onnxruntime.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from companion.config import Settings
from companion.speech.types import SpeechEngine

if TYPE_CHECKING:
    from companion.backend.client import BackendClient

log = logging.getLogger("companion.speech")

DEFAULT_SAMPLE_RATE = 22050
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
    from companion.speech.remote_engine import RemoteEngine

    model = settings.extra.get("tts_model")
    engine: SpeechEngine = RemoteEngine(
        client=client,
        model=model if isinstance(model, str) and model else DEFAULT_REMOTE_MODEL,
        default_voice=settings.voice or DEFAULT_REMOTE_VOICE,
        sample_rate=sample_rate,
    )
    return engine


def _piper(settings: Settings, sample_rate: int) -> tuple[SpeechEngine, str | None]:
    from companion.speech.piper_engine import PiperEngine

    engine = PiperEngine(sample_rate=sample_rate, precision=settings.voice_precision)
    engine.load()  # fail here, not in the middle of the first reply
    return engine, engine.notice  # the other precision had to be loaded


def _espeak(sample_rate: int) -> SpeechEngine:
    try:
        from companion.speech.espeak_engine import EspeakEngine
    except (ImportError, OSError) as exc:
        raise EngineUnavailable(
            f"No voice available: espeak-ng cannot be loaded ({type(exc).__name__})."
        ) from exc
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
    if wanted == "auto" and client is not None:
        try:
            return EngineChoice(_remote(settings, client, sample_rate), "remote")
        except ImportError as exc:
            notice = (
                f"The backend voice is not available ({type(exc).__name__}); "
                "using the embedded voice."
            )
    if wanted in ("auto", "piper"):
        try:
            engine, fallback = _piper(settings, sample_rate)
            return EngineChoice(engine, "piper", notice or fallback)
        except Exception as exc:  # PiperUnavailable, ImportError, onnxruntime errors
            notice = f"The embedded voice could not be loaded ({_why(exc)}); using espeak-ng."
            log.debug("[engines] Piper unavailable", exc_info=True)
    return EngineChoice(_espeak(sample_rate), "espeak", notice)


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
