# SPDX-License-Identifier: GPL-3.0-or-later
"""The backend's voice until the server shows it has none; then the embedded voice, for the
rest of the session, with one notice.

A chat-only server (llama.cpp, Ollama, a LiteLLM proxy with no speech model, an npm mock)
answers ``/audio/speech`` with 404/405 (:class:`~companion.backend.errors.NoSpeechRoute`) or
says the voice model does not exist (:class:`~companion.backend.errors.ModelNotFound`). That
is an expected state, not a failure: the piece is spoken again by the embedded voice (Piper,
else espeak-ng), every later piece goes straight to it, and :meth:`SessionFallback.take_notice`
hands out one line for the user, once. A new engine (the settings changed) tries the backend
again. Nothing here is a crash report (the status table says so; the error is logged at info).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator

from companion import telemetry
from companion.backend.errors import BackendApiError, ModelNotFound, NoSpeechRoute
from companion.speech.types import AudioChunk, CancelToken, SpeechEngine

log = logging.getLogger("companion.speech")

#: What makes the embedded voice take over: the server cannot speak with these settings.
NO_VOICE_HERE: tuple[type[BackendApiError], ...] = (NoSpeechRoute, ModelNotFound)


def notice_for(err: BackendApiError, embedded: str) -> str:
    """The one line the user sees when the embedded voice takes over."""
    voice = "espeak-ng" if embedded.startswith("espeak") else "the built-in voice"
    if isinstance(err, ModelNotFound) and err.model:
        return (
            f"The server has no voice model \u201c{err.model}\u201d, so {voice} speaks instead. "
            "Choose another model or a built-in voice in Settings."
        )
    status = f" (HTTP {err.status})" if err.status else ""
    return f"This server has no voice{status}, so {voice} speaks instead."


class SessionFallback:
    """A remote engine with the embedded voice behind it.

    Attributes:
        name: the name of the engine speaking now (``remote`` until the switch).
        switched: True once the embedded voice has taken over.
    """

    def __init__(self, *, primary: SpeechEngine, embedded: Callable[[], SpeechEngine]) -> None:
        self._primary = primary
        self._make_embedded = embedded
        self._embedded: SpeechEngine | None = None
        self._notice: str | None = None
        self._lock = threading.Lock()
        self.name = primary.name
        self.switched = False

    @property
    def primary(self) -> SpeechEngine:
        return self._primary

    def take_notice(self) -> str | None:
        """The switch's notice, once (None before the switch and after it was taken)."""
        with self._lock:
            notice, self._notice = self._notice, None
        return notice

    def synthesize(
        self, text: str, *, voice: str | None, speed: float, cancel: CancelToken
    ) -> Iterator[AudioChunk]:
        embedded = self._embedded
        if embedded is None:
            yielded = False
            try:
                for chunk in self._primary.synthesize(
                    text, voice=voice, speed=speed, cancel=cancel
                ):
                    yielded = True
                    yield chunk
                return
            except NO_VOICE_HERE as err:
                if yielded:
                    raise
                embedded = self._switch(err)
        # The backend's voice names ("alloy") mean nothing to the embedded voice.
        yield from embedded.synthesize(text, voice=None, speed=speed, cancel=cancel)

    def _switch(self, err: BackendApiError) -> SpeechEngine:
        telemetry.log_backend_error(err, operation="speech")
        embedded = self._make_embedded()  # Piper loads here (about a second), once
        with self._lock:
            self._embedded = embedded
            self._notice = notice_for(err, embedded.name)
        self.name = embedded.name
        self.switched = True
        log.info(
            "[engines] the server has no voice (%s); %s speaks instead",
            type(err).__name__,
            embedded.name,
        )
        return embedded


def take_notice(engine: object) -> str | None:
    """An engine's pending notice, if it has such a thing."""
    take = getattr(engine, "take_notice", None)
    if not callable(take):
        return None
    notice = take()
    return notice if isinstance(notice, str) and notice else None
