# SPDX-License-Identifier: GPL-3.0-or-later
"""A scripted assistant for the reference backend: streamed chat completions over SSE.

``POST /openai/v1/chat/completions`` and ``POST /v1/chat/completions`` answer like an
OpenAI-compatible server with ``stream: true``: ``chat.completion.chunk`` events, one per
token, then ``data: [DONE]``. Tokens are paced (:attr:`ChatScript.token_delay`) and the
stream can be held at a token until the test opens a gate, so a test can tell "before the
stream ended" from "after" without a clock.

Mid-stream faults (:class:`StreamFault`, queued and consumed like the backend's faults):
an SSE error event (``data: {"error": …}`` or ``event: error``), the connection cut inside
the chunked body, a stall. A status before the stream is the backend's own
``Fault(status=…, path=…)``; a wrong token is its 401.

Usage::

    with ReferenceBackend() as backend:
        chat = install_chat(backend)
        chat.script.reply = "Hello there, friend. How are you?"
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from tests.support.reference_backend import Fault, ReferenceBackend, _Abort, _Handler

CHAT_PATHS = ("/openai/v1/chat/completions", "/v1/chat/completions")
DEFAULT_REPLY = (
    "Hello there, it is good to see you. "
    "I can help with **all sorts** of things, from recipes to [reading](https://example.com). "
    "What would you like to do today?"
)
_TOKEN = re.compile(r"\s*\S{1,4}|\s+")


def tokenize(text: str) -> list[str]:
    """Model-like tokens: at most four visible characters, leading whitespace attached."""
    return _TOKEN.findall(text)


@dataclass
class StreamFault:
    """What goes wrong in the middle of the next stream(s).

    Attributes:
        after: tokens sent before the fault.
        kind: ``error`` (an error object as ``data``), ``error_event`` (``event: error``),
            ``cut`` (the connection closes inside the chunked body), ``stall`` (nothing more
            until the backend stops), ``drip`` (the rest of the stream a byte a second),
            ``reset`` (a TCP reset), ``corrupt`` (an event whose data is not JSON).
        status: the error object's ``code`` (401, 402, 429, 500, 502…); None: none given.
        message: the error object's message (a budget message makes it ``BudgetExhausted``).
        times: how many streams it applies to.
    """

    after: int = 3
    kind: str = "error"
    status: int | None = 502
    message: str = "The upstream model failed."
    times: int = 1
    drip_s: float = 1.0


@dataclass
class ChatScript:
    """How the scripted assistant answers.

    Attributes:
        reply: the reply when :attr:`replies` is empty.
        replies: replies used one per request, in order.
        token_delay: seconds between tokens.
        first_delay: seconds before the first token.
        hold_after: hold the stream after this many tokens until :attr:`gate` is set.
        gate: opened by the test to let a held stream go on.
        whole_json: answer with one non-streamed completion (servers that ignore ``stream``).
    """

    reply: str = DEFAULT_REPLY
    replies: list[str] = field(default_factory=list)
    token_delay: float = 0.0
    first_delay: float = 0.0
    hold_after: int | None = None
    gate: threading.Event = field(default_factory=threading.Event)
    whole_json: bool = False


@dataclass
class ChatRecord:
    """A chat request as the server saw it."""

    model: str
    messages: list[dict[str, Any]]
    stream: bool
    at: float = field(default_factory=time.monotonic)


class ReferenceChat:
    """The chat face of one :class:`ReferenceBackend`.

    Attributes:
        script: how replies are made and paced.
        requests: every chat request received.
        streams_done: streams sent to ``[DONE]``.
        sent_tokens: tokens sent in the latest stream.
    """

    def __init__(self, backend: ReferenceBackend) -> None:
        self.backend = backend
        self.script = ChatScript()
        self.requests: list[ChatRecord] = []
        self.streams_done = 0
        self.sent_tokens = 0
        self._faults: list[StreamFault] = []
        self._lock = threading.Lock()

    def inject(self, fault: StreamFault | None = None, /, **kwargs: Any) -> StreamFault:
        fault = fault or StreamFault(**kwargs)
        with self._lock:
            self._faults.append(fault)
        return fault

    def _take_fault(self) -> StreamFault | None:
        with self._lock:
            if not self._faults:
                return None
            fault = self._faults[0]
            fault.times -= 1
            if fault.times <= 0:
                self._faults.pop(0)
            return fault

    def _next_reply(self) -> str:
        with self._lock:
            return self.script.replies.pop(0) if self.script.replies else self.script.reply

    # -- the handler ---------------------------------------------------------------------------

    def handle(self, handler: _Handler, doc: Any, fault: Fault | None) -> None:
        doc = doc if isinstance(doc, dict) else {}
        messages = doc.get("messages")
        if not isinstance(messages, list) or not messages:
            body = json.dumps({"error": {"message": "messages required", "code": 400}})
            handler._send(400, body.encode(), "application/json", {}, fault=fault)
            return
        model = str(doc.get("model") or "reference")
        stream = bool(doc.get("stream"))
        with self._lock:
            self.requests.append(ChatRecord(model, messages, stream))
        reply = self._next_reply()
        if self.script.whole_json or not stream:
            self._whole(handler, model, reply, fault)
            return
        self._stream(handler, model, reply, self._take_fault())

    def _whole(self, handler: _Handler, model: str, reply: str, fault: Fault | None) -> None:
        doc = {
            "id": "chatcmpl-reference",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply},
                    "finish_reason": "stop",
                }
            ],
        }
        handler._send(200, json.dumps(doc).encode(), "application/json", {}, fault=fault)

    def _stream(self, handler: _Handler, model: str, reply: str, fault: StreamFault | None) -> None:
        backend = self.backend
        script = self.script
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream; charset=utf-8")
        handler.send_header("Cache-Control", "no-cache")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        handler.wfile.flush()

        def send(payload: Any, event: str | None = None) -> None:
            data = payload if isinstance(payload, str) else json.dumps(payload)
            head = f"event: {event}\n" if event else ""
            handler._write(f"{head}data: {data}\n\n".encode(), True)

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {
                "id": "chatcmpl-reference",
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }

        send(chunk({"role": "assistant", "content": ""}))
        if script.first_delay and backend._wait(script.first_delay):
            raise _Abort()
        self.sent_tokens = 0
        for i, token in enumerate(tokenize(reply)):
            if fault is not None and i == fault.after:
                self._fault(handler, fault, send)
                return
            if script.hold_after is not None and i == script.hold_after:
                while not script.gate.wait(0.02):
                    if backend.stopping:
                        raise _Abort()
            if i and script.token_delay and backend._wait(script.token_delay):
                raise _Abort()
            send(chunk({"content": token}))
            self.sent_tokens = i + 1
        if fault is not None and fault.after >= self.sent_tokens:
            self._fault(handler, fault, send)
            return
        send(chunk({}, "stop"))
        send("[DONE]")
        handler.wfile.write(b"0\r\n\r\n")
        handler.wfile.flush()
        self.streams_done += 1

    def _fault(self, handler: _Handler, fault: StreamFault, send: Any) -> None:
        error: dict[str, Any] = {"message": fault.message, "type": "server_error"}
        if fault.status is not None:
            error["code"] = fault.status
        if fault.kind == "error":
            send({"error": error})
        elif fault.kind == "error_event":
            send({"error": error}, event="error")
        elif fault.kind == "cut":
            handler.wfile.write(b'40\r\ndata: {"choices": [{"delta": {"cont')
            handler.wfile.flush()
            raise _Abort()
        elif fault.kind == "stall":
            self.backend._wait(float("inf"))
            raise _Abort()
        elif fault.kind == "drip":
            rest = b'data: {"choices": [{"index": 0, "delta": {"content": " and so on"}}]}\n\n'
            for i in range(len(rest)):
                handler._write(rest[i : i + 1], True)
                if self.backend._wait(fault.drip_s):
                    raise _Abort()
            raise _Abort()
        elif fault.kind == "reset":
            handler._reset()
        elif fault.kind == "corrupt":
            send("\x00\x01 this is not JSON \ufffd")
        else:
            raise ValueError(f"unknown stream fault {fault.kind!r}")
        handler.wfile.write(b"0\r\n\r\n")
        handler.wfile.flush()


def install_chat(backend: ReferenceBackend) -> ReferenceChat:
    """Answer chat completions on ``backend`` (both path spellings); returns the knobs
    (the same ones when chat is already installed)."""
    existing = getattr(backend.routes.get(("POST", CHAT_PATHS[0])), "__self__", None)
    if isinstance(existing, ReferenceChat):
        return existing
    chat = ReferenceChat(backend)
    for path in CHAT_PATHS:
        backend.routes[("POST", path)] = chat.handle
    return chat
