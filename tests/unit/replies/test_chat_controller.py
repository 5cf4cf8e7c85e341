# SPDX-License-Identifier: GPL-3.0-or-later
"""The chat controller: the whole streamed path (chat worker → chunker → router → speech
worker → player) with espeak-ng, the failures it shows, and the 401 it hands to the session.

Deterministic without clocks: the reference stream is held at a token until the test opens
its gate, so "before the stream ended" is a fact the test arranges, not a race it times.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from companion.backend.errors import Transient
from companion.replies.chat_controller import (
    RETRY_ACTION,
    SIGNED_OUT_NOTE,
    STOPPED_NOTE,
    TRUNCATED_NOTE,
)
from companion.speech.chunking import StreamChunker
from companion.speech.text import speakable_text
from tests.support.chat_rig import ChatRig, make_chat_rig
from tests.support.fixtures import RecordingTransport
from tests.support.reference_backend import Fault, ReferenceBackend
from tests.support.reference_chat import DEFAULT_REPLY, install_chat, tokenize

# WORKAROUND for the offscreen platform: Qt raises Tool windows when they are shown, and the
# offscreen plugin answers with a warning (qtbase src/gui/kernel/qplatformwindow.cpp).
pytestmark = pytest.mark.qt_log_ignore(r"This plugin does not support (raise|propagateSizeHints)")

CHAT = "/openai/v1/chat/completions"
#: Tokens of DEFAULT_REPLY up to and including "see you." (its first sentence).
FIRST_SENTENCE = 10


@pytest.fixture
def chat_backend(reference_backend: ReferenceBackend) -> ReferenceBackend:
    install_chat(reference_backend)
    return reference_backend


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
    # Shown as it streamed: the text grew (what arrived between two takes at once).
    assert len(shown) >= len(tokenize(DEFAULT_REPLY)) // 4
    assert shown[0].startswith("Hell") and len(shown[0]) < len(DEFAULT_REPLY)
    assert all(b.startswith(a) for a, b in itertools.pairwise(shown))
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
    assert r.presenter.state == "idle"
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
    r.session.sign_in_needed.connect(held.append)
    with qtbot.wait_signal(r.session.sign_in_needed, timeout=60000):
        r.controller.ask("Say hello")
    # The mascot stops and asks for sign-in; the partial reply stays; nothing is reported.
    assert r.player.finished and r.window.view.current_mouth().openness == 0.0
    assert r.window.view.expression == "signed_out"
    assert r.window.bubble.action == "sign_in"
    message = r.controller.conversation.messages[-1]
    assert message.state == "partial" and message.note == SIGNED_OUT_NOTE
    assert message.content == "".join(tokenize(DEFAULT_REPLY)[: FIRST_SENTENCE + 3])
    assert r.session.held_error is not None and r.session.held_error.path == CHAT
    assert r.controller.waiting is not None  # the question waits for sign-in
    assert sentry_transport.events == []
    # More 401s while signed out coalesce: still one prompt.
    r.chat.inject(after=0, kind="error", status=401)
    with qtbot.wait_signal(r.done.finished, timeout=60000):
        r.controller.ask("Again?")
    assert len(held) == 1
    # After sign-in the reply is asked for again and plays from its start.
    with qtbot.wait_signal(r.router.reply_finished, timeout=60000):
        r.sign_in()
    assert r.messages[-1] == ("assistant", DEFAULT_REPLY, "done")
    assert (
        r.router.last_reply is not None and r.router.last_reply.utterances[0].text == "Hello there,"
    )


def test_401_before_the_stream_and_sign_in_cancelled(
    qtbot: QtBot, rig: Callable[..., ChatRig]
) -> None:
    r = rig()
    r.backend.inject(Fault(status=401, path=CHAT))
    with qtbot.wait_signal(r.session.sign_in_needed, timeout=60000):
        r.controller.ask("Hello?")
    assert r.controller.conversation.messages[-1].note == SIGNED_OUT_NOTE
    with qtbot.wait_signal(r.session.sign_in_cancelled, timeout=5000):
        r.cancel_sign_in()
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


def test_a_reply_past_the_cap_is_kept_spoken_and_noted_once(
    qtbot: QtBot, rig: Callable[..., ChatRig]
) -> None:
    r = rig()
    r.chat_worker.max_reply_chars = 40
    notices: list[dict[str, Any]] = []

    class _Listener:
        def send(self, event: dict[str, Any]) -> None:
            notices.append(event)

        def close(self) -> None:
            pass

    with qtbot.wait_signal(r.router.reply_finished, timeout=60000):
        assert r.controller.ask("Say hello", listener=_Listener())
    message = r.controller.conversation.messages[-1]
    assert message.content == DEFAULT_REPLY[:40]
    assert message.state == "done" and message.note == TRUNCATED_NOTE
    assert [e for e in notices if e["event"] == "notice"] == [
        {"event": "notice", "message": TRUNCATED_NOTE}
    ]
    assert notices[-1] == {"event": "done"}
    reply = r.router.last_reply
    assert reply is not None and reply.text.split()[:3] == DEFAULT_REPLY.split()[:3]
