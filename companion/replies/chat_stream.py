# SPDX-License-Identifier: GPL-3.0-or-later
"""A streamed chat completion read as text deltas: server-sent events cut into bounded
events (:mod:`companion.backend.bounded_sse`: 1 MiB a line or an event, past it
``ProtocolError("answer too large")``) and parsed with sseclient-py, their JSON
nesting-bounded, ``[DONE]`` or a ``finish_reason`` as the end, an ``error`` event (or
``data: {"error": …}``) classified by the one status table, anything else that is not the
protocol a ``ProtocolError``, a stream that breaks off ``Transient(reason="cut_short")``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from companion import bounded_json
from companion.backend import bounded_sse
from companion.backend.errors import BackendApiError, ProtocolError, Transient
from companion.backend.openai_errors import STATUS_WORDS as _ERROR_WORDS
from companion.backend.openai_errors import from_json as _error_body

if TYPE_CHECKING:
    from companion.backend.stream import StreamResponse


def _status_of(error: dict[str, Any]) -> int:
    """The HTTP status an error object stands for (502 when it names none: the upstream)."""
    for key in ("status", "code", "status_code"):
        value = error.get(key)
        if isinstance(value, bool):
            continue
        if isinstance(value, int) and 400 <= value < 600:
            return value
        if isinstance(value, str) and value.isdigit() and 400 <= int(value) < 600:
            return int(value)
    words = " ".join(str(error.get(k, "")) for k in ("type", "code")).lower()
    for word, status in _ERROR_WORDS:
        if word in words:
            return status
    return 502


def error_from_event(path: str, data: Any) -> BackendApiError:
    """The typed error for an SSE error event (``data`` parsed, or raw text).

    The message is only searched for budget words by the table; it is never kept.
    """
    error: Any = data.get("error", data) if isinstance(data, dict) else data
    if not isinstance(error, dict):
        error = {"message": str(error)}
    message = error.get("message", "")
    text = message if isinstance(message, str) else json.dumps(message)
    kind = " ".join(str(error.get(k, "")) for k in ("type", "code")).lower()
    if any(word in kind for word, status in _ERROR_WORDS if status == 402):
        text += " (budget)"  # OpenAI's insufficient_quota says "quota" and "billing"
    from companion.backend import policy  # requests, only once a backend is talked to

    return policy.classify(
        "POST",
        path,
        _status_of(error),
        text,
        reason="error event",
        error=_error_body({"error": error}, text),
    )


class _Source:
    """The response body as sseclient-py wants it (iterable bytes with ``close``), noting
    whether it ended on an event boundary (a cut connection may look like a clean end)."""

    def __init__(self, resp: StreamResponse) -> None:
        self._resp = resp
        self._body = resp.iter_bytes()
        self.ended = False
        self.tail = b""
        self.bytes = 0

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        try:
            data = next(self._body)
        except StopIteration:
            self.ended = True
            raise
        self.bytes += len(data)
        self.tail = (self.tail + data)[-4:]
        return data

    @property
    def on_boundary(self) -> bool:
        return self.tail.endswith((b"\n\n", b"\r\r", b"\r\n\r\n")) or not self.tail

    def close(self) -> None:
        self._resp.close()


def _choice_delta(doc: dict[str, Any]) -> tuple[str, bool]:
    """(content delta, finished) of a ``chat.completion.chunk`` (or a whole completion)."""
    choices = doc.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return "", False
    choice = choices[0]
    part = choice.get("delta")
    if not isinstance(part, dict):
        part = choice.get("message")  # a server that ignored ``stream``
    content = part.get("content") if isinstance(part, dict) else None
    text = content if isinstance(content, str) else ""
    return text, bool(choice.get("finish_reason"))


def read_deltas(resp: StreamResponse, path: str) -> Iterator[str]:
    """Text deltas of a streamed chat completion, until ``[DONE]`` (or the end of a
    complete stream). Raises the typed errors, or ``Cancelled``."""
    from companion.backend import bounded_body  # requests: only once a backend is talked to

    status = resp.status

    def too_large(size: int) -> BackendApiError:
        return bounded_body.too_large("POST", path, status, size)

    if resp.content_type == "application/json":
        # Some servers answer ``stream: true`` with one whole completion.
        body = bounded_body.read_all(resp.iter_bytes(), bounded_body.JSON_LIMIT, too_large)
        try:
            doc = bounded_json.loads(body)
        except ValueError:
            raise ProtocolError(
                "POST", path, "not JSON", status=status, body_chars=len(body)
            ) from None
        if isinstance(doc, dict) and "error" in doc:
            raise error_from_event(path, doc)
        text, _ = _choice_delta(doc) if isinstance(doc, dict) else ("", False)
        if not isinstance(doc, dict) or "choices" not in doc:
            raise ProtocolError("POST", path, "no choices", status=status, body_chars=len(body))
        if text:
            yield text
        return
    source = _Source(resp)
    finished = False
    for event in bounded_sse.events(source, too_large):
        data = event.data.strip()
        if data == "[DONE]":
            return
        try:
            doc = bounded_json.loads(data)
        except ValueError:
            if event.event == "error":
                raise error_from_event(path, data) from None
            if source.ended and not source.on_boundary:
                raise Transient("POST", path, status, "cut_short") from None
            raise ProtocolError(
                "POST", path, "event not JSON", status=status, body_chars=source.bytes
            ) from None
        if event.event == "error" or (isinstance(doc, dict) and "error" in doc):
            raise error_from_event(path, doc)
        if not isinstance(doc, dict):
            raise ProtocolError("POST", path, "event not an object", status=status)
        text, done = _choice_delta(doc)
        finished = finished or done
        if text:
            yield text
    if not finished:
        # Neither [DONE] nor a finish_reason: the stream broke off.
        raise Transient("POST", path, status, "cut_short")
