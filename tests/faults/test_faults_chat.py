# SPDX-License-Identifier: GPL-3.0-or-later
"""Every network fault on the chat path, through the whole mascot: the app's chat worker
thread, controller, router and speech, against the reference backend's scripted assistant.

For each fault: no crash, the event loop keeps turning, the bubble and the conversation say
what happened in one line (with Retry), crash reports exactly as the status table says, Retry
brings the reply that failed, and the next question is answered.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import pytest
from pytestqt.qtbot import QtBot

from companion.backend.errors import ProtocolError, Transient
from companion.backend.urls import shown_url
from companion.replies.chat_messages import chat_action
from tests.faults.conftest import (
    CHAT,
    CONNECTION_FAULTS,
    EVIDENCE,
    EXPECTED_ERROR,
    FAULTS,
    MAX_LOOP_GAP_MS,
    QT_OFFSCREEN_NOISE,
    LoopWatch,
    Mascot,
    _AllLines,
    bad_url,
    expected_reports,
    result_line,
)
from tests.support.fixtures import RecordingTransport
from tests.support.reference_backend import Fault, ReferenceBackend
from tests.support.reference_chat import StreamFault, install_chat

pytestmark = pytest.mark.qt_log_ignore(QT_OFFSCREEN_NOISE)

QUESTION = "Where do the otters keep pebbles?"
REPLY = "Otters nap. Truly."
NEXT_QUESTION = "And the badgers?"
NEXT_REPLY = "Badgers nap."


def chat_fault(fault: str) -> Fault | StreamFault:
    """A fault before the stream (the backend's) or inside it (the assistant's)."""
    table: dict[str, Fault | StreamFault] = {
        "hang": Fault(hang=math.inf, path=CHAT, times=99),
        "drip": StreamFault(kind="drip", after=3),
        "reset": StreamFault(kind="reset", after=3),
        "cut_short": StreamFault(kind="cut", after=3),
        "corrupt": StreamFault(kind="corrupt", after=3),
        "html_502": Fault(status=502, body="html", path=CHAT, times=99),
        "429": Fault(status=429, retry_after="1", path=CHAT, times=99),
    }
    return table[fault]


def result_error(fault: str) -> BaseException:
    """An error like the one ``fault`` ends in (for the bubble's button)."""
    if EXPECTED_ERROR[fault] is ProtocolError:
        return ProtocolError("POST", CHAT, "x")
    reason = fault if fault in CONNECTION_FAULTS else "reset"
    return Transient("POST", CHAT, None, reason)


@pytest.mark.parametrize("fault", FAULTS)
def test_a_chat_fault_fails_one_reply_retry_brings_it(
    fault: str,
    qtbot: QtBot,
    make_mascot: Callable[..., Mascot],
    reference_backend: ReferenceBackend,
    sentry_transport: RecordingTransport,
    loop_watch: LoopWatch,
    all_lines: _AllLines,
) -> None:
    backend = reference_backend
    chat = install_chat(backend)
    chat.script.replies = [REPLY, REPLY, NEXT_REPLY]
    EVIDENCE.chat_texts.update({QUESTION, REPLY, NEXT_QUESTION, NEXT_REPLY})
    url = bad_url(fault, backend) if fault in CONNECTION_FAULTS else backend.url
    m = make_mascot(token=backend.token, backend_url=url)
    controller = m.app.chat
    injected = chat_fault(fault) if fault not in CONNECTION_FAULTS else None
    if isinstance(injected, Fault):
        backend.inject(injected)
    elif isinstance(injected, StreamFault):
        chat.inject(injected)

    loop_watch.start()
    assert controller.ask(QUESTION)
    qtbot.wait_until(lambda: not controller.busy, timeout=30000)
    last = controller.conversation.messages[-1]
    assert last.role == "assistant" and last.state in ("partial", "error")
    text, kind, action = m.bubble.messages[-1]
    assert kind == "error" and action == chat_action(result_error(fault))
    assert text == last.note
    assert "cut short" not in text or last.content  # "cut short" only if text had arrived
    if fault in CONNECTION_FAULTS:
        assert shown_url(url) in text  # the address is the problem: the line names it
    assert len(sentry_transport.events) == expected_reports(fault)
    level = "ERROR" if expected_reports(fault) else "WARNING"
    assert any(
        f" {level} " in line and "[backend_api] domain=" in line and "operation=chat" in line
        for line in all_lines.lines
    )
    if isinstance(injected, StreamFault):
        assert last.state == "partial" and last.content  # the text that came stays

    # The fault is gone: Retry brings the reply, spoken; the next question is answered.
    if fault in CONNECTION_FAULTS:
        m.app.apply_settings(dataclasses.replace(m.app.settings, backend_url=backend.url))
    backend.clear_faults()
    chat.script.replies = [REPLY, NEXT_REPLY]
    finished = len(m.finished)
    assert controller.retry()
    qtbot.wait_until(lambda: not controller.busy, timeout=30000)
    assert controller.conversation.messages[-1].content == REPLY
    assert controller.conversation.messages[-1].state == "done"
    qtbot.wait_until(lambda: len(m.finished) > finished, timeout=30000)
    assert controller.ask(NEXT_QUESTION)
    qtbot.wait_until(lambda: not controller.busy, timeout=30000)
    assert controller.conversation.messages[-1].content == NEXT_REPLY
    qtbot.wait_until(lambda: len(m.finished) > finished + 1, timeout=30000)

    gap = loop_watch.stop()
    result_line("chat", fault, reports=len(sentry_transport.events), gap_ms=gap)
    assert gap < MAX_LOOP_GAP_MS
    assert not [line for line in all_lines.lines if "[crash]" in line]
