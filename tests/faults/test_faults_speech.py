# SPDX-License-Identifier: GPL-3.0-or-later
"""Every network fault on the speech path, through the whole mascot (offscreen): the app's
remote engine in its speech thread, the router, the player, the bubble, real sentry-sdk.

For each fault: no crash, the GUI event loop keeps turning, the bubble says what happened in
one line with Retry, crash reports exactly as the status table says, the reply queued behind
the failed one still plays, and Retry plays the failed reply once the fault is gone.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable

import pytest
from pytestqt.qtbot import QtBot

from companion.backend.errors import Transient
from companion.speech.worker import SpeechFailure
from tests.faults.conftest import (
    CONNECTION_FAULTS,
    EXPECTED_ERROR,
    MAX_LOOP_GAP_MS,
    QT_OFFSCREEN_NOISE,
    SPEECH,
    SPEECH_FAULTS,
    LoopWatch,
    Mascot,
    _AllLines,
    bad_url,
    expected_reports,
    presynthesize,
    result_line,
)
from tests.support.fixtures import RecordingTransport
from tests.support.reference_backend import Fault, ReferenceBackend

pytestmark = pytest.mark.qt_log_ignore(QT_OFFSCREEN_NOISE)

FIRST = "Quokka lanterns glow."
SECOND = "Marmots hum."
MARK = "Quokka"  # only the first reply's requests meet the fault
MANY = 99  # every attempt at the first reply (retries included)


def speech_fault(fault: str) -> Fault:
    common = {"path": SPEECH, "body_contains": MARK, "times": MANY}
    table: dict[str, Fault] = {
        "hang": Fault(hang=math.inf, **common),
        "drip": Fault(drip=1.0, **common),
        "reset": Fault(reset_after=2048, **common),
        "cut_short": Fault(cut_short=True, **common),
        "corrupt": Fault(corrupt=True, **common),
        "html_502": Fault(status=502, body="html", **common),
        "429": Fault(status=429, retry_after="1", **common),
    }
    return table[fault]


@pytest.mark.parametrize("fault", SPEECH_FAULTS)
def test_a_speech_fault_fails_one_reply_and_the_next_plays(
    fault: str,
    qtbot: QtBot,
    make_mascot: Callable[..., Mascot],
    reference_backend: ReferenceBackend,
    sentry_transport: RecordingTransport,
    loop_watch: LoopWatch,
    all_lines: _AllLines,
) -> None:
    backend = reference_backend
    backend.speech.audio_format = "wav"  # corrupt bytes are not a WAV (any bytes are PCM)
    for text in (FIRST, SECOND):
        presynthesize(text, "wav")  # synthesised before the clock starts: deadlines are short
    url = bad_url(fault, backend) if fault in CONNECTION_FAULTS else backend.url
    m = make_mascot(token=backend.token, backend_url=url)
    router = m.app.router
    if fault not in CONNECTION_FAULTS:
        backend.inject(speech_fault(fault))

    loop_watch.start()
    first = router.say(FIRST)
    second = router.say(SECOND)
    assert first is not None and second is not None
    qtbot.wait_until(lambda: second in m.finished or len(m.failed) >= 2, timeout=30000)

    failures: list[SpeechFailure] = m.failed
    assert failures[0].reply_id == first
    assert isinstance(failures[0].error, EXPECTED_ERROR[fault]), failures[0].error
    if fault in CONNECTION_FAULTS:
        # The queue went on: the second reply was tried too (and met the same dead server).
        assert [f.reply_id for f in failures] == [first, second]
        reason = {"refused": "refused", "dns": "dns", "tls": "tls"}[fault]
        assert all(isinstance(f.error, Transient) for f in failures)
        assert failures[0].error.reason == reason  # type: ignore[attr-defined]
    else:
        assert len(failures) == 1 and m.finished == [second]
    assert m.bubble.errors()[0] == (failures[0].user_message, "retry")
    assert len(sentry_transport.events) == expected_reports(fault)
    backend_lines = [line for line in all_lines.lines if "[backend_api] domain=" in line]
    level = "ERROR" if expected_reports(fault) else "WARNING"
    assert any(f" {level} " in line and "operation=speech" in line for line in backend_lines)
    if fault == "429":
        attempts = [r.at for r in backend.speech_requests() if MARK in str(r.json)]
        assert len(attempts) >= 2
        assert all(b - a >= 0.95 for a, b in itertools.pairwise(attempts))

    # The fault is gone: Retry plays what failed.
    if fault in CONNECTION_FAULTS:
        edited = dataclasses.replace(m.app.settings, backend_url=backend.url)
        m.app.apply_settings(edited)
    else:
        backend.clear_faults()
    assert [r.text for r in router.failures.replies] == [FIRST, SECOND][: len(failures)]
    assert m.bubble.errors()[-1] == (failures[-1].user_message, "retry")  # said again at the end
    heard: list[str] = []

    def note(_rid: int) -> None:
        assert router.last_reply is not None
        heard.append(router.last_reply.text)

    router.reply_finished.connect(note)
    retried = router.retry()
    assert retried is not None
    qtbot.wait_until(lambda: len(heard) == len(failures), timeout=30000)
    assert heard == [FIRST, SECOND][: len(failures)]
    assert router.failures.replies == []

    gap = loop_watch.stop()
    result_line("speech", fault, reports=len(sentry_transport.events), gap_ms=gap)
    assert gap < MAX_LOOP_GAP_MS
    assert not any(" CRITICAL " in line for line in all_lines.lines)
    assert not [r for r in all_lines.lines if "[crash]" in r]
