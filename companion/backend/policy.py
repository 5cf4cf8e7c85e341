# SPDX-License-Identifier: GPL-3.0-or-later
"""The one status table: which response becomes which typed error, how loud, reported or not.

==============================================  =================  ========  ============
response                                        typed error        log       crash report
==============================================  =================  ========  ============
401, any method, any path; 400/403 whose error
says the key is invalid (``invalid_api_key``,
``authentication_error``: LiteLLM, proxies, or
FastAPI's ``{"detail": "Not authenticated"}``);
a 2xx ``{"success": false, "message":
"Unauthorized"}`` (or any unusable 2xx whose
error says so)                                  Unauthorized       info      never
404 on ``/channels/<p>/messages/<id>``          MessageNotFound    info      never
400/415/422 on ``/audio/speech`` naming the
``response_format``                             FormatRefused      info      never
400/404 whose error says the model does not
exist (``model_not_found``, "invalid model")    ModelNotFound      info      never
400/402 (or ``success: false``) saying
budget, credits or balance; ``insufficient_
quota`` (also on 429)                           BudgetExhausted    info      never
404/405/501 on ``/audio/speech``                NoSpeechRoute      info      never
404/405/501 on ``/chat/completions``            NoChatRoute        info      never
404/405/501 on ``GET …/models``                 NoModelsRoute      info      never
408, 429, 502, 503, 504, 520; timeout, reset,
refused, DNS, TLS EOF, a body cut short         Transient          warning   never
2xx audio Companion cannot play right: PCM of
unknown rate, a codec it lacks (AAC), every
format refused (:mod:`companion.speech`)        UnsupportedAudio   warning   never
403 and any other non-2xx                       HttpError          error     yes
2xx that cannot be parsed or decoded, or past
its ceiling (``answer too large``: 1 MiB of
JSON, of an SSE line or event; 25 MB of audio:
:mod:`companion.backend.bounded_body`)          ProtocolError      error     yes
3xx to another origin (scheme, host, port), one
without a usable ``Location``, or past 5 same-
origin hops: nothing is sent there
(:mod:`companion.backend.origin`)               RedirectRefused    warning   never
no request: a token a header cannot carry
(CR/LF, NUL, space, colon, not Latin-1), or
plain HTTP to another machine refused
(:mod:`companion.backend.headers`)              NotSent            warning   never
==============================================  =================  ========  ============

An error body (non-2xx) past its ceiling is classified by its status on its first 1 MiB: a
401 with an endless or gzip-bomb body is still ``Unauthorized``.

Same-origin redirects are followed with the method and body kept (up to 5 hops) and never
reach the table. A refused redirect is an expected state (an address set wrong, ``http://``
to a server that moved to ``https://``, or a hostile server), so it is no crash report;
its line names both origins and nothing else of either URL.

Error bodies are read in every shape OpenAI-compatible servers write them
(:mod:`companion.backend.openai_errors`): ``{"error": {"message", "type", "code", "param"}}``
and its cousins. ``FormatRefused`` never reaches the user: the speech engine asks for the next
format (:mod:`companion.speech.formats`); ``NoSpeechRoute`` makes the embedded voice speak for
the session, with one notice (:mod:`companion.speech.engines`).

:data:`RULES` (status → error) and :data:`OUTCOMES` (error → level, report) are that
table; :data:`EXCEPTION_REASONS` maps connection failures to ``Transient`` reasons. Nothing
else in the program decides these things.
"""

from __future__ import annotations

import http.client
import logging
import re
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass

import requests
import urllib3.exceptions

from companion.backend import openai_errors
from companion.backend.errors import (
    BackendApiError,
    BudgetExhausted,
    FormatRefused,
    HttpError,
    MessageNotFound,
    ModelNotFound,
    NoChatRoute,
    NoModelsRoute,
    NoSpeechRoute,
    NotSent,
    ProtocolError,
    RedirectRefused,
    RouteMissing,
    Transient,
    Unauthorized,
    UnsupportedAudio,
    clean_path,
)
from companion.backend.openai_errors import ErrorBody
from companion.backend.origin import RedirectBlocked

