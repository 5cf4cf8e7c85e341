# SPDX-License-Identifier: GPL-3.0-or-later
"""The backend's voice until the server shows it cannot speak; then the embedded voice, for
the rest of the session, with one notice.

The embedded voice (Piper, else espeak-ng) takes over when the backend cannot speak with
these settings, which is an expected state and never a crash report:

- a chat-only server (llama.cpp, Ollama, a LiteLLM proxy with no speech model, an npm mock)
  answers ``/audio/speech`` with 404/405 (:class:`~companion.backend.errors.NoSpeechRoute`)
  or says the voice model does not exist (:class:`~companion.backend.errors.ModelNotFound`);
- the backend is unreachable: the connection is refused or its host name does not resolve
  (:class:`~companion.backend.errors.Transient` with reason ``refused`` or ``dns``, after the
  client's retries);
- the backend URL is not a valid address (``requests`` refuses it before connecting).

The piece is spoken again by the embedded voice, every later piece goes straight to it, and
:meth:`SessionFallback.take_notice` hands out one line for the user (naming the URL), once.
A new engine (the settings changed) tries the backend again. Timeouts, TLS errors and server
errors are not taken over: they fail the reply, with Retry.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator

import requests
import urllib3

from companion import telemetry
from companion.backend import policy
from companion.backend.errors import BackendApiError, ModelNotFound, NoSpeechRoute, Transient
from companion.backend.urls import shown_url, url_problem
from companion.speech.types import AudioChunk, CancelToken, SpeechEngine

log = logging.getLogger("companion.speech")

#: What makes the embedded voice take over: the server cannot speak with these settings.
NO_VOICE_HERE: tuple[type[BackendApiError], ...] = (NoSpeechRoute, ModelNotFound)
#: ``Transient`` reasons that mean nobody answers at that address.
UNREACHABLE = frozenset({"refused", "dns"})
#: What ``requests``/``urllib3`` raise for an address they cannot even try.
INVALID_URL: tuple[type[BaseException], ...] = (
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
    urllib3.exceptions.LocationValueError,
)


def _voice_name(embedded: str) -> str:
    return "espeak-ng" if embedded.startswith("espeak") else "the built-in voice"


def notice_for(err: BaseException, embedded: str, url: str = "") -> str:
    """The one line the user sees when the embedded voice takes over."""
    voice = _voice_name(embedded)
    at = f" at {shown_url(url)}" if url else ""
    server = f"The server{at}" if url else "This server"
    if isinstance(err, ModelNotFound) and err.model:
        return (
            f"{server} has no voice model \u201c{err.model}\u201d, so {voice} speaks "
            "instead. Choose another model or a built-in voice in Settings."
        )
    if isinstance(err, Transient) and err.reason == "dns":
        host = f" {shown_url(url)}" if url else ""
        return (
            f"The backend address{host} does not resolve to a server, so {voice} speaks "
            "instead. Check the address in Settings."
        )
    if isinstance(err, Transient):
        return (
            f"Nothing answers{at} (connection refused), so {voice} speaks instead. "
            "Start the server, or change the backend URL in Settings."
        )
    if isinstance(err, BackendApiError):
        status = f" (HTTP {err.status})" if err.status else ""
        return (
            f"{server} has no voice{status}, so {voice} speaks instead "
            "(choose it under Settings → Voice → Voice engine to stop asking the server)."
        )
    return invalid_url_notice(url, embedded)


def invalid_url_notice(url: str, embedded: str, problem: str | None = None) -> str:
    """The line for a backend URL that is not an address at all."""
    why = problem or url_problem(url) or "it is not a valid web address"
    return (
        f"The backend URL \u201c{shown_url(url)}\u201d cannot be used ({why}), so "
        f"{_voice_name(embedded)} speaks instead. Correct it in Settings, "
        "e.g. http://127.0.0.1:8000/v1."
    )


def takes_over(err: BaseException) -> bool:
    """Whether the embedded voice speaks instead of failing on ``err``."""
    if isinstance(err, (*NO_VOICE_HERE, *INVALID_URL)):
        return True
    return isinstance(err, Transient) and err.reason in UNREACHABLE


class SessionFallback:
    """A remote engine with the embedded voice behind it.

    Attributes:
        name: the name of the engine speaking now (``remote`` until the switch).
        switched: True once the embedded voice has taken over.
        url: the backend's base URL (named in the notice).
    """

    def __init__(
        self, *, primary: SpeechEngine, embedded: Callable[[], SpeechEngine], url: str = ""
    ) -> None:
        self._primary = primary
        self._make_embedded = embedded
        self._embedded: SpeechEngine | None = None
        self._notice: str | None = None
        self._lock = threading.Lock()
        self.name = primary.name
        self.switched = False
        self.url = url

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
            except Exception as err:
                if yielded or not takes_over(err):
                    raise
                embedded = self._switch(err)
        # The backend's voice names ("alloy") mean nothing to the embedded voice.
        yield from embedded.synthesize(text, voice=None, speed=speed, cancel=cancel)

    def _switch(self, err: BaseException) -> SpeechEngine:
        if isinstance(err, Transient):
            # The table says warning for a dead server; here it is an expected state.
            log.info(policy.log_message(err, "speech"))
        elif isinstance(err, BackendApiError):
            telemetry.log_backend_error(err, operation="speech")
        embedded = self._make_embedded()  # Piper loads here (about a second), once
        with self._lock:
            self._embedded = embedded
            self._notice = notice_for(err, embedded.name, self.url)
        self.name = embedded.name
        self.switched = True
        log.info(
            "[engines] the backend cannot speak (%s); %s speaks instead",
            _why(err),
            embedded.name,
        )
        return embedded


def _why(err: BaseException) -> str:
    reason = getattr(err, "reason", None)
    if isinstance(err, Transient) and isinstance(reason, str):
        return f"{type(err).__name__} {reason}"
    return type(err).__name__


def take_notice(engine: object) -> str | None:
    """An engine's pending notice, if it has such a thing."""
    take = getattr(engine, "take_notice", None)
    if not callable(take):
        return None
    notice = take()
    return notice if isinstance(notice, str) and notice else None
