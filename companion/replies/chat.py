# SPDX-License-Identifier: GPL-3.0-or-later
"""The chat client: an OpenAI-compatible chat completion, streamed as server-sent events.

``POST {base}/openai/v1/chat/completions`` (``/v1/chat/completions`` when the base URL ends
in ``/v1``: OpenAI, Ollama, llama.cpp, vLLM, LM Studio…) with ``stream: true``; the body is
read through :meth:`BackendClient.post_stream` (bounded, cancellable waiting; typed errors
from the one status table) and parsed with sseclient-py (:mod:`~companion.replies.chat_stream`).
What can go wrong, and what it becomes:

- a status before the stream (401, 402 budget, 429, 503…): the table's typed error; the
  client retries ``Transient`` ones with backoff, honouring ``Retry-After``;
- the body breaks off, stalls or resets before any text arrived: retried here too
  (:data:`BODY_ATTEMPTS`); after text arrived it is ``Transient`` and the partial reply stays;
- an ``error`` event (``event: error``, or ``data: {"error": …}`` as OpenAI and llama.cpp
  send it) mid-stream: its ``code``/``status`` is classified by the same table (an error
  without a status counts as a failing upstream: 502, transient);
- a body that is not the protocol (an event that is not JSON): ``ProtocolError``.

:class:`ChatWorker` runs requests in a ``QThread`` of their own (the speech thread is busy
synthesising). The reply's speakable pieces are cut there too (the incremental
:class:`~companion.speech.chunking.StreamChunker`), so however fast a server writes, the GUI
thread only takes what arrived: text and pieces wait in an :class:`Outbox` and one queued
``ready`` says there is something (never one event per delta); then one :class:`ChatResult`.
A reply longer than :data:`MAX_REPLY_CHARS` is cut there: the request is closed, what came so
far kept (and spoken), the result marked ``truncated``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal, Slot

from companion import telemetry
from companion.backend.errors import (
    BackendApiError,
    Transient,
    Unauthorized,
)
from companion.replies.chat_messages import ChatUnavailable as ChatUnavailable
from companion.replies.chat_messages import chat_user_message
from companion.replies.chat_stream import error_from_event as error_from_event
from companion.replies.chat_stream import read_deltas as read_deltas
from companion.speech.chunking import StreamChunker
from companion.tasks import (
    Cancelled,
    CancelRegistry,
    CancelToken,
    backoff_delay,
    below_the_gui,
)
from companion.vocab import ChatOutcome

if TYPE_CHECKING:  # requests: imported once a backend is configured, not by every mascot
    from companion.backend.client import BackendClient

log = logging.getLogger("companion.chat")

#: Attempts when the body fails before any text arrived (status retries are the client's).
BODY_ATTEMPTS = 2
#: A whole reply may take this long (a local model on a CPU is slow); stalls end it sooner.
STREAM_DEADLINE_S = 900.0
#: No byte for this long ends the stream (a local server loading its model is slow to start).
STALL_S = 60.0
#: The longest reply kept: past it the stream is closed and the reply ends with a notice
#: (about 25,000 words; a chat answer is rarely a tenth of it).
MAX_REPLY_CHARS = 100_000
#: When the GUI has not taken the outbox for this long, the chat thread pauses briefly after
#: each delta (:data:`YIELD_S`): the GUI thread gets the interpreter, the server waits.
BEHIND_S = 0.03
YIELD_S = 0.002
_BACKOFF_BASE = 0.5
_BACKOFF_MAX = 8.0


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """One chat completion to stream.

    Attributes:
        request_id: grows with every request; results for older ids are stale.
        messages: ``(role, content)`` pairs, the system prompt first (never logged).
        model: the model name (``Settings.chat_model``).
        speak_lang: cut the reply into speakable pieces in this language (the voice's), or
            None when it is not spoken.
    """

    request_id: int
    messages: tuple[tuple[str, str], ...]
    model: str
    speak_lang: str | None = None

    def payload(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "messages": [{"role": r, "content": c} for r, c in self.messages],
            "stream": True,
        }


@dataclass(frozen=True, slots=True)
class ChatResult:
    """How a request ended.

    Attributes:
        request_id: the request.
        outcome: a :class:`~companion.vocab.ChatOutcome`.
        error: the typed error (``failed``, ``unauthorized``), else None.
        chars: characters of reply text that arrived (a count, never the text).
        truncated: the reply reached :data:`MAX_REPLY_CHARS` and was cut there.
    """

    request_id: int
    outcome: ChatOutcome
    error: BaseException | None = None
    chars: int = 0
    truncated: bool = False

    @property
    def user_message(self) -> str:
        if self.error is None:
            return ""
        return chat_user_message(self.error, chars=self.chars)


def stream_chat(
    client: BackendClient,
    request: ChatRequest,
    *,
    cancel: CancelToken,
    body_attempts: int = BODY_ATTEMPTS,
    deadline_s: float = STREAM_DEADLINE_S,
    on_retry: Callable[[Transient, float], None] | None = None,
) -> Generator[str, None, None]:
    """The reply's text deltas as they arrive. Raises the typed errors, or ``Cancelled``."""
    path = client.openai_path("/chat/completions")
    attempt_no = 0
    while True:
        attempt_no += 1
        resp = client.post_stream(
            path,
            request.payload(),
            cancel=cancel,
            deadline_s=deadline_s,
            operation="chat",
            accept="text/event-stream",
        )
        got_text = False
        try:
            with resp:
                for delta in read_deltas(resp, path):
                    got_text = True
                    yield delta
                return
        except Transient as err:
            if got_text or attempt_no >= body_attempts or err.reason == "deadline":
                raise
            delay = backoff_delay(
                attempt_no, err.retry_after, base=_BACKOFF_BASE, maximum=_BACKOFF_MAX
            )
            log.info(
                "[chat] retry reason=%s attempt=%d delay_s=%.2f", err.reason, attempt_no, delay
            )
            if on_retry is not None:
                on_retry(err, delay)
            if cancel.wait(delay):
                raise Cancelled() from None


ClientFactory = Callable[[], "BackendClient | None"]


@dataclass(frozen=True, slots=True)
class StreamBatch:
    """What arrived for a request since the GUI last looked.

    Attributes:
        request_id: the request.
        text: reply text, in order.
        pieces: speakable pieces the chunker finished, in order (for the speech worker).
    """

    request_id: int
    text: str
    pieces: tuple[str, ...]


class Outbox:
    """Text and pieces from the chat thread waiting for the GUI thread (thread-safe).

    :meth:`put` says whether the box was empty (then the GUI must be told); :meth:`take`
    empties it. However many deltas arrive, the GUI has at most one event to handle for them,
    and each take costs what arrived since the last one.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[tuple[int, list[str], list[str]]] = []
        self._since = 0.0  # when the box stopped being empty (monotonic)

    def put(self, request_id: int, text: str, pieces: Sequence[str] = ()) -> bool:
        """Adds text and pieces of ``request_id``; True when the box was empty before."""
        with self._lock:
            was_empty = not self._items
            if was_empty:
                self._since = time.monotonic()
            if self._items and self._items[-1][0] == request_id:
                _rid, texts, kept = self._items[-1]
            else:
                texts, kept = [], []
                self._items.append((request_id, texts, kept))
            if text:
                texts.append(text)
            kept.extend(pieces)
            return was_empty

    def take(self) -> list[StreamBatch]:
        """Everything waiting, per request in order; the box is empty after."""
        with self._lock:
            items, self._items = self._items, []
        return [StreamBatch(rid, "".join(texts), tuple(kept)) for rid, texts, kept in items]

    def waiting_s(self) -> float:
        """How long what is in the box has waited for the GUI (0 when it is empty)."""
        with self._lock:
            return time.monotonic() - self._since if self._items else 0.0


class ChatWorker(QObject):
    """Streams chat completions in its own thread.

    Signals:
        ready(): the outbox was empty and now holds something (:meth:`take` it); emitted
            again only after it was taken.
        retrying(int, float): a request is retried after so many seconds.
        finished(ChatResult): the request ended (every request ends with exactly one), after
            its last text and pieces were put in the outbox.

    Attributes:
        busy_request: the request being streamed, or None (read from any thread).
        max_reply_chars: the reply's cap (:data:`MAX_REPLY_CHARS`; tests lower it).
        on_delta: called in the chat thread with each delta as it is read (a benchmark's
            clock), or None. No signal per delta: under a flood, one emit per delta keeps
            the GIL so busy that the GUI thread waits for it.
    """

    ready = Signal()
    retrying = Signal(int, float)
    finished = Signal(object)

    def __init__(self, *, client_factory: ClientFactory, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._lock = threading.Lock()
        self._factory: ClientFactory = client_factory
        self._http: BackendClient | None = None
        self._tokens = CancelRegistry()
        self._outbox = Outbox()
        self.busy_request: int | None = None
        self.max_reply_chars = MAX_REPLY_CHARS
        self.on_delta: Callable[[int, str], None] | None = None

    # -- any thread ----------------------------------------------------------------------------

    def cancel(self, request_id: int) -> None:
        """Stop ``request_id`` now (its socket is shut within the client's poll interval)."""
        self._tokens.cancel(request_id)

    def cancel_all(self) -> None:
        """Shut-down: cancel everything, now and for requests still queued."""
        self._tokens.cancel_all()

    def take(self) -> list[StreamBatch]:
        """What arrived since the last take (the GUI thread, on ``ready``)."""
        return self._outbox.take()

    def set_client_factory(self, factory: ClientFactory) -> None:
        """Use another server from the next request on (settings changed)."""
        with self._lock:
            self._factory = factory
            old, self._http = self._http, None
        if old is not None:
            old.close()

    # -- worker thread -------------------------------------------------------------------------

    def _client(self) -> BackendClient:
        with self._lock:
            client, factory = self._http, self._factory
        if client is None:
            client = factory()
            if client is None:
                raise ChatUnavailable()
            with self._lock:
                if self._factory is factory:
                    self._http = client
        return client

    @Slot(object)
    def send(self, request: ChatRequest) -> None:
        """Stream ``request``: text and pieces into the outbox as they come, then one
        ``finished``. The cancel token is looked at for every event read."""
        rid = request.request_id
        below_the_gui()  # a flood read here must not take the GUI thread's turn
        token = self._tokens.start(rid)
        self.busy_request = rid
        chars = 0
        truncated = False
        result: ChatResult | None = None
        lang = request.speak_lang
        chunker = StreamChunker(lang=lang) if lang is not None else None
        stream: Generator[str, None, None] | None = None
        try:
            token.raise_if_cancelled()
            client = self._client()
            stream = stream_chat(
                client,
                request,
                cancel=token,
                on_retry=lambda _err, delay: self.retrying.emit(rid, delay),
            )
            for text in stream:
                if token.cancelled:
                    raise Cancelled()
                if chars + len(text) >= self.max_reply_chars:
                    text, truncated = text[: self.max_reply_chars - chars], True
                chars += len(text)
                if self.on_delta is not None:
                    self.on_delta(rid, text)
                self._put(rid, text, chunker.feed(text) if chunker else [])
                if self._outbox.waiting_s() > BEHIND_S:
                    time.sleep(YIELD_S)  # the GUI is behind: let it run
                if truncated:
                    log.info("[chat] request %d cut at %d chars", rid, chars)
                    break
            if chunker is not None:
                self._put(rid, "", chunker.flush())
            result = ChatResult(rid, ChatOutcome.DONE, chars=chars, truncated=truncated)
        except Cancelled:
            result = ChatResult(request.request_id, ChatOutcome.CANCELLED, chars=chars)
        except ChatUnavailable as exc:
            log.info("[chat] no chat server configured")
            result = ChatResult(request.request_id, ChatOutcome.FAILED, exc)
        except Unauthorized as err:
            telemetry.log_backend_error(err, operation="chat")
            result = ChatResult(request.request_id, ChatOutcome.UNAUTHORIZED, err, chars)
        except BackendApiError as err:
            telemetry.log_backend_error(err, operation="chat")
            result = ChatResult(request.request_id, ChatOutcome.FAILED, err, chars)
        except Exception as exc:  # a bug: a crash report, and the request fails
            log.error("[chat] request failed: %s (%d chars in)", type(exc).__name__, chars)
            telemetry.report_exception(exc, tags={"operation": "chat"})
            result = ChatResult(request.request_id, ChatOutcome.FAILED, exc, chars)
        finally:
            if stream is not None:
                stream.close()  # the request closed now (a reply cut at its cap)
            self.busy_request = None
            self._tokens.finish(request.request_id)
            if result is None:  # only a BaseException (KeyboardInterrupt) gets here
                result = ChatResult(request.request_id, ChatOutcome.CANCELLED, chars=chars)
            log.info("[chat] request %d %s (%d chars)", request.request_id, result.outcome, chars)
            self.finished.emit(result)

    def _put(self, request_id: int, text: str, pieces: Sequence[str]) -> None:
        if (text or pieces) and self._outbox.put(request_id, text, pieces):
            self.ready.emit()

    @Slot()
    def close(self) -> None:
        """Close the HTTP client (in the worker thread, before it is joined)."""
        with self._lock:
            client, self._http = self._http, None
        if client is not None:
            client.close()


def build_request(
    request_id: int,
    *,
    system_prompt: str,
    history: Sequence[tuple[str, str]],
    model: str,
    speak_lang: str | None = None,
) -> ChatRequest:
    """A request with the system prompt first (when there is one)."""
    messages = [("system", system_prompt)] if system_prompt.strip() else []
    messages.extend(history)
    return ChatRequest(request_id, tuple(messages), model, speak_lang)
