# SPDX-License-Identifier: GPL-3.0-or-later
"""One streamed request to the backend (speech, chat): a reader thread per attempt hands
the response's bytes over a queue, so the caller's wait is bounded and cancellable whatever
the network does. :class:`SpeechResponse` is what the caller reads; see
:mod:`companion.backend.client` for the bounds."""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any

import requests
import urllib3

from companion.backend import bounded_body, policy
from companion.backend.errors import BackendApiError, Transient
from companion.tasks import Cancelled, CancelToken

if TYPE_CHECKING:
    from companion.backend.client import BackendClient

log = logging.getLogger("companion.backend")

READ_SIZE = 16 * 1024
#: Pieces read ahead of the caller at most (1 MiB): a server faster than its reader waits
#: on the socket (TCP holds it back) instead of filling memory.
QUEUE_PIECES = 64
#: A read timing out mid-body: the same stall the caller's clock sees (whichever comes first).
TIMEOUTS = (requests.exceptions.Timeout, urllib3.exceptions.TimeoutError, TimeoutError)


def _mime(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower() or "application/octet-stream"


class Attempt:
    """One streamed request (speech, chat), run by a reader thread that feeds a queue.

    Events on the queue: ``("head", response)``, ``("data", bytes)``, ``("end", None)``,
    ``("error", exception)``. The thread ends on its own (its socket reads time out after
    ``read_timeout``); :meth:`abandon` makes it end at once when a response exists.
    """

    def __init__(
        self,
        *,
        client: BackendClient,
        path: str,
        payload: dict[str, Any],
        cancel: CancelToken,
        deadline: float,
        operation: str = "speech",
        accept: str | None = None,
    ) -> None:
        self.client = client
        self.operation = operation
        self._accept = accept
        self.path = path
        self.model = model_of(payload)  # named by ModelNotFound (the user's own setting)
        self.cancel = cancel
        self.deadline = deadline
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=QUEUE_PIECES)
        self.response: requests.Response | None = None
        self.last_activity = time.monotonic()
        self.received = 0
        self._lock = threading.Lock()
        self._abandoned = False
        self._finished = False
        remaining = max(0.05, deadline - time.monotonic())
        self._timeout = (min(client.connect_timeout, remaining), client.read_timeout)
        self._thread = threading.Thread(
            target=self._run, args=(payload,), name=f"companion-backend-{operation}", daemon=True
        )
        client._track(self)
        self._thread.start()

    # --- reader thread -------------------------------------------------------------
    def _run(self, payload: dict[str, Any]) -> None:
        headers: dict[str, str] = {}
        try:
            headers = self.client.headers("POST", self.path)
            if self._accept:
                headers["Accept"] = self._accept
            resp = self.client._session.post(
                self.client.url(self.path),
                json=payload,
                headers=headers,
                timeout=self._timeout,
                stream=True,
            )
        except BaseException as exc:
            self.client.went_out(headers, exc)
            self._put(("error", exc))
            return
        self.client.went_out(headers)
        self.last_activity = time.monotonic()
        with self._lock:
            self.response = resp
            if self._abandoned:
                resp.close()
                return
        self._put(("head", resp))
        try:
            while not self._abandoned:
                data = resp.raw.read1(READ_SIZE)
                if not data:
                    self._finish(resp, complete=True)
                    self._put(("end", None))
                    return
                self.last_activity = time.monotonic()
                self._put(("data", data))
        except BaseException as exc:
            if isinstance(exc, TIMEOUTS):  # the socket's read timeout is the stall limit too
                exc = Transient("POST", self.path, resp.status_code, "stall")
            self._put(("error", exc))
        self._finish(resp, complete=False)

    def _put(self, event: tuple[str, Any]) -> None:
        """``event`` onto the bounded queue, waiting while it is full (until abandoned)."""
        while not self._abandoned:
            try:
                self.events.put(event, timeout=self.client.poll_interval)
                return
            except queue.Full:
                continue

    def _finish(self, resp: requests.Response, *, complete: bool) -> None:
        with self._lock:
            if self._finished:
                return
            self._finished = True
            if complete and not self._abandoned:
                # Body read to its end: hand the connection back to the pool for reuse.
                resp.raw.release_conn()
            resp.close()

    # --- caller side ---------------------------------------------------------------
    def next_event(self) -> tuple[str, Any]:
        """The next event; raises Cancelled, or Transient on a stall or the deadline."""
        poll = self.client.poll_interval
        stall = self.client.read_timeout
        while True:
            try:
                return self.events.get_nowait()
            except queue.Empty:
                pass
            if self.cancel.cancelled:
                self.abandon()
                raise Cancelled()
            now = time.monotonic()
            if now >= self.deadline:
                self.abandon()
                raise Transient("POST", self.path, self._status(), "deadline")
            if now - self.last_activity >= stall:
                self.abandon()
                raise Transient("POST", self.path, self._status(), "stall")
            wait = min(poll, self.deadline - now, stall - (now - self.last_activity))
            try:
                return self.events.get(timeout=max(0.001, wait))
            except queue.Empty:
                continue

    def _status(self) -> int | None:
        resp = self.response
        return None if resp is None else resp.status_code

    def abandon(self) -> None:
        """Stop the reader: shut its socket so a blocked read returns now."""
        with self._lock:
            self._abandoned = True
            resp = self.response
            if resp is None or self._finished:
                return
            self._finished = True
            with contextlib.suppress(OSError, ValueError, RuntimeError, AttributeError):
                resp.raw.shutdown()
            resp.close()

    def join(self, timeout: float) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()


