# SPDX-License-Identifier: GPL-3.0-or-later
"""The chat client: server-sent events from the reference backend's scripted assistant,
retries, error events through the status table (the spoken path: test_chat_controller.py)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from companion.backend.client import BackendClient
from companion.backend.errors import (
    BudgetExhausted,
    HttpError,
    ProtocolError,
    Transient,
    Unauthorized,
)
from companion.replies.chat import (
    ChatRequest,
    ChatWorker,
    Outbox,
    StreamBatch,
    build_request,
    chat_user_message,
    error_from_event,
    read_deltas,
    stream_chat,
)
from companion.speech.chunking import StreamChunker
from companion.speech.types import Cancelled, CancelToken
from tests.support.reference_backend import Fault, ReferenceBackend
from tests.support.reference_chat import DEFAULT_REPLY, StreamFault, install_chat, tokenize

# WORKAROUND for the offscreen platform: Qt raises Tool windows when they are shown, and the
# offscreen plugin answers with a warning (qtbase src/gui/kernel/qplatformwindow.cpp).
pytestmark = pytest.mark.qt_log_ignore(r"This plugin does not support (raise|propagateSizeHints)")

CHAT = "/openai/v1/chat/completions"
#: Tokens of DEFAULT_REPLY up to and including "see you." (its first sentence).
FIRST_SENTENCE = 10


def _client(backend: ReferenceBackend, base_url: str | None = None, **kw: Any) -> BackendClient:
    options: dict[str, Any] = {
        "connect_timeout": 2.0,
        "read_timeout": 3.0,
        "backoff_base": 0.02,
        "backoff_max": 0.2,
        "poll_interval": 0.01,
    }
    options.update(kw)
    return BackendClient(base_url=base_url or backend.url, token=lambda: backend.token, **options)


def _request(text: str = "Hi there") -> ChatRequest:
    return build_request(1, system_prompt="Be brief.", history=[("user", text)], model="m-1")


@pytest.fixture
def chat_backend(reference_backend: ReferenceBackend) -> ReferenceBackend:
    install_chat(reference_backend)
    return reference_backend


# -- the client ------------------------------------------------------------------------------


@pytest.mark.parametrize("openai_compatible", [False, True])
def test_a_streamed_reply_arrives_in_deltas(
    chat_backend: ReferenceBackend, openai_compatible: bool
) -> None:
    chat = install_chat(chat_backend)
    base = chat_backend.openai_url if openai_compatible else chat_backend.url
    with _client(chat_backend, base) as client:
        deltas = list(stream_chat(client, _request(), cancel=CancelToken()))
    assert "".join(deltas) == DEFAULT_REPLY
    assert len(deltas) == len(tokenize(DEFAULT_REPLY))
    sent = chat_backend.requests[-1]
    assert sent.path == ("/v1/chat/completions" if openai_compatible else CHAT)
    assert sent.headers["Authorization"] == f"Bearer {chat_backend.token}"
    assert sent.headers["Accept"] == "text/event-stream"
    record = chat.requests[-1]
    assert record.stream is True and record.model == "m-1"
    assert record.messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi there"},
    ]


def test_a_server_that_ignores_stream_still_answers(chat_backend: ReferenceBackend) -> None:
    install_chat(chat_backend).script.whole_json = True
    with _client(chat_backend) as client:
        assert "".join(stream_chat(client, _request(), cancel=CancelToken())) == DEFAULT_REPLY


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (StreamFault(after=5, kind="error", status=502), Transient),
        (StreamFault(after=5, kind="error_event", status=500), HttpError),
        (StreamFault(after=5, kind="error", status=None), Transient),
        (StreamFault(after=5, kind="cut"), Transient),
        (StreamFault(after=5, kind="error", status=401), Unauthorized),
        (
            StreamFault(after=5, kind="error", status=402, message="No credits left."),
            BudgetExhausted,
        ),
        (StreamFault(after=5, kind="error", status=429), Transient),
    ],
)
def test_a_failure_mid_stream_is_typed_and_keeps_what_arrived(
    chat_backend: ReferenceBackend, fault: StreamFault, expected: type[Exception]
) -> None:
    install_chat(chat_backend).inject(fault)
    got: list[str] = []
    with _client(chat_backend) as client, pytest.raises(expected) as info:
        for delta in stream_chat(client, _request(), cancel=CancelToken()):
            got.append(delta)
    assert "".join(got) == "".join(tokenize(DEFAULT_REPLY)[:5])
    assert info.value.path == CHAT
    assert "upstream" not in str(info.value) and "credits" not in str(info.value)


def test_statuses_before_the_stream_are_retried_with_retry_after(
    chat_backend: ReferenceBackend,
) -> None:
    chat_backend.inject(Fault(status=503, retry_after="0.05", path=CHAT, times=2))
    with _client(chat_backend) as client:
        assert "".join(stream_chat(client, _request(), cancel=CancelToken())) == DEFAULT_REPLY
    assert [r.path for r in chat_backend.requests].count(CHAT) == 3


def test_retries_are_bounded(chat_backend: ReferenceBackend) -> None:
    chat_backend.inject(Fault(status=429, path=CHAT, times=10))
    with _client(chat_backend) as client, pytest.raises(Transient) as info:
        list(stream_chat(client, _request(), cancel=CancelToken()))
    assert info.value.status == 429
    assert [r.path for r in chat_backend.requests].count(CHAT) == 3  # the client's max_attempts


def test_a_body_that_breaks_before_any_text_is_tried_again(chat_backend: ReferenceBackend) -> None:
    install_chat(chat_backend).inject(after=0, kind="cut")
    with _client(chat_backend) as client:
        assert "".join(stream_chat(client, _request(), cancel=CancelToken())) == DEFAULT_REPLY


def test_budget_and_auth_before_the_stream(chat_backend: ReferenceBackend) -> None:
    chat_backend.inject(Fault(status=402, body="budget", path=CHAT))
    with _client(chat_backend) as client, pytest.raises(BudgetExhausted):
        list(stream_chat(client, _request(), cancel=CancelToken()))
    with (
        BackendClient(base_url=chat_backend.url, token=lambda: "wrong") as client,
        pytest.raises(Unauthorized),
    ):
        list(stream_chat(client, _request(), cancel=CancelToken()))


def test_cancel_ends_a_stalled_stream(chat_backend: ReferenceBackend) -> None:
    install_chat(chat_backend).inject(after=3, kind="stall")
    cancel = CancelToken()
    got: list[str] = []
    with _client(chat_backend, read_timeout=30.0) as client, pytest.raises(Cancelled):
        for delta in stream_chat(client, _request(), cancel=cancel):
            got.append(delta)
            if len(got) == 3:
                threading.Timer(0.05, cancel.cancel).start()
    assert len(got) == 3


class _Body:
    """A streamed body as bytes in given pieces (the parser's input; no network)."""

    status = 200
    content_type = "text/event-stream"

    def __init__(self, pieces: list[bytes]) -> None:
        self._pieces = pieces

    def iter_bytes(self) -> Iterator[bytes]:
        yield from self._pieces

    def read(self) -> bytes:
        return b"".join(self._pieces)

    def close(self) -> None:
        pass


def _sse(tokens: list[str], *, done: bool = True) -> bytes:
    events = [
        "data: "
        + json.dumps({"choices": [{"index": 0, "delta": {"content": t}, "finish_reason": None}]})
        for t in tokens
    ]
    if done:
        events.append('data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}')
        events.append("data: [DONE]")
    return ("\n\n".join(events) + "\n\n").encode()


@settings(max_examples=60, deadline=None)
@given(
    tokens=st.lists(st.text(min_size=1, max_size=6), min_size=1, max_size=12),
    cuts=st.lists(st.integers(min_value=1, max_value=4000), max_size=20),
)
def test_any_split_of_the_bytes_gives_the_same_text(tokens: list[str], cuts: list[int]) -> None:
    data = _sse(tokens)
    points = sorted({c % len(data) for c in cuts} - {0})
    pieces = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    got = "".join(read_deltas(_Body(pieces), CHAT))  # type: ignore[arg-type]
    assert got == "".join(tokens)


def test_an_unterminated_stream_is_cut_short_not_a_protocol_error() -> None:
    data = _sse(["Hello", " there"], done=False)
    with pytest.raises(Transient) as info:
        list(read_deltas(_Body([data[:-7]]), CHAT))  # type: ignore[arg-type]
    assert info.value.reason == "cut_short"
    with pytest.raises(Transient):
        list(read_deltas(_Body([data]), CHAT))  # type: ignore[arg-type]  # no [DONE]


def test_a_body_that_is_not_the_protocol_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        list(read_deltas(_Body([b"data: <html>oops</html>\n\n"]), CHAT))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        ({"error": {"code": 401, "message": "bad key"}}, Unauthorized),
        ({"error": {"type": "insufficient_quota", "message": "x"}}, BudgetExhausted),
        ({"error": {"code": "rate_limit_exceeded"}}, Transient),
        ({"error": {"message": "boom"}}, Transient),
        ({"error": {"status": "403"}}, HttpError),
        ("plain text error", Transient),
    ],
)
def test_error_events_go_through_the_status_table(error: Any, expected: type[Exception]) -> None:
    err = error_from_event(CHAT, error)
    assert isinstance(err, expected)
    assert "bad key" not in str(err) and "boom" not in str(err)
    assert chat_user_message(err)