TRANSIENT_STATUSES = frozenset({408, 429, 502, 503, 504, 520})
BUDGET_STATUSES = frozenset({400, 402})
#: A proxy without its database answers a wrong key with these (and an auth error body).
AUTH_STATUSES = frozenset({400, 403})
MODEL_STATUSES = frozenset({400, 404})
ROUTE_STATUSES = frozenset({404, 405, 501})
FORMAT_STATUSES = frozenset({400, 415, 422})
_BUDGET_WORDS = re.compile(r"budget|credit|balance", re.IGNORECASE)
_MESSAGE_PATH = re.compile(r"^/channels/(?P<provider>[^/]+)/messages/(?P<message_id>[^/]+)/?$")
DOMAIN = "backend"
_NO_ERROR = ErrorBody()


@dataclass(frozen=True, slots=True)
class Facts:
    """What we know about a response that did not give us what we wanted."""

    method: str
    path: str
    status: int
    body_text: str
    retry_after: float | None = None
    reason: str = "unusable 2xx body"
    error: ErrorBody = _NO_ERROR
    model: str | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    matches: Callable[[Facts], bool]
    build: Callable[[Facts], BackendApiError]


def _is_2xx(f: Facts) -> bool:
    return 200 <= f.status < 300


def _says_budget(f: Facts) -> bool:
    if "insufficient_quota" in (f.error.code, f.error.type):
        return f.status in BUDGET_STATUSES or f.status == 429 or _is_2xx(f)
    if f.status in BUDGET_STATUSES or _is_2xx(f):
        return _BUDGET_WORDS.search(f.body_text) is not None
    return False


def _is_speech(f: Facts) -> bool:
    return f.path.rstrip("/").endswith("/audio/speech")


def _is_chat(f: Facts) -> bool:
    return f.path.rstrip("/").endswith("/chat/completions")


def _is_models(f: Facts) -> bool:
    return f.method == "GET" and f.path.rstrip("/").endswith("/models")


def _route_missing(f: Facts) -> BackendApiError:
    kind: type[RouteMissing] = NoChatRoute
    if _is_speech(f):
        kind = NoSpeechRoute
    elif _is_models(f):
        kind = NoModelsRoute
    return kind(f.method, f.path, f.status, body_chars=len(f.body_text))


def _message_not_found(f: Facts) -> BackendApiError:
    m = _MESSAGE_PATH.match(f.path)
    assert m is not None  # guarded by the rule's predicate
    return MessageNotFound(
        m["provider"],
        m["message_id"],
        method=f.method,
        path=f.path,
        body_chars=len(f.body_text),
    )


#: First match wins. A 2xx reaches the table only when its body could not be used
#: (unparseable, or ``{"success": false}``): it is a budget message or a protocol error.
RULES: tuple[Rule, ...] = (
    Rule(
        "unauthorized",
        lambda f: (
            f.status == 401
            or ((f.status in AUTH_STATUSES or _is_2xx(f)) and f.error.says_unauthorized())
        ),
        lambda f: Unauthorized(f.method, f.path, status=f.status, body_chars=len(f.body_text)),
    ),
    Rule(
        "message_not_found",
        lambda f: f.status == 404 and _MESSAGE_PATH.match(f.path) is not None,
        _message_not_found,
    ),
    Rule(
        "format_refused",
        lambda f: f.status in FORMAT_STATUSES and _is_speech(f) and f.error.names_format(),
        lambda f: FormatRefused(f.method, f.path, f.status, body_chars=len(f.body_text)),
    ),
    Rule(
        "model_not_found",
        lambda f: f.status in MODEL_STATUSES and f.error.says_model_not_found(),
        lambda f: ModelNotFound(f.method, f.path, f.status, f.model, body_chars=len(f.body_text)),
    ),
    Rule(
        "budget",
        _says_budget,
        lambda f: BudgetExhausted(f.method, f.path, f.status, body_chars=len(f.body_text)),
    ),
    Rule(
        "route_missing",
        lambda f: f.status in ROUTE_STATUSES and (_is_speech(f) or _is_chat(f) or _is_models(f)),
        _route_missing,
    ),
    Rule(
        "transient",
        lambda f: f.status in TRANSIENT_STATUSES,
        lambda f: Transient(
            f.method, f.path, f.status, "status", f.retry_after, body_chars=len(f.body_text)
        ),
    ),
    Rule(
        "protocol",
        _is_2xx,
        lambda f: ProtocolError(
            f.method, f.path, f.reason, status=f.status, body_chars=len(f.body_text)
        ),
    ),
    Rule(
        "non_2xx",
        lambda f: True,
        lambda f: HttpError(f.method, f.path, f.status, body_chars=len(f.body_text)),
    ),
)