class SpeechResponse:
    """A 2xx streamed response (speech audio, chat events) whose body is still arriving.

    Attributes:
        content_type: the mime type, lower-case, without parameters.
        content_type_header: the whole ``Content-Type`` (parameters such as ``rate=`` kept).
        headers: the response headers (case-insensitive; a PCM body's rate may be there).
        status: the HTTP status.
        content_length: the announced length, if any.
    """

    def __init__(self, attempt: Attempt, response: requests.Response) -> None:
        self._attempt = attempt
        self.status = response.status_code
        self.headers = response.headers
        self.content_type_header = response.headers.get("Content-Type") or ""
        self.content_type = _mime(self.content_type_header)
        length = response.headers.get("Content-Length")
        self.content_length = int(length) if length and length.isdigit() else None
        self._done = False

    def iter_bytes(self) -> Iterator[bytes]:
        """Body bytes as they arrive. Raises Transient (stall, deadline, cut short, reset)
        or Cancelled mid-body."""
        attempt = self._attempt
        while not self._done:
            kind, value = attempt.next_event()
            if kind == "data":
                attempt.received += len(value)
                yield value
            elif kind == "end":
                self._done = True
            else:  # "error"
                self._done = True
                raise as_backend_error("POST", attempt.path, value, status=self.status)

    def read(self) -> bytes:
        """The whole body."""
        return b"".join(self.iter_bytes())

    def close(self) -> None:
        self._done = True
        self._attempt.abandon()

    def __enter__(self) -> SpeechResponse:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def as_backend_error(
    method: str, path: str, exc: BaseException, *, status: int | None = None
) -> BaseException:
    """A connection failure as ``Transient``; anything else (a bug) unchanged."""
    if isinstance(exc, BackendApiError | Cancelled):
        return exc
    err = policy.classify_exception(method, path, exc)
    if err is None:
        return exc
    if status is not None and isinstance(err, Transient):
        err = Transient(method, path, status, err.reason)
    return err


StreamResponse = SpeechResponse


def read_body(
    resp: requests.Response, method: str, path: str, deadline: float, *, truncate: bool = False
) -> bytes:
    """The whole body of a streamed response, read in pieces as they arrive, within
    ``deadline`` (``time.monotonic()``) and its ceiling (:func:`bounded_body.read_capped`:
    1 MiB decoded; past it a 2xx is ``ProtocolError``, an error body with ``truncate`` is
    cut there); connection failures become ``Transient``."""
    return bounded_body.read_capped(resp, method, path, deadline, truncate=truncate)


def model_of(payload: Any) -> str | None:
    model = payload.get("model") if isinstance(payload, dict) else None
    return model if isinstance(model, str) and model else None
