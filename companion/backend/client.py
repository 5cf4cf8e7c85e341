# SPDX-License-Identifier: GPL-3.0-or-later
"""The HTTP client for the backend: one session, typed errors, speech read as a stream.

Every request carries ``(connect, read)`` timeouts, ``Authorization: Bearer <token>`` (when
there is a token; built and guarded by :mod:`companion.backend.headers`: a token a header cannot
carry, or plain HTTP to another machine refused, is ``NotSent`` and no request is made) and
``User-Agent: companion/<version>``. Failures become the typed errors
of :mod:`companion.backend.errors`, chosen by the table in :mod:`companion.backend.policy`.

Speech is fetched by a reader thread per attempt that hands bytes over a queue, so the
caller's waiting is bounded and cancellable whatever the network does:

- no byte for ``read_timeout`` seconds (20 by default) → ``Transient(reason="stall")``;
- one utterance, retries included, gives up after ``deadline_s`` (60 by default) →
  ``Transient(reason="deadline")``;
- a set :class:`~companion.speech.types.CancelToken` raises ``Cancelled`` within
  ``poll_interval`` and the attempt's socket is shut down;
- ``Transient`` answers (and connection failures) are retried with backoff, honouring
  ``Retry-After``, only before any audio byte arrived.

JSON requests (:meth:`BackendClient.authed_json`) read their body in pieces too and give up
after ``JSON_DEADLINE_S`` in all (``Transient(reason="deadline")``): a server that drips its
body a byte at a time never trips a read timeout.

Environment overrides (seconds; for tests and very slow links), read when a client is built:
``COMPANION_CONNECT_TIMEOUT`` and ``COMPANION_READ_TIMEOUT`` replace the connect and read
(stall) timeouts of every client; ``COMPANION_REQUEST_DEADLINE`` caps how long one request may
take in all, retries included (a speech utterance: 60 s; a chat reply: 15 min; a JSON call:
``JSON_DEADLINE_S``).

This module logs requests at debug level and retries at info; the final error is logged
(and reported, if the table says so) once, by the caller, with
:func:`companion.telemetry.log_backend_error`.
"""

from __future__ import annotations

import json as jsonlib
import logging
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import requests
import requests.adapters

from companion import __version__, bounded_json
from companion.backend import policy
from companion.backend.errors import (
    BackendApiError,
    NotSent,
    ProtocolError,
    Transient,
    Unauthorized,
    clean_path,
)
from companion.backend.headers import UNSENT_REASONS, bearer, went_out
from companion.backend.origin import OriginBoundSession
from companion.backend.stream import (
    Attempt,
    SpeechResponse,
    as_backend_error,
    model_of,
    read_body,
)
from companion.backend.stream import StreamResponse as StreamResponse
from companion.backend.timing import (
    ENV_CONNECT_TIMEOUT,
    ENV_DEADLINE,
    ENV_READ_TIMEOUT,
    JSON_DEADLINE_S,
    env_seconds,
    retry_after_of,
)
from companion.tasks import Cancelled, CancelToken, backoff_delay

__all__ = ["BackendClient", "SpeechResponse", "StreamResponse", "unwrap_envelope"]

log = logging.getLogger("companion.backend")

USER_AGENT = f"companion/{__version__}"
_READ_SIZE = 16 * 1024
_ERROR_BODY_LIMIT = 64 * 1024


