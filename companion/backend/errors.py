# SPDX-License-Identifier: GPL-3.0-or-later
"""Typed backend errors: what went wrong, for whom, never with a secret or a body.

Every error carries ``method``, ``path`` (no query string: queries can hold tokens) and
``status`` (None where there was no HTTP status), and a short ``user_message`` for the
mascot's bubble. ``str(err)`` names the request and the status only. Errors pickle (they
cross threads and processes as objects, never as text).

Which status becomes which error is decided in one place: :mod:`companion.backend.policy`.
"""

from __future__ import annotations

from typing import Any


def clean_path(path: str) -> str:
    """The path without query string or fragment (a query can carry ``token=…``)."""
    for sep in ("?", "#"):
        path = path.split(sep, 1)[0]
    return path or "/"


def _rebuild(cls: type[BackendApiError], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return cls(*args, **kwargs)


class BackendApiError(Exception):
    """Base of every backend failure.

    Attributes:
        method: the HTTP method, upper-case.
        path: the request path relative to the base URL, without query string.
        status: the HTTP status, or None when none was received.
        user_message: one short line for the user (no body, no token, no reply text).
        body_chars: how many characters the error body had (a count, never the body).
    """

    user_message = "The server could not be reached."

    def __init__(
        self, method: str, path: str, status: int | None = None, *, body_chars: int = 0
    ) -> None:
        self.method = method.upper()
        self.path = clean_path(path)
        self.status = status
        self.body_chars = body_chars
        super().__init__(self._describe())

    # Pickle through the constructor, so subclasses with other signatures round-trip.
    def _ctor(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (self.method, self.path, self.status), {"body_chars": self.body_chars}

    def __reduce__(self) -> tuple[Any, ...]:
        args, kwargs = self._ctor()
        return (_rebuild, (type(self), args, kwargs))

    def _detail(self) -> str:
        return ""

    def _describe(self) -> str:
        status = "no status" if self.status is None else str(self.status)
        detail = self._detail()
        extra = f", {detail}" if detail else ""
        return f"{type(self).__name__}: {self.method} {self.path} ({status}{extra})"

    def __str__(self) -> str:
        return self._describe()

    def __repr__(self) -> str:
        return f"<{self._describe()}>"


class Unauthorized(BackendApiError):
    """401 (or a 400/403 whose error says the key is invalid, as proxies answer): the session
    lapsed or the API key is wrong. A sign-in prompt, never a crash."""

    user_message = "Signed out: please sign in again."

    def __init__(self, method: str, path: str, *, status: int = 401, body_chars: int = 0) -> None:
        super().__init__(method, path, status, body_chars=body_chars)

    def _ctor(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (self.method, self.path), {"status": self.status, "body_chars": self.body_chars}


class MessageNotFound(BackendApiError):
    """404 on ``/channels/<provider>/messages/<id>``: the message is gone."""

    user_message = "That message no longer exists."

    def __init__(
        self,
        provider: str,
        message_id: str,
        *,
        method: str = "GET",
        path: str | None = None,
        body_chars: int = 0,
    ) -> None:
        self.provider = provider
        self.message_id = message_id
        if path is None:
            path = f"/channels/{provider}/messages/{message_id}"
        super().__init__(method, path, 404, body_chars=body_chars)

    def _ctor(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (self.provider, self.message_id), {
            "method": self.method,
            "path": self.path,
            "body_chars": self.body_chars,
        }


class BudgetExhausted(BackendApiError):
    """400/402 (or ``success: false``) whose message speaks of budget, credits or balance."""

    user_message = "The assistant's budget is used up for now."

    def __init__(self, method: str, path: str, status: int, *, body_chars: int = 0) -> None:
        super().__init__(method, path, status, body_chars=body_chars)

    def _ctor(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (self.method, self.path, self.status), {"body_chars": self.body_chars}


class Transient(BackendApiError):
    """A failure worth retrying: 408/429/5xx gateways, timeouts, resets, a body cut short.

    Attributes:
        reason: a short stable word: ``status``, ``timeout``, ``stall``, ``deadline``,
            ``refused``, ``dns``, ``tls``, ``reset``, ``cut_short``, ``connection``.
        retry_after: seconds the server asked us to wait (``Retry-After``), if any.
    """

    user_message = "The voice service is not reachable right now; try again in a moment."

    def __init__(
        self,
        method: str,
        path: str,
        status: int | None,
        reason: str,
        retry_after: float | None = None,
        *,
        body_chars: int = 0,
    ) -> None:
        self.reason = reason
        self.retry_after = retry_after
        super().__init__(method, path, status, body_chars=body_chars)

    def _ctor(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (self.method, self.path, self.status, self.reason, self.retry_after), {
            "body_chars": self.body_chars
        }

    def _detail(self) -> str:
        after = "" if self.retry_after is None else f", retry after {self.retry_after:g}s"
        return f"{self.reason}{after}"


class HttpError(BackendApiError):
    """Any other non-2xx (403 included: a permission bug, not a lapsed session)."""

    def __init__(self, method: str, path: str, status: int, *, body_chars: int = 0) -> None:
        super().__init__(method, path, status, body_chars=body_chars)
        if status == 403:
            self.user_message = "The server refused: this account may not do that (HTTP 403)."
        else:
            self.user_message = f"The server answered with an error (HTTP {status})."

    def _ctor(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (self.method, self.path, self.status), {"body_chars": self.body_chars}


class _WithReason(BackendApiError):
    """An error whose ``reason`` (ours, never a piece of the body) says what was wrong."""

    def __init__(
        self,
        method: str,
        path: str,
        reason: str,
        *,
        status: int | None = None,
        body_chars: int = 0,
    ) -> None:
        self.reason = reason
        super().__init__(method, path, status, body_chars=body_chars)

    def _ctor(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (self.method, self.path, self.reason), {
            "status": self.status,
            "body_chars": self.body_chars,
        }

    def _detail(self) -> str:
        return self.reason


class ProtocolError(_WithReason):
    """A 2xx that could not be parsed or decoded, or ``success: false`` without a budget word.

    Attributes:
        reason: a short description made by us (never a piece of the body).
    """

    user_message = "The server sent a reply Companion could not understand."


class ModelNotFound(BackendApiError):
    """404/400 whose error says the model does not exist: a setting to change, not a bug.

    Attributes:
        model: the model asked for (the name the user set), or None when unknown.
        action: the bubble's button for it (``settings``).
    """

    action = "settings"

    def __init__(
        self, method: str, path: str, status: int, model: str | None = None, *, body_chars: int = 0
    ) -> None:
        self.model = model
        super().__init__(method, path, status, body_chars=body_chars)
        what = "voice model" if self.path.endswith("/audio/speech") else "model"
        named = f" “{model}”" if model else " asked for"
        self.user_message = f"The server has no {what}{named}: choose another in Settings."

    def _ctor(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (self.method, self.path, self.status, self.model), {"body_chars": self.body_chars}

    def _detail(self) -> str:
        return "model not found"


class RouteMissing(BackendApiError):
    """404/405/501 on a route the server does not have (a chat-only server asked for speech)."""

    def __init__(self, method: str, path: str, status: int, *, body_chars: int = 0) -> None:
        super().__init__(method, path, status, body_chars=body_chars)

    def _ctor(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (self.method, self.path, self.status), {"body_chars": self.body_chars}


class NoSpeechRoute(RouteMissing):
    """The server has no ``/audio/speech`` (llama.cpp, Ollama, chat-only proxies): the
    embedded voice speaks instead, for the session (:mod:`companion.speech.engines`)."""

    user_message = "This server has no voice: the built-in voice speaks instead."
    action = "settings"


class NoChatRoute(RouteMissing):
    """The server has no ``/chat/completions`` (a speech-only server)."""

    user_message = "This server does not chat: set a chat server in Settings."
    action = "settings"


class NoModelsRoute(RouteMissing):
    """The server has no ``GET /models`` (tts-daemon, Piper's HTTP server): a key cannot be
    checked before it is used (:mod:`companion.backend.key_check`)."""

    user_message = "This server does not list its models."


class FormatRefused(BackendApiError):
    """400/415/422 on ``/audio/speech`` naming the ``response_format``: the server does not
    make that format. The speech engine asks for the next one (never seen by the user)."""

    user_message = "The voice server does not offer that audio format."

    def __init__(self, method: str, path: str, status: int, *, body_chars: int = 0) -> None:
        super().__init__(method, path, status, body_chars=body_chars)

    def _ctor(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (self.method, self.path, self.status), {"body_chars": self.body_chars}


_UNSUPPORTED_MESSAGES: dict[str, str] = {
    "pcm_rate": (
        "The voice server sends raw audio without its sample rate, so it cannot be played "
        "at the right speed: choose another response format in Settings."
    ),
    "codec": (
        "The voice server sends an audio format Companion cannot play: "
        "choose WAV, MP3, FLAC or Opus in Settings."
    ),
    "refused": (
        "The voice server refused every audio format Companion plays: "
        "choose a built-in voice in Settings."
    ),
}


class UnsupportedAudio(_WithReason):
    """The server speaks only in a way Companion cannot play right: every format refused, raw
    PCM that does not say its sample rate, a codec libsndfile lacks (AAC). A limitation of
    the server (or of ours), never played at a wrong speed; a clear line, no crash report.

    Attributes:
        reason: ``pcm_rate`` (PCM of unknown rate), ``codec`` (a format we cannot decode),
            ``refused`` (every format refused).
        action: the bubble's button for it (``settings``).
    """

    action = "settings"

    @property
    def user_message(self) -> str:  # type: ignore[override]  # a line per reason, not one for all
        return _UNSUPPORTED_MESSAGES.get(self.reason, _UNSUPPORTED_MESSAGES["codec"])


class RedirectRefused(BackendApiError):
    """A 3xx Companion does not follow (:mod:`companion.backend.origin`): to another origin
    (scheme, host or port), past the hop limit, or without a usable ``Location``.

    Requests carrying the token or the reply text never leave the origin they were made to:
    following would hand them to whoever the server names. An expected state (the address is
    set wrong, ``http://`` to a server that moved to ``https://``, or the server is hostile),
    never a crash report.

    Attributes:
        reason: ``other_origin``, ``too_many`` or ``no_location``.
        origin: where the request went (``scheme://host[:port]``, nothing else of the URL).
        target: the origin the server pointed to (``other_origin``), else "".
        action: the bubble's button for it (``settings``: the address is the thing to check).
    """

    action = "settings"

    def __init__(
        self,
        method: str,
        path: str,
        status: int | None,
        reason: str,
        *,
        origin: str = "",
        target: str = "",
        body_chars: int = 0,
    ) -> None:
        self.reason = reason
        self.origin = origin
        self.target = target
        super().__init__(method, path, status, body_chars=body_chars)
        self.user_message = _redirect_message(reason, origin, target, status)

    def _ctor(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (self.method, self.path, self.status, self.reason), {
            "origin": self.origin,
            "target": self.target,
            "body_chars": self.body_chars,
        }

    def _detail(self) -> str:
        return self.reason


def _redirect_message(reason: str, origin: str, target: str, status: int | None) -> str:
    at = f"The server at {origin}" if origin else "The server"
    if reason == "other_origin" and target:
        line = f"{at} redirected to another address ({target}); Companion does not follow it."
        if origin.startswith("http://") and target == "https://" + origin[len("http://") :]:
            line += f" If the server moved, set the backend address to {target} in Settings."
        return line
    if reason == "other_origin":
        return (
            f"{at} redirected to an address that is not a web server's; "
            "Companion does not follow it."
        )
    if reason == "too_many":
        return f"{at} redirected too many times; Companion stopped following."
    code = f" (HTTP {status})" if status is not None else ""
    return f"{at} answered with a redirect Companion cannot follow{code}."


class NotSent(BackendApiError):
    """The request was not made: its token cannot go in a header, or plain HTTP to another
    machine is refused (:mod:`companion.backend.headers`). An expected state (a setting or a
    pasted token to fix), never a crash report; no text of it quotes the token.

    Attributes:
        reason: ``bad_token`` (``problem`` says what is wrong with it) or ``plain_http``.
        problem: e.g. "it contains a line break" (``bad_token``), else "".
        source: what the token is called in the line ("The token", "COMPANION_TOKEN").
        origin: ``http://host[:port]`` the token would have gone to (``plain_http``), else "".
        action: the bubble's button for it (``settings``).
    """

    action = "settings"

    def __init__(
        self,
        method: str,
        path: str,
        reason: str,
        *,
        problem: str = "",
        source: str = "The token",
        origin: str = "",
        body_chars: int = 0,
    ) -> None:
        self.reason = reason
        self.problem = problem
        self.source = source
        self.origin = origin
        super().__init__(method, path, None, body_chars=body_chars)
        if reason == "plain_http":
            self.user_message = (
                f"Not sent: the token would go unencrypted over plain HTTP to {origin} and "
                "refusing plain HTTP is on; use an https:// address."
            )
        else:
            self.user_message = (
                f"{source} cannot be used ({problem or 'it is malformed'}), so it was not sent; "
                "sign in again or set a valid token."
            )

    def _ctor(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (self.method, self.path, self.reason), {
            "problem": self.problem,
            "source": self.source,
            "origin": self.origin,
            "body_chars": self.body_chars,
        }

    def _detail(self) -> str:
        return self.reason
