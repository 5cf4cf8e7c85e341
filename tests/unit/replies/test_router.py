# SPDX-License-Identifier: GPL-3.0-or-later
"""ReplyRouter (and the presenter showing it) with the real worker thread (espeak-ng), the real
player and the real mascot.

The player falls back to its silent clock without PulseAudio, so these run anywhere;
with scripts/pulse.sh they play into the null sink.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator

import pytest
from pytestqt.qtbot import QtBot

from companion.backend.errors import HttpError
from companion.speech.types import AudioChunk, CancelToken
from companion.speech.worker import SpeechFailure
from tests.support.mascot_rig import Rig, mute, rig_factory

# WORKAROUND for the offscreen platform: Qt raises Tool windows when they are shown (and
# propagates size hints for dialogs), and the offscreen plugin answers each with a warning
# (QPlatformWindow defaults, qtbase src/gui/kernel/qplatformwindow.cpp). Real platforms do not.
pytestmark = pytest.mark.qt_log_ignore(r"This plugin does not support (raise|propagateSizeHints)")

SHORT = "Hello there. How are you today?"
LONG = " ".join(f"This is sentence number {i}, spoken slowly and clearly." for i in range(30))


class _FailingEngine:
    name = "failing"

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def synthesize(
        self, text: str, *, voice: str | None, speed: float, cancel: CancelToken
    ) -> Iterator[AudioChunk]:
        raise self.error
        yield  # pragma: no cover


@pytest.fixture
def make_rig(qtbot: QtBot) -> Iterator[Callable[..., Rig]]:
    yield from rig_factory(qtbot)


def test_a_reply_plays_and_the_mouth_follows_the_clock(qtbot: QtBot, make_rig) -> None:  # type: ignore[no-untyped-def]
    rig = make_rig()
    samples: list[tuple[float, str, float]] = []
    rig.view.mouth_changed.connect(
        lambda v, o: samples.append((rig.player.position_ms(), v, float(o)))
    )
    expressions: list[str] = []
    rig.presenter.state_changed.connect(expressions.append)
    with qtbot.wait_signal(rig.router.reply_started, timeout=30000):
        rid = rig.router.say(SHORT)
    reply = rig.router.current_reply
    assert reply is not None and reply.id == rid
    with qtbot.wait_signal(rig.router.reply_finished, timeout=30000) as done:
        pass
    assert done.args == [rid]
    # One clock for the whole reply: piece k's cues are shifted by the audio before it.
    offset = 0.0
    expected = []
    for utt in reply.utterances:
        expected.extend(c.viseme for c in utt.timeline.shifted(offset).cues)
        offset += utt.duration_ms
    assert [c.viseme for c in reply.timeline.cues] == expected
    assert reply.total_ms == pytest.approx(offset)
    # Every shape the mouth took is the timeline's at that clock time (+ the view's lead),
    # or, while the mouth closes in a pause, the shape of the cue before the pause.
    moving = [(t, v) for t, v, o in samples if v != "sil"]
    assert len(moving) >= 5
    lead = rig.view.LEAD_MS
    ends = [c.end_ms for c in reply.timeline.cues]
    for t, v in moving:
        at = t + lead
        near = {reply.timeline.at(at + d).viseme for d in (-12.0, -6.0, 0.0, 6.0, 12.0)}
        if "sil" in near:  # closing: the last shape before the pause
            i = bisect.bisect_right(ends, at + 12.0) - 1
            if i >= 0:
                near.add(reply.timeline.cues[i].viseme)
        assert v in near, (t, v, near)
    assert rig.view.current_mouth().openness == 0.0
    assert expressions[:2] == ["thinking", "speaking"]
    assert rig.view.expression == "happy"
    assert rig.router.last_reply is reply


def test_subtitles_follow_the_pieces(qtbot: QtBot, make_rig) -> None:  # type: ignore[no-untyped-def]
    rig = make_rig()
    shown: list[str] = []
    real = rig.bubble.show_speech

    def spy(text, words, clock, offset_ms):  # type: ignore[no-untyped-def]
        shown.append(text)
        # Shown when the clock reaches the piece, not before.
        assert clock.position_ms() + 1.0 >= offset_ms
        real(text, words, clock, offset_ms)

    rig.bubble.show_speech = spy  # type: ignore[method-assign]
    with qtbot.wait_signal(rig.router.reply_finished, timeout=30000):
        rig.router.say(SHORT)
    reply = rig.router.last_reply
    assert shown == [u.text for u in reply.utterances]
    assert len(shown) >= 2


def test_a_new_reply_interrupts_by_default(qtbot: QtBot, make_rig) -> None:  # type: ignore[no-untyped-def]
    rig = make_rig()
    finished: list[int] = []
    rig.router.reply_finished.connect(finished.append)
    with qtbot.wait_signal(rig.router.reply_started, timeout=30000):
        first = rig.router.say(LONG)
    with qtbot.wait_signal(rig.router.reply_finished, timeout=30000):
        second = rig.router.say(SHORT)
    assert finished == [second]
    assert first != second
    assert all(u.reply_id == second for u in rig.router.last_reply.utterances)


def test_queue_mode_plays_replies_in_turn(qtbot: QtBot, make_rig) -> None:  # type: ignore[no-untyped-def]
    rig = make_rig(queue_mode="queue")
    events: list[tuple[str, int]] = []
    rig.router.reply_started.connect(lambda i: events.append(("start", i)))
    rig.router.reply_finished.connect(lambda i: events.append(("end", i)))
    a = rig.router.say("First reply.")
    b = rig.router.say("Second reply.")
    qtbot.wait_until(lambda: ("end", b) in events, timeout=30000)
    assert events == [("start", a), ("end", a), ("start", b), ("end", b)]


def test_stale_pieces_are_dropped(qtbot: QtBot, make_rig) -> None:  # type: ignore[no-untyped-def]
    rig = make_rig()
    with (
        qtbot.assert_not_emitted(rig.router.reply_started),
        qtbot.wait_signal(rig.worker_done.finished, timeout=30000),
    ):
        rid = rig.router.say(LONG)
        rig.router.stop()
    assert rid is not None
    assert rig.router.current_reply is None
    assert rig.view.current_mouth().openness == 0.0
    assert rig.router.last_reply is None


def test_mute_keeps_subtitles_without_sound_or_mouth(qtbot: QtBot, make_rig) -> None:  # type: ignore[no-untyped-def]
    rig = make_rig(muted=True)
    opened: list[float] = []
    rig.view.mouth_changed.connect(lambda v, o: opened.append(float(o)))
    shown: list[str] = []
    real = rig.bubble.show_speech
    rig.bubble.show_speech = lambda t, w, c, o: (shown.append(t), real(t, w, c, o))  # type: ignore[method-assign]
    with qtbot.wait_signal(rig.router.reply_finished, timeout=30000):
        rig.router.say(SHORT)
    assert shown, "subtitles still appear"
    assert not any(o > 0 for o in opened), "the mouth stays still"
    # No sound: nothing reached the device. The player's own clock paced the subtitles (one
    # clock for sound, mouth and subtitles), so it ran to the reply's end, in real time.
    assert rig.player.frames_played == 0 and not rig.player.audible
    assert rig.player.position_ms() == pytest.approx(rig.router.last_reply.total_ms)


def test_muting_mid_reply_silences_at_once(qtbot: QtBot, make_rig) -> None:  # type: ignore[no-untyped-def]
    rig = make_rig()
    with qtbot.wait_signal(rig.router.reply_started, timeout=30000):
        rig.router.say(SHORT)
    mute(rig, True)
    assert rig.view.current_mouth().openness == 0.0
    assert not rig.player.audible
    with qtbot.wait_signal(rig.router.reply_finished, timeout=30000):
        pass


def test_replay_last_uses_the_stored_audio(qtbot: QtBot, make_rig) -> None:  # type: ignore[no-untyped-def]
    rig = make_rig()
    with qtbot.wait_signal(rig.router.reply_finished, timeout=30000):
        rig.router.say(SHORT)
    original = rig.router.last_reply
    with (
        qtbot.assert_not_emitted(rig.router.speech_requested),
        qtbot.wait_signal(rig.router.reply_finished, timeout=30000),
    ):
        again = rig.router.replay_last()
    assert again is not None and again != original.id
    assert rig.router.last_reply is original


def test_autoplay_off_shows_and_keeps_the_reply(qtbot: QtBot, make_rig) -> None:  # type: ignore[no-untyped-def]
    rig = make_rig(autoplay=False)
    with qtbot.assert_not_emitted(rig.router.speech_requested):
        assert rig.router.say(SHORT) is None
    assert rig.bubble.text() == SHORT
    with qtbot.wait_signal(rig.router.reply_finished, timeout=30000):
        rig.router.replay_last()


def test_other_errors_show_retry_and_a_concerned_face(qtbot: QtBot, make_rig) -> None:  # type: ignore[no-untyped-def]
    error = HttpError("POST", "/openai/v1/audio/speech", 500)
    rig = make_rig(engine=lambda: _FailingEngine(error))
    with qtbot.wait_signal(rig.router.reply_failed, timeout=30000) as blocker:
        rig.router.say(SHORT)
    failure = blocker.args[0]
    assert isinstance(failure, SpeechFailure) and failure.error is error
    assert rig.view.expression == "concerned"
    assert rig.bubble.kind == "error" and rig.bubble.action == "retry"
    assert rig.router.last_reply.text == SHORT