class BackendClient:
    """Talks to the Companion backend (or an OpenAI-compatible server ending in ``/v1``).

    Attributes:
        base_url: the base URL without a trailing slash.
        openai_compatible: True when ``base_url`` ends with ``/v1`` (paths drop ``/openai``).
        connect_timeout, read_timeout: seconds; ``read_timeout`` is also the speech stall limit
            (``COMPANION_CONNECT_TIMEOUT`` / ``COMPANION_READ_TIMEOUT`` replace them).
        deadline_cap: ``COMPANION_REQUEST_DEADLINE``: no request takes longer in all (None).
        max_attempts: speech attempts per utterance (retries are for ``Transient`` only).
        backoff_base, backoff_max: retry delays, seconds (doubling, with a little jitter).
        poll_interval: how often waiting checks the cancel token, seconds.
    """

    def __init__(
        self,
        *,
        base_url: str,
        token: Callable[[], str | None],
        connect_timeout: float = 5.0,
        read_timeout: float = 20.0,
        session: requests.Session | None = None,
        max_attempts: int = 3,
        backoff_base: float = 0.5,
        backoff_max: float = 8.0,
        poll_interval: float = 0.05,
    ) -> None:
        self.base_url = base_url.strip().rstrip("/")
        self.openai_compatible = self.base_url.endswith("/v1")
        self._token = token
        self.connect_timeout = env_seconds(ENV_CONNECT_TIMEOUT) or connect_timeout
        self.read_timeout = env_seconds(ENV_READ_TIMEOUT) or read_timeout
        self.deadline_cap = env_seconds(ENV_DEADLINE)
        self.max_attempts = max(1, max_attempts)
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.poll_interval = poll_interval
        self._owns_session = session is None
        if session is None:
            session = OriginBoundSession()  # redirects never leave the base URL's origin
            # Retries are ours (policy-aware); the transport must not retry on its own.
            adapter = requests.adapters.HTTPAdapter(max_retries=0, pool_maxsize=8)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
        self._session = session
        self._attempts: list[Attempt] = []
        self._attempts_lock = threading.Lock()
        self._closed = False

    # --- helpers ---------------------------------------------------------------------
    def openai_path(self, p: str) -> str:
        """``/openai/v1/<rest>``, or ``/<rest>`` when the base URL already ends with ``/v1``."""
        rest = p if p.startswith("/") else "/" + p
        for prefix in ("/openai/v1", "/v1"):
            if rest == prefix or rest.startswith(prefix + "/"):
                rest = rest[len(prefix) :] or "/"
                break
        return rest if self.openai_compatible else "/openai/v1" + rest

    def url(self, path: str) -> str:
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def headers(self, method: str = "GET", path: str = "/") -> dict[str, str]:
        """The request's headers. A token callable that raises ``Unauthorized`` (signed out,
        known locally) or ``NotSent`` (an unusable token) stops the request before it is made;
        so does a token a header cannot carry, or plain HTTP refused
        (:func:`companion.backend.headers.bearer`). The error names the request."""
        out = {"User-Agent": USER_AGENT, "Accept": "application/json, audio/*;q=0.9, */*;q=0.5"}
        try:
            token = self._token()
            if token:
                out["Authorization"] = bearer(
                    token, base_url=self.base_url, method=method.upper(), path=path
                )
        except (Unauthorized, NotSent) as exc:
            exc.method, exc.path = method.upper(), clean_path(path)
            raise
        return out

    def went_out(self, sent: dict[str, str], exc: BaseException | None = None) -> None:
        """A request with headers ``sent`` was answered (or failed with ``exc`` after it may
        have connected): the plain-HTTP warning's moment (:func:`headers.went_out`)."""
        if exc is None or policy.transient_reason(exc) not in UNSENT_REASONS:
            went_out(self.base_url, sent)

    def _track(self, attempt: Attempt) -> None:
        with self._attempts_lock:
            self._attempts = [a for a in self._attempts if a.alive]
            self._attempts.append(attempt)

    # --- JSON ------------------------------------------------------------------------
    def authed_json(
        self, method: str, path: str, json: Any = None, *, operation: str | None = None
    ) -> Any:
        """Send a JSON request; return ``data`` of ``{success, data, message}`` (or the JSON).

        Raises the typed errors of the table; ``success: false`` is ``BudgetExhausted`` when
        its message speaks of budget/credits/balance, else ``ProtocolError``.
        """
        method = method.upper()
        op = operation or policy.path_template(path)
        started = time.monotonic()
        deadline = started + min(JSON_DEADLINE_S, self.deadline_cap or JSON_DEADLINE_S)
        headers = self.headers(method, path)
        try:
            resp = self._session.request(
                method,
                self.url(path),
                json=json,
                headers=headers,
                timeout=(self.connect_timeout, self.read_timeout),
                stream=True,
            )
        except requests.RequestException as exc:
            self.went_out(headers, exc)
            err = as_backend_error(method, path, exc)
            raise err from None
        self.went_out(headers)
        with resp:
            body = read_body(resp, method, path, deadline, truncate=not resp.ok)
            self._log_request(op, method, path, resp.status_code, len(body), started)
            if not resp.ok:
                raise policy.classify(
                    method,
                    path,
                    resp.status_code,
                    _text(body, resp.encoding),
                    retry_after=retry_after_of(resp.headers),
                    model=model_of(json),
                )
            if resp.status_code == 204 or not body.strip():
                return None
            try:
                doc = bounded_json.loads(body)
            except ValueError as exc:
                deep = isinstance(exc, bounded_json.JsonTooDeep)
                reason = "JSON too deep" if deep else "not JSON"
                raise ProtocolError(
                    method, path, reason, status=resp.status_code, body_chars=len(body)
                ) from None
            return unwrap_envelope(method, path, resp.status_code, doc, body_chars=len(body))

    # --- speech ----------------------------------------------------------------------
    def speech(
        self, payload: dict[str, Any], *, cancel: CancelToken, deadline_s: float = 60.0
    ) -> SpeechResponse:
        """POST the speech request; return once a 2xx answer's headers arrived.

        Retries ``Transient`` failures (bounded, backoff, ``Retry-After``) until
        ``deadline_s`` from now; the returned response's body must be read within the same
        deadline. Raises the typed errors, or ``Cancelled``.
        """
        return self.post_stream(
            self.openai_path("/audio/speech"),
            payload,
            cancel=cancel,
            deadline_s=deadline_s,
            operation="speech",
        )

    def post_stream(
        self,
        path: str,
        payload: dict[str, Any],
        *,
        cancel: CancelToken,
        deadline_s: float = 60.0,
        operation: str = "stream",
        accept: str | None = None,
    ) -> SpeechResponse:
        """POST JSON and return once a 2xx answer's headers arrived; read the body as a stream.

        What :meth:`speech` does, for any path (the chat client reads server-sent events
        this way): retries, stall and deadline limits, cancel, typed errors. ``accept``
        replaces the ``Accept`` header; ``operation`` names the request in log lines.
        """
        if self.deadline_cap is not None:
            deadline_s = min(deadline_s, self.deadline_cap)
        deadline = time.monotonic() + deadline_s
        attempt_no = 0
        while True:
            attempt_no += 1
            cancel.raise_if_cancelled()
            started = time.monotonic()
            attempt = Attempt(
                client=self,
                path=path,
                payload=payload,
                cancel=cancel,
                deadline=deadline,
                operation=operation,
                accept=accept,
            )
            try:
                err = self._first_answer(attempt, started)
            except Transient as exc:
                err = exc
            if isinstance(err, SpeechResponse):
                return err
            if not isinstance(err, Transient) or err.reason == "deadline":
                raise err
            delay = self._backoff(attempt_no, err.retry_after)
            remaining = deadline - time.monotonic()
            if attempt_no >= self.max_attempts or delay >= remaining:
                raise err
            log.info(
                "[backend_api] retry %s attempt=%d delay_s=%.2f",
                " ".join(f"{k}={v}" for k, v in policy.fields(err, operation).items()),
                attempt_no,
                delay,
            )
            if cancel.wait(delay):
                raise Cancelled()

    def _first_answer(self, attempt: Attempt, started: float) -> SpeechResponse | BackendApiError:
        kind, value = attempt.next_event()
        if kind == "error":
            err = as_backend_error("POST", attempt.path, value)
            if isinstance(err, BackendApiError):
                return err
            raise err
        assert kind == "head"
        resp: requests.Response = value
        if resp.ok:
            self._log_request(
                attempt.operation, "POST", attempt.path, resp.status_code, -1, started
            )
            return SpeechResponse(attempt, resp)
        body = self._error_body(attempt)
        attempt.abandon()
        self._log_request(
            attempt.operation, "POST", attempt.path, resp.status_code, len(body), started
        )
        return policy.classify(
            "POST",
            attempt.path,
            resp.status_code,
            _text(body, resp.encoding),
            retry_after=retry_after_of(resp.headers),
            model=attempt.model,
        )

    @staticmethod
    def _error_body(attempt: Attempt) -> bytes:
        """Up to 64 KiB of an error answer's body; what arrived if it breaks off."""
        parts: list[bytes] = []
        size = 0
        try:
            while size < _ERROR_BODY_LIMIT:
                kind, value = attempt.next_event()
                if kind != "data":
                    break
                parts.append(value)
                size += len(value)
        except Transient:
            pass
        return b"".join(parts)

    def _backoff(self, attempt_no: int, retry_after: float | None) -> float:
        return backoff_delay(
            attempt_no, retry_after, base=self.backoff_base, maximum=self.backoff_max
        )

    def _log_request(
        self, op: str, method: str, path: str, status: int, body_chars: int, started: float
    ) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "[backend_api] request domain=%s operation=%s method=%s path=%s status=%d "
                "body_chars=%d ms=%.0f",
                policy.DOMAIN,
                op,
                method,
                clean_path(path),
                status,
                body_chars,
                1000.0 * (time.monotonic() - started),
            )

    # --- lifetime --------------------------------------------------------------------
    def close(self, timeout: float = 1.0) -> None:
        """Abandon running streamed requests, wait briefly for their threads, close the session."""
        if self._closed:
            return
        self._closed = True
        with self._attempts_lock:
            attempts, self._attempts = self._attempts, []
        for attempt in attempts:
            attempt.abandon()
        end = time.monotonic() + timeout
        for attempt in attempts:
            attempt.join(max(0.0, end - time.monotonic()))
        if self._owns_session:
            self._session.close()

    def __enter__(self) -> BackendClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


#: The name of a streamed response whatever it carries (speech audio or chat events).
def _text(body: bytes, encoding: str | None) -> str:
    try:
        return body.decode(encoding or "utf-8", errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")


def unwrap_envelope(method: str, path: str, status: int, doc: Any, *, body_chars: int = 0) -> Any:
    """``data`` of ``{success: true, data}``; the typed error for ``success: false``;
    any other JSON unchanged."""
    if isinstance(doc, dict) and isinstance(doc.get("success"), bool):
        if not doc["success"]:
            message = doc.get("message", doc.get("error", ""))
            text = message if isinstance(message, str) else jsonlib.dumps(message)
            err = policy.classify(method, path, status, text, reason="success: false")
            err.body_chars = body_chars
            raise err
        return doc.get("data")
    return doc
