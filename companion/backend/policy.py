# SPDX-License-Identifier: GPL-3.0-or-later
"""The one status table: which response becomes which typed error, how loud, reported or not.

==============================================  =================  ========  ============
response                                        typed error        log       crash report
==============================================  =================  ========  ============
401, any method, any path                       Unauthorized       info      never
404 on ``/channels/<p>/messages/<id>``          MessageNotFound    info      never
400/402 (or ``success: false``) saying
budget, credits or balance                      BudgetExhausted    info      never
408, 429, 502, 503, 504, 520; timeout, reset,
refused, DNS, TLS EOF, a body cut short         Transient          warning   never
403 and any other non-2xx                       HttpError          error     yes
2xx that cannot be parsed or decoded            ProtocolError      error     yes
==============================================  =================  ========  ============

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

from companion.backend.errors import (
    BackendApiError,
    BudgetExhausted,
    HttpError,
    MessageNotFound,
    ProtocolError,
    Transient,
    Unauthorized,
    clean_path,
)

TRANSIENT_STATUSES = frozenset({408, 429, 502, 503, 504, 520})
BUDGET_STATUSES = frozenset({400, 402})
_BUDGET_WORDS = re.compile(r"budget|credit|balance", re.IGNORECASE)
_MESSAGE_PATH = re.compile(r"^/channels/(?P<provider>[^/]+)/messages/(?P<message_id>[^/]+)/?$")
DOMAIN = "backend"


@dataclass(frozen=True, slots=True)
class Facts:
    """What we know about a response that did not give us what we wanted."""

    method: str
    path: str
    status: int
    body_text: str
    retry_after: float | None = None
    reason: str = "unusable 2xx body"


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    matches: Callable[[Facts], bool]
    build: Callable[[Facts], BackendApiError]


def _is_2xx(f: Facts) -> bool:
    return 200 <= f.status < 300


def _says_budget(f: Facts) -> bool:
    return _BUDGET_WORDS.search(f.body_text) is not None


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
        lambda f: f.status == 401,
        lambda f: Unauthorized(f.method, f.path, body_chars=len(f.body_text)),
    ),
    Rule(
        "message_not_found",
        lambda f: f.status == 404 and _MESSAGE_PATH.match(f.path) is not None,
        _message_not_found,
    ),
    Rule(
        "budget",
        lambda f: (f.status in BUDGET_STATUSES or _is_2xx(f)) and _says_budget(f),
        lambda f: BudgetExhausted(f.method, f.path, f.status, body_chars=len(f.body_text)),
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
    BudgetExhausted: Outcome(logging.INFO, False, "budget"),
    Transient: Outcome(logging.WARNING, False, "transient"),
    HttpError: Outcome(logging.ERROR, True, "non_2xx"),
    ProtocolError: Outcome(logging.ERROR, True, "protocol"),
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
) -> BackendApiError:
    """The typed error for a response that did not give us what we wanted.

    ``body_text`` is only searched for budget words and counted; it never leaves here.
    ``reason`` names what was wrong with a 2xx (it becomes ``ProtocolError.reason``).
    """
    facts = Facts(
        method.upper(), clean_path(path), int(status), body_text or "", retry_after, reason
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


def classify_exception(method: str, path: str, exc: BaseException) -> Transient | None:
    """``Transient`` for timeouts, resets, refusals, DNS, TLS and cut bodies; else None."""
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
    if isinstance(reason, str) and isinstance(err, Transient):
        out["reason"] = reason
    return out


def log_message(err: BackendApiError, operation: str) -> str:
    """``[backend_api] domain=… operation=… method=… path=… status=… failure=… body_chars=…``."""
    parts = " ".join(f"{k}={v}" for k, v in fields(err, operation).items())
    return f"[backend_api] {parts} body_chars={err.body_chars}"