@dataclass(frozen=True, slots=True)
class Outcome:
    """How loud an error is, whether it is a crash report, and its ``failure`` tag."""

    log_level: int
    report: bool
    failure: str


OUTCOMES: dict[type[BackendApiError], Outcome] = {
    Unauthorized: Outcome(logging.INFO, False, "unauthorized"),
    MessageNotFound: Outcome(logging.INFO, False, "message_not_found"),
    ModelNotFound: Outcome(logging.INFO, False, "model_not_found"),
    BudgetExhausted: Outcome(logging.INFO, False, "budget"),
    RouteMissing: Outcome(logging.INFO, False, "route_missing"),
    FormatRefused: Outcome(logging.INFO, False, "format_refused"),
    Transient: Outcome(logging.WARNING, False, "transient"),
    UnsupportedAudio: Outcome(logging.WARNING, False, "unsupported_audio"),
    HttpError: Outcome(logging.ERROR, True, "non_2xx"),
    ProtocolError: Outcome(logging.ERROR, True, "protocol"),
    RedirectRefused: Outcome(logging.WARNING, False, "redirect_refused"),
    NotSent: Outcome(logging.WARNING, False, "not_sent"),
}

#: Connection failures → ``Transient`` reasons. First match over the exception and
#: everything it wraps (cause, context, urllib3's ``reason``) wins; order matters.
EXCEPTION_REASONS: tuple[tuple[type[BaseException], str], ...] = (
    (urllib3.exceptions.NameResolutionError, "dns"),
    (socket.gaierror, "dns"),
    (ssl.SSLError, "tls"),
    (requests.exceptions.SSLError, "tls"),
    (ConnectionRefusedError, "refused"),
    (ConnectionResetError, "reset"),  # also http.client.RemoteDisconnected
    (BrokenPipeError, "reset"),
    (requests.exceptions.ChunkedEncodingError, "cut_short"),
    (http.client.IncompleteRead, "cut_short"),
    (urllib3.exceptions.ProtocolError, "cut_short"),
    # urllib3's NewConnectionError subclasses ConnectTimeoutError: test it first.
    (urllib3.exceptions.NewConnectionError, "connect"),
    (requests.exceptions.Timeout, "timeout"),
    (urllib3.exceptions.TimeoutError, "timeout"),
    (TimeoutError, "timeout"),
    (requests.exceptions.ConnectionError, "connection"),
    (http.client.HTTPException, "connection"),
    (ConnectionError, "connection"),
)