# -- the worker: outbox, pieces, the reply's cap ------------------------------------------------


def test_the_outbox_signals_once_until_taken() -> None:
    box = Outbox()
    assert box.put(1, "Hel") is True  # was empty: the GUI must be told
    assert box.put(1, "lo", ["Hello"]) is False  # already told
    assert box.put(2, "Hi") is False
    assert box.waiting_s() >= 0.0
    assert box.take() == [StreamBatch(1, "Hello", ("Hello",)), StreamBatch(2, "Hi", ())]
    assert box.take() == [] and box.waiting_s() == 0.0
    assert box.put(2, "again") is True


def _run_worker(qtbot: Any, worker: ChatWorker, request: ChatRequest) -> tuple[list[Any], Any]:
    batches: list[Any] = []
    worker.ready.connect(lambda: batches.extend(worker.take()))
    with qtbot.wait_signal(worker.finished, timeout=30000) as blocker:
        worker.send(request)
    batches.extend(worker.take())
    return batches, blocker.args[0]


def test_the_worker_cuts_pieces_in_its_thread_and_hands_them_over(
    qtbot: Any, chat_backend: ReferenceBackend
) -> None:
    worker = ChatWorker(client_factory=lambda: _client(chat_backend))
    request = build_request(
        1, system_prompt="", history=[("user", "Hi")], model="m-1", speak_lang="en"
    )
    batches, result = _run_worker(qtbot, worker, request)
    worker.close()
    assert result.outcome == "done" and not result.truncated
    assert "".join(b.text for b in batches) == DEFAULT_REPLY
    chunker = StreamChunker()
    expected = [*chunker.feed(DEFAULT_REPLY), *chunker.flush()]
    assert [p for b in batches for p in b.pieces] == expected
    # Not spoken (no language): text only.
    batches, result = _run_worker(qtbot, worker, _request())
    assert all(not b.pieces for b in batches) and result.chars == len(DEFAULT_REPLY)
    worker.close()


def test_a_reply_past_the_cap_is_cut_and_its_request_closed(
    qtbot: Any, chat_backend: ReferenceBackend
) -> None:
    worker = ChatWorker(client_factory=lambda: _client(chat_backend))
    worker.max_reply_chars = 40
    request = build_request(
        1, system_prompt="", history=[("user", "Hi")], model="m-1", speak_lang="en"
    )
    batches, result = _run_worker(qtbot, worker, request)
    worker.close()
    assert result.outcome == "done" and result.truncated and result.chars == 40
    assert "".join(b.text for b in batches) == DEFAULT_REPLY[:40]
    spoken = " ".join(p for b in batches for p in b.pieces)
    assert spoken.split()[:3] == DEFAULT_REPLY.split()[:3]  # what came is spoken
    assert len(install_chat(chat_backend).requests) == 1  # cut on purpose: not asked again
