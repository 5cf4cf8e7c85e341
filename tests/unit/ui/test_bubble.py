# SPDX-License-Identifier: GPL-3.0-or-later
"""The speech bubble: the spoken word marked from the clock, messages and buttons, fading."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from companion.speech.types import WordTiming
from companion.ui.bubble import SpeechBubble


class ManualClock:
    def __init__(self, ms: float = 0.0) -> None:
        self.ms = ms

    def position_ms(self) -> float:
        return self.ms


TEXT = "Hello there, friendly human."
#       0    5 6   11 13      21 22  27
WORDS = [
    WordTiming(0.0, 300.0, 0, 5),
    WordTiming(350.0, 600.0, 6, 11),
    WordTiming(700.0, 1000.0, 13, 21),
    WordTiming(1000.0, 1300.0, 22, 27),
]


@pytest.fixture
def bubble(qtbot: QtBot) -> SpeechBubble:
    b = SpeechBubble()
    qtbot.add_widget(b)
    return b


def _marked(bubble: SpeechBubble) -> str | None:
    """The marked word as shown in the label."""
    html = bubble.label_html()
    if "<span" not in html:
        return None
    return html.split("<span", 1)[1].split(">", 1)[1].split("</span>", 1)[0]


@pytest.mark.parametrize(
    ("t", "word"),
    [(-50.0, None), (0.0, "Hello"), (320.0, "Hello"), (400.0, "there"), (999.0, "friendly")],
)
def test_the_word_at_the_clock_is_marked(bubble: SpeechBubble, t: float, word: str | None) -> None:
    bubble.show_speech(TEXT, WORDS, ManualClock(t), 0.0)
    assert bubble.text() == TEXT
    assert _marked(bubble) == word
    index = bubble.current_word()
    assert (
        TEXT[WORDS[index].char_start : WORDS[index].char_end] if index is not None else None
    ) == word


def test_the_offset_places_the_piece_on_the_reply_clock(bubble: SpeechBubble) -> None:
    # This piece starts 5 s into the reply.
    bubble.show_speech(TEXT, WORDS, ManualClock(5000.0 + 720.0), 5000.0)
    assert _marked(bubble) == "friendly"


def test_the_mark_moves_with_the_clock_then_the_timer_stops(
    qtbot: QtBot, bubble: SpeechBubble
) -> None:

    clock = ManualClock(0.0)
    bubble.show_speech(TEXT, WORDS, clock, 0.0)
    assert bubble.word_timer_active
    clock.ms = 450.0
    qtbot.wait_until(lambda: _marked(bubble) == "there")
    clock.ms = 1100.0
    qtbot.wait_until(lambda: _marked(bubble) == "human")
    qtbot.wait_until(lambda: not bubble.word_timer_active)  # nothing left to change


def test_without_word_timings_the_text_shows_plainly(bubble: SpeechBubble) -> None:
    bubble.show_speech(TEXT, [], ManualClock(500.0), 0.0)
    assert _marked(bubble) is None
    assert not bubble.word_timer_active
    assert not bubble.isHidden()


def test_text_is_escaped(bubble: SpeechBubble) -> None:
    bubble.show_message("a <b>bold</b> & plain claim", kind="info")
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; plain" in bubble.label_html()


def test_retry_button_emits_retry_clicked(qtbot: QtBot, bubble: SpeechBubble) -> None:
    bubble.show_message("The speech service did not answer.", kind="error", action="retry")
    assert bubble.button_text() == "Retry"
    button = bubble.findChild(type(bubble._button))
    assert button is not None
    with (
        qtbot.wait_signal(bubble.retry_clicked),
        qtbot.assert_not_emitted(bubble.action_clicked),
    ):
        QTest.mouseClick(button, Qt.MouseButton.LeftButton)
    assert not bubble.fading  # an error stays until replaced or cleared


def test_sign_in_button_emits_its_action(qtbot: QtBot, bubble: SpeechBubble) -> None:
    bubble.show_message("You are signed out.", kind="info", action="sign_in")
    assert bubble.button_text() == "Sign in"
    with qtbot.wait_signal(bubble.action_clicked) as blocker:
        QTest.mouseClick(bubble._button, Qt.MouseButton.LeftButton)
    assert blocker.args == ["sign_in"]
    assert not bubble.fading  # a message with a button waits for the user


def test_speech_has_no_button(bubble: SpeechBubble) -> None:
    bubble.show_message("x", kind="error", action="retry")
    bubble.show_speech(TEXT, WORDS, ManualClock(0.0), 0.0)
    assert bubble.button_text() is None


def test_unknown_kind_is_refused(bubble: SpeechBubble) -> None:
    with pytest.raises(ValueError, match="kind"):
        bubble.show_message("x", kind="shout")


def test_finish_fades_out_and_hides(qtbot: QtBot, bubble: SpeechBubble) -> None:
    bubble.hold_ms, bubble.fade_ms = 10, 60
    bubble.show_speech(TEXT, WORDS, ManualClock(0.0), 0.0)
    assert not bubble.isHidden()
    with qtbot.wait_signal(bubble.layout_changed):
        bubble.finish()
    assert bubble.isHidden()
    assert not bubble.fading and not bubble.word_timer_active


def test_new_speech_during_the_fade_cancels_it(qtbot: QtBot, bubble: SpeechBubble) -> None:
    bubble.hold_ms, bubble.fade_ms = 0, 5000
    bubble.show_speech(TEXT, WORDS, ManualClock(0.0), 0.0)
    bubble.finish()
    qtbot.wait_until(lambda: bubble._effect.opacity() < 1.0)
    bubble.show_speech("Next one.", [], ManualClock(0.0), 0.0)
    assert not bubble.fading
    assert bubble._effect.opacity() == 1.0


def test_info_messages_fade_by_themselves(qtbot: QtBot, bubble: SpeechBubble) -> None:
    bubble.INFO_HOLD_MS = 10
    bubble.fade_ms = 30
    bubble.show_message("Nothing to replay yet.", kind="info")
    qtbot.wait_until(lambda: bubble.isHidden())


def test_clear_hides_at_once(bubble: SpeechBubble) -> None:
    bubble.show_speech(TEXT, WORDS, ManualClock(0.0), 0.0)
    bubble.clear()
    assert bubble.isHidden()
    assert not bubble.word_timer_active


def test_long_text_wraps_at_the_maximum_width(bubble: SpeechBubble) -> None:
    bubble.show_message("Short.", kind="info")
    short = bubble.size()
    long_text = " ".join(["A rather long sentence that keeps going."] * 8)
    bubble.show_message(long_text, kind="info")
    chrome = 2 * (bubble.PAD_X + bubble.SHADOW)
    assert bubble.width() <= bubble.MAX_TEXT_WIDTH + chrome
    assert bubble.height() > 3 * short.height() - 2 * bubble.TAIL
    assert bubble.width() > short.width()


def test_the_card_is_opaque_and_light_with_dark_text(qtbot: QtBot, bubble: SpeechBubble) -> None:
    """Readable on any desktop: its own light, opaque fill under dark text."""
    bubble.show_message("Readable anywhere.", kind="info")
    bubble.set_tail("bottom", bubble.width() / 2)
    img = bubble.grab().toImage()
    inside = img.pixelColor(bubble.SHADOW + 6, bubble.SHADOW + 6)
    assert inside.alpha() == 255
    assert inside.lightness() > 230
    label = bubble._label.geometry()
    darkest = min(
        img.pixelColor(x, y).lightness()
        for y in range(label.top(), label.bottom())
        for x in range(label.left(), label.right())
    )
    assert darkest < 90


def test_each_message_is_as_tall_as_it_needs(qtbot: QtBot) -> None:
    bubble = SpeechBubble()
    qtbot.add_widget(bubble)
    bubble.show_message(" ".join(["A long message that wraps over many lines."] * 10))
    tall = bubble.height()
    bubble.show_message("Short.")
    short = bubble.height()
    assert short < tall / 2
    bubble.show_message(" ".join(["A long message that wraps over many lines."] * 10))
    assert bubble.height() == tall