def classify(
    method: str,
    path: str,
    status: int,
    body_text: str,
    *,
    retry_after: float | None = None,
    reason: str = "unusable 2xx body",
    model: str | None = None,
    error: ErrorBody | None = None,
) -> BackendApiError:
    """The typed error for a response that did not give us what we wanted.

    ``body_text`` is only read as an error body (:func:`openai_errors.parse`), searched and
    counted; it never leaves here. ``reason`` names what was wrong with a 2xx (it becomes
    ``ProtocolError.reason``); ``model`` is the model the request asked for (named in
    ``ModelNotFound``); ``error`` is the error already parsed (an SSE error event).
    """
    body_text = body_text or ""
    facts = Facts(
        method.upper(),
        clean_path(path),
        int(status),
        body_text,
        retry_after,
        reason,
        error if error is not None else openai_errors.parse(body_text),
        model if isinstance(model, str) and model else None,
    )
    for rule in RULES:
        if rule.matches(facts):
            return rule.build(facts)
    raise AssertionError("the last rule matches everything")  # pragma: no cover


def _wrapped(exc: BaseException) -> list[BaseException]:
    """The exception and everything it wraps, breadth first, each once."""
    seen: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo:
        e = todo.pop(0)
        if any(e is s for s in seen):
            continue
        seen.append(e)
        todo.extend(x for x in (e.__cause__, e.__context__) if x is not None)
        todo.extend(a for a in e.args if isinstance(a, BaseException))
        reason = getattr(e, "reason", None)
        if isinstance(reason, BaseException):
            todo.append(reason)
    return seen


def transient_reason(exc: BaseException) -> str | None:
    """The ``Transient`` reason for a connection failure, or None when it is not one."""
    chain = _wrapped(exc)
    for kind, reason in EXCEPTION_REASONS:
        if any(isinstance(e, kind) for e in chain):
            return reason
    return None


def classify_exception(
    method: str, path: str, exc: BaseException
) -> Transient | RedirectRefused | None:
    """``RedirectRefused`` for a 3xx that was not followed; ``Transient`` for timeouts,
    resets, refusals, DNS, TLS and cut bodies; else None."""
    for e in _wrapped(exc):
        if isinstance(e, RedirectBlocked):
            return RedirectRefused(
                method, path, e.status, e.reason, origin=e.origin, target=e.target
            )
    reason = transient_reason(exc)
    if reason is None:
        return None
    return Transient(method, path, None, reason)


def outcome(err: BackendApiError) -> Outcome:
    for cls in type(err).__mro__:
        found = OUTCOMES.get(cls)
        if found is not None:
            return found
    return OUTCOMES[HttpError]


def log_level(err: BackendApiError) -> int:
    return outcome(err).log_level


def should_report(err: BackendApiError) -> bool:
    return outcome(err).report


_ID_SEGMENT = re.compile(r"^(?:\d+|[0-9a-fA-F]{8,}|[0-9a-fA-F-]{32,36}|[A-Za-z0-9_-]{20,})$")


def path_template(path: str) -> str:
    """A low-cardinality form of a path for tags: ids become ``:id``."""
    path = clean_path(path)
    m = _MESSAGE_PATH.match(path)
    if m:
        return f"/channels/{m['provider']}/messages/:id"
    return "/".join(":id" if _ID_SEGMENT.match(s) else s for s in path.split("/"))


def fields(err: BackendApiError, operation: str) -> dict[str, str | int]:
    """The fields of a log line and the tags of a report for ``err``, in a stable order."""
    out: dict[str, str | int] = {
        "domain": DOMAIN,
        "operation": operation,
        "method": err.method,
        "path": path_template(err.path),
        "status": "none" if err.status is None else err.status,
        "failure": outcome(err).failure,
    }
    reason = getattr(err, "reason", None)
    if isinstance(reason, str) and isinstance(
        err, Transient | UnsupportedAudio | RedirectRefused | NotSent
    ):
        out["reason"] = reason
    return out


def log_message(err: BackendApiError, operation: str) -> str:
    """``[backend_api] domain=… operation=… method=… path=… status=… failure=… body_chars=…``."""
    parts = " ".join(f"{k}={v}" for k, v in fields(err, operation).items())
    return f"[backend_api] {parts} body_chars={err.body_chars}"
