# SPDX-License-Identifier: GPL-3.0-or-later
"""The presenter: the one place that sets the face and the bubble, from the router's reply and
the player's clock (real worker thread with espeak-ng, player, mascot)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from pytestqt.qtbot import QtBot

from companion.vocab import BubbleAction, BubbleKind
from tests.support.mascot_rig import Rig, mute, rig_factory

pytestmark = pytest.mark.qt_log_ignore(r"This plugin does not support (raise|propagateSizeHints)")

LONG = " ".join(f"Sentence number {i} is said slowly and clearly." for i in range(12))


@pytest.fixture
def make_rig(qtbot: QtBot) -> Iterator[Callable[..., Rig]]:
    yield from rig_factory(qtbot)


def test_unmuting_mid_reply_brings_the_mouth_back_on_the_same_clock(
    qtbot: QtBot, make_rig: Callable[..., Rig]
) -> None:
    rig = make_rig(muted=True)
    opened: list[float] = []
    rig.view.mouth_changed.connect(lambda v, o: opened.append(float(o)))
    with qtbot.wait_signal(rig.router.reply_started, timeout=30000):
        rig.router.say(LONG)
    qtbot.wait_until(lambda: rig.player.position_ms() > 500, timeout=10000)
    assert not any(o > 0 for o in opened) and not rig.view.lipsync_active
    mute(rig, False)
    assert rig.view.lipsync_active
    qtbot.wait_until(lambda: any(o > 0 for o in opened), timeout=10000)
    mute(rig, True)
    assert not rig.view.lipsync_active and rig.view.current_mouth().openness == 0.0
    rig.router.stop()


def test_a_message_that_should_wait_is_shown_once_the_replies_end(
    qtbot: QtBot, make_rig: Callable[..., Rig]
) -> None:
    rig = make_rig()
    with qtbot.wait_signal(rig.router.reply_started, timeout=30000):
        rig.router.say("Hello there. How are you?")
    rig.presenter.notice_when_idle("The audio output changed.")
    assert rig.bubble.text() != "The audio output changed."  # the subtitles stay
    with qtbot.wait_signal(rig.router.reply_finished, timeout=30000):
        pass
    assert rig.bubble.text() == "The audio output changed."
    rig.presenter.notice_when_idle("Now, at once.")
    assert rig.bubble.text() == "Now, at once."


def test_faces_follow_the_state(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    states: list[str] = []
    rig.presenter.state_changed.connect(states.append)
    rig.presenter.show_message("It broke.", kind=BubbleKind.ERROR, action=BubbleAction.RETRY)
    assert rig.view.expression == "concerned" and rig.presenter.state == "error"
    assert rig.bubble.action == "retry"
    rig.presenter.show_signed_out("Sign in, please.")
    assert rig.view.expression == "signed_out" and rig.bubble.action == "sign_in"
    rig.presenter.show_signed_in("Signed in as Test.")
    assert rig.view.expression == "idle" and rig.presenter.state == "idle"
    rig.presenter.show_message("Just so you know.")  # info: the face stays
    assert rig.view.expression == "idle"
    assert states == ["error", "signed_out", "idle"]


def test_stop_clears_the_bubble_and_rests(qtbot: QtBot, make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    with qtbot.wait_signal(rig.router.reply_started, timeout=30000):
        rig.router.say(LONG)
    rig.router.stop()
    assert rig.view.expression == "idle" and rig.presenter.state == "idle"
    assert rig.view.current_mouth().openness == 0.0
    qtbot.wait_until(lambda: not rig.bubble.isVisible(), timeout=5000)
