# SPDX-License-Identifier: GPL-3.0-or-later
"""The chat: the SSE client against the reference backend's scripted assistant, and the whole
streamed path (chat worker → chunker → router → speech worker → player) with espeak-ng.

Deterministic without clocks: the reference stream is held at a token until the test opens
its gate, so "before the stream ended" is a fact the test arranges, not a race it times.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pytestqt.qtbot import QtBot

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
    build_request,
    chat_user_message,
    error_from_event,
    read_deltas,
    stream_chat,
)
from companion.replies.chat_controller import RETRY_ACTION, SIGNED_OUT_NOTE, STOPPED_NOTE
from companion.speech.chunking import StreamChunker
from companion.speech.text import speakable_text
from companion.speech.types import Cancelled, CancelToken
from tests.support.chat_rig import ChatRig, make_chat_rig
from tests.support.fixtures import RecordingTransport
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


# -- the streamed path, spoken -----------------------------------------------------------------


@pytest.fixture
def rig(qtbot: QtBot, chat_backend: ReferenceBackend) -> Iterator[Callable[..., ChatRig]]:
    rigs: list[ChatRig] = []

    def make(**kw: Any) -> ChatRig:
        r = make_chat_rig(qtbot, chat_backend, **kw)
        rigs.append(r)
        return r

    yield make
    for r in rigs:
        r.close()


def _spoken_text(reply: str) -> str:
    chunker = StreamChunker()
    return " ".join([*chunker.feed(reply), *chunker.flush()])


def test_a_streamed_reply_is_shown_and_spoken(qtbot: QtBot, rig: Callable[..., ChatRig]) -> None:
    r = rig()
    r.chat.script.token_delay = 0.01
    shown: list[str] = []
    r.controller.message_changed.connect(
        lambda i: shown.append(r.controller.conversation.messages[i].content)
    )
    with qtbot.wait_signal(r.router.reply_finished, timeout=60000):
        assert r.controller.ask("Say hello")
    assert r.messages == [("user", "Say hello", "done"), ("assistant", DEFAULT_REPLY, "done")]
    # Shown as it streamed: the text grew one token at a time.
    assert len(shown) >= len(tokenize(DEFAULT_REPLY))
    assert shown[0] == "Hell"
    # Spoken in pieces on one clock: the first short (cut at its comma), then sentences.
    reply = r.router.last_reply
    assert reply is not None and reply.source == "chat"
    texts = [u.text for u in reply.utterances]
    assert texts[0] == "Hello there,"
    assert " ".join(texts) == _spoken_text(DEFAULT_REPLY)
    assert "**" not in " ".join(texts) and "https" not in " ".join(texts)
    assert [u.index for u in reply.utterances] == list(range(len(texts)))
    assert reply.total_ms == pytest.approx(sum(u.duration_ms for u in reply.utterances))
    # One clock for the whole reply: the mouth's timeline is every piece's, shifted by the
    # audio before it.
    offset, expected = 0.0, []
    for utt in reply.utterances:
        expected.extend((c.viseme, c.start_ms) for c in utt.timeline.shifted(offset).cues)
        offset += utt.duration_ms
    assert reply.timeline is not None
    assert [(c.viseme, c.start_ms) for c in reply.timeline.cues] == expected
    assert r.router.state == "idle"
    assert not r.controller.busy
    assert {rid for rid, _ in r.enqueued} == {reply.id}


def test_the_first_audio_starts_before_the_stream_ends(
    qtbot: QtBot, rig: Callable[..., ChatRig]
) -> None:
    r = rig()
    r.chat.script.hold_after = FIRST_SENTENCE + 2  # the stream waits here until the gate opens
    with qtbot.wait_signal(r.router.reply_started, timeout=60000):
        r.controller.ask("Say hello")
    qtbot.wait_until(lambda: r.player.position_ms() > 0, timeout=30000)
    # Heard while the server still holds the rest of the reply.
    assert r.controller.busy
    assert r.chat.streams_done == 0 and r.chat.sent_tokens == FIRST_SENTENCE + 2
    assert r.router.current_reply is not None and not r.router.current_reply.synth_done
    message = r.controller.conversation.messages[-1]
    assert message.state == "streaming" and len(message.content) < len(DEFAULT_REPLY)
    with qtbot.wait_signal(r.router.reply_finished, timeout=60000):
        r.chat.script.gate.set()
    assert r.chat.streams_done == 1
    assert r.controller.conversation.messages[-1].content == DEFAULT_REPLY


@pytest.mark.parametrize("how", ["stop", "new_message", "escape"])
def test_cancel_mid_stream_stops_both(qtbot: QtBot, rig: Callable[..., ChatRig], how: str) -> None:
    r = rig()
    r.chat.script.hold_after = FIRST_SENTENCE + 2
    with qtbot.wait_signal(r.router.reply_started, timeout=60000):
        r.controller.ask("Tell me a story")
    first_id = r.router.current_id
    qtbot.wait_until(lambda: r.player.position_ms() > 0, timeout=30000)
    partial = r.controller.conversation.messages[-1].content
    with qtbot.wait_signal(r.done.finished, timeout=30000) as ended:
        mark = len(r.enqueued)
        if how == "stop":
            r.controller.stop()
        elif how == "escape":
            r.window.escape_pressed.emit()  # wired as the app wires it
        else:
            r.chat.script.replies = ["A different answer."]
            r.controller.ask("Never mind")
        if how != "new_message":
            # Silence at once, the mouth at rest, nothing current.
            assert r.player.finished and r.router.current_id is None
            assert r.window.view.current_mouth().openness == 0.0
    assert ended.args[0].outcome == "cancelled"
    old = r.controller.conversation.messages[1]
    assert old.state == "partial" and old.note == STOPPED_NOTE and old.content == partial
    r.chat.script.gate.set()
    if how == "new_message":
        with qtbot.wait_signal(r.router.reply_finished, timeout=60000):
            pass
        assert r.controller.conversation.messages[-1].content == "A different answer."
    else:
        qtbot.wait_until(lambda: r.worker.busy_reply is None and r.player.finished, timeout=10000)
    # Nothing of the old reply reached the player after it was cancelled.
    assert first_id is not None and (first_id, r.enqueued[0][1]) == r.enqueued[0]
    assert all(rid != first_id for rid, _ in r.enqueued[mark:])
    assert r.chat.streams_done == (1 if how == "new_message" else 0)  # the old one was cut off
    assert old.content == partial


@pytest.mark.parametrize("kind", ["cut", "error", "error_event"])
def test_a_failure_mid_stream_keeps_the_partial_text_and_offers_retry(
    qtbot: QtBot, rig: Callable[..., ChatRig], kind: str
) -> None:
    r = rig()
    r.chat.inject(after=FIRST_SENTENCE + 3, kind=kind, status=502)
    with qtbot.wait_signal(r.done.finished, timeout=60000) as ended:
        r.controller.ask("Say hello")
    assert ended.args[0].outcome == "failed"
    _role, content, state = r.messages[-1]
    assert content == "".join(tokenize(DEFAULT_REPLY)[: FIRST_SENTENCE + 3])
    assert state == "partial"
    assert r.controller.conversation.messages[-1].note
    assert r.window.bubble.kind == "error" and r.window.bubble.action == RETRY_ACTION
    assert r.window.view.expression == "concerned"
    assert r.controller.can_retry
    assert r.player.finished  # the voice stopped with the stream
    # Retry asks again for the same turn (same question, without the partial reply).
    with qtbot.wait_signal(r.router.reply_finished, timeout=60000):
        assert r.controller.retry()
    assert r.messages == [("user", "Say hello", "done"), ("assistant", DEFAULT_REPLY, "done")]
    assert r.chat.requests[-1].messages[-1] == {"role": "user", "content": "Say hello"}


def test_transient_statuses_are_retried_then_offer_retry(
    qtbot: QtBot, rig: Callable[..., ChatRig]
) -> None:
    r = rig()
    r.backend.inject(Fault(status=503, retry_after="0.05", path=CHAT, times=3))
    with qtbot.wait_signal(r.done.finished, timeout=60000) as ended:
        r.controller.ask("Hello?")
    assert ended.args[0].outcome == "failed"
    assert isinstance(ended.args[0].error, Transient)
    assert [q.path for q in r.backend.requests].count(CHAT) == 3
    assert r.messages[-1][2] == "error"
    assert r.window.bubble.action == RETRY_ACTION
    with qtbot.wait_signal(r.router.reply_finished, timeout=60000):
        r.controller.retry()
    assert r.messages[-1] == ("assistant", DEFAULT_REPLY, "done")


def test_budget_exhausted_is_a_friendly_bubble(
    qtbot: QtBot, rig: Callable[..., ChatRig], sentry_transport: RecordingTransport
) -> None:
    r = rig()
    r.backend.inject(Fault(status=402, body="budget", path=CHAT))
    with qtbot.wait_signal(r.done.finished, timeout=60000):
        r.controller.ask("Hello?")
    assert "budget" in r.window.bubble.text().lower()
    assert r.window.bubble.kind == "info" and r.window.bubble.action is None
    assert r.messages[-1][2] == "error"
    assert sentry_transport.events == []


def test_401_mid_stream_takes_the_session_path(
    qtbot: QtBot, rig: Callable[..., ChatRig], sentry_transport: RecordingTransport
) -> None:
    r = rig()
    r.chat.inject(after=FIRST_SENTENCE + 3, kind="error", status=401, message="token expired")
    held: list[object] = []
    r.router.sign_in_needed.connect(held.append)
    with qtbot.wait_signal(r.router.sign_in_needed, timeout=60000):
        r.controller.ask("Say hello")
    # The mascot stops and asks for sign-in; the partial reply stays; nothing is reported.
    assert r.player.finished and r.window.view.current_mouth().openness == 0.0
    assert r.window.view.expression == "signed_out"
    assert r.window.bubble.action == "sign_in"
    message = r.controller.conversation.messages[-1]
    assert message.state == "partial" and message.note == SIGNED_OUT_NOTE
    assert message.content == "".join(tokenize(DEFAULT_REPLY)[: FIRST_SENTENCE + 3])
    assert r.router.held_reply is not None and r.router.held_reply.path == CHAT
    assert sentry_transport.events == []
    # More 401s while signed out coalesce: still one prompt.
    r.chat.inject(after=0, kind="error", status=401)
    with qtbot.wait_signal(r.done.finished, timeout=60000):
        r.controller.ask("Again?")
    assert len(held) == 1
    # After sign-in the reply is asked for again and plays from its start.
    with qtbot.wait_signal(r.router.reply_finished, timeout=60000):
        r.router.resume_held()
    assert r.messages[-1] == ("assistant", DEFAULT_REPLY, "done")
    assert (
        r.router.last_reply is not None and r.router.last_reply.utterances[0].text == "Hello there,"
    )


def test_401_before_the_stream_and_sign_in_cancelled(
    qtbot: QtBot, rig: Callable[..., ChatRig]
) -> None:
    r = rig()
    r.backend.inject(Fault(status=401, path=CHAT))
    with qtbot.wait_signal(r.router.sign_in_needed, timeout=60000):
        r.controller.ask("Hello?")
    assert r.controller.conversation.messages[-1].note == SIGNED_OUT_NOTE
    r.router.release_held()
    assert r.controller.can_retry
    assert "sign" in r.controller.conversation.messages[-1].note.lower()


def test_autoplay_off_shows_the_reply_and_keeps_it_for_replay(
    qtbot: QtBot, rig: Callable[..., ChatRig]
) -> None:
    r = rig(autoplay=False)
    with qtbot.wait_signal(r.done.finished, timeout=60000):
        r.controller.ask("Hello?")
    assert r.enqueued == []
    assert r.router.last_reply is not None and r.router.last_reply.text == DEFAULT_REPLY
    assert "Hello there" in r.window.bubble.text()


def test_no_server_configured_is_a_notice(qtbot: QtBot, rig: Callable[..., ChatRig]) -> None:
    r = rig()
    r.chat_worker.set_client_factory(lambda: None)
    with qtbot.wait_signal(r.done.finished, timeout=60000) as ended:
        r.controller.ask("Hello?")
    assert ended.args[0].outcome == "failed"
    assert "Settings" in r.window.bubble.text()


def test_history_and_system_prompt_are_sent(qtbot: QtBot, rig: Callable[..., ChatRig]) -> None:
    r = rig(system_prompt="You are terse.", chat_model="llama3.2")
    r.chat.script.replies = ["One.", "Two."]
    for question in ("First?", "Second?"):
        with qtbot.wait_signal(r.router.reply_finished, timeout=60000):
            r.controller.ask(question)
    sent = r.chat.requests[-1]
    assert sent.model == "llama3.2"
    assert sent.messages == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "First?"},
        {"role": "assistant", "content": "One."},
        {"role": "user", "content": "Second?"},
    ]
    assert speakable_text("One.") == "One."
